//! DriverEntry, the miniport characteristics, and Unload.
//!
//! The driver registers as an NDIS 6.30 miniport: 6.30 is Windows 8 /
//! Windows Server 2012, the oldest Windows Server that still hosts supported
//! failover clusters, and every later NDIS accepts a 6.30 miniport. Nothing
//! newer than 6.30 is used.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::adapter;
use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::oid::{DRIVER_MAJOR, DRIVER_MINOR, NDIS_MAJOR, NDIS_MINOR};

/// NdisMiniportDriverHandle: the one global NDIS requires (Unload gets only
/// the driver object, yet must deregister with this handle).
static DRIVER_HANDLE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// The characteristics this driver registers, with every handler bound to
/// platform `P`.
pub fn characteristics<P: Platform>() -> NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            Size: NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: NDIS_MAJOR,
        MinorNdisVersion: NDIS_MINOR,
        MajorDriverVersion: DRIVER_MAJOR,
        MinorDriverVersion: DRIVER_MINOR,
        Flags: 0,
        SetOptionsHandler: Some(adapter::set_options::<P>),
        InitializeHandlerEx: Some(adapter::initialize::<P>),
        HaltHandlerEx: Some(adapter::halt::<P>),
        UnloadHandler: Some(unload::<P>),
        PauseHandler: Some(adapter::pause::<P>),
        RestartHandler: Some(adapter::restart::<P>),
        OidRequestHandler: Some(adapter::oid_request::<P>),
        SendNetBufferListsHandler: Some(adapter::send::<P>),
        ReturnNetBufferListsHandler: Some(adapter::return_nbls::<P>),
        CancelSendHandler: Some(adapter::cancel_send::<P>),
        CheckForHangHandlerEx: Some(adapter::check_for_hang::<P>),
        ResetHandlerEx: Some(adapter::reset::<P>),
        DevicePnPEventNotifyHandler: Some(adapter::pnp_event::<P>),
        ShutdownHandlerEx: Some(adapter::shutdown::<P>),
        CancelOidRequestHandler: Some(adapter::cancel_oid::<P>),
        DirectOidRequestHandler: None,
        CancelDirectOidRequestHandler: None,
    }
}

/// DriverEntry, at PASSIVE_LEVEL: registers the miniport with NDIS. The
/// driver object is passed as the MiniportDriverContext, so
/// MiniportInitializeEx can write to the event log without another global.
///
/// # Safety
/// Called once by the I/O manager (or the simulation) with a valid driver
/// object and registry path.
pub unsafe fn driver_entry<P: Platform>(
    driver_object: *mut c_void,
    registry_path: *mut c_void,
) -> NDIS_STATUS {
    let chars = characteristics::<P>();
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: arguments as received from the I/O manager; `chars` lives
    // across the call (NDIS copies it); NDIS writes `handle`.
    let status = unsafe {
        P::register_miniport_driver(
            driver_object,
            registry_path,
            driver_object,
            &chars,
            &mut handle,
        )
    };
    if status == NDIS_STATUS_SUCCESS {
        DRIVER_HANDLE.store(handle, Ordering::Release);
    } else {
        crate::datapath::trace_line::<P>(format_args!(
            "volnic: NdisMRegisterMiniportDriver failed ({status:#x})"
        ));
    }
    status
}

/// MiniportDriverUnload, at PASSIVE_LEVEL: runs the work halt left for it
/// (it may wait: no watchdog runs at unload), then deregisters.
///
/// # Safety
/// Called once by NDIS after every adapter has halted.
pub unsafe extern "system" fn unload<P: Platform>(_driver_object: *mut c_void) {
    crate::deferred::run_deferred();
    let handle = DRIVER_HANDLE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !handle.is_null() {
        // SAFETY: the handle NdisMRegisterMiniportDriver gave; deregistered once.
        unsafe { P::deregister_miniport_driver(handle) };
    }
}
