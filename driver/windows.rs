//! The Windows-only glue: the kernel pool allocator and the panic handler,
//! the exported `DriverEntry`, and [`NdisApi`] as direct calls of the
//! ndis.sys exports. Each method forwards its arguments unchanged; the
//! callers' `// SAFETY:` notes state why each call is sound.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use crate::ndis::*;
use crate::ndis_api::NdisApi;
use crate::os::windows::WindowsOs;

#[cfg(not(test))]
extern crate wdk_panic;

/// The pool tag of every allocation the driver makes, shown by poolmon and
/// `!pool` as `Vnic`.
const POOL_TAG: u32 = u32::from_le_bytes(*b"Vnic");

// ExAllocatePoolWithTag (wdm.h, exported by ntoskrnl.exe since Windows
// 2000). wdk-sys 0.5 leaves it out of its bindings as deprecated in favour of
// ExAllocatePool2, which only Windows 10 2004 (build 19041) exports and which
// would keep the driver from loading on Server 2019 (build 17763); so it is
// declared here.
#[allow(non_snake_case)]
extern "system" {
    fn ExAllocatePoolWithTag(
        PoolType: wdk_sys::POOL_TYPE,
        NumberOfBytes: wdk_sys::SIZE_T,
        Tag: wdk_sys::ULONG,
    ) -> wdk_sys::PVOID;
}

/// The global allocator: non-paged, no-execute pool with the driver's tag.
/// (wdk-alloc is not used: it allocates with ExAllocatePool2, see above.)
/// Pool blocks are aligned to MEMORY_ALLOCATION_ALIGNMENT (16 on x64); a
/// request for more alignment fails (returns null), and no type of the
/// driver or the engine asks for more.
struct PoolAllocator;

// SAFETY: alloc returns null or a fresh non-paged block of at least
// `layout.size()` bytes aligned as the pool aligns every block, which is
// checked against `layout.align()`; dealloc frees only blocks alloc returned.
unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > wdk_sys::MEMORY_ALLOCATION_ALIGNMENT as usize {
            return core::ptr::null_mut();
        }
        // SAFETY: allocating from non-paged pool has no preconditions at
        // IRQL <= DISPATCH_LEVEL, where all driver code runs.
        unsafe {
            ExAllocatePoolWithTag(
                wdk_sys::_POOL_TYPE::NonPagedPoolNx,
                layout.size() as wdk_sys::SIZE_T,
                POOL_TAG,
            )
        }
        .cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from ExAllocatePoolWithTag in alloc (the
        // GlobalAlloc contract) and is freed once.
        unsafe { wdk_sys::ntddk::ExFreePool(ptr.cast()) }
    }
}

#[cfg(not(test))]
#[global_allocator]
static GLOBAL_ALLOCATOR: PoolAllocator = PoolAllocator;

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
        let flags = unsafe { (*m).MdlFlags };
        // SAFETY: as above.
        let mapped = unsafe { (*m).MappedSystemVa };
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
        // SAFETY: `message` is NUL-terminated UTF-16 that lives across this
        // call (caller's contract).
        let units = unsafe { nul_terminated(message) };
        // The reason also goes to the debugger at error level, which the
        // default debug filter shows.
        debug_error_wide(units);
        let mut fitted = [0u16; EVENT_LOG_STRING_UNITS];
        crate::eventlog::fit_into(units, EVENT_LOG_STRING_BYTES, &mut fitted);
        // SAFETY: one NUL-terminated insertion string of at most
        // EVENT_LOG_STRING_BYTES bytes, alive across the call; no data.
        let status = unsafe {
            NdisWriteEventLogEntry(d, code, 0, 1, fitted.as_ptr().cast(), 0, core::ptr::null())
        };
        if status != NDIS_STATUS_SUCCESS {
            debug_error_status(c"volnic: NdisWriteEventLogEntry failed (%#x)\n", status);
        }
        status
    }
}

/// `ERROR_LOG_MAXIMUM_SIZE` of wdm.h, which the header defines with
/// `sizeof` (so bindgen gives no constant): the smaller of
/// `PORT_MAXIMUM_MESSAGE_LENGTH` and `ERROR_LOG_LIMIT_SIZE` plus the message
/// header, less that header (`sizeof(IO_ERROR_LOG_MESSAGE) -
/// sizeof(IO_ERROR_LOG_PACKET) + 40 WCHARs`).
const ERROR_LOG_MAXIMUM_SIZE: usize = {
    let header = core::mem::size_of::<wdk_sys::IO_ERROR_LOG_MESSAGE>()
        - core::mem::size_of::<wdk_sys::IO_ERROR_LOG_PACKET>()
        + core::mem::size_of::<wdk_sys::WCHAR>() * 40;
    let limit = wdk_sys::ERROR_LOG_LIMIT_SIZE as usize + header;
    let port = wdk_sys::PORT_MAXIMUM_MESSAGE_LENGTH as usize;
    let length = if port > limit { limit } else { port };
    length - header
};

