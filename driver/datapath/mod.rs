//! The data path, split the way NDIS miniports split theirs: the send path
//! (NBL → send queue, [`send`]), the receive path (receive volume → NBL
//! indications, [`receive`]), the datapath system thread that runs the
//! link engine between them ([`thread`]), the statistics ([`stats`]) and
//! the trace ([`trace`]). This file holds the adapter's state they share,
//! [`AdapterState`], and the link indication.
//!
//! Ownership and locking:
//! - `send.tx` (spin lock) guards the send queue and the send state; the
//!   send path copies frames in and the thread packs them out
//!   (`Link::pack`, memory only). Volume I/O (`Link::poll`) runs on the
//!   thread, unlocked.
//! - `receive.rx` (spin lock) guards the free receive slots and the count
//!   of slots NDIS holds. A slot (buffer + MDL + NBL, all allocated at
//!   init, [`RxSlots`]) belongs to exactly one of: the free list, the
//!   thread (filling it), NDIS (indicated, until
//!   MiniportReturnNetBufferLists).
//! - Pause completes only when NDIS holds no slot, so nothing is indicated
//!   after the pause completes.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::ndis::*;
use crate::ndis_api::Platform;

pub mod receive;
pub mod send;
pub mod stats;
pub mod thread;
pub mod trace;

pub use receive::{ReceiveSection, RxFilter, RxKind, RxSide, RxSlot, RxSlots};
pub use receive::{MULTICAST_LIST_MAX, RX_BATCH, RX_SLOTS};
pub use send::{frame_kind, gather_parts, SendSection, TxSide, MAX_SEND_PARTS};
pub use stats::{Stats, StatsSnapshot};
pub use thread::{run, OpenLink};
pub use trace::trace_line;

/// The send and receive sides' state, following the miniport's NDIS state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathState {
    /// After initialize and after a completed pause.
    Paused,
    Running,
    /// Pause requested; waiting for NDIS to return indicated NBLs.
    Pausing,
    /// Halt started: the path is gone for good.
    Halting,
}

impl PathState {
    /// Status a send is failed with in this state.
    pub fn send_refusal(self) -> Option<NDIS_STATUS> {
        match self {
            PathState::Running => None,
            PathState::Paused | PathState::Pausing => Some(NDIS_STATUS_PAUSED),
            PathState::Halting => Some(NDIS_STATUS_MEDIA_DISCONNECTED),
        }
    }
}

/// A pointer to kernel memory or an NDIS object the adapter owns (a
/// handle, a receive NBL, MDL or buffer), movable between the NDIS
/// callbacks and the datapath thread.
#[derive(Clone, Copy, Debug)]
pub struct KernelPtr<T>(pub *mut T);
// SAFETY: the pointee is owned by the adapter and handed between threads
// only under the ownership rules documented at the top of this module.
unsafe impl<T> Send for KernelPtr<T> {}
// SAFETY: as above; shared references never dereference the pointer
// without owning the slot.
unsafe impl<T> Sync for KernelPtr<T> {}

/// Immutable facts of an adapter, fixed at initialization.
#[derive(Clone, Debug)]
pub struct AdapterInfo {
    pub mac: [u8; 6],
    pub permanent_mac: [u8; 6],
    pub mtu: u32,
    pub max_frame_len: usize,
    pub link_speed_bps: u64,
    pub send_queue_bytes: usize,
    pub block_size: u32,
    pub poll_interval_us: u64,
}

/// The adapter's state, shared by the NDIS callbacks and the datapath
/// thread: its fixed facts, a send section, a receive section and the
/// statistics, and the signals between the callbacks and the thread.
pub struct AdapterState<P: Platform> {
    pub handle: KernelPtr<c_void>,
    pub info: AdapterInfo,
    pub send: SendSection<P>,
    pub receive: ReceiveSection<P>,
    pub stats: Stats,
    /// Set when a frame is queued, a filter changes or halt begins: ends
    /// the thread's wait.
    pub wake: P::Event,
    /// Set by the thread as it ends.
    pub stopped: P::Event,
    /// Halt (or shutdown) has begun: the thread drains and ends, and calls
    /// NDIS no more.
    pub stop: AtomicBool,
    /// The connect state NDIS was told last.
    pub link_up: AtomicBool,
}

