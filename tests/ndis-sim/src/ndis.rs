//! NDIS as the miniport sees it: every routine of `NdisApi`, implemented in
//! Rust over sim-owned objects, each checking the contract it stands for.
//! A breach is recorded (never panics inside a driver call) and fails the
//! test when the host checks.
//!
//! Handles are pointers to sim objects, as in NDIS: the driver object is a
//! [`SimDriver`], the MiniportAdapterHandle a [`SimAdapter`], the
//! configuration handle a `SimConfig`, the pool handle a `SimPool`.

// NDIS constant names (NdisParameterString, ...) are matched as patterns.
#![allow(non_upper_case_globals)]

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::ptr;
use std::sync::{mpsc, Condvar, Mutex, MutexGuard, OnceLock};

use volnic::ndis::*;
use volnic::ndis_api::NdisApi;

use crate::Sim;

/// Breaches recorded outside any adapter (thread panics).
pub fn global_breaches() -> &'static Mutex<Vec<String>> {
    static BREACHES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    BREACHES.get_or_init(Default::default)
}

/// MDLs allocated and not freed (driver lifetimes are serialized by the
/// host, so one set serves every test of the process).
pub fn live_mdls() -> &'static Mutex<HashSet<usize>> {
    static MDLS: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    MDLS.get_or_init(Default::default)
}

