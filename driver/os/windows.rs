//! [`Os`] for the Windows kernel, with wdk-sys. The only kernel-services
//! code that cannot compile on Linux: kept plain, one routine per method.
//!
//! Volumes are opened with `FILE_NO_INTERMEDIATE_BUFFERING |
//! FILE_WRITE_THROUGH` (no cache either way: a receiver reading through a
//! cache would never see the mirror update the volume) and synchronous I/O.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use volnic_core::{Volume, VolumeError, VolumeErrorKind};
use wdk_sys::ntddk::{
    DbgPrint, KeAcquireSpinLockRaiseToDpc, KeInitializeEvent, KeReleaseSpinLock, KeSetEvent,
    KeWaitForSingleObject, MmGetSystemRoutineAddress, PsCreateSystemThread,
    PsTerminateSystemThread, ZwClose, ZwCreateFile, ZwQueryInformationFile, ZwReadFile,
    ZwWriteFile,
};
use wdk_sys::{
    FILE_STANDARD_INFORMATION, HANDLE, IO_STATUS_BLOCK, KEVENT, KSPIN_LOCK, LARGE_INTEGER,
    NTSTATUS, OBJECT_ATTRIBUTES, UNICODE_STRING,
};

use super::{Os, OsError};
use crate::resolved::RESOLVED_AT_RUN_TIME;

// ntoskrnl exports declared in ntifs.h, which wdk-sys's WDM bindings do not
// include; signatures from the WDK documentation.
#[allow(non_snake_case, clippy::too_many_arguments)]
extern "system" {
    fn ZwDeviceIoControlFile(
        FileHandle: HANDLE,
        Event: HANDLE,
        ApcRoutine: *mut c_void,
        ApcContext: *mut c_void,
        IoStatusBlock: *mut IO_STATUS_BLOCK,
        IoControlCode: u32,
        InputBuffer: *mut c_void,
        InputBufferLength: u32,
        OutputBuffer: *mut c_void,
        OutputBufferLength: u32,
    ) -> NTSTATUS;
    fn ZwFlushBuffersFile(FileHandle: HANDLE, IoStatusBlock: *mut IO_STATUS_BLOCK) -> NTSTATUS;
    fn ZwWaitForSingleObject(
        Handle: HANDLE,
        Alertable: u8,
        Timeout: *mut LARGE_INTEGER,
    ) -> NTSTATUS;
}

/// The addresses of the routines of [`RESOLVED_AT_RUN_TIME`], in its
/// order, found by [`resolve_routines`] in DriverEntry (0: not yet).
static ROUTINES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// KeQueryInterruptTimePrecise (wdm.h): interrupt time in 100 ns units;
/// writes the performance counter to its argument.
type InterruptTimePrecise = unsafe extern "system" fn(*mut u64) -> u64;
/// KeQuerySystemTimePrecise (wdm.h): system time in 100 ns units since 1601.
type SystemTimePrecise = unsafe extern "system" fn(*mut LARGE_INTEGER);

/// Finds every routine of [`RESOLVED_AT_RUN_TIME`] with
/// MmGetSystemRoutineAddress; on failure the name of the first one this
/// kernel does not export. Called at PASSIVE_LEVEL from DriverEntry, before
/// anything reads a clock.
pub fn resolve_routines() -> Result<(), &'static str> {
    for (slot, name) in ROUTINES.iter().zip(RESOLVED_AT_RUN_TIME) {
        let mut wide = [0u16; 64];
        let mut len = 0;
        for (dst, unit) in wide.iter_mut().zip(name.encode_utf16()) {
            *dst = unit;
            len += 1;
        }
        let mut routine = UNICODE_STRING {
            Length: (len * 2) as u16,
            MaximumLength: (wide.len() * 2) as u16,
            Buffer: wide.as_mut_ptr(),
        };
        // SAFETY: a UNICODE_STRING over `wide`, alive across the call, at
        // PASSIVE_LEVEL.
        let address = unsafe { MmGetSystemRoutineAddress(&mut routine) };
        if address.is_null() {
            return Err(name);
        }
        slot.store(address as usize, Ordering::Release);
    }
    Ok(())
}

/// The Windows kernel.
pub struct WindowsOs;

