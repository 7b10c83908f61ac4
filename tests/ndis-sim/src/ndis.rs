//! NDIS as the miniport sees it: every routine of `NdisApi`, implemented in
//! Rust over sim-owned objects, each checking the contract it stands for.
//! A breach is recorded (never panics inside a driver call) and fails the
//! test when the host checks.
//!
//! The simulation judges the driver by the NDIS facts tables compiled from
//! the WDK headers ([`crate::facts`]), never by the driver's declarations:
//! every structure the driver hands over is read as bytes at the tables'
//! offsets and sizes and held to the tables' object types, revisions,
//! `NDIS_SIZEOF_*` sizes and flag bits; every structure handed to the
//! driver (NET_BUFFER_LIST, NET_BUFFER, MDL, NDIS_CONFIGURATION_PARAMETER)
//! is allocated with the tables' size and alignment and filled at the
//! tables' offsets. A driver whose declaration puts a field elsewhere reads
//! or writes the wrong bytes, and the checks here see it.
//!
//! Handles are pointers to sim objects, as in NDIS: the driver object is a
//! [`SimDriver`], the MiniportAdapterHandle a [`SimAdapter`], the
//! configuration handle a `SimConfig`, the pool handle a `SimPool`. Handles
//! passed as arguments are trusted; pointers read from the driver's
//! structures are checked against what the simulation gave out before they
//! are followed.

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::ptr;
use std::sync::{mpsc, Condvar, Mutex, MutexGuard, OnceLock};

// Pointer types only: the `NdisApi` trait implemented here names the
// driver's declarations in its signatures, so its methods must too. The
// simulation never dereferences them, never takes their size or offsets:
// each pointer is cast to bytes and read or written at the offsets of the
// NDIS facts tables (`crate::facts`).
use volnic::ndis::{
    MDL, NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_PARAMETER,
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS, NDIS_STATUS_INDICATION, NDIS_STRING, NET_BUFFER_LIST,
    NET_BUFFER_LIST_POOL_PARAMETERS,
};
use volnic::ndis_api::NdisApi;

use crate::facts::{self, constant, status, u32_constant, u8_constant, Header, Record};
use crate::Sim;

/// NDIS_HANDLE, NDIS_STATUS as C has them.
pub type Handle = *mut c_void;
pub type Status = i32;

// The miniport handlers NDIS calls, as the tables' callback rows have them
// (MINIPORT_INITIALIZE etc. in functions.tsv; every pointer parameter is
// `*mut c_void` here, which has the same ABI as any C pointer).
pub type InitializeFn = unsafe extern "system" fn(Handle, Handle, *mut c_void) -> Status;
pub type HaltFn = unsafe extern "system" fn(Handle, u32);
pub type UnloadFn = unsafe extern "system" fn(*mut c_void);
pub type PauseFn = unsafe extern "system" fn(Handle, *mut c_void) -> Status;
pub type RestartFn = unsafe extern "system" fn(Handle, *mut c_void) -> Status;
pub type OidRequestFn = unsafe extern "system" fn(Handle, *mut c_void) -> Status;
pub type SendFn = unsafe extern "system" fn(Handle, *mut c_void, u32, u32);
pub type ReturnFn = unsafe extern "system" fn(Handle, *mut c_void, u32);
pub type ShutdownFn = unsafe extern "system" fn(Handle, u32);

/// The C record names the simulation reads and builds.
pub const CHARACTERISTICS: &str = "NDIS_MINIPORT_DRIVER_CHARACTERISTICS";
pub const REGISTRATION: &str = "NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES";
pub const GENERAL: &str = "NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES";
pub const CONFIG_OBJECT: &str = "NDIS_CONFIGURATION_OBJECT";
pub const CONFIG_PARAMETER: &str = "NDIS_CONFIGURATION_PARAMETER";
pub const POOL_PARAMETERS: &str = "NET_BUFFER_LIST_POOL_PARAMETERS";
pub const STATUS_INDICATION: &str = "NDIS_STATUS_INDICATION";
pub const LINK_STATE: &str = "NDIS_LINK_STATE";
pub const NBL: &str = "NET_BUFFER_LIST";
pub const NB: &str = "NET_BUFFER";
pub const MDL_TYPE: &str = "MDL";
pub const STRING: &str = "UNICODE_STRING";
pub const OID_REQUEST: &str = "NDIS_OID_REQUEST";

/// The handlers registered, read from the characteristics at the tables'
/// offsets. Each required one is present (registration fails otherwise).
#[derive(Clone, Copy)]
pub struct Handlers {
    pub initialize: InitializeFn,
    pub halt: HaltFn,
    pub unload: UnloadFn,
    pub pause: PauseFn,
    pub restart: RestartFn,
    pub oid_request: OidRequestFn,
    pub send: SendFn,
    pub return_nbls: ReturnFn,
    pub shutdown: ShutdownFn,
}

/// Breaches recorded outside any adapter (thread panics, objects the
/// simulation cannot attribute).
pub fn global_breaches() -> &'static Mutex<Vec<String>> {
    static BREACHES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    BREACHES.get_or_init(Default::default)
}

/// MDLs allocated and not freed, by address (driver lifetimes are
/// serialized by the host, so one map serves every test of the process).
pub fn live_mdls() -> &'static Mutex<HashMap<usize, Record>> {
    static MDLS: OnceLock<Mutex<HashMap<usize, Record>>> = OnceLock::new();
    MDLS.get_or_init(Default::default)
}

/// MDLs of the NBL chains the host is sending (built by the host, as a
/// protocol driver builds its own), by address.
pub fn sent_mdls() -> &'static Mutex<HashSet<usize>> {
    static MDLS: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    MDLS.get_or_init(Default::default)
}

/// One NdisAllocateNetBufferAndNetBufferList: the NBL, its NET_BUFFER and
/// the pool it came from.
pub struct NblAlloc {
    pub nbl: Record,
    pub nb: Record,
    pub pool: usize,
}

