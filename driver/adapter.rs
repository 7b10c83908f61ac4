//! Adapter lifetime: MiniportInitializeEx (registry, link start, NDIS
//! attributes), Pause, Restart, Halt, Shutdown, Reset, CheckForHang,
//! DevicePnPEvent, and the OID request entry that hands over to oid.rs.
//!
//! Each `extern "system"` function here is an NDIS callback: its only job is
//! to turn raw NDIS arguments into safe calls (every raw access with a
//! `// SAFETY:` note). Decisions live in config.rs, datapath.rs and oid.rs.

// NDIS constant names (NdisParameterString, ...) are matched as patterns.
#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use volnic_core::auth::AuthKey;
use volnic_core::volume::{STORAGE_RETRY_FIRST_US, STORAGE_RETRY_MAX_US};
use volnic_core::{Link, LinkConfig, LinkError, SendQueue, VolumeErrorKind};

use crate::config::{default_mac, AdapterConfig, SettingSource};
use crate::datapath::{
    self, AdapterInfo, Engine, PathState, Raw, RxFilter, RxSide, Shared, Stats, TxSide, RX_SLOTS,
};
use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::oid::{self, AdapterView, SetEffect, StatsSnapshot};
use crate::os::SpinLock;

/// The MiniportAdapterContext NDIS passes back to every callback.
pub struct Adapter<P: Platform> {
    pub shared: Arc<Shared<P>>,
    thread: Option<P::Thread>,
    /// The driver object, for the event log.
    driver_object: Raw<c_void>,
}

/// Registry values through NdisReadConfiguration.
struct NdisConfig<P: Platform> {
    handle: NDIS_HANDLE,
    _platform: core::marker::PhantomData<P>,
}

impl<P: Platform> NdisConfig<P> {
    fn read(
        &mut self,
        name: &str,
        parameter_type: u32,
    ) -> Option<*mut NDIS_CONFIGURATION_PARAMETER> {
        let mut wide: Vec<u16> = name.encode_utf16().collect();
        let keyword = NDIS_STRING {
            Length: (wide.len() * 2) as u16,
            MaximumLength: (wide.len() * 2) as u16,
            Buffer: wide.as_mut_ptr(),
        };
        let mut status = NDIS_STATUS_FAILURE;
        let mut value: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
        // SAFETY: the configuration handle is open; `keyword` and `wide` live
        // across the call; NDIS writes `status` and `value`.
        unsafe {
            P::read_configuration(
                &mut status,
                &mut value,
                self.handle,
                &keyword,
                parameter_type,
            )
        };
        (status == NDIS_STATUS_SUCCESS && !value.is_null()).then_some(value)
    }
}

impl<P: Platform> SettingSource for NdisConfig<P> {
    fn string(&mut self, name: &str) -> Option<String> {
        let value = self.read(name, NdisParameterString)?;
        // SAFETY: NDIS returned a parameter of the requested type, valid
        // until the configuration handle is closed.
        let (kind, text) = unsafe { ((*value).ParameterType, (*value).ParameterData.StringData) };
        if kind != NdisParameterString || text.Buffer.is_null() {
            return None;
        }
        // SAFETY: the string's buffer holds `Length` bytes of UTF-16.
        let units =
            unsafe { core::slice::from_raw_parts(text.Buffer, usize::from(text.Length) / 2) };
        // At most 3 UTF-8 bytes a unit, reserved fallibly: the length is the
        // registry's, and a failed allocation in the kernel must not abort.
        let mut decoded = String::new();
        if decoded.try_reserve_exact(units.len() * 3).is_err() {
            datapath::trace_line::<P>(format_args!(
                "volnic: out of memory reading registry value {name}"
            ));
            return None;
        }
        for c in char::decode_utf16(units.iter().copied()) {
            decoded.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        let end = decoded.trim_end_matches('\0').len();
        decoded.truncate(end);
        Some(decoded)
    }

    fn integer(&mut self, name: &str) -> Option<u32> {
        let value = self.read(name, NdisParameterInteger)?;
        // SAFETY: as in `string`.
        let (kind, number) =
            unsafe { ((*value).ParameterType, (*value).ParameterData.IntegerData) };
        matches!(kind, NdisParameterInteger | NdisParameterHexInteger).then_some(number)
    }
}

fn read_config<P: Platform>(miniport: NDIS_HANDLE) -> Result<AdapterConfig, String> {
    let object = NDIS_CONFIGURATION_OBJECT {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
            Size: NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1,
        },
        NdisHandle: miniport,
        Flags: 0,
    };
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: `object` names this miniport; NDIS writes the handle.
    let status = unsafe { P::open_configuration(&object, &mut handle) };
    if status != NDIS_STATUS_SUCCESS {
        return Err(format!(
            "cannot open the adapter's registry key (status {status:#x})"
        ));
    }
    let mut source = NdisConfig::<P> {
        handle,
        _platform: core::marker::PhantomData,
    };
    let config = AdapterConfig::from_source(&mut source).map_err(|e| format!("{e}"));
    // SAFETY: opened above; no parameter read from it is used after this.
    unsafe { P::close_configuration(handle) };
    config
}

