//! The Windows-only glue: kernel allocator and panic handler, the exported
//! `DriverEntry`, and [`NdisApi`] as direct calls of the ndis.sys exports.
//! Each method forwards its arguments unchanged; the callers' `// SAFETY:`
//! notes state why each call is sound.

use core::ffi::c_void;

use crate::ndis::*;
use crate::ndis_api::NdisApi;
use crate::os::windows::WindowsOs;

#[cfg(not(test))]
extern crate wdk_panic;

#[cfg(not(test))]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

// The NDIS exports the miniport calls (ndis.h), linked from ndis.lib.
#[link(name = "ndis")]
#[allow(non_snake_case, clippy::too_many_arguments)]
extern "system" {
    fn NdisMRegisterMiniportDriver(
        DriverObject: *mut c_void,
        RegistryPath: *mut c_void,
        MiniportDriverContext: NDIS_HANDLE,
        MiniportDriverCharacteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        NdisMiniportDriverHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    fn NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE);
    fn NdisMSetMiniportAttributes(
        NdisMiniportHandle: NDIS_HANDLE,
        MiniportAttributes: *mut c_void,
    ) -> NDIS_STATUS;
    fn NdisOpenConfigurationEx(
        ConfigObject: *const NDIS_CONFIGURATION_OBJECT,
        ConfigurationHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    fn NdisReadConfiguration(
        Status: *mut NDIS_STATUS,
        ParameterValue: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        ConfigurationHandle: NDIS_HANDLE,
        Keyword: *const NDIS_STRING,
        ParameterType: u32,
    );
    fn NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE);
    fn NdisAllocateNetBufferListPool(
        NdisHandle: NDIS_HANDLE,
        Parameters: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    fn NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE);
    fn NdisAllocateNetBufferAndNetBufferList(
        PoolHandle: NDIS_HANDLE,
        ContextSize: u16,
        ContextBackFill: u16,
        MdlChain: *mut MDL,
        DataOffset: u32,
        DataLength: usize,
    ) -> *mut NET_BUFFER_LIST;
    fn NdisFreeNetBufferList(NetBufferList: *mut NET_BUFFER_LIST);
    fn NdisAllocateMdl(
        NdisHandle: NDIS_HANDLE,
        VirtualAddress: *mut c_void,
        Length: u32,
    ) -> *mut MDL;
    fn NdisFreeMdl(Mdl: *mut MDL);
    fn NdisMSendNetBufferListsComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        SendCompleteFlags: u32,
    );
    fn NdisMIndicateReceiveNetBufferLists(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        PortNumber: NDIS_PORT_NUMBER,
        NumberOfNetBufferLists: u32,
        ReceiveFlags: u32,
    );
    fn NdisMIndicateStatusEx(
        MiniportAdapterHandle: NDIS_HANDLE,
        StatusIndication: *const NDIS_STATUS_INDICATION,
    );
    fn NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE);
    fn NdisWriteEventLogEntry(
        LogHandle: *mut c_void,
        EventCode: NDIS_STATUS,
        UniqueEventValue: u32,
        NumStrings: u16,
        StringsList: *const c_void,
        DataSize: u32,
        Data: *const c_void,
    ) -> NDIS_STATUS;
}

const MDL_MAPPED_TO_SYSTEM_VA: i16 = 0x0001;
const MDL_SOURCE_IS_NONPAGED_POOL: i16 = 0x0004;
/// NormalPagePriority | MdlMappingNoExecute.
const NORMAL_PAGE_PRIORITY_NX: u32 = 16 | 0x4000_0000;