/// NBLs allocated from the sim's pools and not freed, by address.
pub fn live_nbls() -> &'static Mutex<HashMap<usize, NblAlloc>> {
    static NBLS: OnceLock<Mutex<HashMap<usize, NblAlloc>>> = OnceLock::new();
    NBLS.get_or_init(Default::default)
}

/// MiniportAdapterHandles the host gave out and has not dropped.
pub fn live_adapters() -> &'static Mutex<HashSet<usize>> {
    static ADAPTERS: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    ADAPTERS.get_or_init(Default::default)
}

pub fn record_global_breach(what: &str) {
    eprintln!("NDIS CONTRACT BREACH: {what}");
    lock(global_breaches()).push(what.to_owned());
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The contract's name for NDIS_STATUS `code`, or a note that the tables
/// name none.
pub fn describe_status(code: Status) -> String {
    match facts::status_name(code) {
        Some(name) => format!("{name} ({:#x})", code as u32),
        None => format!("{:#x} (no NDIS_STATUS_* in the tables)", code as u32),
    }
}

/// Checks that `value` holds only bits of the tables' `prefix*` flags.
fn known_bits(what: &str, value: u32, prefix: &str) -> Result<(), String> {
    let known = facts::flags_with_prefix(prefix) as u32;
    let unknown = value & !known;
    if unknown == 0 {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:#x} holds bits {unknown:#x} that no {prefix}* constant in the tables names"
        ))
    }
}

/// Checks that `value` is one of the tables' `prefix*` values.
fn known_value(what: &str, value: u32, prefix: &str) -> Result<(), String> {
    match facts::name_of(prefix, u64::from(value)) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{what} {value} is none of the {prefix}* values in the tables"
        )),
    }
}

/// The driver object: what DriverEntry registered.
pub struct SimDriver {
    pub handlers: Mutex<Option<Handlers>>,
    pub deregistered: Mutex<bool>,
    pub event_log: Mutex<Vec<String>>,
    pub breaches: Mutex<Vec<String>>,
    /// Live pools and configuration handles (NBLs and MDLs: [`live_nbls`],
    /// [`live_mdls`]).
    pub live: Mutex<Live>,
    /// Allocations the test makes fail, as a low-memory system would.
    pub faults: Mutex<AllocationFaults>,
}

/// How many more NBL pools, MDLs and NBLs the simulated NDIS hands out
/// before each allocation returns NULL; `None`: no limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocationFaults {
    pub pools: Option<usize>,
    pub mdls: Option<usize>,
    pub nbls: Option<usize>,
}

/// Counts one allocation against `left`; false when none is left.
fn allowed(left: &mut Option<usize>) -> bool {
    match left {
        None => true,
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
    }
}

#[derive(Default, Debug)]
pub struct Live {
    pub pools: HashSet<usize>,
    pub configs: usize,
}

impl SimDriver {
    pub fn new() -> Self {
        Self {
            handlers: Mutex::new(None),
            deregistered: Mutex::new(false),
            event_log: Mutex::new(Vec::new()),
            breaches: Mutex::new(Vec::new()),
            live: Mutex::new(Live::default()),
            faults: Mutex::new(AllocationFaults::default()),
        }
    }

    pub fn breach(&self, what: String) {
        eprintln!("NDIS CONTRACT BREACH: {what}");
        lock(&self.breaches).push(what);
    }
}

impl Default for SimDriver {
    fn default() -> Self {
        Self::new()
    }
}

/// Where an adapter is in the NDIS miniport state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterState {
    Initializing,
    Paused,
    Restarting,
    Running,
    Pausing,
    Halting,
    Halted,
    FailedInit,
}

/// A registry value.
#[derive(Clone, Debug)]
pub enum RegValue {
    Str(String),
    Int(u32),
}

/// What the registration attributes said (read at the tables' offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrationInfo {
    pub header: Header,
    pub attribute_flags: u32,
    pub interface_type: u32,
}

/// What the general attributes said (read at the tables' offsets).
#[derive(Clone, Debug, Default)]
pub struct GeneralInfo {
    pub revision: u8,
    pub media_type: u32,
    pub mac: [u8; 6],
    pub permanent_mac: [u8; 6],
    pub mtu: u32,
    pub connected: bool,
    pub supported_oids: Vec<u32>,
    pub supported_filters: u32,
    pub mac_options: u32,
    pub supported_statistics: u32,
}

#[derive(Default)]
pub struct AdapterInner {
    pub state: Option<AdapterState>,
    pub context: usize,
    pub registration: Option<RegistrationInfo>,
    pub general: Option<GeneralInfo>,
    /// Sent NBLs not yet completed.
    pub pending_sends: HashSet<usize>,
    /// Sent NBLs completed, with the Status read from them.
    pub completed: HashMap<usize, Status>,
    /// Frames indicated, in order.
    pub received: Vec<Vec<u8>>,
    /// Indicated NBLs the "protocol" still holds.
    pub held: HashSet<usize>,
    /// Link states indicated with NDIS_STATUS_LINK_STATE (true: connected).
    pub link_states: Vec<bool>,
}

/// A miniport adapter as NDIS tracks it.
pub struct SimAdapter {
    pub name: String,
    pub driver: *const SimDriver,
    pub registry: HashMap<String, RegValue>,
    pub inner: Mutex<AdapterInner>,
    pub changed: Condvar,
    pub returner: Mutex<Option<mpsc::Sender<usize>>>,
}

// SAFETY: `driver` points to the host's SimDriver, which outlives every
// adapter; everything else is behind mutexes.
unsafe impl Send for SimAdapter {}
// SAFETY: as above.
unsafe impl Sync for SimAdapter {}

impl SimAdapter {
    pub fn driver(&self) -> &SimDriver {
        // SAFETY: the host keeps the driver alive longer than its adapters.
        unsafe { &*self.driver }
    }

    pub fn breach(&self, what: String) {
        self.driver()
            .breach(format!("adapter {}: {what}", self.name));
    }

    pub fn state(&self) -> AdapterState {
        lock(&self.inner)
            .state
            .unwrap_or(AdapterState::Initializing)
    }

    pub fn set_state(&self, state: AdapterState) {
        lock(&self.inner).state = Some(state);
        self.changed.notify_all();
    }