/// Writes why the adapter failed to the trace and the system event log.
fn report_failure<P: Platform>(driver_object: *mut c_void, reason: &str) {
    report_event::<P>(driver_object, &format!("adapter disabled: {reason}"));
}

/// Writes one line about the adapter to the trace and the system event
/// log; a line the event log refuses is traced with the status.
fn report_event<P: Platform>(driver_object: *mut c_void, line: &str) {
    datapath::trace_line::<P>(format_args!("volnic: {line}"));
    let mut message: Vec<u16> = "volnic: "
        .encode_utf16()
        .chain(line.encode_utf16())
        .collect();
    message.push(0);
    // SAFETY: `message` is NUL-terminated UTF-16 that lives across the call.
    let status =
        unsafe { P::write_event_log(driver_object, NDIS_STATUS_FAILURE, message.as_ptr()) };
    if status != NDIS_STATUS_SUCCESS {
        datapath::trace_line::<P>(format_args!(
            "volnic: the event log refused the line above ({status:#x})"
        ));
    }
}

/// What the datapath thread tells MiniportInitializeEx.
struct Startup<P: Platform> {
    report: SpinLock<P, StartupReport>,
    done: P::Event,
    /// Set once initialization has succeeded: the thread may indicate.
    ready: AtomicBool,
}

#[derive(Default)]
struct StartupReport {
    /// The first open's outcome: link up or down, or why initialize fails.
    result: Option<Result<bool, String>>,
    /// Initialize stopped waiting for the first open (the storage did not
    /// answer within [`INIT_WAIT_US`]): the adapter started disconnected,
    /// and whatever the open finds is the thread's to log and retry.
    detached: bool,
}

/// Longest key file read (the secret is its content, trailing white space
/// ignored, at least 16 bytes).
const MAX_KEY_FILE: usize = 4096;

/// Why the link could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OpenFailure {
    /// A fault of the configuration or of what the volume holds that no
    /// waiting cures (a key file, a volume of another node or format, a
    /// block size or MTU that does not fit): initialize fails with it.
    Config(String),
    /// The storage is not there yet, or not usable yet: a volume missing,
    /// unreadable, read-only or failing I/O (an iSCSI LUN not logged in, an
    /// offline disk). The adapter starts disconnected and the datapath
    /// thread retries until it opens.
    Storage(String),
}

impl OpenFailure {
    fn reason(&self) -> &str {
        match self {
            OpenFailure::Config(r) | OpenFailure::Storage(r) => r,
        }
    }
}

/// A volume that failed to open: waited for if the failure may heal (the
/// engine's rule, `VolumeErrorKind::may_heal`, which the Linux endpoint
/// applies too), else a fault of the configuration.
fn volume_failure(kind: VolumeErrorKind, reason: String) -> OpenFailure {
    if kind.may_heal() {
        OpenFailure::Storage(reason)
    } else {
        OpenFailure::Config(reason)
    }
}

/// Reads the shared secret of authenticated mode from `AuthKeyFile`.
fn read_auth_key<P: Platform>(path: &str) -> Result<AuthKey, String> {
    let bytes = P::read_small_file(path, MAX_KEY_FILE).map_err(|e| {
        format!("AuthKeyFile '{path}': {e}: give the path of the key file both nodes share")
    })?;
    AuthKey::from_key_file(&bytes).map_err(|e| format!("AuthKeyFile '{path}': {e}"))
}