pub fn record_global_breach(what: &str) {
    lock(global_breaches()).push(what.to_owned());
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The driver object: what DriverEntry registered.
pub struct SimDriver {
    pub chars: Mutex<Option<NDIS_MINIPORT_DRIVER_CHARACTERISTICS>>,
    pub deregistered: Mutex<bool>,
    pub event_log: Mutex<Vec<String>>,
    pub breaches: Mutex<Vec<String>>,
    /// Live allocations: NBLs, MDLs, pools, configuration handles.
    pub live: Mutex<Live>,
}

#[derive(Default, Debug)]
pub struct Live {
    pub nbls: HashSet<usize>,
    pub pools: HashSet<usize>,
    pub configs: usize,
}

impl SimDriver {
    pub fn new() -> Self {
        Self {
            chars: Mutex::new(None),
            deregistered: Mutex::new(false),
            event_log: Mutex::new(Vec::new()),
            breaches: Mutex::new(Vec::new()),
            live: Mutex::new(Live::default()),
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

/// What the general attributes said.
#[derive(Clone, Debug, Default)]
pub struct GeneralInfo {
    pub mac: [u8; 6],
    pub permanent_mac: [u8; 6],
    pub mtu: u32,
    pub connected: bool,
    pub supported_oids: Vec<u32>,
    pub supported_filters: u32,
}

#[derive(Default)]
pub struct AdapterInner {
    pub state: Option<AdapterState>,
    pub context: usize,
    pub registration_set: bool,
    pub general: Option<GeneralInfo>,
    /// Sent NBLs not yet completed.
    pub pending_sends: HashSet<usize>,
    pub completed: HashMap<usize, NDIS_STATUS>,
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
unsafe fn adapter<'a>(handle: NDIS_HANDLE) -> &'a SimAdapter {
    // SAFETY: per the contract, the handle is a live SimAdapter.
    unsafe { &*handle.cast::<SimAdapter>() }
}

struct SimConfig {
    adapter: *const SimAdapter,
    params: Vec<Box<NDIS_CONFIGURATION_PARAMETER>>,
    strings: Vec<Vec<u16>>,
}

struct SimPool {
    adapter: *const SimAdapter,
}

/// Reads the bytes of one NET_BUFFER as NDIS would (DataLength bytes from
/// CurrentMdlOffset of CurrentMdl on).
///
/// # Safety
/// `nb` and its MDL chain are valid.
pub unsafe fn net_buffer_bytes(nb: *const NET_BUFFER) -> Result<Vec<u8>, String> {
    // SAFETY: valid per the contract.
    let (mut mdl, mut offset, mut remaining) = unsafe {
        (
            (*nb).CurrentMdl,
            (*nb).CurrentMdlOffset as usize,
            (*nb).DataLength as u32 as usize,
        )
    };
    let mut out = Vec::with_capacity(remaining);
    while remaining > 0 {
        if mdl.is_null() {
            return Err(format!(
                "NET_BUFFER data runs {remaining} bytes past its MDL chain"
            ));
        }
        // SAFETY: `mdl` is on the valid chain.
        let (va, count, next) = unsafe {
            (
                (*mdl).MappedSystemVa.cast::<u8>(),
                (*mdl).ByteCount as usize,
                (*mdl).Next,
            )
        };
        if offset > count {
            return Err("CurrentMdlOffset beyond the MDL".into());
        }
        let take = (count - offset).min(remaining);
        // SAFETY: the MDL maps `count` bytes at `va`.
        out.extend_from_slice(unsafe { std::slice::from_raw_parts(va.add(offset), take) });
        remaining -= take;
        offset = 0;
        mdl = next;
    }
    Ok(out)
}

impl NdisApi for Sim {
    unsafe fn register_miniport_driver(
        driver_object: *mut c_void,
        _registry_path: *mut c_void,
        driver_context: NDIS_HANDLE,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        // SAFETY: the host passes a SimDriver as the driver object.
        let driver = unsafe { &*driver_object.cast::<SimDriver>() };
        // SAFETY: the driver passes a valid characteristics structure; it
        // holds only integers and function pointers, so a bitwise copy is
        // a faithful copy.
        let chars = unsafe { ptr::read(characteristics) };
        if chars.Header.Type != NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS
            || chars.Header.Size < NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2
        {
            driver.breach("characteristics header is wrong".into());
            return NDIS_STATUS_FAILURE;
        }
        if (chars.MajorNdisVersion, chars.MinorNdisVersion) < (6, 30) {
            driver.breach("miniport registers an NDIS version older than 6.30".into());
        }
        let required = [
            chars.InitializeHandlerEx.is_some(),
            chars.HaltHandlerEx.is_some(),
            chars.PauseHandler.is_some(),
            chars.RestartHandler.is_some(),
            chars.OidRequestHandler.is_some(),
            chars.SendNetBufferListsHandler.is_some(),
            chars.ReturnNetBufferListsHandler.is_some(),
            chars.CancelSendHandler.is_some(),
            chars.DevicePnPEventNotifyHandler.is_some(),
            chars.ShutdownHandlerEx.is_some(),
            chars.CancelOidRequestHandler.is_some(),
        ];
        if required.iter().any(|present| !present) {
            driver.breach("a required miniport handler is missing".into());
            return NDIS_STATUS_FAILURE;
        }
        if driver_context != driver_object {
            // Not a contract breach, but the sim hands the driver object back
            // as the driver context; note the difference.
            eprintln!("sim: driver context differs from the driver object");
        }
        *lock(&driver.chars) = Some(chars);
        // SAFETY: the driver passes a writable handle.
        unsafe { *driver_handle = driver_object };
        NDIS_STATUS_SUCCESS
    }

    unsafe fn deregister_miniport_driver(driver_handle: NDIS_HANDLE) {
        // SAFETY: the handle is the SimDriver given at registration.
        let driver = unsafe { &*driver_handle.cast::<SimDriver>() };
        let mut deregistered = lock(&driver.deregistered);
        if *deregistered {
            driver.breach("NdisMDeregisterMiniportDriver called twice".into());
        }
        *deregistered = true;
    }

    unsafe fn set_miniport_attributes(handle: NDIS_HANDLE, attributes: *mut c_void) -> NDIS_STATUS {
        // SAFETY: the driver passes its MiniportAdapterHandle.
        let a = unsafe { adapter(handle) };
        if a.state() != AdapterState::Initializing {
            a.breach("NdisMSetMiniportAttributes outside MiniportInitializeEx".into());
        }
        // SAFETY: every attributes structure starts with an NDIS_OBJECT_HEADER.
        let header = unsafe { *attributes.cast::<NDIS_OBJECT_HEADER>() };
        let mut inner = lock(&a.inner);
        match header.Type {
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES => {
                if header.Size < NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 {
                    drop(inner);
                    a.breach("registration attributes too small".into());
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                // SAFETY: the header says registration attributes.
                let reg =
                    unsafe { &*attributes.cast::<NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES>() };
                inner.context = reg.MiniportAdapterContext as usize;
                inner.registration_set = true;
            }
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES => {
                if !inner.registration_set {
                    drop(inner);
                    a.breach("general attributes set before registration attributes".into());
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                if header.Size < NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2 {
                    drop(inner);
                    a.breach("general attributes too small for NDIS 6.30".into());
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
                // SAFETY: the header says general attributes.
                let gen =
                    unsafe { &*attributes.cast::<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>() };
                let oids = if gen.SupportedOidList.is_null() {
                    Vec::new()
                } else {
                    // SAFETY: the list holds SupportedOidListLength bytes.
                    unsafe {
                        std::slice::from_raw_parts(
                            gen.SupportedOidList,
                            gen.SupportedOidListLength as usize / 4,
                        )
                    }
                    .to_vec()
                };
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&gen.CurrentMacAddress[..6]);
                let mut permanent_mac = [0u8; 6];
                permanent_mac.copy_from_slice(&gen.PermanentMacAddress[..6]);
                let bad = gen.MediaType != NdisMedium802_3
                    || gen.MacAddressLength != 6
                    || mac[0] & 1 != 0
                    || oids.is_empty();
                inner.general = Some(GeneralInfo {
                    mac,
                    permanent_mac,
                    mtu: gen.MtuSize,
                    connected: gen.MediaConnectState == MediaConnectStateConnected,
                    supported_oids: oids,
                    supported_filters: gen.SupportedPacketFilters,
                });
                if bad {
                    drop(inner);
                    a.breach("general attributes describe no valid 802.3 adapter".into());
                    return NDIS_STATUS_INVALID_PARAMETER;
                }
            }
            other => {
                drop(inner);
                a.breach(format!("unknown attributes type {other:#x}"));
                return NDIS_STATUS_INVALID_PARAMETER;
            }
        }
        NDIS_STATUS_SUCCESS
    }

    unsafe fn open_configuration(
        object: *const NDIS_CONFIGURATION_OBJECT,
        config: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        // SAFETY: the driver passes a valid configuration object.
        let object = unsafe { &*object };
        if object.Header.Type != NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        // SAFETY: NdisHandle is the MiniportAdapterHandle.
        let a = unsafe { adapter(object.NdisHandle) };
        a.check_alive("NdisOpenConfigurationEx");
        lock(&a.driver().live).configs += 1;
        let boxed = Box::new(SimConfig {
            adapter: a,
            params: Vec::new(),
            strings: Vec::new(),
        });
        // SAFETY: the driver passes a writable handle.
        unsafe { *config = Box::into_raw(boxed).cast() };
        NDIS_STATUS_SUCCESS
    }

    unsafe fn read_configuration(
        status: *mut NDIS_STATUS,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config: NDIS_HANDLE,
        keyword: *const NDIS_STRING,
        parameter_type: u32,
    ) {
        // SAFETY: a handle from open_configuration, still open.
        let config = unsafe { &mut *config.cast::<SimConfig>() };
        // SAFETY: the keyword is a valid counted UTF-16 string.
        let name = unsafe {
            String::from_utf16_lossy(std::slice::from_raw_parts(
                (*keyword).Buffer,
                usize::from((*keyword).Length) / 2,
            ))
        };
        // SAFETY: the adapter outlives its configuration handles.
        let a = unsafe { &*config.adapter };
        let found = a
            .registry
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone());
        let param: Option<NDIS_CONFIGURATION_PARAMETER> = match (found, parameter_type) {
            (None, _) => None,
            (Some(RegValue::Int(n)), NdisParameterInteger | NdisParameterHexInteger) => {
                Some(NDIS_CONFIGURATION_PARAMETER {
                    ParameterType: NdisParameterInteger,
                    ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA { IntegerData: n },
                })
            }
            // NDIS converts a REG_SZ to an integer when asked for one.
            (Some(RegValue::Str(s)), NdisParameterInteger) => {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .map(|n| NDIS_CONFIGURATION_PARAMETER {
                        ParameterType: NdisParameterInteger,
                        ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA { IntegerData: n },
                    })
            }
            (Some(v), NdisParameterString) => {
                let text = match v {
                    RegValue::Str(s) => s,
                    RegValue::Int(n) => n.to_string(),
                };
                let mut wide: Vec<u16> = text.encode_utf16().collect();
                let bytes = (wide.len() * 2) as u16;
                let buffer = wide.as_mut_ptr();
                config.strings.push(wide);
                Some(NDIS_CONFIGURATION_PARAMETER {
                    ParameterType: NdisParameterString,
                    ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA {
                        StringData: NDIS_STRING {
                            Length: bytes,
                            MaximumLength: bytes,
                            Buffer: buffer,
                        },
                    },
                })
            }
            _ => None,
        };
        match param {
            Some(p) => {
                let mut boxed = Box::new(p);
                let at: *mut NDIS_CONFIGURATION_PARAMETER = &mut *boxed;
                config.params.push(boxed);
                // SAFETY: the driver passes writable out-parameters.
                unsafe {
                    *value = at;
                    *status = NDIS_STATUS_SUCCESS;
                }
            }
            // SAFETY: as above.
            None => unsafe {
                *value = ptr::null_mut();
                *status = NDIS_STATUS_FAILURE;
            },
        }
    }

    unsafe fn close_configuration(config: NDIS_HANDLE) {
        // SAFETY: a handle from open_configuration, closed once.
        let config = unsafe { Box::from_raw(config.cast::<SimConfig>()) };
        // SAFETY: the adapter outlives its configuration handles.
        let a = unsafe { &*config.adapter };
        lock(&a.driver().live).configs -= 1;
    }

    unsafe fn allocate_nbl_pool(
        handle: NDIS_HANDLE,
        params: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE {
        // SAFETY: the driver passes its adapter handle and valid parameters.
        let (a, params) = unsafe { (adapter(handle), &*params) };
        a.check_alive("NdisAllocateNetBufferListPool");
        if params.Header.Type != NDIS_OBJECT_TYPE_DEFAULT || params.fAllocateNetBuffer == 0 {
            a.breach("NBL pool parameters are not a NET_BUFFER-allocating default pool".into());
        }
        let pool = Box::into_raw(Box::new(SimPool { adapter: a }));
        lock(&a.driver().live).pools.insert(pool as usize);
        pool.cast()
    }

    unsafe fn free_nbl_pool(pool: NDIS_HANDLE) {
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
        pool: NDIS_HANDLE,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST {
        // SAFETY: a live pool.
        let sim_pool = unsafe { &*pool.cast::<SimPool>() };
        // SAFETY: the adapter outlives its pool.
        let a = unsafe { &*sim_pool.adapter };
        // SAFETY: NET_BUFFER and NET_BUFFER_LIST are plain repr(C) data for
        // which all-zero bytes (null pointers, zero counts) are valid.
        let nb: *mut NET_BUFFER = Box::into_raw(Box::new(unsafe { std::mem::zeroed() }));
        // SAFETY: as above.
        let nbl: *mut NET_BUFFER_LIST = Box::into_raw(Box::new(unsafe { std::mem::zeroed() }));
        // SAFETY: both were just allocated.
        unsafe {
            (*nb).MdlChain = mdl_chain;
            (*nb).CurrentMdl = mdl_chain;
            (*nb).DataOffset = data_offset;
            (*nb).CurrentMdlOffset = data_offset;
            (*nb).DataLength = data_length;
            (*nb).NdisPoolHandle = pool;
            (*nbl).FirstNetBuffer = nb;
            (*nbl).NdisPoolHandle = pool;
        }
        lock(&a.driver().live).nbls.insert(nbl as usize);
        nbl
    }

    unsafe fn free_nbl(nbl: *mut NET_BUFFER_LIST) {
        // SAFETY: an NBL from allocate_nb_and_nbl.
        let pool = unsafe { (*nbl).NdisPoolHandle };
        // SAFETY: its pool is live.
        let a = unsafe { &*(*pool.cast::<SimPool>()).adapter };
        if lock(&a.inner).held.contains(&(nbl as usize)) {
            a.breach("an NBL the protocol still holds was freed".into());
        }
        if !lock(&a.driver().live).nbls.remove(&(nbl as usize)) {
            a.breach("NBL freed twice or not from a pool".into());
            return;
        }
        // SAFETY: allocated as boxes by allocate_nb_and_nbl, freed once.
        unsafe {
            drop(Box::from_raw((*nbl).FirstNetBuffer));
            drop(Box::from_raw(nbl));
        }
    }

    unsafe fn allocate_mdl(handle: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisAllocateMdl");
        let mdl = Box::into_raw(Box::new(MDL {
            Next: ptr::null_mut(),
            Size: std::mem::size_of::<MDL>() as i16,
            MdlFlags: 0x0004, // MDL_SOURCE_IS_NONPAGED_POOL
            Process: ptr::null_mut(),
            MappedSystemVa: va,
            StartVa: va,
            ByteCount: length,
            ByteOffset: 0,
        }));
        lock(live_mdls()).insert(mdl as usize);
        mdl
    }

    unsafe fn free_mdl(mdl: *mut MDL) {
        if !lock(live_mdls()).remove(&(mdl as usize)) {
            record_global_breach("MDL freed twice or never allocated");
            return;
        }
        // SAFETY: an MDL from allocate_mdl, freed once (checked above).
        drop(unsafe { Box::from_raw(mdl) });
    }

    unsafe fn mdl_system_address(mdl: *mut MDL) -> *const u8 {
        // SAFETY: a valid MDL (contract).
        unsafe { (*mdl).MappedSystemVa.cast::<u8>().cast_const() }
    }

    unsafe fn send_complete(handle: NDIS_HANDLE, nbls: *mut NET_BUFFER_LIST, _flags: u32) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisMSendNetBufferListsComplete");
        let mut nbl = nbls;
        let mut inner = lock(&a.inner);
        let mut problems = Vec::new();
        while !nbl.is_null() {
            // SAFETY: the chain is made of NBLs the sim sent.
            let (status, next) = unsafe { ((*nbl).Status, (*nbl).Next) };
            if !inner.pending_sends.remove(&(nbl as usize)) {
                problems.push(format!("NBL {nbl:p} completed twice or was never sent"));
            } else {
                inner.completed.insert(nbl as usize, status);
            }
            nbl = next;
        }
        drop(inner);
        for p in problems {
            a.breach(p);
        }
    }

    unsafe fn indicate_receive(
        handle: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        port: NDIS_PORT_NUMBER,
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
        if port != 0 || flags & !NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL != 0 {
            a.breach(format!("unexpected receive port {port} / flags {flags:#x}"));
        }
        let mut problems = Vec::new();
        let mut frames = Vec::new();
        let mut seen = 0u32;
        let mut nbl = nbls;
        let mut inner = lock(&a.inner);
        while !nbl.is_null() {
            seen += 1;
            if seen > count.max(1) * 4 + 1024 {
                problems.push("indicated NBL chain does not end (a cycle)".to_owned());
                break;
            }
            // SAFETY: the driver indicates valid NBLs.
            let (source, first, next) =
                unsafe { ((*nbl).SourceHandle, (*nbl).FirstNetBuffer, (*nbl).Next) };
            if source != handle {
                problems.push("indicated NBL's SourceHandle is not the adapter handle".to_owned());
            }
            if !inner.held.insert(nbl as usize) {
                problems.push(format!(
                    "NBL {nbl:p} indicated while the protocol still holds it"
                ));
            }
            let mut nb = first;
            while !nb.is_null() {
                // SAFETY: NET_BUFFERs of a valid NBL.
                match unsafe { net_buffer_bytes(nb) } {
                    Ok(frame) => frames.push(frame),
                    Err(e) => problems.push(e),
                }
                // SAFETY: as above.
                nb = unsafe { (*nb).Next };
            }
            nbl = next;
        }
        if seen != count {
            problems.push(format!(
                "NumberOfNetBufferLists {count} but the chain holds {seen}"
            ));
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

    unsafe fn indicate_status(handle: NDIS_HANDLE, indication: *const NDIS_STATUS_INDICATION) {
        // SAFETY: the driver passes its adapter handle.
        let a = unsafe { adapter(handle) };
        a.check_alive("NdisMIndicateStatusEx");
        if !lock(&a.inner).registration_set {
            a.breach("status indicated before the registration attributes".into());
        }
        // SAFETY: a valid indication (contract).
        let ind = unsafe { &*indication };
        if ind.Header.Type != NDIS_OBJECT_TYPE_STATUS_INDICATION || ind.SourceHandle != handle {
            a.breach("malformed status indication".into());
            return;
        }
        if ind.StatusCode == NDIS_STATUS_LINK_STATE {
            if (ind.StatusBufferSize as usize) < std::mem::size_of::<NDIS_LINK_STATE>() {
                a.breach("link state indication buffer too small".into());
                return;
            }
            // SAFETY: the buffer holds an NDIS_LINK_STATE.
            let state = unsafe { *ind.StatusBuffer.cast::<NDIS_LINK_STATE>() };
            lock(&a.inner)
                .link_states
                .push(state.MediaConnectState == MediaConnectStateConnected);
            a.changed.notify_all();
        }
    }

    unsafe fn pause_complete(handle: NDIS_HANDLE) {
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
        _code: NDIS_STATUS,
        message: *const u16,
    ) -> NDIS_STATUS {
        // SAFETY: the driver passes the driver object it was given.
        let driver = unsafe { &*driver_object.cast::<SimDriver>() };
        let mut len = 0;
        // SAFETY: the message is NUL-terminated UTF-16.
        while unsafe { *message.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` units precede the NUL.
        let text = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(message, len) });
        lock(&driver.event_log).push(text);
        NDIS_STATUS_SUCCESS
    }
}