    /// Checks that the driver may call NDIS for this adapter at all.
    fn check_alive(&self, routine: &str) {
        let state = self.state();
        if matches!(state, AdapterState::Halted | AdapterState::FailedInit) {
            self.breach(format!("{routine} called after the adapter was {state:?}"));
        }
    }
}

/// # Safety
/// `handle` is a MiniportAdapterHandle the sim gave out.
unsafe fn adapter<'a>(handle: Handle) -> &'a SimAdapter {
    // SAFETY: per the contract, the handle is a live SimAdapter.
    unsafe { &*handle.cast::<SimAdapter>() }
}

struct SimConfig {
    adapter: *const SimAdapter,
    /// NDIS_CONFIGURATION_PARAMETERs handed out, valid until closed.
    params: Vec<Record>,
    strings: Vec<Vec<u16>>,
}

struct SimPool {
    adapter: *const SimAdapter,
}

/// Reads the bytes of one NET_BUFFER as NDIS would (DataLength bytes from
/// CurrentMdlOffset of CurrentMdl on), every field at the tables' offsets.
/// Each MDL is followed only if `known_mdl` says the simulation made it.
///
/// # Safety
/// `nb` points to a readable NET_BUFFER of the tables' size.
pub unsafe fn net_buffer_bytes(
    nb: *const u8,
    known_mdl: impl Fn(*const u8) -> bool,
) -> Result<Vec<u8>, String> {
    // SAFETY: a readable NET_BUFFER (caller).
    let mut mdl = unsafe { facts::read::<*const u8>(nb, NB, "CurrentMdl") };
    // SAFETY: as above.
    let mut offset = unsafe { facts::read::<u32>(nb, NB, "CurrentMdlOffset") } as usize;
    // SAFETY: as above. NDIS reads the ULONG DataLength of the union.
    let mut remaining = unsafe { facts::read::<u32>(nb, NB, "DataLength") } as usize;
    let mut out = Vec::with_capacity(remaining);
    while remaining > 0 {
        if mdl.is_null() {
            return Err(format!(
                "NET_BUFFER data runs {remaining} bytes past its MDL chain"
            ));
        }
        if !known_mdl(mdl) {
            return Err(format!(
                "NET_BUFFER names MDL {mdl:p}, which NdisAllocateMdl never gave out"
            ));
        }
        // SAFETY: a live MDL the simulation allocated (checked above).
        let va = unsafe { facts::read::<*const u8>(mdl, MDL_TYPE, "MappedSystemVa") };
        // SAFETY: as above.
        let count = unsafe { facts::read::<u32>(mdl, MDL_TYPE, "ByteCount") } as usize;
        // SAFETY: as above.
        let next = unsafe { facts::read::<*const u8>(mdl, MDL_TYPE, "Next") };
        if offset > count {
            return Err("CurrentMdlOffset beyond the MDL".into());
        }
        let take = (count - offset).min(remaining);
        // SAFETY: the MDL maps `count` bytes at `va` (it was built over the
        // driver's buffer of at least that length).
        let data = unsafe { va.add(offset) };
        // SAFETY: as above, `take` bytes from `offset` lie inside it.
        out.extend_from_slice(unsafe { std::slice::from_raw_parts(data, take) });
        remaining -= take;
        offset = 0;
        mdl = next;
    }
    Ok(out)
}

/// Reads a handler pointer of the characteristics at the tables' offset.
macro_rules! handler {
    ($base:expr, $member:literal, $ty:ty) => {{
        // SAFETY: the characteristics are readable through their declared
        // size, which covers this member (checked by the caller).
        let raw = unsafe { facts::read::<*const c_void>($base, CHARACTERISTICS, $member) };
        // SAFETY: a code pointer the miniport stored as this handler, whose
        // C type the callback rows of the tables give; null is None.
        unsafe { std::mem::transmute::<*const c_void, Option<$ty>>(raw) }
    }};
}

/// Judges the characteristics at `base` and reads their handlers.
///
/// # Safety
/// `base` points to the characteristics the miniport passed, readable
/// through the size their header gives.
unsafe fn read_characteristics(base: *const u8) -> Result<Handlers, String> {
    // SAFETY: every NDIS object starts with its header (caller).
    let header = unsafe { Header::read(base) };
    header.judge(
        "NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS",
        CHARACTERISTICS,
        1,
    )?;
    // Nothing is read past the size the header declares.
    let last = facts::offset_of(CHARACTERISTICS, "CancelOidRequestHandler")
        + facts::member_size(CHARACTERISTICS, "CancelOidRequestHandler");
    if usize::from(header.size) < last {
        return Err(format!(
            "characteristics of {:#x} bytes end before CancelOidRequestHandler",
            header.size
        ));
    }
    // SAFETY: inside the declared size (checked above).
    let major = unsafe { facts::read::<u8>(base, CHARACTERISTICS, "MajorNdisVersion") };
    // SAFETY: as above.
    let minor = unsafe { facts::read::<u8>(base, CHARACTERISTICS, "MinorNdisVersion") };
    let want = (
        u8_constant("NDIS_MINIPORT_MAJOR_VERSION"),
        u8_constant("NDIS_MINIPORT_MINOR_VERSION"),
    );
    if (major, minor) != want {
        return Err(format!(
            "the miniport registers NDIS {major}.{minor}; the simulation hosts the tables' \
             contract, an NDIS {}.{} miniport",
            want.0, want.1
        ));
    }
    let missing = |name: &str| format!("the required miniport handler {name} is null");
    Ok(Handlers {
        initialize: handler!(base, "InitializeHandlerEx", InitializeFn)
            .ok_or_else(|| missing("InitializeHandlerEx"))?,
        halt: handler!(base, "HaltHandlerEx", HaltFn).ok_or_else(|| missing("HaltHandlerEx"))?,
        unload: handler!(base, "UnloadHandler", UnloadFn)
            .ok_or_else(|| missing("UnloadHandler"))?,
        pause: handler!(base, "PauseHandler", PauseFn).ok_or_else(|| missing("PauseHandler"))?,
        restart: handler!(base, "RestartHandler", RestartFn)
            .ok_or_else(|| missing("RestartHandler"))?,
        oid_request: handler!(base, "OidRequestHandler", OidRequestFn)
            .ok_or_else(|| missing("OidRequestHandler"))?,
        send: handler!(base, "SendNetBufferListsHandler", SendFn)
            .ok_or_else(|| missing("SendNetBufferListsHandler"))?,
        return_nbls: handler!(base, "ReturnNetBufferListsHandler", ReturnFn)
            .ok_or_else(|| missing("ReturnNetBufferListsHandler"))?,
        shutdown: handler!(base, "ShutdownHandlerEx", ShutdownFn)
            .ok_or_else(|| missing("ShutdownHandlerEx"))?,
    })
    .and_then(|handlers| {
        for name in [
            "CancelSendHandler",
            "DevicePnPEventNotifyHandler",
            "CancelOidRequestHandler",
        ] {
            // SAFETY: inside the declared size (checked above).
            let raw = unsafe { facts::read::<*const c_void>(base, CHARACTERISTICS, name) };
            if raw.is_null() {
                return Err(missing(name));
            }
        }
        Ok(handlers)
    })
}