fn open_engine<P: Platform>(config: &AdapterConfig) -> Result<Engine<P>, OpenFailure> {
    let auth_key = match &config.auth_key_file {
        Some(path) => Some(read_auth_key::<P>(path).map_err(OpenFailure::Config)?),
        None => None,
    };
    let mut send = P::open_volume(&config.send_volume, true)
        .map_err(|e| volume_failure(e.kind, format!("SendVolume '{}': {e}", config.send_volume)))?;
    let mut recv = P::open_volume(&config.receive_volume, false).map_err(|e| {
        volume_failure(
            e.kind,
            format!("ReceiveVolume '{}': {e}", config.receive_volume),
        )
    })?;
    let mut link_cfg = LinkConfig::new(config.node_id);
    link_cfg.flush_delay_us = config.flush_delay_us;
    link_cfg.set_peer_timeout_us(config.peer_timeout_us);
    // Names this node in its state record, so that a claim refused by
    // another writer, or a peer's log, says which node holds the volume.
    link_cfg.set_host_name(&format!("windows-node{}", config.node_id));
    link_cfg.auth_key = auth_key;
    let link = Link::open(
        link_cfg,
        &mut send,
        &mut recv,
        P::monotonic_us(),
        P::wall_clock_us(),
    )
    .map_err(|e| match &e {
        LinkError::SendIo(v) | LinkError::ReceiveIo(v) => volume_failure(v.kind, format!("{e}")),
        _ => OpenFailure::Config(format!("{e}")),
    })?;
    let formatted = link.geometry().block_size;
    if formatted != config.block_size {
        return Err(OpenFailure::Config(format!(
            "BlockSize is {} but the send volume was formatted with {formatted}-byte blocks: set BlockSize to {formatted}",
            config.block_size
        )));
    }
    volnic_core::settings::check_mtu(config.mtu, link.max_frame_len(), formatted)
        .map_err(|e| OpenFailure::Config(format!("{e}")))?;
    Ok(Engine { link, send, recv })
}

/// Logs why the adapter is disconnected and retrying (trace and event log)
/// when the reason is new; `last` holds the reason logged last.
fn log_waiting<P: Platform>(driver_object: *mut c_void, failure: &OpenFailure, last: &mut String) {
    let reason = failure.reason();
    if last == reason {
        return;
    }
    let line = match failure {
        OpenFailure::Storage(_) => {
            format!("adapter disconnected, waiting for its storage: {reason}")
        }
        // Found after initialize stopped waiting (slow storage): the same
        // fault that fails initialize, retried in case it is mended.
        OpenFailure::Config(_) => format!("adapter disconnected: {reason}"),
    };
    report_event::<P>(driver_object, &line);
    last.clear();
    last.push_str(reason);
}

/// Retries opening the volumes until they open or the adapter halts,
/// backing off between tries; every new reason is logged once. `None`
/// when halted first.
fn wait_for_storage<P: Platform>(
    shared: &Shared<P>,
    config: &AdapterConfig,
    driver_object: *mut c_void,
    mut last: String,
) -> Option<Engine<P>> {
    let mut wait_us = STORAGE_RETRY_FIRST_US;
    loop {
        P::event_wait(&shared.wake, wait_us);
        if shared.stop.load(Ordering::Acquire) {
            return None;
        }
        match open_engine::<P>(config) {
            Ok(engine) => {
                report_event::<P>(
                    driver_object,
                    "storage is there: volumes open, link starting",
                );
                return Some(engine);
            }
            Err(failure) => log_waiting::<P>(driver_object, &failure, &mut last),
        }
        wait_us = (wait_us * 2).min(STORAGE_RETRY_MAX_US);
    }
}