// NT constants used here (ntdef.h, wdm.h, ntstatus.h, ntddk.h).
const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const SYNCHRONIZE: u32 = 0x0010_0000;
const THREAD_ALL_ACCESS: u32 = 0x001F_FFFF;
const FILE_SHARE_READ: u32 = 0x1;
const FILE_SHARE_WRITE: u32 = 0x2;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
const FILE_OPEN: u32 = 0x1;
const FILE_WRITE_THROUGH: u32 = 0x2;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x8;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const OBJ_CASE_INSENSITIVE: u32 = 0x40;
const OBJ_KERNEL_HANDLE: u32 = 0x200;
const IOCTL_DISK_GET_LENGTH_INFO: u32 = 0x0007_405C;
const STATUS_TIMEOUT: NTSTATUS = 0x102;

fn volume_error(status: NTSTATUS) -> VolumeError {
    let kind = match status as u32 {
        0xC000_0034 | 0xC000_003A | 0xC000_000E | 0xC000_0033 => VolumeErrorKind::NotFound,
        0xC000_0022 | 0xC000_0043 => VolumeErrorKind::PermissionDenied,
        0xC000_00A2 => VolumeErrorKind::ReadOnly,
        0xC000_007F => VolumeErrorKind::NoSpace,
        0xC000_0011 => VolumeErrorKind::OutOfRange,
        0xC000_000D | 0x8000_0002 => VolumeErrorKind::Misaligned,
        _ => VolumeErrorKind::Io,
    };
    VolumeError::new(kind, i64::from(status))
}

/// The configured path as the NT path `ZwCreateFile` takes, UTF-16: see
/// `volnic_core::settings::nt_volume_path` (tested there on every host).
/// Fails (an I/O error, as an allocation failure) where memory for it
/// cannot be had, or (out of range) where it is too long for a
/// UNICODE_STRING.
fn nt_path(path: &str) -> Result<Vec<u16>, VolumeError> {
    let nt = volnic_core::settings::nt_volume_path(path);
    let units = nt.encode_utf16().count();
    if units > usize::from(u16::MAX / 2) {
        return Err(VolumeError::new(VolumeErrorKind::OutOfRange, 0));
    }
    let mut wide = Vec::new();
    wide.try_reserve_exact(units)
        .map_err(|_| VolumeError::new(VolumeErrorKind::Io, 0))?;
    wide.extend(nt.encode_utf16());
    Ok(wide)
}

/// An open volume handle; closed on drop.
pub struct KernelFile {
    handle: HANDLE,
    len: u64,
}

// SAFETY: a kernel handle (OBJ_KERNEL_HANDLE) is usable from any system thread.
unsafe impl Send for KernelFile {}

impl Drop for KernelFile {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by ZwCreateFile and is closed once.
        let status = unsafe { ZwClose(self.handle) };
        // Deliberately ignored: ZwClose fails only for a handle that is not
        // valid, and a drop has no one to report to or anything to retry.
        let _ = status;
    }
}

/// ZwCreateFile of an existing file by Win32 or NT path, as a kernel
/// handle.
fn create_file(path: &str, access: u32, share: u32, options: u32) -> Result<HANDLE, VolumeError> {
    let mut wide = nt_path(path)?;
    // At most u16::MAX / 2 units (nt_path), so the byte length fits.
    let bytes = (wide.len() * 2) as u16;
    let mut name = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: wide.as_mut_ptr(),
    };
    let mut attributes = OBJECT_ATTRIBUTES {
        Length: core::mem::size_of::<OBJECT_ATTRIBUTES>() as u32,
        ObjectName: &mut name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        ..OBJECT_ATTRIBUTES::default()
    };
    let mut iosb = IO_STATUS_BLOCK::default();
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY: every pointer argument refers to a local that lives across
    // the call; called at PASSIVE_LEVEL (datapath thread, initialization).
    let status = unsafe {
        ZwCreateFile(
            &mut handle,
            access,
            &mut attributes,
            &mut iosb,
            ptr::null_mut(),
            FILE_ATTRIBUTE_NORMAL,
            share,
            FILE_OPEN,
            options,
            ptr::null_mut(),
            0,
        )
    };
    if wdk_sys::NT_SUCCESS(status) {
        Ok(handle)
    } else {
        Err(volume_error(status))
    }
}

/// One synchronous ZwReadFile of `buf` at `offset`; returns the bytes read.
fn read_into(handle: HANDLE, offset: u64, buf: &mut [u8]) -> Result<usize, VolumeError> {
    let mut iosb = IO_STATUS_BLOCK::default();
    let mut at = LARGE_INTEGER {
        QuadPart: offset as i64,
    };
    // SAFETY: synchronous read into `buf` of at most its length (the engine
    // passes sector-aligned buffers for unbuffered handles); every pointer
    // refers to a local or to `buf`, all of which live across the call.
    let status = unsafe {
        ZwReadFile(
            handle,
            ptr::null_mut(),
            None,
            ptr::null_mut(),
            &mut iosb,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
            &mut at,
            ptr::null_mut(),
        )
    };
    if wdk_sys::NT_SUCCESS(status) {
        Ok(iosb.Information as usize)
    } else {
        Err(volume_error(status))
    }
}