/// Judges registration attributes at `base`.
///
/// # Safety
/// `base` points to attributes whose header says registration attributes.
unsafe fn read_registration(base: *const u8) -> Result<(RegistrationInfo, usize), String> {
    // SAFETY: the attributes start with their header (caller).
    let header = unsafe { Header::read(base) };
    header.judge(
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES",
        REGISTRATION,
        1,
    )?;
    // SAFETY: the header says registration attributes of a known revision,
    // whose size covers these members.
    let context = unsafe { facts::read::<usize>(base, REGISTRATION, "MiniportAdapterContext") };
    // SAFETY: as above.
    let attribute_flags = unsafe { facts::read::<u32>(base, REGISTRATION, "AttributeFlags") };
    // SAFETY: as above.
    let interface_type = unsafe { facts::read::<u32>(base, REGISTRATION, "InterfaceType") };
    Ok((
        RegistrationInfo {
            header,
            attribute_flags,
            interface_type,
        },
        context,
    ))
}

/// Reads and judges general attributes at `base`.
///
/// # Safety
/// `base` points to attributes whose header says general attributes.
unsafe fn read_general(base: *const u8) -> Result<GeneralInfo, String> {
    // SAFETY: the attributes start with their header (caller).
    let header = unsafe { Header::read(base) };
    // NDIS 6.20 and later miniports set revision 2.
    header.judge(
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES",
        GENERAL,
        2,
    )?;
    // SAFETY: general attributes of a revision whose size covers the
    // member (judged above); so for every read below.
    let media_type = unsafe { facts::read::<u32>(base, GENERAL, "MediaType") };
    // SAFETY: as above.
    let mtu = unsafe { facts::read::<u32>(base, GENERAL, "MtuSize") };
    // SAFETY: as above.
    let connect = unsafe { facts::read::<u32>(base, GENERAL, "MediaConnectState") };
    // SAFETY: as above.
    let mac_length = unsafe { facts::read::<u16>(base, GENERAL, "MacAddressLength") };
    // SAFETY: as above.
    let current = unsafe { facts::read_bytes(base, GENERAL, "CurrentMacAddress") };
    // SAFETY: as above.
    let permanent = unsafe { facts::read_bytes(base, GENERAL, "PermanentMacAddress") };
    // SAFETY: as above.
    let filters = unsafe { facts::read::<u32>(base, GENERAL, "SupportedPacketFilters") };
    // SAFETY: as above.
    let mac_options = unsafe { facts::read::<u32>(base, GENERAL, "MacOptions") };
    // SAFETY: as above.
    let statistics = unsafe { facts::read::<u32>(base, GENERAL, "SupportedStatistics") };
    // SAFETY: as above.
    let list = unsafe { facts::read::<*const u32>(base, GENERAL, "SupportedOidList") };
    // SAFETY: as above.
    let list_bytes = unsafe { facts::read::<u32>(base, GENERAL, "SupportedOidListLength") };
    if list_bytes % 4 != 0 {
        return Err(format!(
            "SupportedOidListLength {list_bytes} is not a whole number of OIDs"
        ));
    }
    let supported_oids = if list.is_null() {
        Vec::new()
    } else {
        // SAFETY: the miniport's list holds SupportedOidListLength bytes of
        // ULONG OIDs and lives across the call.
        unsafe { std::slice::from_raw_parts(list, list_bytes as usize / 4) }.to_vec()
    };
    let info = GeneralInfo {
        revision: header.revision,
        media_type,
        mac: current[..6].try_into().expect("6 bytes"),
        permanent_mac: permanent[..6].try_into().expect("6 bytes"),
        mtu,
        connected: connect == u32_constant("MediaConnectStateConnected"),
        supported_oids,
        supported_filters: filters,
        mac_options,
        supported_statistics: statistics,
    };
    known_value("MediaConnectState", connect, "MediaConnectState")?;
    known_bits("SupportedPacketFilters", filters, "NDIS_PACKET_TYPE_")?;
    known_bits("MacOptions", mac_options, "NDIS_MAC_OPTION_")?;
    known_bits(
        "SupportedStatistics",
        statistics,
        "NDIS_STATISTICS_FLAGS_VALID_",
    )?;
    if media_type != u32_constant("NdisMedium802_3")
        || mac_length != 6
        || info.mac[0] & 1 != 0
        || info.supported_oids.is_empty()
    {
        return Err("general attributes describe no valid 802.3 adapter".into());
    }
    Ok(info)
}