/// What NdisWriteEventLogEntry takes for strings and data together.
const EVENT_LOG_STRING_BYTES: usize =
    ERROR_LOG_MAXIMUM_SIZE - core::mem::size_of::<wdk_sys::IO_ERROR_LOG_PACKET>();
const EVENT_LOG_STRING_UNITS: usize = EVENT_LOG_STRING_BYTES / 2;
const _: () = assert!(EVENT_LOG_STRING_UNITS > 1);

/// The debug-filter component of the driver's DbgPrintEx lines
/// (DPFLTR_IHVNETWORK_ID, shown at DPFLTR_ERROR_LEVEL by default). The cast
/// is needed where bindgen makes the C enum `i32` (the WDK's MSVC target)
/// and not where it makes it `u32` (mingw-w64's target, the cross build).
#[allow(clippy::unnecessary_cast)]
const DPFLTR_COMPONENT: u32 = wdk_sys::_DPFLTR_TYPE::DPFLTR_IHVNETWORK_ID as u32;

/// The units of a NUL-terminated UTF-16 string, without the NUL.
///
/// # Safety
/// `s` points to a NUL-terminated UTF-16 string that outlives the result.
unsafe fn nul_terminated<'a>(s: *const u16) -> &'a [u16] {
    let mut len = 0;
    loop {
        // SAFETY: every unit up to and including the NUL is in the string.
        let at = unsafe { s.add(len) };
        // SAFETY: as above: `at` is at or before the NUL, so readable.
        if unsafe { *at } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` units before the NUL, as read above.
    unsafe { core::slice::from_raw_parts(s, len) }
}

/// One line to the debugger at error level (DPFLTR_IHVNETWORK_ID,
/// DPFLTR_ERROR_LEVEL), from UTF-16: non-ASCII units become `?`, and the
/// line is cut at 255 bytes.
fn debug_error_wide(units: &[u16]) {
    let mut line = [0u8; 256];
    for (dst, &u) in line.iter_mut().take(255).zip(units) {
        *dst = if (0x20..0x7F).contains(&u) {
            u as u8
        } else {
            b'?'
        };
    }
    // SAFETY: "%s\n" with one NUL-terminated string (`line` ends in 0).
    unsafe {
        wdk_sys::ntddk::DbgPrintEx(
            DPFLTR_COMPONENT,
            wdk_sys::DPFLTR_ERROR_LEVEL,
            c"%s\n".as_ptr(),
            line.as_ptr(),
        )
    };
}

/// A format with one `%#x` for `status`, to the debugger at error level.
pub(crate) fn debug_error_status(format: &core::ffi::CStr, status: i32) {
    // SAFETY: a NUL-terminated format whose one conversion takes a 32-bit
    // integer (callers pass literals with exactly one `%#x`).
    unsafe {
        wdk_sys::ntddk::DbgPrintEx(
            DPFLTR_COMPONENT,
            wdk_sys::DPFLTR_ERROR_LEVEL,
            format.as_ptr(),
            status,
        )
    };
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
    if let Err(missing) = crate::os::windows::resolve_routines() {
        debug_error_missing(missing);
        // NDIS_STATUS_FAILURE is STATUS_UNSUCCESSFUL: the load fails.
        return NDIS_STATUS_FAILURE;
    }
    // SAFETY: arguments forwarded from the I/O manager.
    unsafe {
        crate::entry::driver_entry::<WindowsOs>(
            driver_object.cast(),
            registry_path.cast_mut().cast(),
        )
    }
}

/// Why DriverEntry refused: a kernel routine of `crate::resolved` that this
/// kernel does not export.
fn debug_error_missing(name: &str) {
    let mut text = [0u8; 64];
    for (dst, b) in text.iter_mut().take(63).zip(name.bytes()) {
        *dst = b;
    }
    // SAFETY: "%s" with one NUL-terminated string (`text` ends in 0).
    unsafe {
        wdk_sys::ntddk::DbgPrintEx(
            DPFLTR_COMPONENT,
            wdk_sys::DPFLTR_ERROR_LEVEL,
            c"volnic: this kernel does not export %s (Windows 8.1 or later needed): not loading\n"
                .as_ptr(),
            text.as_ptr(),
        )
    };
}