/// The volume's length asked of the storage: a disk's or volume's length
/// (IOCTL_DISK_GET_LENGTH_INFO), else a file's end of file; the error of
/// the file query when neither answers (a device removed under the handle).
fn query_len(handle: HANDLE) -> Result<u64, VolumeError> {
    let mut iosb = IO_STATUS_BLOCK::default();
    let mut length = LARGE_INTEGER::default();
    // SAFETY: a valid handle; the output buffer is a GET_LENGTH_INFORMATION
    // (one LARGE_INTEGER) that lives across the synchronous call.
    let status = unsafe {
        ZwDeviceIoControlFile(
            handle,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut iosb,
            IOCTL_DISK_GET_LENGTH_INFO,
            ptr::null_mut(),
            0,
            (&mut length as *mut LARGE_INTEGER).cast(),
            core::mem::size_of::<LARGE_INTEGER>() as u32,
        )
    };
    if wdk_sys::NT_SUCCESS(status) {
        // SAFETY: QuadPart is the whole of the union.
        return Ok(unsafe { length.QuadPart } as u64);
    }
    // Not a disk or volume: a file, whose length is its end of file.
    let mut info = FILE_STANDARD_INFORMATION::default();
    // SAFETY: a valid handle and an output buffer of the class's size.
    let status = unsafe {
        ZwQueryInformationFile(
            handle,
            &mut iosb,
            (&mut info as *mut FILE_STANDARD_INFORMATION).cast(),
            core::mem::size_of::<FILE_STANDARD_INFORMATION>() as u32,
            wdk_sys::_FILE_INFORMATION_CLASS::FileStandardInformation,
        )
    };
    if wdk_sys::NT_SUCCESS(status) {
        // SAFETY: QuadPart is the whole of the union.
        Ok(unsafe { info.EndOfFile.QuadPart as u64 })
    } else {
        Err(volume_error(status))
    }
}

impl Volume for KernelFile {
    fn len_bytes(&self) -> u64 {
        self.len
    }

    fn current_len(&mut self) -> Result<u64, VolumeError> {
        query_len(self.handle)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        if read_into(self.handle, offset, buf)? != buf.len() {
            return Err(VolumeError::new(VolumeErrorKind::OutOfRange, 0));
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        let mut iosb = IO_STATUS_BLOCK::default();
        let mut at = LARGE_INTEGER {
            QuadPart: offset as i64,
        };
        // SAFETY: synchronous write-through of `data` (sector-aligned by the
        // engine); everything lives across the call.
        let status = unsafe {
            ZwWriteFile(
                self.handle,
                ptr::null_mut(),
                None,
                ptr::null_mut(),
                &mut iosb,
                data.as_ptr().cast_mut().cast(),
                data.len() as u32,
                &mut at,
                ptr::null_mut(),
            )
        };
        if !wdk_sys::NT_SUCCESS(status) {
            return Err(volume_error(status));
        }
        Ok(())
    }
}

/// A synchronization (auto-reset) event in nonpaged memory.
pub struct KernelEvent(Box<UnsafeCell<KEVENT>>);
// SAFETY: KEVENT is designed for use from any thread through its address.
unsafe impl Send for KernelEvent {}
// SAFETY: as above.
unsafe impl Sync for KernelEvent {}

/// A kernel spin lock.
pub struct KernelSpinLock(UnsafeCell<KSPIN_LOCK>);
// SAFETY: a KSPIN_LOCK is shared by address between processors by design.
unsafe impl Send for KernelSpinLock {}
// SAFETY: as above.
unsafe impl Sync for KernelSpinLock {}

/// A system thread handle; joined by waiting on it.
pub struct KernelThread(HANDLE);
// SAFETY: a kernel handle is usable from any system thread.
unsafe impl Send for KernelThread {}

type ThreadBody = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn thread_start(context: *mut c_void) {
    // SAFETY: `context` is the Box<ThreadBody> leaked by thread_start below,
    // taken back exactly once here.
    let body = unsafe { Box::from_raw(context.cast::<ThreadBody>()) };
    body();
    // SAFETY: ends the current system thread, as a start routine must.
    let status = unsafe { PsTerminateSystemThread(0) };
    // Deliberately ignored: PsTerminateSystemThread does not return when
    // called from a system thread, as here.
    let _ = status;
}

impl Os for WindowsOs {
    type File = KernelFile;
    type Event = KernelEvent;
    type Thread = KernelThread;
    type RawSpinLock = KernelSpinLock;