/// Judges a status indication at `base` for `handle`; returns its status
/// code and, for NDIS_STATUS_LINK_STATE, whether the link is connected.
///
/// # Safety
/// `base` points to the indication the miniport passed.
unsafe fn read_status_indication(
    base: *const u8,
    handle: Handle,
) -> Result<(Status, Option<bool>), String> {
    // SAFETY: the indication starts with its header (caller).
    let header = unsafe { Header::read(base) };
    header.judge("NDIS_OBJECT_TYPE_STATUS_INDICATION", STATUS_INDICATION, 1)?;
    // SAFETY: an indication of a known revision covers these members.
    let source = unsafe { facts::read::<Handle>(base, STATUS_INDICATION, "SourceHandle") };
    // SAFETY: as above.
    let code = unsafe { facts::read::<i32>(base, STATUS_INDICATION, "StatusCode") };
    // SAFETY: as above.
    let buffer = unsafe { facts::read::<*const u8>(base, STATUS_INDICATION, "StatusBuffer") };
    // SAFETY: as above.
    let buffer_size = unsafe { facts::read::<u32>(base, STATUS_INDICATION, "StatusBufferSize") };
    if source != handle {
        return Err(format!(
            "status indication's SourceHandle {source:p} is not the adapter handle {handle:p}"
        ));
    }
    if code != status("NDIS_STATUS_LINK_STATE") {
        return match facts::status_name(code) {
            Some(_) => Ok((code, None)),
            None => Err(format!("status indication of {}", describe_status(code))),
        };
    }
    let header_size = facts::size_of("NDIS_OBJECT_HEADER");
    if buffer.is_null() || (buffer_size as usize) < header_size {
        return Err(format!(
            "link state indication with a {buffer_size}-byte buffer at {buffer:p}"
        ));
    }
    // SAFETY: the buffer holds at least a header (checked above).
    let state = unsafe { Header::read(buffer) };
    state.judge("NDIS_OBJECT_TYPE_DEFAULT", LINK_STATE, 1)?;
    if buffer_size < u32::from(state.size) {
        return Err(format!(
            "link state indication's StatusBufferSize {buffer_size} is less than its \
             NDIS_LINK_STATE revision {} size {:#x}",
            state.revision, state.size
        ));
    }
    // SAFETY: the buffer holds the NDIS_LINK_STATE revision (checked above).
    let connect = unsafe { facts::read::<u32>(buffer, LINK_STATE, "MediaConnectState") };
    known_value(
        "NDIS_LINK_STATE MediaConnectState",
        connect,
        "MediaConnectState",
    )?;
    Ok((
        code,
        Some(connect == u32_constant("MediaConnectStateConnected")),
    ))
}

/// Writes the UNICODE_STRING at `at`.
///
/// # Safety
/// `at` points to a writable UNICODE_STRING of the tables' size.
unsafe fn write_string(at: *mut u8, buffer: *mut u16, bytes: u16) {
    // SAFETY: writable (caller).
    unsafe { facts::write(at, STRING, "Length", bytes) };
    // SAFETY: as above.
    unsafe { facts::write(at, STRING, "MaximumLength", bytes) };
    // SAFETY: as above.
    unsafe { facts::write(at, STRING, "Buffer", buffer) };
}

impl NdisApi for Sim {
    unsafe fn register_miniport_driver(
        driver_object: *mut c_void,
        _registry_path: *mut c_void,
        driver_context: Handle,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut Handle,
    ) -> Status {
        // SAFETY: the host passes a SimDriver as the driver object.
        let driver = unsafe { &*driver_object.cast::<SimDriver>() };
        // SAFETY: the miniport passes its characteristics, readable through
        // the size their header declares.
        match unsafe { read_characteristics(characteristics.cast()) } {
            Ok(handlers) => *lock(&driver.handlers) = Some(handlers),
            Err(e) => {
                driver.breach(format!("NdisMRegisterMiniportDriver: {e}"));
                return status("NDIS_STATUS_FAILURE");
            }
        }
        if driver_context != driver_object {
            // Not a contract breach, but the sim hands the driver object back
            // as the driver context; note the difference.
            eprintln!("sim: driver context differs from the driver object");
        }
        // SAFETY: the driver passes a writable handle.
        unsafe { *driver_handle = driver_object };
        status("NDIS_STATUS_SUCCESS")
    }

    unsafe fn deregister_miniport_driver(driver_handle: Handle) {
        // SAFETY: the handle is the SimDriver given at registration.
        let driver = unsafe { &*driver_handle.cast::<SimDriver>() };
        let mut deregistered = lock(&driver.deregistered);
        if *deregistered {
            driver.breach("NdisMDeregisterMiniportDriver called twice".into());
        }
        *deregistered = true;
    }

    unsafe fn set_miniport_attributes(handle: Handle, attributes: *mut c_void) -> Status {
        // SAFETY: the driver passes its MiniportAdapterHandle.
        let a = unsafe { adapter(handle) };
        if a.state() != AdapterState::Initializing {
            a.breach("NdisMSetMiniportAttributes outside MiniportInitializeEx".into());
        }
        let base = attributes.cast::<u8>().cast_const();
        // SAFETY: every attributes structure starts with an NDIS_OBJECT_HEADER.
        let header = unsafe { Header::read(base) };
        let invalid = status("NDIS_STATUS_INVALID_PARAMETER");
        if header.kind == u8_constant("NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES") {
            // SAFETY: the header says registration attributes.
            let (info, context) = match unsafe { read_registration(base) } {
                Ok(read) => read,
                Err(e) => {
                    a.breach(format!("registration attributes: {e}"));
                    return invalid;
                }
            };
            if let Err(e) = known_bits(
                "registration AttributeFlags",
                info.attribute_flags,
                "NDIS_MINIPORT_ATTRIBUTES_",
            ) {
                a.breach(e);
            }
            if let Err(e) = known_value(
                "registration InterfaceType",
                info.interface_type,
                "NdisInterface",
            ) {
                a.breach(e);
            }
            let mut inner = lock(&a.inner);
            inner.context = context;
            inner.registration = Some(info);
        } else if header.kind == u8_constant("NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES")
        {
            if lock(&a.inner).registration.is_none() {
                a.breach("general attributes set before registration attributes".into());
                return invalid;
            }
            // SAFETY: the header says general attributes.
            let general = unsafe { read_general(base) };
            match general {
                Ok(info) => lock(&a.inner).general = Some(info),
                Err(e) => {
                    a.breach(format!("general attributes: {e}"));
                    return invalid;
                }
            }
        } else {
            let name = facts::name_of("NDIS_OBJECT_TYPE_", u64::from(header.kind))
                .unwrap_or_else(|| "no object type in the tables".into());
            a.breach(format!(
                "attributes of object type {:#x} ({name}) are neither registration nor \
                 general attributes",
                header.kind
            ));
            return invalid;
        }
        status("NDIS_STATUS_SUCCESS")
    }

