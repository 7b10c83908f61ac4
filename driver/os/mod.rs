//! The kernel services the miniport uses, behind one narrow trait.
//!
//! [`Os`] is everything the driver needs from the NT kernel besides NDIS:
//! unbuffered volume files opened by path, one system thread, auto-reset
//! events with timed waits, a monotonic and a wall clock, spin locks and a
//! debug trace. `windows.rs` implements it with wdk-sys (the only part of
//! this module that does not compile on Linux); the host simulation crate
//! (`volnic-ndis-sim`) implements it with std for tests.
//!
//! Every method is an associated function (no `self`), like the kernel
//! routines it stands for, so the driver can call it from NDIS callbacks
//! without carrying an object around.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use volnic_core::{Volume, VolumeError};

#[cfg(windows)]
pub mod windows;

/// A kernel service failed; `code` is the host's status (NTSTATUS, errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsError {
    pub code: i64,
}

/// The kernel services of one host.
pub trait Os: 'static {
    /// A volume file opened for unbuffered, write-through I/O; closed on drop.
    type File: Volume + Send + 'static;
    /// An auto-reset (synchronization) event.
    type Event: Send + Sync + 'static;
    /// A running system thread.
    type Thread: Send + 'static;
    /// The raw lock behind [`SpinLock`].
    type RawSpinLock: Send + Sync + 'static;

    /// Opens the volume at `path` (a Win32 path such as `\\.\PhysicalDrive3`
    /// or `C:\volnic\send.vol`, or an NT path) with every cache bypassed:
    /// for reading and writing (`write`, the send volume) or for reading
    /// only (the receive volume, often a write-disabled mirror target).
    fn open_volume(path: &str, write: bool) -> Result<Self::File, VolumeError>;
    /// Reads a small regular file whole, through the cache (the key file of
    /// authenticated mode); a file longer than `max_len` is an
    /// `OutOfRange` error.
    fn read_small_file(path: &str, max_len: usize) -> Result<Vec<u8>, VolumeError>;
    /// Pushes anything the storage stack still holds to stable storage.
    fn flush_volume(file: &mut Self::File) -> Result<(), VolumeError>;

    fn event_new() -> Result<Self::Event, OsError>;
    /// Signals the event; one waiter (present or next) wakes and resets it.
    fn event_set(event: &Self::Event);
    /// Waits until the event is signalled or `timeout_us` passes; true when
    /// signalled.
    fn event_wait(event: &Self::Event, timeout_us: u64) -> bool;

    /// Starts a system thread running `body` at PASSIVE_LEVEL.
    fn thread_start(body: Box<dyn FnOnce() + Send + 'static>) -> Result<Self::Thread, OsError>;
    /// Waits for the thread to end and releases it.
    fn thread_join(thread: Self::Thread);
    /// Waits at most `timeout_us` for the thread to end; true if it has
    /// (then [`Os::thread_join`] returns at once).
    fn thread_wait(thread: &Self::Thread, timeout_us: u64) -> bool;

    /// Microseconds of a monotonic clock that does not stop while the
    /// machine runs (interrupt time).
    fn monotonic_us() -> u64;
    /// Microseconds since the Unix epoch (only seeds the link epoch).
    fn wall_clock_us() -> u64;

    fn spin_new() -> Self::RawSpinLock;
    /// Acquires the lock (raising to DISPATCH_LEVEL on Windows); returns what
    /// [`Os::spin_release`] needs to restore.
    fn spin_acquire(lock: &Self::RawSpinLock) -> u8;
    fn spin_release(lock: &Self::RawSpinLock, previous: u8);

    /// One line of diagnostic trace (DbgPrint on Windows).
    fn trace(line: &str);
}

/// Data guarded by a kernel spin lock. Hold it briefly and never across a
/// call that may block or into NDIS.
pub struct SpinLock<O: Os, T> {
    raw: O::RawSpinLock,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `raw` (see `lock`), so sharing
// the lock between threads is sound whenever the value may move between them.
unsafe impl<O: Os, T: Send> Sync for SpinLock<O, T> {}
// SAFETY: the lock owns its value; sending it sends the value.
unsafe impl<O: Os, T: Send> Send for SpinLock<O, T> {}

impl<O: Os, T> SpinLock<O, T> {
    pub fn new(value: T) -> Self {
        Self {
            raw: O::spin_new(),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> SpinGuard<'_, O, T> {
        let previous = O::spin_acquire(&self.raw);
        SpinGuard {
            lock: self,
            previous,
            _not_send: PhantomData,
        }
    }
}

/// Access to the value of a held [`SpinLock`]; releases it on drop.
pub struct SpinGuard<'a, O: Os, T> {
    lock: &'a SpinLock<O, T>,
    previous: u8,
    // A spin lock is released on the processor that acquired it.
    _not_send: PhantomData<*const ()>,
}

impl<O: Os, T> Deref for SpinGuard<'_, O, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the raw lock is held, so no
        // other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<O: Os, T> DerefMut for SpinGuard<'_, O, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<O: Os, T> Drop for SpinGuard<'_, O, T> {
    fn drop(&mut self) {
        O::spin_release(&self.lock.raw, self.previous);
    }
}
