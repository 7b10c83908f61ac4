//! Work left for Unload: an adapter whose halt could not wait for its
//! datapath thread (storage that never answered) leaves joining it, and
//! freeing what it used, to run before the driver's image goes away.

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Work that must finish before the driver's image goes away: adapters
/// whose halt could not wait for their datapath thread (storage that never
/// answered) leave joining it and freeing what it used here. A lock-free
/// stack, pushed by halt, taken whole by Unload.
struct Deferred {
    job: Box<dyn FnOnce() + Send>,
    next: *mut Deferred,
}

static DEFERRED: AtomicPtr<Deferred> = AtomicPtr::new(ptr::null_mut());

/// Runs `job` at Unload, before the miniport deregisters.
pub fn defer_to_unload(job: Box<dyn FnOnce() + Send>) {
    let node = Box::into_raw(Box::new(Deferred {
        job,
        next: ptr::null_mut(),
    }));
    let mut head = DEFERRED.load(Ordering::Acquire);
    loop {
        // SAFETY: `node` came from Box::into_raw above and is not shared
        // until the exchange below publishes it.
        unsafe { (*node).next = head };
        match DEFERRED.compare_exchange_weak(head, node, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(current) => head = current,
        }
    }
}

/// Runs every deferred job (each waits for its thread: unbounded, but at
/// Unload no watchdog runs and the image must outlive the thread).
pub(crate) fn run_deferred() {
    let mut node = DEFERRED.swap(ptr::null_mut(), Ordering::AcqRel);
    while !node.is_null() {
        // SAFETY: every node on the stack came from Box::into_raw in
        // defer_to_unload, and the swap above made this thread its owner.
        let deferred = unsafe { Box::from_raw(node) };
        node = deferred.next;
        (deferred.job)();
    }
}