    unsafe fn open_configuration(
        object: *const NDIS_CONFIGURATION_OBJECT,
        config: *mut Handle,
    ) -> Status {
        let base = object.cast::<u8>();
        // SAFETY: the driver passes a configuration object, which starts
        // with its header.
        let header = unsafe { Header::read(base) };
        if let Err(e) = header.judge("NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT", CONFIG_OBJECT, 1) {
            record_global_breach(&format!("NdisOpenConfigurationEx: {e}"));
            return status("NDIS_STATUS_INVALID_PARAMETER");
        }
        // SAFETY: a configuration object of a known revision covers NdisHandle.
        let handle = unsafe { facts::read::<Handle>(base, CONFIG_OBJECT, "NdisHandle") };
        if !lock(live_adapters()).contains(&(handle as usize)) {
            record_global_breach(&format!(
                "NdisOpenConfigurationEx: NdisHandle {handle:p} is no MiniportAdapterHandle"
            ));
            return status("NDIS_STATUS_INVALID_PARAMETER");
        }
        // SAFETY: a live adapter handle (checked above).
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisOpenConfigurationEx");
        lock(&a.driver().live).configs += 1;
        let boxed = Box::new(SimConfig {
            adapter: a,
            params: Vec::new(),
            strings: Vec::new(),
        });
        // SAFETY: the driver passes a writable handle.
        unsafe { *config = Box::into_raw(boxed).cast() };
        status("NDIS_STATUS_SUCCESS")
    }