/// The datapath thread: opens the link, reports, waits for the go-ahead,
/// then runs the data path until halt. If the storage is not there yet, it
/// reports the link down and keeps trying to open it (`wait_for_storage`).
fn thread_main<P: Platform>(
    shared: Arc<Shared<P>>,
    startup: Arc<Startup<P>>,
    config: AdapterConfig,
    driver_object: Raw<c_void>,
) {
    let mut opened = open_engine::<P>(&config);
    if let Ok(e) = opened.as_mut() {
        // One poll, so the connect state NDIS first reports is the peer's.
        // Frames already waiting are discarded: the adapter is not running.
        let now = P::monotonic_us();
        // An error here is reported, and retried, by the running datapath.
        let _ = e.link.poll(now, &mut e.send, &mut e.recv, &mut |_| {});
    }
    let detached = {
        let mut report = startup.report.lock();
        if !report.detached {
            report.result = Some(match &opened {
                Ok(e) => Ok(e.link.link_up()),
                Err(OpenFailure::Storage(_)) => Ok(false),
                Err(OpenFailure::Config(reason)) => Err(reason.clone()),
            });
        }
        report.detached
    };
    if matches!(opened, Err(OpenFailure::Config(_))) && !detached {
        // Initialize fails with this reason and logs it.
        P::event_set(&startup.done);
        P::event_set(&shared.stopped);
        return;
    }
    // Logged before initialize returns, so the reason is in the event log
    // as soon as the adapter exists.
    let mut last = String::new();
    if let Err(failure) = &opened {
        log_waiting::<P>(driver_object.0, failure, &mut last);
    }
    P::event_set(&startup.done);
    // Wait until MiniportInitializeEx has succeeded (or given up).
    while !startup.ready.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire) {
        P::event_wait(&shared.wake, 100_000);
    }
    let engine = match opened {
        Ok(engine) => Some(engine),
        Err(_) => wait_for_storage(&shared, &config, driver_object.0, last),
    };
    match engine {
        Some(engine) if !shared.stop.load(Ordering::Acquire) => datapath::run(shared, engine),
        _ => P::event_set(&shared.stopped),
    }
}

/// Longest time MiniportInitializeEx waits for the first open of the
/// volumes. Storage that has not answered by then is treated as not there
/// yet: the adapter starts disconnected and the thread carries on.
const INIT_WAIT_US: u64 = 5_000_000;
/// One wait of the loop that watches for the first open's outcome.
const INIT_POLL_US: u64 = 100_000;

/// MiniportInitializeEx.
///
/// # Safety
/// Called by NDIS with this miniport's handle and the driver context given
/// at registration (the driver object).
pub unsafe extern "system" fn initialize<P: Platform>(
    miniport: NDIS_HANDLE,
    driver_context: NDIS_HANDLE,
    _init_parameters: *mut c_void,
) -> NDIS_STATUS {
    match initialize_adapter::<P>(miniport, driver_context) {
        Ok(()) => NDIS_STATUS_SUCCESS,
        Err(reason) => {
            report_failure::<P>(driver_context, &reason);
            NDIS_STATUS_FAILURE
        }
    }
}