impl NdisApi for WindowsOs {
    unsafe fn register_miniport_driver(
        d: *mut c_void,
        r: *mut c_void,
        c: NDIS_HANDLE,
        ch: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        h: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMRegisterMiniportDriver(d, r, c, ch, h) }
    }
    unsafe fn deregister_miniport_driver(h: NDIS_HANDLE) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMDeregisterMiniportDriver(h) }
    }
    unsafe fn set_miniport_attributes(a: NDIS_HANDLE, attrs: *mut c_void) -> NDIS_STATUS {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMSetMiniportAttributes(a, attrs) }
    }
    unsafe fn open_configuration(
        o: *const NDIS_CONFIGURATION_OBJECT,
        c: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisOpenConfigurationEx(o, c) }
    }
    unsafe fn read_configuration(
        s: *mut NDIS_STATUS,
        v: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        c: NDIS_HANDLE,
        k: *const NDIS_STRING,
        t: u32,
    ) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisReadConfiguration(s, v, c, k, t) }
    }
    unsafe fn close_configuration(c: NDIS_HANDLE) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisCloseConfiguration(c) }
    }
    unsafe fn allocate_nbl_pool(
        a: NDIS_HANDLE,
        p: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisAllocateNetBufferListPool(a, p) }
    }
    unsafe fn free_nbl_pool(p: NDIS_HANDLE) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisFreeNetBufferListPool(p) }
    }
    unsafe fn allocate_nb_and_nbl(
        p: NDIS_HANDLE,
        m: *mut MDL,
        off: u32,
        len: usize,
    ) -> *mut NET_BUFFER_LIST {
        // SAFETY: forwarded under the caller's contract; no NBL context.
        unsafe { NdisAllocateNetBufferAndNetBufferList(p, 0, 0, m, off, len) }
    }
    unsafe fn free_nbl(n: *mut NET_BUFFER_LIST) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisFreeNetBufferList(n) }
    }
    unsafe fn allocate_mdl(a: NDIS_HANDLE, va: *mut c_void, len: u32) -> *mut MDL {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisAllocateMdl(a, va, len) }
    }
    unsafe fn free_mdl(m: *mut MDL) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisFreeMdl(m) }
    }
    unsafe fn mdl_system_address(m: *mut MDL) -> *const u8 {
        // MmGetSystemAddressForMdlSafe (a macro in wdm.h).
        // SAFETY: a valid MDL (caller's contract).
        let (flags, mapped) = unsafe { ((*m).MdlFlags, (*m).MappedSystemVa) };
        if flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            return mapped.cast::<u8>().cast_const();
        }
        // SAFETY: a locked MDL as NDIS hands out; maps it into system space.
        unsafe {
            wdk_sys::ntddk::MmMapLockedPagesSpecifyCache(
                m.cast(),
                wdk_sys::_MODE::KernelMode as i8,
                wdk_sys::_MEMORY_CACHING_TYPE::MmCached,
                core::ptr::null_mut(),
                0,
                NORMAL_PAGE_PRIORITY_NX,
            )
        }
        .cast::<u8>()
        .cast_const()
    }
    unsafe fn send_complete(a: NDIS_HANDLE, n: *mut NET_BUFFER_LIST, f: u32) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMSendNetBufferListsComplete(a, n, f) }
    }
    unsafe fn indicate_receive(
        a: NDIS_HANDLE,
        n: *mut NET_BUFFER_LIST,
        p: NDIS_PORT_NUMBER,
        c: u32,
        f: u32,
    ) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMIndicateReceiveNetBufferLists(a, n, p, c, f) }
    }
    unsafe fn indicate_status(a: NDIS_HANDLE, i: *const NDIS_STATUS_INDICATION) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMIndicateStatusEx(a, i) }
    }
    unsafe fn pause_complete(a: NDIS_HANDLE) {
        // SAFETY: forwarded unchanged under the caller's contract.
        unsafe { NdisMPauseComplete(a) }
    }
    unsafe fn write_event_log(
        d: *mut c_void,
        code: NDIS_STATUS,
        message: *const u16,
    ) -> NDIS_STATUS {
        // SAFETY: one NUL-terminated insertion string (caller's contract).
        unsafe { NdisWriteEventLogEntry(d, code, 0, 1, message.cast(), 0, core::ptr::null()) }
    }
}

/// The driver's entry point, called by the I/O manager.
///
/// # Safety
/// Called once by the I/O manager with a valid driver object and registry path.
// SAFETY: "DriverEntry" is the entry symbol the kernel loader requires; no
// other item exports it.
#[cfg_attr(not(test), unsafe(export_name = "DriverEntry"))]
pub unsafe extern "system" fn driver_entry(
    driver_object: *mut wdk_sys::DRIVER_OBJECT,
    registry_path: wdk_sys::PCUNICODE_STRING,
) -> wdk_sys::NTSTATUS {
    // SAFETY: arguments forwarded from the I/O manager.
    unsafe {
        crate::entry::driver_entry::<WindowsOs>(
            driver_object.cast(),
            registry_path.cast_mut().cast(),
        )
    }
}