impl<P: Platform> AdapterState<P> {
    /// A paused adapter's state around its send queue and receive slots.
    pub fn new(
        handle: NDIS_HANDLE,
        info: AdapterInfo,
        queue: volnic_core::SendQueue,
        slots: RxSlots<P>,
        events: AdapterEvents<P>,
    ) -> Self {
        let lookahead = info.mtu;
        Self {
            handle: KernelPtr(handle),
            info,
            send: SendSection::new(queue),
            receive: ReceiveSection::new(slots, lookahead, events.returned),
            stats: Stats::default(),
            wake: events.wake,
            stopped: events.stopped,
            stop: AtomicBool::new(false),
            link_up: AtomicBool::new(false),
        }
    }

    /// Pause: new sends fail, no new receive indications; returns true when
    /// the pause is complete now, false when it completes on the last return.
    pub fn pause(&self) -> bool {
        self.send.tx.lock().state = PathState::Paused;
        self.receive.pause()
    }

    pub fn restart(&self) {
        self.send.tx.lock().state = PathState::Running;
        self.receive.rx.lock().state = PathState::Running;
    }

    /// Halt (or shutdown) has begun: sends are refused, nothing more is
    /// indicated, and the thread is told to drain and end.
    pub fn begin_halt(&self) {
        self.send.tx.lock().state = PathState::Halting;
        self.receive.rx.lock().state = PathState::Halting;
        self.stop.store(true, Ordering::Release);
        P::event_set(&self.wake);
    }

    /// Reports the link state to NDIS.
    pub fn indicate_link(&self, up: bool) {
        if self.stop.load(Ordering::Acquire) {
            return; // halting: see `indicate`
        }
        let mut state = link_state(up, self.info.link_speed_bps);
        let indication = NDIS_STATUS_INDICATION {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_STATUS_INDICATION,
                Revision: NDIS_STATUS_INDICATION_REVISION_1,
                Size: NDIS_SIZEOF_STATUS_INDICATION_REVISION_1,
            },
            SourceHandle: self.handle.0,
            PortNumber: 0,
            StatusCode: NDIS_STATUS_LINK_STATE,
            Flags: 0,
            DestinationHandle: ptr::null_mut(),
            RequestId: ptr::null_mut(),
            StatusBuffer: (&mut state as *mut NDIS_LINK_STATE).cast(),
            StatusBufferSize: core::mem::size_of::<NDIS_LINK_STATE>() as u32,
            Guid: [0; 16],
            NdisReserved: [ptr::null_mut(); 4],
        };
        // SAFETY: the indication and its buffer live across the call, which
        // is all NDIS requires of them.
        unsafe { P::indicate_status(self.handle.0, &indication) };
    }
}

/// The events an adapter's state signals with.
pub struct AdapterEvents<P: Platform> {
    pub wake: P::Event,
    pub stopped: P::Event,
    /// Signalled whenever NDIS returns receive NBLs.
    pub returned: P::Event,
}

/// The NDIS_LINK_STATE of this adapter.
pub fn link_state(up: bool, speed_bps: u64) -> NDIS_LINK_STATE {
    NDIS_LINK_STATE {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NDIS_LINK_STATE_REVISION_1,
            Size: NDIS_SIZEOF_LINK_STATE_REVISION_1,
        },
        MediaConnectState: if up {
            MediaConnectStateConnected
        } else {
            MediaConnectStateDisconnected
        },
        MediaDuplexState: MediaDuplexStateFull,
        XmitLinkSpeed: speed_bps,
        RcvLinkSpeed: speed_bps,
        PauseFunctions: NdisPauseFunctionsUnsupported,
        AutoNegotiationFlags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_refuse_sends() {
        assert_eq!(PathState::Running.send_refusal(), None);
        assert_eq!(PathState::Paused.send_refusal(), Some(NDIS_STATUS_PAUSED));
        assert_eq!(
            PathState::Halting.send_refusal(),
            Some(NDIS_STATUS_MEDIA_DISCONNECTED)
        );
    }
}