fn initialize_adapter<P: Platform>(
    miniport: NDIS_HANDLE,
    driver_context: NDIS_HANDLE,
) -> Result<(), String> {
    let config = read_config::<P>(miniport)?;
    let mut seed = Vec::from(config.send_volume.as_bytes());
    seed.extend_from_slice(&config.node_id.to_le_bytes());
    let permanent_mac = default_mac(&seed);
    let mac = config.network_address.unwrap_or(permanent_mac);
    let info = AdapterInfo {
        mac,
        permanent_mac,
        mtu: config.mtu,
        max_frame_len: config.max_frame_len(),
        link_speed_bps: u64::from(config.link_speed_mbps) * 1_000_000,
        send_queue_bytes: config.send_queue_bytes,
        block_size: config.block_size,
        poll_interval_us: config.poll_interval_us,
    };

    let pool_params = NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            Size: NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
        },
        ProtocolId: 0,
        fAllocateNetBuffer: 1,
        ContextSize: 0,
        PoolTag: u32::from_le_bytes(*b"vnic"),
        DataSize: 0,
    };
    // SAFETY: `miniport` is the handle NDIS passed to initialize.
    let pool = unsafe { P::allocate_nbl_pool(miniport, &pool_params) };
    if pool.is_null() {
        return Err(String::from("out of memory for the receive NBL pool"));
    }
    // SAFETY: handle and pool are valid.
    let slots =
        unsafe { datapath::allocate_slots::<P>(miniport, pool, RX_SLOTS, info.max_frame_len) };
    let Some(slots) = slots else {
        // SAFETY: allocated above, nothing allocated from it remains.
        unsafe { P::free_nbl_pool(pool) };
        return Err(String::from("out of memory for receive buffers"));
    };
    let make_event =
        || P::event_new().map_err(|e| format!("cannot create an event ({:#x})", e.code));
    let events = (make_event(), make_event(), make_event(), make_event());
    let (wake, stopped, done, returned) = match events {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            // SAFETY: the slots and pool were never handed to NDIS.
            unsafe {
                datapath::free_slots::<P>(slots);
                P::free_nbl_pool(pool);
            }
            return Err(e);
        }
    };
    let Some(queue) = SendQueue::try_new(config.send_queue_bytes, config.block_size as usize)
    else {
        // SAFETY: the slots and pool were never handed to NDIS.
        unsafe {
            datapath::free_slots::<P>(slots);
            P::free_nbl_pool(pool);
        }
        return Err(format!(
            "out of memory for a {} KB send queue: lower SendQueueKb",
            config.send_queue_bytes / 1024
        ));
    };
    let free = (0..slots.len() as u16).rev().collect();
    let shared = Arc::new(Shared::<P> {
        handle: Raw(miniport),
        tx: SpinLock::new(TxSide {
            queue,
            state: PathState::Paused,
        }),
        rx: SpinLock::new(RxSide {
            state: PathState::Paused,
            free,
            outstanding: 0,
        }),
        filter: SpinLock::new(RxFilter::default()),
        filter_version: AtomicU32::new(0),
        lookahead: AtomicU32::new(info.mtu),
        info,
        slots,
        pool: Raw(pool),
        wake,
        stopped,
        returned,
        stop: AtomicBool::new(false),
        link_up: AtomicBool::new(false),
        stats: Stats::default(),
    });
    let startup = Arc::new(Startup::<P> {
        report: SpinLock::new(StartupReport::default()),
        done,
        ready: AtomicBool::new(false),
    });
    let body = {
        let shared = shared.clone();
        let startup = startup.clone();
        let driver_object = Raw(driver_context);
        Box::new(move || thread_main(shared, startup, config, driver_object))
    };
    let thread = match P::thread_start(body) {
        Ok(thread) => thread,
        Err(e) => {
            release(shared);
            return Err(format!("cannot start the datapath thread ({:#x})", e.code));
        }
    };
    let began = P::monotonic_us();
    let started = loop {
        {
            let mut report = startup.report.lock();
            if let Some(result) = report.result.take() {
                break result;
            }
            if P::monotonic_us().saturating_sub(began) >= INIT_WAIT_US {
                // The storage has not answered: start disconnected and let
                // the thread log and retry whatever it finds.
                report.detached = true;
                break Ok(false);
            }
        }
        P::event_wait(&startup.done, INIT_POLL_US);
    };
    let link_up = match started {
        Ok(up) => up,
        Err(reason) => {
            P::thread_join(thread);
            release(shared);
            return Err(reason);
        }
    };
    shared.link_up.store(link_up, Ordering::Release);
    let adapter = Box::new(Adapter {
        shared: shared.clone(),
        thread: Some(thread),
        driver_object: Raw(driver_context),
    });
    let context = Box::into_raw(adapter);
    if let Err(reason) = set_attributes::<P>(miniport, context, &shared.info, link_up) {
        // SAFETY: `context` came from Box::into_raw above and NDIS will not
        // use it: initialization fails.
        let adapter = unsafe { Box::from_raw(context) };
        drop(shared);
        stop(*adapter);
        return Err(reason);
    }
    startup.ready.store(true, Ordering::Release);
    P::event_set(&shared.wake);
    Ok(())
}

