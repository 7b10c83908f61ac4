//! Adapter lifetime: MiniportInitializeEx (settings, receive slots, the
//! datapath thread, NDIS attributes), Pause, Restart, Halt, Shutdown,
//! Reset, CheckForHang, DevicePnPEvent, and the send, return and OID
//! request entries that hand over to the data path and oid.rs.
//!
//! Each `extern "system"` function here is an NDIS callback: its only job is
//! to turn raw NDIS arguments into safe calls (every raw access with a
//! `// SAFETY:` note); its doc says the IRQL NDIS calls it at. Decisions
//! live in config.rs, startup.rs, datapath/ and oid.rs.

// NDIS constant names (NdisShutdownBugCheck, ...) are matched as patterns.
#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::Ordering;

use volnic_core::SendQueue;

use crate::datapath::{
    self, AdapterEvents, AdapterInfo, AdapterState, KernelPtr, PathState, RxSlots, RX_SLOTS,
};
use crate::eventlog::{report_event, report_failure};
use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::oid::{self, AdapterView, SetEffect};
use crate::registry::read_config;
use crate::startup;

/// The MiniportAdapterContext NDIS passes back to every callback.
pub struct Adapter<P: Platform> {
    pub state: Arc<AdapterState<P>>,
    thread: Option<P::Thread>,
    /// The driver object, for the event log.
    driver_object: KernelPtr<c_void>,
}

/// MiniportInitializeEx, at PASSIVE_LEVEL.
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
    let (mac, permanent_mac) = config.macs();
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
    // Everything made from here on is freed by drop if a later step fails.
    // SAFETY: `miniport` is the handle NDIS passed to initialize.
    let slots = unsafe { RxSlots::<P>::allocate(miniport, RX_SLOTS, info.max_frame_len) }
        .map_err(String::from)?;
    let event = || P::event_new().map_err(|e| format!("cannot create an event ({:#x})", e.code));
    let events = AdapterEvents {
        wake: event()?,
        stopped: event()?,
        returned: event()?,
    };
    let Some(queue) = SendQueue::try_new(config.send_queue_bytes, config.block_size as usize)
    else {
        return Err(format!(
            "out of memory for a {} KB send queue: lower SendQueueKb",
            config.send_queue_bytes / 1024
        ));
    };
    let state = Arc::new(AdapterState::new(miniport, info, queue, slots, events));
    let started = match startup::start(&state, config, driver_context) {
        Ok(started) => started,
        Err(reason) => {
            release(state);
            return Err(reason);
        }
    };
    state.link_up.store(started.link_up, Ordering::Release);
    let adapter = Box::new(Adapter {
        state: state.clone(),
        thread: Some(started.thread),
        driver_object: KernelPtr(driver_context),
    });
    let context = Box::into_raw(adapter);
    if let Err(reason) = set_attributes::<P>(miniport, context, &state.info, started.link_up) {
        // SAFETY: `context` came from Box::into_raw above and NDIS will not
        // use it: initialization fails.
        let adapter = unsafe { Box::from_raw(context) };
        drop(state);
        stop(*adapter);
        return Err(reason);
    }
    started.gate.open(&state);
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