    unsafe fn read_configuration(
        result: *mut Status,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config: Handle,
        keyword: *const NDIS_STRING,
        parameter_type: u32,
    ) {
        // SAFETY: a handle from open_configuration, still open.
        let config = unsafe { &mut *config.cast::<SimConfig>() };
        let keyword = keyword.cast::<u8>();
        // SAFETY: the keyword is a UNICODE_STRING (caller).
        let length = unsafe { facts::read::<u16>(keyword, STRING, "Length") };
        // SAFETY: as above.
        let buffer = unsafe { facts::read::<*const u16>(keyword, STRING, "Buffer") };
        // SAFETY: the string's buffer holds Length bytes of UTF-16.
        let units = unsafe { std::slice::from_raw_parts(buffer, usize::from(length) / 2) };
        let name = String::from_utf16_lossy(units);
        // SAFETY: the adapter outlives its configuration handles.
        let a = unsafe { &*config.adapter };
        let found = a
            .registry
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone());
        let integer = u32_constant("NdisParameterInteger");
        let hex = u32_constant("NdisParameterHexInteger");
        let string = u32_constant("NdisParameterString");
        let number = match (&found, parameter_type) {
            (Some(RegValue::Int(n)), t) if t == integer || t == hex => Some(*n),
            // NDIS converts a REG_SZ to an integer when asked for one.
            (Some(RegValue::Str(s)), t) if t == integer => s.trim().parse::<u32>().ok(),
            _ => None,
        };
        let param = if let Some(n) = number {
            let mut param = Record::zeroed(CONFIG_PARAMETER);
            param
                .set("ParameterType", integer)
                .set("ParameterData.IntegerData", n);
            Some(param)
        } else if let (Some(v), true) = (found, parameter_type == string) {
            let text = match v {
                RegValue::Str(s) => s,
                RegValue::Int(n) => n.to_string(),
            };
            let mut wide: Vec<u16> = text.encode_utf16().collect();
            let bytes = (wide.len() * 2) as u16;
            let buffer = wide.as_mut_ptr();
            config.strings.push(wide);
            let mut param = Record::zeroed(CONFIG_PARAMETER);
            param.set("ParameterType", string);
            // SAFETY: the parameter record holds ParameterData.StringData.
            let at = unsafe {
                facts::member_ptr(param.ptr(), CONFIG_PARAMETER, "ParameterData.StringData")
            };
            // SAFETY: `at` is the record's UNICODE_STRING member.
            unsafe { write_string(at, buffer, bytes) };
            Some(param)
        } else {
            None
        };
        match param {
            Some(p) => {
                let at = p.ptr();
                config.params.push(p);
                // SAFETY: the driver passes writable out-parameters.
                unsafe { *value = at.cast() };
                // SAFETY: as above.
                unsafe { *result = status("NDIS_STATUS_SUCCESS") };
            }
            None => {
                // SAFETY: as above.
                unsafe { *value = ptr::null_mut() };
                // SAFETY: as above.
                unsafe { *result = status("NDIS_STATUS_FAILURE") };
            }
        }
    }

    unsafe fn close_configuration(config: Handle) {
        // SAFETY: a handle from open_configuration, closed once.
        let config = unsafe { Box::from_raw(config.cast::<SimConfig>()) };
        // SAFETY: the adapter outlives its configuration handles.
        let a = unsafe { &*config.adapter };
        lock(&a.driver().live).configs -= 1;
    }

    unsafe fn allocate_nbl_pool(
        handle: Handle,
        params: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> Handle {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisAllocateNetBufferListPool");
        let base = params.cast::<u8>();
        // SAFETY: the parameters start with their header.
        let header = unsafe { Header::read(base) };
        match header.judge("NDIS_OBJECT_TYPE_DEFAULT", POOL_PARAMETERS, 1) {
            Err(e) => a.breach(format!("NBL pool parameters: {e}")),
            Ok(()) => {
                // SAFETY: parameters of a known revision cover the member.
                let allocate =
                    unsafe { facts::read::<u8>(base, POOL_PARAMETERS, "fAllocateNetBuffer") };
                if allocate == 0 {
                    a.breach(
                        "NBL pool parameters do not ask for NET_BUFFERs, yet the miniport \
                         allocates NBLs with one"
                            .into(),
                    );
                }
            }
        }
        if !allowed(&mut lock(&a.driver().faults).pools) {
            return ptr::null_mut();
        }
        let pool = Box::into_raw(Box::new(SimPool { adapter: a }));
        lock(&a.driver().live).pools.insert(pool as usize);
        pool.cast()
    }

    unsafe fn free_nbl_pool(pool: Handle) {
        let outstanding = lock(live_nbls())
            .values()
            .filter(|alloc| alloc.pool == pool as usize)
            .count();
        if outstanding > 0 {
            // SAFETY: a live pool (its NBLs are).
            let sim_pool = unsafe { &*pool.cast::<SimPool>() };
            // SAFETY: the adapter outlives its pool.
            let a = unsafe { &*sim_pool.adapter };
            a.breach(format!(
                "NdisFreeNetBufferListPool with {outstanding} of its NBLs not freed"
            ));
            // The pool stays allocated: its NBLs still name it.
            return;
        }
        // SAFETY: a pool from allocate_nbl_pool, freed once.
        let pool = unsafe { Box::from_raw(pool.cast::<SimPool>()) };
        // SAFETY: the adapter outlives its pool.
        let a = unsafe { &*pool.adapter };
        let mut live = lock(&a.driver().live);
        if !live.pools.remove(&(&*pool as *const SimPool as usize)) {
            drop(live);
            a.breach("NBL pool freed twice".into());
        }
    }

    unsafe fn allocate_nb_and_nbl(
        pool: Handle,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST {
        // SAFETY: the driver passes a pool from allocate_nbl_pool.
        let sim_pool = unsafe { &*pool.cast::<SimPool>() };
        // SAFETY: the adapter outlives its pool.
        let a = unsafe { &*sim_pool.adapter };
        if !allowed(&mut lock(&a.driver().faults).nbls) {
            return ptr::null_mut();
        }
        let mut nb = Record::zeroed(NB);
        nb.set("MdlChain", mdl_chain.cast::<u8>())
            .set("CurrentMdl", mdl_chain.cast::<u8>())
            .set("DataOffset", data_offset)
            .set("CurrentMdlOffset", data_offset)
            .set("stDataLength", data_length)
            .set("NdisPoolHandle", pool);
        let mut nbl = Record::zeroed(NBL);
        nbl.set("FirstNetBuffer", nb.ptr())
            .set("NdisPoolHandle", pool);
        let at = nbl.ptr();
        lock(live_nbls()).insert(
            at as usize,
            NblAlloc {
                nbl,
                nb,
                pool: pool as usize,
            },
        );
        at.cast()
    }

    unsafe fn free_nbl(nbl: *mut NET_BUFFER_LIST) {
        let Some(alloc) = lock(live_nbls()).remove(&(nbl as usize)) else {
            record_global_breach(&format!(
                "NdisFreeNetBufferList of {nbl:p}: freed twice or not from a pool"
            ));
            return;
        };
        // SAFETY: the pool an NBL came from outlives it (the pool check at
        // unload names any that does not).
        let pool = unsafe { &*(alloc.pool as *const SimPool) };
        // SAFETY: the adapter outlives its pool.
        let a = unsafe { &*pool.adapter };
        let pool_field = alloc.nbl.get::<usize>("NdisPoolHandle");
        if pool_field != alloc.pool {
            a.breach(format!(
                "NBL {nbl:p}'s NdisPoolHandle was overwritten ({pool_field:#x})"
            ));
        }
        if lock(&a.inner).held.contains(&(nbl as usize)) {
            a.breach("an NBL the protocol still holds was freed".into());
        }
        drop(alloc);
    }

    unsafe fn allocate_mdl(handle: Handle, va: *mut c_void, length: u32) -> *mut MDL {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisAllocateMdl");
        if !allowed(&mut lock(&a.driver().faults).mdls) {
            return ptr::null_mut();
        }
        let mut mdl = Record::zeroed(MDL_TYPE);
        mdl.set("Next", ptr::null_mut::<u8>())
            .set("Size", facts::size_of(MDL_TYPE) as i16)
            .set("MdlFlags", constant("MDL_SOURCE_IS_NONPAGED_POOL") as i16)
            .set("MappedSystemVa", va)
            .set("StartVa", va)
            .set("ByteCount", length)
            .set("ByteOffset", 0u32);
        let at = mdl.ptr();
        lock(live_mdls()).insert(at as usize, mdl);
        at.cast()
    }

    unsafe fn free_mdl(mdl: *mut MDL) {
        if lock(live_mdls()).remove(&(mdl as usize)).is_none() {
            record_global_breach("MDL freed twice or never allocated");
        }
    }

    unsafe fn mdl_system_address(mdl: *mut MDL) -> *const u8 {
        if lock(sent_mdls()).contains(&(mdl as usize)) {
            // SAFETY: an MDL of a chain the host is sending, alive until
            // the send call returns.
            return unsafe { facts::read::<*const u8>(mdl.cast(), MDL_TYPE, "MappedSystemVa") };
        }
        match lock(live_mdls()).get(&(mdl as usize)) {
            Some(record) => record.get::<*const u8>("MappedSystemVa"),
            None => {
                record_global_breach(&format!(
                    "MmGetSystemAddressForMdlSafe of {mdl:p}, which is neither from \
                     NdisAllocateMdl nor on a sent NET_BUFFER"
                ));
                ptr::null()
            }
        }
    }

    unsafe fn send_complete(handle: Handle, nbls: *mut NET_BUFFER_LIST, _flags: u32) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisMSendNetBufferListsComplete");
        let mut nbl = nbls.cast::<u8>().cast_const();
        let mut inner = lock(&a.inner);
        let mut problems = Vec::new();
        while !nbl.is_null() {
            let at = nbl as usize;
            if !inner.pending_sends.contains(&at) && !inner.completed.contains_key(&at) {
                problems.push(format!("NBL {nbl:p} completed but was never sent"));
                break;
            }
            // SAFETY: an NBL of the chain the host sent, alive until the
            // send call returns.
            let code = unsafe { facts::read::<i32>(nbl, NBL, "Status") };
            // SAFETY: as above.
            let next = unsafe { facts::read::<*const u8>(nbl, NBL, "Next") };
            if !inner.pending_sends.remove(&at) {
                problems.push(format!("NBL {nbl:p} completed twice"));
            } else {
                inner.completed.insert(at, code);
            }
            nbl = next;
        }
        drop(inner);
        for p in problems {
            a.breach(p);
        }
    }

    unsafe fn indicate_receive(
        handle: Handle,
        nbls: *mut NET_BUFFER_LIST,
        port: u32,
        count: u32,
        flags: u32,
    ) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        let state = a.state();
        // Pausing is allowed for an indication already under way when the
        // pause began; the pause may not complete until its NBLs return.
        if !matches!(state, AdapterState::Running | AdapterState::Pausing) {
            a.breach(format!("receive indicated while {state:?}"));
        }
        if port != 0 {
            a.breach(format!("receive indicated on port {port}"));
        }
        if let Err(e) = known_bits("receive indication flags", flags, "NDIS_RECEIVE_FLAGS_") {
            a.breach(e);
        }
        let mut problems = Vec::new();
        let mut frames = Vec::new();
        let mut chain = Vec::new();
        {
            let nbls_live = lock(live_nbls());
            let mdls_live = lock(live_mdls());
            let known_mdl = |mdl: *const u8| mdls_live.contains_key(&(mdl as usize));
            let mut nbl = nbls.cast::<u8>().cast_const();
            while !nbl.is_null() {
                if chain.len() as u64 > u64::from(count.max(1)) * 4 + 1024 {
                    problems.push("indicated NBL chain does not end (a cycle)".to_owned());
                    break;
                }
                let Some(alloc) = nbls_live.get(&(nbl as usize)) else {
                    problems.push(format!(
                        "indicated NBL {nbl:p} was not allocated by \
                         NdisAllocateNetBufferAndNetBufferList"
                    ));
                    break;
                };
                chain.push(nbl as usize);
                // SAFETY: a live NBL the simulation allocated (checked).
                let source = unsafe { facts::read::<Handle>(nbl, NBL, "SourceHandle") };
                // SAFETY: as above.
                let first = unsafe { facts::read::<*const u8>(nbl, NBL, "FirstNetBuffer") };
                // SAFETY: as above.
                let next = unsafe { facts::read::<*const u8>(nbl, NBL, "Next") };
                if source != handle {
                    problems.push(format!(
                        "indicated NBL's SourceHandle {source:p} is not the adapter handle"
                    ));
                }
                if first != alloc.nb.ptr().cast_const() {
                    problems.push(format!(
                        "indicated NBL's FirstNetBuffer {first:p} is not the NET_BUFFER NDIS \
                         allocated with it"
                    ));
                } else {
                    // SAFETY: the NBL's own NET_BUFFER, allocated by the sim.
                    match unsafe { net_buffer_bytes(first, known_mdl) } {
                        Ok(frame) => frames.push(frame),
                        Err(e) => problems.push(e),
                    }
                    // SAFETY: as above.
                    let after = unsafe { facts::read::<*const u8>(first, NB, "Next") };
                    if !after.is_null() {
                        problems.push(
                            "indicated NET_BUFFER chain continues past the one NET_BUFFER NDIS \
                             allocated"
                                .to_owned(),
                        );
                    }
                }
                nbl = next;
            }
        }
        if chain.len() != count as usize {
            problems.push(format!(
                "NumberOfNetBufferLists {count} but the chain holds {}",
                chain.len()
            ));
        }
        let mut inner = lock(&a.inner);
        for &nbl in &chain {
            if !inner.held.insert(nbl) {
                problems.push(format!(
                    "NBL {nbl:#x} indicated while the protocol still holds it"
                ));
            }
        }
        inner.received.extend(frames);
        drop(inner);
        a.changed.notify_all();
        for p in problems {
            a.breach(p);
        }
        match &*lock(&a.returner) {
            Some(tx) => {
                let _ = tx.send(nbls as usize);
            }
            None => a.breach("receive indicated with no protocol bound".into()),
        }
    }

    unsafe fn indicate_status(handle: Handle, indication: *const NDIS_STATUS_INDICATION) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisMIndicateStatusEx");
        if lock(&a.inner).registration.is_none() {
            a.breach("status indicated before the registration attributes".into());
        }
        // SAFETY: the driver passes its indication.
        match unsafe { read_status_indication(indication.cast(), handle) } {
            Err(e) => a.breach(format!("malformed status indication: {e}")),
            Ok((_, Some(connected))) => {
                lock(&a.inner).link_states.push(connected);
                a.changed.notify_all();
            }
            Ok((_, None)) => {}
        }
    }

    unsafe fn pause_complete(handle: Handle) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        let mut inner = lock(&a.inner);
        if inner.state != Some(AdapterState::Pausing) {
            let state = inner.state;
            drop(inner);
            a.breach(format!("NdisMPauseComplete while {state:?}"));
            return;
        }
        if !inner.held.is_empty() {
            let held = inner.held.len();
            drop(inner);
            a.breach(format!(
                "pause completed while the protocol holds {held} NBLs"
            ));
            return;
        }
        inner.state = Some(AdapterState::Paused);
        drop(inner);
        a.changed.notify_all();
    }

    unsafe fn write_event_log(
        driver_object: *mut c_void,
        _code: Status,
        message: *const u16,
    ) -> Status {
        // SAFETY: the driver passes the driver object it was given.
        let driver = unsafe { &*driver_object.cast::<SimDriver>() };
        let mut len = 0;
        loop {
            // SAFETY: the message is NUL-terminated UTF-16; `len` units
            // before this one were not NUL.
            let at = unsafe { message.add(len) };
            // SAFETY: as above.
            if unsafe { *at } == 0 {
                break;
            }
            len += 1;
        }
        // SAFETY: `len` units precede the NUL.
        let text = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(message, len) });
        lock(&driver.event_log).push(text);
        status("NDIS_STATUS_SUCCESS")
    }
}