fn set_attributes<P: Platform>(
    miniport: NDIS_HANDLE,
    context: *mut Adapter<P>,
    info: &AdapterInfo,
    link_up: bool,
) -> Result<(), String> {
    let mut registration = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
            Size: NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
        },
        MiniportAdapterContext: context.cast(),
        AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND
            | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
        CheckForHangTimeInSeconds: 0,
        InterfaceType: NdisInterfaceInternal,
    };
    // SAFETY: the attributes live across the call; NDIS copies them.
    let status = unsafe {
        P::set_miniport_attributes(
            miniport,
            (&mut registration as *mut NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES).cast(),
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return Err(format!(
            "NDIS refused the registration attributes ({status:#x})"
        ));
    }
    let mut mac = [0u8; NDIS_MAX_PHYS_ADDRESS_LENGTH];
    mac[..6].copy_from_slice(&info.mac);
    let mut permanent = [0u8; NDIS_MAX_PHYS_ADDRESS_LENGTH];
    permanent[..6].copy_from_slice(&info.permanent_mac);
    let mut oids: Vec<NDIS_OID> = Vec::from(oid::SUPPORTED_OIDS);
    let state = datapath::link_state(link_up, info.link_speed_bps);
    let mut general = NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            Size: NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        },
        Flags: 0,
        MediaType: oid::MEDIUM,
        PhysicalMediumType: oid::PHYSICAL_MEDIUM,
        MtuSize: info.mtu,
        MaxXmitLinkSpeed: info.link_speed_bps,
        XmitLinkSpeed: info.link_speed_bps,
        MaxRcvLinkSpeed: info.link_speed_bps,
        RcvLinkSpeed: info.link_speed_bps,
        MediaConnectState: state.MediaConnectState,
        MediaDuplexState: state.MediaDuplexState,
        LookaheadSize: info.mtu,
        PowerManagementCapabilities: ptr::null_mut(),
        MacOptions: oid::MAC_OPTIONS,
        SupportedPacketFilters: oid::SUPPORTED_FILTERS,
        MaxMulticastListSize: datapath::MULTICAST_LIST_MAX as u32,
        MacAddressLength: 6,
        PermanentMacAddress: permanent,
        CurrentMacAddress: mac,
        RecvScaleCapabilities: ptr::null_mut(),
        AccessType: NET_IF_ACCESS_BROADCAST,
        DirectionType: NET_IF_DIRECTION_SENDRECEIVE,
        ConnectionType: NET_IF_CONNECTION_DEDICATED,
        IfType: oid::IF_TYPE,
        IfConnectorPresent: 0,
        SupportedStatistics: oid::SUPPORTED_STATISTICS,
        SupportedPauseFunctions: NdisPauseFunctionsUnsupported,
        DataBackFillSize: 0,
        ContextBackFillSize: 0,
        SupportedOidList: oids.as_mut_ptr(),
        SupportedOidListLength: (oids.len() * core::mem::size_of::<NDIS_OID>()) as u32,
        AutoNegotiationFlags: 0,
        PowerManagementCapabilitiesEx: ptr::null_mut(),
    };
    // SAFETY: the attributes and the OID list live across the call; NDIS
    // copies them.
    let status = unsafe {
        P::set_miniport_attributes(
            miniport,
            (&mut general as *mut NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES).cast(),
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return Err(format!("NDIS refused the general attributes ({status:#x})"));
    }
    Ok(())
}

/// Frees what `Shared` owns once the datapath thread is gone.
fn release<P: Platform>(shared: Arc<Shared<P>>) {
    shared.stop.store(true, Ordering::Release);
    match Arc::try_unwrap(shared) {
        Ok(shared) => {
            let pool = shared.pool.0;
            // SAFETY: halt/failed init: NDIS holds no receive NBL (pause
            // completed or never running) and nobody else uses the slots.
            unsafe {
                datapath::free_slots::<P>(shared.slots);
                P::free_nbl_pool(pool);
            }
        }
        Err(_) => {
            // Some thread still holds the state: leaking it is safer than
            // freeing memory in use.
            P::trace("volnic: adapter state still referenced at release; leaked");
        }
    }
}

/// Longest time halt waits for the datapath thread to flush, write the
/// shutting-down record and end. Storage that has stopped answering can
/// hold a synchronous write for ever; halt must still return well inside
/// NDIS's halt watchdog.
pub const HALT_WAIT_US: u64 = 5_000_000;

/// Stops the datapath thread (which flushes, writes the shutting-down record
/// and closes the volumes) and frees the adapter. If the thread has not
/// ended within [`HALT_WAIT_US`] (it is inside storage I/O that does not
/// complete), halt returns anyway: the thread calls NDIS no more (it sees
/// `stop`), and what is left of it, its volumes and the adapter's receive
/// buffers, is finished at Unload, which waits for it.
fn stop<P: Platform>(mut adapter: Adapter<P>) {
    {
        adapter.shared.tx.lock().state = PathState::Halting;
        adapter.shared.rx.lock().state = PathState::Halting;
    }
    adapter.shared.stop.store(true, Ordering::Release);
    P::event_set(&adapter.shared.wake);
    let Some(thread) = adapter.thread.take() else {
        release(adapter.shared);
        return;
    };
    if P::thread_wait(&thread, HALT_WAIT_US) {
        P::thread_join(thread);
        release(adapter.shared);
        return;
    }
    report_event::<P>(
        adapter.driver_object.0,
        &format!(
            "halt: the storage has not completed a write for {} s; halting without the \
             shutting-down record, which is written if the storage answers before the \
             driver unloads (the peer sees this node go silent meanwhile)",
            HALT_WAIT_US / 1_000_000
        ),
    );
    let shared = adapter.shared;
    crate::entry::defer_to_unload(Box::new(move || {
        P::thread_join(thread);
        release(shared);
    }));
}

