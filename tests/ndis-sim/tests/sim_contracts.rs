//! The simulation's own checks: a deliberately misbehaving miniport (here,
//! not the driver) breaks one NDIS rule at a time, and the simulation must
//! name each breach. Without this, a quiet simulation would prove nothing.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use volnic::entry::characteristics;
use volnic::ndis::*;
use volnic::ndis_api::NdisApi;
use volnic_ndis_sim::{Layout, SendFrame, Sim, SimHost};

/// What the fake miniport gets wrong.
static FAULT: AtomicU32 = AtomicU32::new(0);
const COMPLETE_TWICE: u32 = 1;
const OID_OVERSTATES: u32 = 2;
const OID_SHORT_WITHOUT_NEED: u32 = 3;
/// Tests share FAULT; the host serializes loads, this serializes FAULT.
static SERIAL: Mutex<()> = Mutex::new(());

unsafe extern "system" fn fake_init(
    handle: NDIS_HANDLE,
    _ctx: NDIS_HANDLE,
    _p: *mut c_void,
) -> NDIS_STATUS {
    let mut reg = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1,
            Size: NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1,
        },
        MiniportAdapterContext: handle,
        AttributeFlags: 0,
        CheckForHangTimeInSeconds: 0,
        InterfaceType: NdisInterfaceInternal,
    };
    let mut oids = [OID_GEN_MEDIA_IN_USE];
    // SAFETY: all-zero is valid for the general attributes (null pointers).
    let mut general: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES = unsafe { std::mem::zeroed() };
    general.Header = NDIS_OBJECT_HEADER {
        Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        Size: NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    };
    general.MediaType = NdisMedium802_3;
    general.MacAddressLength = 6;
    general.CurrentMacAddress[0] = 2;
    general.SupportedOidList = oids.as_mut_ptr();
    general.SupportedOidListLength = 4;
    // SAFETY: valid attributes for this adapter, set in order.
    unsafe {
        Sim::set_miniport_attributes(
            handle,
            (&mut reg as *mut NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES).cast(),
        );
        Sim::set_miniport_attributes(
            handle,
            (&mut general as *mut NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES).cast(),
        );
    }
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn fake_send(
    ctx: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _p: u32,
    _f: u32,
) {
    // SAFETY: the chain NDIS handed over; `ctx` is the adapter handle.
    unsafe {
        (*nbls).Status = NDIS_STATUS_SUCCESS;
        Sim::send_complete(ctx, nbls, 0);
        if FAULT.load(Ordering::Relaxed) == COMPLETE_TWICE {
            Sim::send_complete(ctx, nbls, 0);
        }
    }
}

unsafe extern "system" fn fake_oid(
    _ctx: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: a valid query request.
    let q = unsafe { &mut (*request).DATA.QUERY_INFORMATION };
    match FAULT.load(Ordering::Relaxed) {
        OID_OVERSTATES => {
            q.BytesWritten = q.InformationBufferLength + 4;
            q.BytesNeeded = 0;
            NDIS_STATUS_SUCCESS
        }
        OID_SHORT_WITHOUT_NEED => {
            q.BytesWritten = 0;
            q.BytesNeeded = 0;
            NDIS_STATUS_BUFFER_TOO_SHORT
        }
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

unsafe extern "system" fn fake_pause(_ctx: NDIS_HANDLE, _p: *mut c_void) -> NDIS_STATUS {
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn fake_halt(_ctx: NDIS_HANDLE, _a: u32) {}

unsafe extern "system" fn fake_restart(_ctx: NDIS_HANDLE, _p: *mut c_void) -> NDIS_STATUS {
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn fake_return(_ctx: NDIS_HANDLE, _nbls: *mut NET_BUFFER_LIST, _f: u32) {}

unsafe extern "system" fn fake_unload(driver_object: *mut c_void) {
    // SAFETY: the sim's driver handle is its driver object.
    unsafe { Sim::deregister_miniport_driver(driver_object) };
}

fn fake_entry(driver_object: *mut c_void, registry_path: *mut c_void) -> NDIS_STATUS {
    let mut chars = characteristics::<Sim>();
    chars.InitializeHandlerEx = Some(fake_init);
    chars.SendNetBufferListsHandler = Some(fake_send);
    chars.OidRequestHandler = Some(fake_oid);
    chars.PauseHandler = Some(fake_pause);
    chars.HaltHandlerEx = Some(fake_halt);
    chars.RestartHandler = Some(fake_restart);
    chars.ReturnNetBufferListsHandler = Some(fake_return);
    chars.UnloadHandler = Some(fake_unload);
    // The driver's other handlers (shutdown, reset, ...) are never called
    // here; they would take the adapter handle for a volnic adapter.
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: a live SimDriver; the characteristics live across the call.
    unsafe {
        Sim::register_miniport_driver(
            driver_object,
            registry_path,
            driver_object,
            &chars,
            &mut handle,
        )
    }
}

fn host_with(fault: u32) -> SimHost {
    FAULT.store(fault, Ordering::Relaxed);
    SimHost::load_with(fake_entry)
}

fn one_frame() -> Vec<Vec<SendFrame>> {
    vec![vec![SendFrame {
        bytes: vec![0xab; 60],
        layout: Layout::flat(),
    }]]
}

fn breaches_after(
    f: impl FnOnce(&mut SimHost, volnic_ndis_sim::AdapterId),
    fault: u32,
) -> Vec<String> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut host = host_with(fault);
    let a = host.initialize("fake", &[]).unwrap();
    host.restart(a);
    f(&mut host, a);
    let breaches = host.breaches();
    FAULT.store(0, Ordering::Relaxed);
    breaches
}

#[test]
fn a_well_behaved_fake_breaches_nothing() {
    let breaches = breaches_after(
        |host, a| {
            host.send(a, &one_frame());
            host.query(a, OID_GEN_MEDIA_IN_USE, 4);
        },
        0,
    );
    assert!(
        breaches
            .iter()
            .all(|b| b.contains("Unload") || b.contains("leaked")),
        "{breaches:?}"
    );
}

#[test]
fn completing_a_send_twice_is_a_breach() {
    let breaches = breaches_after(|host, a| drop(host.send(a, &one_frame())), COMPLETE_TWICE);
    assert!(
        breaches.iter().any(|b| b.contains("completed twice")),
        "{breaches:?}"
    );
}

#[test]
fn oid_answers_that_break_the_length_rules_are_breaches() {
    let breaches = breaches_after(
        |host, a| drop(host.query(a, OID_GEN_MEDIA_IN_USE, 4)),
        OID_OVERSTATES,
    );
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("BytesWritten 8 > buffer 4")),
        "{breaches:?}"
    );
    let breaches = breaches_after(
        |host, a| drop(host.query(a, OID_GEN_MEDIA_IN_USE, 4)),
        OID_SHORT_WITHOUT_NEED,
    );
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("BytesNeeded 0 for a 4-byte buffer")),
        "{breaches:?}"
    );
}