    fn open_volume(path: &str, write: bool) -> Result<KernelFile, VolumeError> {
        let access = if write {
            GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE
        } else {
            GENERIC_READ | SYNCHRONIZE
        };
        // The send volume is opened without FILE_SHARE_WRITE, so a second
        // writer on this host is refused at once (sharing violation); the
        // receive volume lets the mirror or the peer write under it.
        let share = if write {
            FILE_SHARE_READ
        } else {
            FILE_SHARE_READ | FILE_SHARE_WRITE
        };
        let handle = create_file(
            path,
            access,
            share,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NO_INTERMEDIATE_BUFFERING | FILE_WRITE_THROUGH,
        )?;
        // A length that cannot be read counts as 0, which the engine names
        // as a volume too short for its format.
        Ok(KernelFile {
            len: query_len(handle).unwrap_or(0),
            handle,
        })
    }

    fn read_small_file(path: &str, max_len: usize) -> Result<Vec<u8>, VolumeError> {
        let handle = create_file(
            path,
            GENERIC_READ | SYNCHRONIZE,
            FILE_SHARE_READ,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE,
        )?;
        // Closes the handle on every path out.
        let file = KernelFile { handle, len: 0 };
        let mut buf = Vec::new();
        buf.try_reserve_exact(max_len.saturating_add(1))
            .map_err(|_| VolumeError::new(VolumeErrorKind::Io, 0))?;
        buf.resize(max_len.saturating_add(1), 0);
        let read = read_into(file.handle, 0, &mut buf)?;
        if read > max_len {
            return Err(VolumeError::new(VolumeErrorKind::OutOfRange, 0));
        }
        buf.truncate(read);
        Ok(buf)
    }

    fn flush_volume(file: &mut KernelFile) -> Result<(), VolumeError> {
        let mut iosb = IO_STATUS_BLOCK::default();
        // SAFETY: a valid handle; `iosb` lives across the call.
        let status = unsafe { ZwFlushBuffersFile(file.handle, &mut iosb) };
        if wdk_sys::NT_SUCCESS(status) {
            Ok(())
        } else {
            Err(volume_error(status))
        }
    }

    fn event_new() -> Result<KernelEvent, OsError> {
        let event = KernelEvent(Box::new(UnsafeCell::new(KEVENT::default())));
        // SAFETY: the KEVENT is in nonpaged pool (wdk-alloc) and never moves.
        unsafe { KeInitializeEvent(event.0.get(), wdk_sys::_EVENT_TYPE::SynchronizationEvent, 0) };
        Ok(event)
    }

    fn event_set(event: &KernelEvent) {
        // SAFETY: an initialized event; callable at IRQL <= DISPATCH_LEVEL.
        unsafe { KeSetEvent(event.0.get(), 0, 0) };
    }

    fn event_wait(event: &KernelEvent, timeout_us: u64) -> bool {
        // Relative time in 100 ns units is negative.
        let mut timeout = LARGE_INTEGER {
            QuadPart: -(timeout_us.min(i64::MAX as u64 / 10) as i64 * 10),
        };
        // SAFETY: an initialized event; called at PASSIVE_LEVEL.
        let status = unsafe {
            KeWaitForSingleObject(
                event.0.get().cast(),
                wdk_sys::_KWAIT_REASON::Executive,
                wdk_sys::_MODE::KernelMode as i8,
                0,
                &mut timeout,
            )
        };
        status != STATUS_TIMEOUT
    }

    fn thread_start(body: Box<dyn FnOnce() + Send + 'static>) -> Result<KernelThread, OsError> {
        let context = Box::into_raw(Box::new(body));
        let mut attributes = OBJECT_ATTRIBUTES {
            Length: core::mem::size_of::<OBJECT_ATTRIBUTES>() as u32,
            Attributes: OBJ_KERNEL_HANDLE,
            ..OBJECT_ATTRIBUTES::default()
        };
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY: `thread_start` takes ownership of `context`; the handle is
        // a kernel handle written by the call.
        let status = unsafe {
            PsCreateSystemThread(
                &mut handle,
                THREAD_ALL_ACCESS,
                &mut attributes,
                ptr::null_mut(),
                ptr::null_mut(),
                Some(thread_start),
                context.cast(),
            )
        };
        if !wdk_sys::NT_SUCCESS(status) {
            // SAFETY: the thread was not created, so `context` is still ours.
            drop(unsafe { Box::from_raw(context) });
            return Err(OsError {
                code: i64::from(status),
            });
        }
        Ok(KernelThread(handle))
    }

