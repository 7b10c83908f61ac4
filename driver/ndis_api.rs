//! The NDIS routines the miniport calls, as one trait: on Windows each is
//! a direct call of the ndis.sys export (`windows.rs`); in tests the host
//! simulation (`volnic-ndis-sim`) implements them in Rust and checks every
//! NDIS contract. Structures cross this boundary exactly as they cross the
//! real one: the repr(C) NDIS types, by raw pointer.

use core::ffi::c_void;

use crate::ndis::*;
use crate::os::Os;

/// The NDIS library.
///
/// # Safety
/// Every method has the contract of the NDIS routine it names (same
/// arguments, IRQL rules and ownership transfers); callers uphold it.
/// That contract is stated once here rather than on each method.
#[allow(clippy::missing_safety_doc)]
pub trait NdisApi: 'static {
    /// NdisMRegisterMiniportDriver.
    unsafe fn register_miniport_driver(
        driver_object: *mut c_void,
        registry_path: *mut c_void,
        driver_context: NDIS_HANDLE,
        characteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        driver_handle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// NdisMDeregisterMiniportDriver.
    unsafe fn deregister_miniport_driver(driver_handle: NDIS_HANDLE);
    /// NdisMSetMiniportAttributes (registration or general attributes).
    unsafe fn set_miniport_attributes(adapter: NDIS_HANDLE, attributes: *mut c_void)
        -> NDIS_STATUS;
    /// NdisOpenConfigurationEx.
    unsafe fn open_configuration(
        object: *const NDIS_CONFIGURATION_OBJECT,
        config: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// NdisReadConfiguration.
    unsafe fn read_configuration(
        status: *mut NDIS_STATUS,
        value: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        config: NDIS_HANDLE,
        keyword: *const NDIS_STRING,
        parameter_type: u32,
    );
    /// NdisCloseConfiguration.
    unsafe fn close_configuration(config: NDIS_HANDLE);
    /// NdisAllocateNetBufferListPool.
    unsafe fn allocate_nbl_pool(
        adapter: NDIS_HANDLE,
        params: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    /// NdisFreeNetBufferListPool.
    unsafe fn free_nbl_pool(pool: NDIS_HANDLE);
    /// NdisAllocateNetBufferAndNetBufferList.
    unsafe fn allocate_nb_and_nbl(
        pool: NDIS_HANDLE,
        mdl_chain: *mut MDL,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NET_BUFFER_LIST;
    /// NdisFreeNetBufferList.
    unsafe fn free_nbl(nbl: *mut NET_BUFFER_LIST);
    /// NdisAllocateMdl over nonpaged memory the driver owns.
    unsafe fn allocate_mdl(adapter: NDIS_HANDLE, va: *mut c_void, length: u32) -> *mut MDL;
    /// NdisFreeMdl.
    unsafe fn free_mdl(mdl: *mut MDL);
    /// NdisQueryMdl / MmGetSystemAddressForMdlSafe(NormalPagePriority):
    /// the system address of the MDL's data, or null if it cannot be mapped.
    unsafe fn mdl_system_address(mdl: *mut MDL) -> *const u8;
    /// NdisMSendNetBufferListsComplete.
    unsafe fn send_complete(adapter: NDIS_HANDLE, nbls: *mut NET_BUFFER_LIST, flags: u32);
    /// NdisMIndicateReceiveNetBufferLists.
    unsafe fn indicate_receive(
        adapter: NDIS_HANDLE,
        nbls: *mut NET_BUFFER_LIST,
        port: NDIS_PORT_NUMBER,
        count: u32,
        flags: u32,
    );
    /// NdisMIndicateStatusEx.
    unsafe fn indicate_status(adapter: NDIS_HANDLE, indication: *const NDIS_STATUS_INDICATION);
    /// NdisMPauseComplete.
    unsafe fn pause_complete(adapter: NDIS_HANDLE);
    /// NdisWriteEventLogEntry with one insertion string (UTF-16, NUL
    /// terminated) naming why the adapter failed.
    unsafe fn write_event_log(
        driver_object: *mut c_void,
        event_code: NDIS_STATUS,
        message: *const u16,
    ) -> NDIS_STATUS;
}

/// Everything the miniport needs from its host: NDIS and the kernel.
pub trait Platform: NdisApi + Os + Send + Sync {}
impl<T: NdisApi + Os + Send + Sync> Platform for T {}