/// Borrows the adapter behind a MiniportAdapterContext.
///
/// # Safety
/// `context` is the context this driver registered and halt has not run.
unsafe fn adapter<'a, P: Platform>(context: NDIS_HANDLE) -> &'a Adapter<P> {
    // SAFETY: per the contract above, it points to a live `Adapter<P>`.
    unsafe { &*context.cast::<Adapter<P>>() }
}

/// MiniportHaltEx.
///
/// # Safety
/// NDIS calls it once, in the Paused state, with this driver's context.
pub unsafe extern "system" fn halt<P: Platform>(context: NDIS_HANDLE, _action: u32) {
    // SAFETY: the context came from Box::into_raw in initialize; after halt
    // NDIS never passes it again.
    let adapter = unsafe { Box::from_raw(context.cast::<Adapter<P>>()) };
    stop(*adapter);
}

/// MiniportPause.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn pause<P: Platform>(
    context: NDIS_HANDLE,
    _params: *mut c_void,
) -> NDIS_STATUS {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    if adapter.shared.pause() {
        NDIS_STATUS_SUCCESS
    } else {
        NDIS_STATUS_PENDING
    }
}

/// MiniportRestart.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn restart<P: Platform>(
    context: NDIS_HANDLE,
    _params: *mut c_void,
) -> NDIS_STATUS {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    adapter.shared.restart();
    NDIS_STATUS_SUCCESS
}

/// MiniportShutdownEx: best effort to leave a shutting-down record. At
/// bug-check time nothing may block or do I/O, so nothing is done.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn shutdown<P: Platform>(context: NDIS_HANDLE, action: u32) {
    if action == NdisShutdownBugCheck {
        return;
    }
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    adapter.shared.tx.lock().state = PathState::Halting;
    adapter.shared.stop.store(true, Ordering::Release);
    P::event_set(&adapter.shared.wake);
    P::event_wait(&adapter.shared.stopped, 2_000_000);
}

/// MiniportResetEx: nothing to reset in a virtual adapter.
///
/// # Safety
/// `addressing_reset` is writable (NDIS contract).
pub unsafe extern "system" fn reset<P: Platform>(
    _context: NDIS_HANDLE,
    addressing_reset: *mut u8,
) -> NDIS_STATUS {
    if !addressing_reset.is_null() {
        // SAFETY: NDIS passes a valid BOOLEAN to write.
        unsafe { *addressing_reset = 0 };
    }
    NDIS_STATUS_SUCCESS
}

/// MiniportCheckForHangEx: the datapath never hangs waiting on hardware.
pub extern "system" fn check_for_hang<P: Platform>(_context: NDIS_HANDLE) -> u8 {
    0
}

/// MiniportDevicePnPEventNotify: a virtual adapter has no hardware to
/// follow; surprise removal is handled by the halt that follows.
pub extern "system" fn pnp_event<P: Platform>(_context: NDIS_HANDLE, _event: *mut c_void) {}

/// MiniportCancelSend: every send is completed inside
/// MiniportSendNetBufferLists (frames are copied), so none is ever pending
/// and there is nothing to cancel.
pub extern "system" fn cancel_send<P: Platform>(_context: NDIS_HANDLE, _cancel_id: *mut c_void) {}

/// MiniportCancelOidRequest: every OID request completes synchronously.
pub extern "system" fn cancel_oid<P: Platform>(_context: NDIS_HANDLE, _request_id: *mut c_void) {}

/// MiniportSendNetBufferLists.
///
/// # Safety
/// NDIS calls it with this driver's context and an NBL chain it owns.
pub unsafe extern "system" fn send<P: Platform>(
    context: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _port: NDIS_PORT_NUMBER,
    flags: u32,
) {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    // SAFETY: the chain is NDIS's to give and ours until completed.
    unsafe { adapter.shared.send(nbls, flags) };
}