/// Frees the adapter's state (receive slots, pool, queue) once the
/// datapath thread is gone.
fn release<P: Platform>(state: Arc<AdapterState<P>>) {
    state.stop.store(true, Ordering::Release);
    if let Err(state) = Arc::try_unwrap(state) {
        // Some thread still holds the state: leaking it is safer than
        // freeing memory in use.
        core::mem::forget(state);
        P::trace("volnic: adapter state still referenced at release; leaked");
    }
    // Else the state was dropped: halt or a failed initialize, so NDIS
    // holds no receive NBL (pause completed or never running) and nobody
    // else uses the slots; `RxSlots` frees them and the pool.
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
    adapter.state.begin_halt();
    let Some(thread) = adapter.thread.take() else {
        release(adapter.state);
        return;
    };
    if P::thread_wait(&thread, HALT_WAIT_US) {
        P::thread_join(thread);
        release(adapter.state);
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
    let state = adapter.state;
    crate::deferred::defer_to_unload(Box::new(move || {
        P::thread_join(thread);
        release(state);
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

/// MiniportHaltEx, at PASSIVE_LEVEL.
///
/// # Safety
/// NDIS calls it once, in the Paused state, with this driver's context.
pub unsafe extern "system" fn halt<P: Platform>(context: NDIS_HANDLE, _action: u32) {
    // SAFETY: the context came from Box::into_raw in initialize; after halt
    // NDIS never passes it again.
    let adapter = unsafe { Box::from_raw(context.cast::<Adapter<P>>()) };
    stop(*adapter);
}

/// MiniportPause, at PASSIVE_LEVEL.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn pause<P: Platform>(
    context: NDIS_HANDLE,
    _params: *mut c_void,
) -> NDIS_STATUS {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    if adapter.state.pause() {
        NDIS_STATUS_SUCCESS
    } else {
        NDIS_STATUS_PENDING
    }
}

/// MiniportRestart, at PASSIVE_LEVEL.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn restart<P: Platform>(
    context: NDIS_HANDLE,
    _params: *mut c_void,
) -> NDIS_STATUS {
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    adapter.state.restart();
    NDIS_STATUS_SUCCESS
}

/// MiniportShutdownEx: best effort to leave a shutting-down record. NDIS
/// calls it at PASSIVE_LEVEL for a power-off, and at any IRQL (usually
/// high) on a bug check, when nothing may block or do I/O, so nothing is
/// done then.
///
/// # Safety
/// NDIS calls it with this driver's context.
pub unsafe extern "system" fn shutdown<P: Platform>(context: NDIS_HANDLE, action: u32) {
    if action == NdisShutdownBugCheck {
        return;
    }
    // SAFETY: a live context (contract).
    let adapter = unsafe { adapter::<P>(context) };
    let state = &adapter.state;
    state.send.tx.lock().state = PathState::Halting;
    state.stop.store(true, Ordering::Release);
    P::event_set(&state.wake);
    P::event_wait(&state.stopped, 2_000_000);
}

/// MiniportResetEx, at IRQL <= DISPATCH_LEVEL: nothing to reset in a
/// virtual adapter.
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

/// MiniportCheckForHangEx, at PASSIVE_LEVEL: the datapath never hangs
/// waiting on hardware.
pub extern "system" fn check_for_hang<P: Platform>(_context: NDIS_HANDLE) -> u8 {
    0
}

/// MiniportDevicePnPEventNotify, at PASSIVE_LEVEL: a virtual adapter has
/// no hardware to follow; surprise removal is handled by the halt that
/// follows.
pub extern "system" fn pnp_event<P: Platform>(_context: NDIS_HANDLE, _event: *mut c_void) {}

/// MiniportCancelSend, at IRQL <= DISPATCH_LEVEL: every send is completed
/// inside MiniportSendNetBufferLists (frames are copied), so none is ever
/// pending and there is nothing to cancel.
pub extern "system" fn cancel_send<P: Platform>(_context: NDIS_HANDLE, _cancel_id: *mut c_void) {}

/// MiniportCancelOidRequest, at IRQL <= DISPATCH_LEVEL: every OID request
/// completes synchronously.
pub extern "system" fn cancel_oid<P: Platform>(_context: NDIS_HANDLE, _request_id: *mut c_void) {}

/// MiniportSendNetBufferLists, at IRQL <= DISPATCH_LEVEL (the flags say
/// which): it only copies into the send queue under a spin lock.
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
    unsafe { adapter.state.send(nbls, flags) };
}

/// MiniportReturnNetBufferLists, at IRQL <= DISPATCH_LEVEL: it only puts
/// slots back on the free list under a spin lock.
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
    unsafe { adapter.state.return_nbls(nbls) };
}

/// MiniportOidRequest, at IRQL <= DISPATCH_LEVEL: answered synchronously,
/// with spin locks only.
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
    let state = &adapter.state;
    // SAFETY: the request is valid, and ours alone, for the duration of
    // the call.
    let request = unsafe { &mut *request };
    let kind = request.RequestType;
    // SAFETY: for query and set requests DATA holds the
    // QUERY/SET_INFORMATION arm, which have the same layout.
    let data = unsafe { request.DATA.QUERY_INFORMATION };
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
            let filter = state.receive.filter.lock().clone();
            let view = AdapterView {
                info: &state.info,
                link_up: state.link_up.load(Ordering::Acquire),
                filter: &filter,
                lookahead: state.receive.lookahead.load(Ordering::Relaxed),
                stats: state.stats.snapshot(),
            };
            oid::query(data.Oid, &view, buf)
        }
        NdisRequestSetInformation => {
            let (outcome, effect) = oid::set(data.Oid, &state.info, buf);
            match effect {
                SetEffect::None => {}
                SetEffect::PacketFilter(filter) => {
                    state.receive.set_filter(|f| f.packet_filter = filter);
                }
                SetEffect::Lookahead(lookahead) => {
                    state.receive.lookahead.store(lookahead, Ordering::Relaxed)
                }
                SetEffect::Multicast(list) => {
                    state.receive.set_filter(|f| f.multicast = list);
                }
            }
            outcome
        }
        _ => {
            return NDIS_STATUS_NOT_SUPPORTED;
        }
    };
    // Written through the query arm: BytesWritten doubles as BytesRead for
    // sets, at the same offset.
    request.DATA.QUERY_INFORMATION.BytesWritten = outcome.bytes_done;
    request.DATA.QUERY_INFORMATION.BytesNeeded = outcome.bytes_needed;
    outcome.status
}

/// MiniportSetOptions, at PASSIVE_LEVEL: no optional services.
pub extern "system" fn set_options<P: Platform>(
    _driver_handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
) -> NDIS_STATUS {
    NDIS_STATUS_SUCCESS
}