    fn thread_join(thread: KernelThread) {
        // SAFETY: a thread handle from PsCreateSystemThread, waited on and
        // closed once, at PASSIVE_LEVEL.
        let waited = unsafe { ZwWaitForSingleObject(thread.0, 0, ptr::null_mut()) };
        if !wdk_sys::NT_SUCCESS(waited) {
            crate::windows::debug_error_status(
                c"volnic: waiting for the datapath thread failed (%#x)\n",
                waited,
            );
        }
        // SAFETY: as above.
        let closed = unsafe { ZwClose(thread.0) };
        // Deliberately ignored: ZwClose fails only for a handle that is not
        // valid; the thread has ended either way.
        let _ = closed;
    }

    fn thread_wait(thread: &KernelThread, timeout_us: u64) -> bool {
        // Relative time in 100 ns units is negative.
        let mut timeout = LARGE_INTEGER {
            QuadPart: -(timeout_us.min(i64::MAX as u64 / 10) as i64 * 10),
        };
        // SAFETY: a thread handle from PsCreateSystemThread, waited on at
        // PASSIVE_LEVEL; `timeout` lives across the call.
        let status = unsafe { ZwWaitForSingleObject(thread.0, 0, &mut timeout) };
        status != STATUS_TIMEOUT
    }

    fn monotonic_us() -> u64 {
        let address = ROUTINES[0].load(Ordering::Acquire);
        if address == 0 {
            return 0;
        }
        // SAFETY: a non-zero slot 0 holds KeQueryInterruptTimePrecise's
        // address (resolve_routines), whose prototype this type is.
        let query: InterruptTimePrecise = unsafe { core::mem::transmute(address) };
        let mut qpc = 0u64;
        // SAFETY: writes the performance-counter time to `qpc`.
        let interrupt_time = unsafe { query(&mut qpc) };
        interrupt_time / 10
    }

    fn wall_clock_us() -> u64 {
        let address = ROUTINES[1].load(Ordering::Acquire);
        if address == 0 {
            return 0;
        }
        // SAFETY: a non-zero slot 1 holds KeQuerySystemTimePrecise's address
        // (resolve_routines), whose prototype this type is.
        let query: SystemTimePrecise = unsafe { core::mem::transmute(address) };
        let mut now = LARGE_INTEGER::default();
        // SAFETY: writes the system time to `now`.
        unsafe { query(&mut now) };
        // 100 ns units since 1601 → µs since 1970.
        // SAFETY: QuadPart is the whole of the union.
        let since_1601 = unsafe { now.QuadPart } as u64 / 10;
        since_1601.saturating_sub(11_644_473_600_000_000)
    }

    fn spin_new() -> KernelSpinLock {
        // KeInitializeSpinLock only zeroes the lock.
        KernelSpinLock(UnsafeCell::new(0))
    }

    fn spin_acquire(lock: &KernelSpinLock) -> u8 {
        // SAFETY: a valid KSPIN_LOCK at a stable address; IRQL <= DISPATCH.
        unsafe { KeAcquireSpinLockRaiseToDpc(lock.0.get()) }
    }

    fn spin_release(lock: &KernelSpinLock, previous: u8) {
        // SAFETY: the lock is held by this processor; `previous` is the IRQL
        // its acquisition returned.
        unsafe { KeReleaseSpinLock(lock.0.get(), previous) };
    }

    fn trace(line: &str) {
        // No allocation: DbgPrint takes at most 512 bytes a call, so the
        // line is cut there (with its newline and NUL).
        let mut text = [0u8; 512];
        let mut len = 0;
        for (dst, b) in text
            .iter_mut()
            .take(510)
            .zip(line.bytes().filter(|&b| b != 0))
        {
            *dst = b;
            len += 1;
        }
        if let Some(newline) = text.get_mut(len) {
            *newline = b'\n';
        }
        // SAFETY: "%s" with one NUL-terminated string argument (`text` is
        // zeroed past the newline).
        let printed = unsafe { DbgPrint(c"%s".as_ptr(), text.as_ptr()) };
        // Not an NTSTATUS: DbgPrint's result only says whether the
        // debugger took the line; a trace has nothing to do about that.
        let _ = printed;
    }
}
