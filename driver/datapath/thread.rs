//! The datapath system thread's loop: the engine's loop
//! (`volnic_core::datapath`) with the miniport as its host. Frames go up as
//! NBL chains of receive slots, the link state as an NDIS status
//! indication, everything else to the trace. The thread runs at
//! PASSIVE_LEVEL, the only level volume I/O may be done at.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use volnic_core::datapath::{Datapath, Event, Host};
use volnic_core::{Link, PollReport};

use super::receive::{RxFilter, RxKind, RX_BATCH, RX_SLOTS};
use super::trace::trace_event;
use super::AdapterState;
use crate::ndis_api::Platform;

/// The datapath thread's own state: the open link and its two volumes.
pub struct OpenLink<P: Platform> {
    pub link: Link,
    pub send: P::File,
    pub recv: P::File,
}

/// The miniport's side of the datapath loop.
struct ThreadHost<'a, P: Platform> {
    state: &'a AdapterState<P>,
    /// Slots filled by the current poll, not yet indicated.
    filled: Vec<(u16, RxKind, usize)>,
    filter_version: u32,
    filter: RxFilter,
}

impl<'a, P: Platform> ThreadHost<'a, P> {
    fn new(state: &'a AdapterState<P>) -> Self {
        Self {
            state,
            filled: Vec::with_capacity(RX_SLOTS),
            filter_version: state.receive.filter_version.load(Ordering::Acquire),
            filter: state.receive.filter.lock().clone(),
        }
    }
}

impl<P: Platform> Host for ThreadHost<'_, P> {
    fn now_us(&self) -> u64 {
        P::monotonic_us()
    }

    fn stop_requested(&self) -> bool {
        self.state.stop.load(Ordering::Acquire)
    }

    fn pack(&mut self, link: &mut Link, now_us: u64) -> bool {
        let mut tx = self.state.send.tx.lock();
        link.pack(&mut tx.queue, now_us);
        !tx.queue.is_empty()
    }

    fn deliver(&mut self, frame: &[u8]) {
        // A frame that arrives after an OID set completes meets the new
        // filter, even in the middle of a poll.
        let receive = &self.state.receive;
        let version = receive.filter_version.load(Ordering::Acquire);
        if version != self.filter_version {
            self.filter_version = version;
            self.filter = receive.filter.lock().clone();
        }
        if let Some((index, kind)) = self.state.take_slot(frame, &self.filter) {
            self.filled.push((index, kind, frame.len()));
            // Indicate as we go: one poll may deliver more frames than there
            // are slots, and only indicated slots can come back while
            // take_slot waits for one.
            if self.filled.len() >= RX_BATCH {
                self.delivered();
            }
        }
    }

    fn delivered(&mut self) {
        self.state.indicate(&self.filled);
        self.filled.clear();
    }

    fn link_changed(&mut self, up: bool) {
        self.state.link_up.store(up, Ordering::Release);
        self.state.indicate_link(up);
    }

    fn event(&mut self, event: Event<'_>) {
        if let Event::WriteFailed(_) = event {
            self.state.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
        }
        trace_event::<P>(&event);
    }

    fn wait(&mut self, wait_us: u64, _report: &PollReport) {
        // The wake event stays set once a frame is queued, so a frame queued
        // since the pack ends this wait at once.
        P::event_wait(&self.state.wake, wait_us);
    }
}

/// Body of the datapath thread after the link is open: the engine's loop
/// until halt, which drains the queue and writes the shutting-down record;
/// then the volumes are closed. A link that stops by itself (its send
/// volume taken over, say) stays disconnected, with no more volume I/O,
/// until the adapter is halted.
pub fn run<P: Platform>(state: Arc<AdapterState<P>>, mut open: OpenLink<P>) {
    let mut host = ThreadHost::new(&state);
    // The state NDIS was told last (initialize reports the first poll's,
    // or disconnected when it stopped waiting for the storage).
    let shown_up = state.link_up.load(Ordering::Acquire);
    let mut datapath = Datapath::new(state.info.poll_interval_us, shown_up);
    let stopped_itself = loop {
        match datapath.step(&mut host, &mut open.link, &mut open.send, &mut open.recv) {
            Ok(true) => {}
            Ok(false) => break false,
            Err(_) => break true,
        }
    };
    if stopped_itself {
        while !state.stop.load(Ordering::Acquire) {
            P::event_wait(&state.wake, STOPPED_WAIT_US);
        }
    } else {
        datapath.finish(&mut host, &mut open.link, &mut open.send, &mut open.recv);
    }
    // Best effort: the record is written through already.
    let _ = P::flush_volume(&mut open.send);
    state.link_up.store(false, Ordering::Release);
    drop(open);
    P::event_set(&state.stopped);
}

/// Longest wait of a stopped link's thread between two looks at the halt
/// flag (halt also sets the wake event).
const STOPPED_WAIT_US: u64 = 1_000_000;