#[test]
fn indicating_while_paused_is_a_breach() {
    let breaches = breaches_after(
        |host, a| {
            host.pause(a);
            let handle = host.handle(a);
            let mut data = vec![0u8; 60];
            // SAFETY: sim objects made for this adapter; the NBL is returned
            // by the sim's protocol thread and freed at the end.
            unsafe {
                let mdl = Sim::allocate_mdl(handle, data.as_mut_ptr().cast(), 60);
                let params = NET_BUFFER_LIST_POOL_PARAMETERS {
                    Header: NDIS_OBJECT_HEADER {
                        Type: NDIS_OBJECT_TYPE_DEFAULT,
                        Revision: 1,
                        Size: NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                    },
                    ProtocolId: 0,
                    fAllocateNetBuffer: 1,
                    ContextSize: 0,
                    PoolTag: 0,
                    DataSize: 0,
                };
                let pool = Sim::allocate_nbl_pool(handle, &params);
                let nbl = Sim::allocate_nb_and_nbl(pool, mdl, 0, 60);
                (*nbl).SourceHandle = handle;
                Sim::indicate_receive(handle, nbl, 0, 1, 0);
                std::thread::sleep(std::time::Duration::from_millis(50));
                Sim::free_nbl(nbl);
                Sim::free_mdl(mdl);
                Sim::free_nbl_pool(pool);
            }
        },
        0,
    );
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("receive indicated while Paused")),
        "{breaches:?}"
    );
}

#[test]
fn calls_after_halt_are_breaches() {
    let breaches = breaches_after(
        |host, a| {
            host.pause(a);
            host.halt(a);
            let handle = host.handle(a);
            let state = volnic::datapath::link_state(true, 1);
            let mut state = state;
            let indication = NDIS_STATUS_INDICATION {
                Header: NDIS_OBJECT_HEADER {
                    Type: NDIS_OBJECT_TYPE_STATUS_INDICATION,
                    Revision: NDIS_STATUS_INDICATION_REVISION_1,
                    Size: NDIS_SIZEOF_STATUS_INDICATION_REVISION_1,
                },
                SourceHandle: handle,
                PortNumber: 0,
                StatusCode: NDIS_STATUS_LINK_STATE,
                Flags: 0,
                DestinationHandle: ptr::null_mut(),
                RequestId: ptr::null_mut(),
                StatusBuffer: (&mut state as *mut NDIS_LINK_STATE).cast(),
                StatusBufferSize: std::mem::size_of::<NDIS_LINK_STATE>() as u32,
                Guid: [0; 16],
                NdisReserved: [ptr::null_mut(); 4],
            };
            // SAFETY: a valid indication for a (halted) sim adapter.
            unsafe { Sim::indicate_status(handle, &indication) };
        },
        0,
    );
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("NdisMIndicateStatusEx called after the adapter was Halted")),
        "{breaches:?}"
    );
}