/// MiniportReturnNetBufferLists.
///
/// # Safety
/// NDIS returns NBLs this adapter indicated.
pub unsafe extern "system" fn return_nbls<P: Platform>(
    context: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _flags: u32,
) {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    // SAFETY: the NBLs are this adapter's receive NBLs.
    unsafe { adapter.shared.return_nbls(nbls) };
}

fn stats_of<P: Platform>(shared: &Shared<P>) -> StatsSnapshot {
    let load = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let s = &shared.stats;
    StatsSnapshot {
        tx_frames: [
            load(&s.tx_frames[0]),
            load(&s.tx_frames[1]),
            load(&s.tx_frames[2]),
        ],
        tx_bytes: [
            load(&s.tx_bytes[0]),
            load(&s.tx_bytes[1]),
            load(&s.tx_bytes[2]),
        ],
        tx_discards: load(&s.tx_discards),
        tx_errors: load(&s.tx_errors),
        rx_frames: [
            load(&s.rx_frames[0]),
            load(&s.rx_frames[1]),
            load(&s.rx_frames[2]),
        ],
        rx_bytes: [
            load(&s.rx_bytes[0]),
            load(&s.rx_bytes[1]),
            load(&s.rx_bytes[2]),
        ],
        rx_discards: load(&s.rx_discards),
        rx_errors: load(&s.rx_errors),
    }
}

/// MiniportOidRequest: answered synchronously.
///
/// # Safety
/// NDIS calls it with this driver's context and a request it owns whose
/// information buffer holds `InformationBufferLength` bytes.
pub unsafe extern "system" fn oid_request<P: Platform>(
    context: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    let shared = &adapter.shared;
    // SAFETY: the request is valid for the duration of the call; for query
    // and set requests DATA holds the QUERY/SET_INFORMATION arm.
    let (kind, data) = unsafe { ((*request).RequestType, (*request).DATA.QUERY_INFORMATION) };
    let buf: &mut [u8] = if data.InformationBuffer.is_null() || data.InformationBufferLength == 0 {
        &mut []
    } else {
        // SAFETY: NDIS guarantees the buffer holds InformationBufferLength
        // bytes and is ours until the request completes (on return).
        unsafe {
            core::slice::from_raw_parts_mut(
                data.InformationBuffer.cast::<u8>(),
                data.InformationBufferLength as usize,
            )
        }
    };
    let outcome = match kind {
        NdisRequestQueryInformation | NdisRequestQueryStatistics => {
            let filter = shared.filter.lock().clone();
            let view = AdapterView {
                info: &shared.info,
                link_up: shared.link_up.load(Ordering::Acquire),
                filter: &filter,
                lookahead: shared.lookahead.load(Ordering::Relaxed),
                stats: stats_of(shared),
            };
            oid::query(data.Oid, &view, buf)
        }
        NdisRequestSetInformation => {
            let (outcome, effect) = oid::set(data.Oid, &shared.info, buf);
            match effect {
                SetEffect::None => {}
                SetEffect::PacketFilter(filter) => {
                    shared.filter.lock().packet_filter = filter;
                    shared.filter_version.fetch_add(1, Ordering::AcqRel);
                }
                SetEffect::Lookahead(lookahead) => {
                    shared.lookahead.store(lookahead, Ordering::Relaxed)
                }
                SetEffect::Multicast(list) => {
                    shared.filter.lock().multicast = list;
                    shared.filter_version.fetch_add(1, Ordering::AcqRel);
                }
            }
            outcome
        }
        _ => {
            return NDIS_STATUS_NOT_SUPPORTED;
        }
    };
    // SAFETY: as above; BytesWritten doubles as BytesRead for sets.
    unsafe {
        (*request).DATA.QUERY_INFORMATION.BytesWritten = outcome.bytes_done;
        (*request).DATA.QUERY_INFORMATION.BytesNeeded = outcome.bytes_needed;
    }
    outcome.status
}

/// MiniportSetOptions: no optional services.
pub extern "system" fn set_options<P: Platform>(
    _driver_handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
) -> NDIS_STATUS {
    NDIS_STATUS_SUCCESS
}
