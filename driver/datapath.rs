//! The data path: the send path (NBL → send queue), the receive path
//! (receive volume → NBL indications) and the datapath system thread that
//! runs the link engine between them.
//!
//! Ownership and locking:
//! - `tx` (spin lock) guards the send queue and the send-side state; the send
//!   path copies frames in and the thread packs them out (`Link::pack`,
//!   memory only). Volume I/O (`Link::poll`) runs on the thread, unlocked.
//! - `rx` (spin lock) guards the free receive slots and the count of slots
//!   NDIS holds. A slot (buffer + MDL + NBL, all allocated at init) belongs
//!   to exactly one of: the free list, the thread (filling it), NDIS
//!   (indicated, until MiniportReturnNetBufferLists).
//! - Pause completes only when NDIS holds no slot, so nothing is indicated
//!   after the pause completes.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use volnic_core::datapath::{Datapath, Event, Host};
use volnic_core::{Link, PollReport, QueueError, SendQueue};

use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::os::SpinLock;

/// Most receive NBLs NDIS may hold at once.
pub const RX_SLOTS: usize = 64;
/// Most receive NBLs indicated in one call (well under [`RX_SLOTS`], so
/// that most slots are always indicated and can be returned).
pub const RX_BATCH: usize = 16;
/// Most MDLs one sent NET_BUFFER may span.
pub const MAX_SEND_PARTS: usize = 64;
/// Longest wait for the stack to return a receive NBL before a frame is
/// dropped for want of one.
const RX_SLOT_WAIT_US: u64 = 100_000;
/// Most multicast addresses the adapter filters on.
pub const MULTICAST_LIST_MAX: usize = 32;

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

/// A raw NDIS pointer owned by the adapter, movable between threads.
#[derive(Clone, Copy, Debug)]
pub struct Raw<T>(pub *mut T);
// SAFETY: the pointee is owned by the adapter and handed between threads
// only under the ownership rules documented at the top of this module.
unsafe impl<T> Send for Raw<T> {}
// SAFETY: as above; shared references never dereference the pointer
// without owning the slot.
unsafe impl<T> Sync for Raw<T> {}

/// What to do with one received frame, by its destination address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxKind {
    Directed,
    Multicast,
    Broadcast,
}

/// The packet filter and multicast list NDIS set (safe policy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxFilter {
    pub packet_filter: u32,
    pub multicast: Vec<[u8; 6]>,
}

impl RxFilter {
    /// Which kind the frame is and whether the filter passes it to the stack.
    pub fn classify(&self, mac: &[u8; 6], frame: &[u8]) -> (Option<RxKind>, bool) {
        if frame.len() < 14 {
            return (None, false);
        }
        let mut dest = [0u8; 6];
        dest.copy_from_slice(&frame[..6]);
        let f = self.packet_filter;
        let promiscuous = f & NDIS_PACKET_TYPE_PROMISCUOUS != 0;
        let (kind, pass) = if dest == [0xff; 6] {
            (RxKind::Broadcast, f & NDIS_PACKET_TYPE_BROADCAST != 0)
        } else if dest[0] & 1 != 0 {
            let listed = f & NDIS_PACKET_TYPE_MULTICAST != 0 && self.multicast.contains(&dest);
            (
                RxKind::Multicast,
                listed || f & NDIS_PACKET_TYPE_ALL_MULTICAST != 0,
            )
        } else {
            (
                RxKind::Directed,
                f & NDIS_PACKET_TYPE_DIRECTED != 0 && dest == *mac,
            )
        };
        (Some(kind), pass || promiscuous)
    }
}

/// Adapter statistics, updated lock-free.
#[derive(Debug, Default)]
pub struct Stats {
    pub tx_frames: [AtomicU64; 3],
    pub tx_bytes: [AtomicU64; 3],
    pub tx_discards: AtomicU64,
    pub tx_errors: AtomicU64,
    pub rx_frames: [AtomicU64; 3],
    pub rx_bytes: [AtomicU64; 3],
    /// Frames received while paused or with no free receive slot.
    pub rx_discards: AtomicU64,
    pub rx_errors: AtomicU64,
}

fn kind_index(kind: RxKind) -> usize {
    match kind {
        RxKind::Directed => 0,
        RxKind::Multicast => 1,
        RxKind::Broadcast => 2,
    }
}

/// Kind of a frame by its destination address alone (for send statistics).
pub fn frame_kind(frame_start: &[u8]) -> RxKind {
    match frame_start.get(..6) {
        Some([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) => RxKind::Broadcast,
        Some(d) if d[0] & 1 != 0 => RxKind::Multicast,
        _ => RxKind::Directed,
    }
}

pub struct TxSide {
    pub queue: SendQueue,
    pub state: PathState,
}

pub struct RxSide {
    pub state: PathState,
    pub free: Vec<u16>,
    /// Slots NDIS holds (indicated and not yet returned) or the thread is
    /// about to indicate.
    pub outstanding: u32,
}

/// One receive slot: a driver-owned buffer described by an MDL, on a
/// NET_BUFFER_LIST from the adapter's pool.
pub struct RxSlot {
    pub nbl: Raw<NET_BUFFER_LIST>,
    pub mdl: Raw<MDL>,
    pub buf: Raw<u8>,
    pub cap: usize,
}

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

/// State shared by the NDIS callbacks and the datapath thread.
pub struct Shared<P: Platform> {
    pub handle: Raw<c_void>,
    pub info: AdapterInfo,
    pub tx: SpinLock<P, TxSide>,
    pub rx: SpinLock<P, RxSide>,
    pub filter: SpinLock<P, RxFilter>,
    /// Bumped on every filter change, so the thread's copy follows at once.
    pub filter_version: AtomicU32,
    pub lookahead: AtomicU32,
    pub slots: Vec<RxSlot>,
    pub pool: Raw<c_void>,
    pub wake: P::Event,
    pub stopped: P::Event,
    /// Signalled whenever NDIS returns receive NBLs.
    pub returned: P::Event,
    pub stop: AtomicBool,
    pub link_up: AtomicBool,
    pub stats: Stats,
}

impl<P: Platform> Shared<P> {
    /// Copies every NET_BUFFER of every NBL in `chain` into the send queue
    /// and completes the NBLs (copy semantics: nothing stays pending).
    ///
    /// # Safety
    /// `chain` is a valid NBL chain NDIS handed to MiniportSendNetBufferLists.
    pub unsafe fn send(&self, chain: *mut NET_BUFFER_LIST, send_flags: u32) {
        let mut nbl = chain;
        let mut wake = false;
        while !nbl.is_null() {
            // SAFETY: `nbl` is an element of the chain NDIS gave us; it stays
            // ours until completed below.
            let (status, next) = unsafe { (self.send_one(nbl, &mut wake), (*nbl).Next) };
            // SAFETY: as above.
            unsafe { (*nbl).Status = status };
            nbl = next;
        }
        if wake {
            P::event_set(&self.wake);
        }
        let flags = if send_flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL != 0 {
            NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL
        } else {
            0
        };
        // SAFETY: every NBL of the chain has its status set; the chain is
        // handed back to NDIS exactly once, here.
        unsafe { P::send_complete(self.handle.0, chain, flags) };
    }

    /// Queues the NET_BUFFERs of one NBL; returns the NBL's status.
    unsafe fn send_one(&self, nbl: *mut NET_BUFFER_LIST, wake: &mut bool) -> NDIS_STATUS {
        // SAFETY: the caller owns `nbl`.
        let mut nb = unsafe { (*nbl).FirstNetBuffer };
        while !nb.is_null() {
            let mut parts: [&[u8]; MAX_SEND_PARTS] = [&[]; MAX_SEND_PARTS];
            // SAFETY: `nb` belongs to `nbl`, whose data NDIS keeps mapped
            // until the NBL is completed, which happens after this copy.
            let gathered = unsafe { gather_parts::<P>(nb, &mut parts) };
            let count = match gathered {
                Ok(count) => count,
                Err(status) => {
                    self.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
                    return status;
                }
            };
            let parts = &parts[..count];
            let len: usize = parts.iter().map(|p| p.len()).sum();
            let kind = frame_kind(parts.first().copied().unwrap_or(&[]));
            {
                let mut tx = self.tx.lock();
                if let Some(refusal) = tx.state.send_refusal() {
                    return refusal;
                }
                if len > self.info.max_frame_len {
                    drop(tx);
                    self.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
                    return NDIS_STATUS_INVALID_LENGTH;
                }
                match tx.queue.push_parts(parts) {
                    // A full block goes out at once; the first queued frame
                    // starts the flush-delay clock on the thread.
                    Ok(pushed) => *wake |= pushed.block_full || tx.queue.frames() == 1,
                    Err(QueueError::Full) => {
                        drop(tx);
                        self.stats.tx_discards.fetch_add(1, Ordering::Relaxed);
                        return NDIS_STATUS_RESOURCES;
                    }
                    Err(QueueError::BadLength) => {
                        drop(tx);
                        self.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
                        return NDIS_STATUS_INVALID_LENGTH;
                    }
                }
            }
            let k = kind_index(kind);
            self.stats.tx_frames[k].fetch_add(1, Ordering::Relaxed);
            self.stats.tx_bytes[k].fetch_add(len as u64, Ordering::Relaxed);
            // SAFETY: `nb` is valid (see above).
            nb = unsafe { (*nb).Next };
        }
        NDIS_STATUS_SUCCESS
    }

    /// Takes back NBLs NDIS returns; completes a pending pause when the last
    /// one comes home.
    ///
    /// # Safety
    /// `chain` is a chain of this adapter's receive NBLs returned by NDIS.
    pub unsafe fn return_nbls(&self, chain: *mut NET_BUFFER_LIST) {
        let mut nbl = chain;
        let mut pause_done = false;
        while !nbl.is_null() {
            // SAFETY: NDIS returned this NBL: it is ours again, and its
            // MiniportReserved[0] holds the slot index we stored.
            let (slot, next) = unsafe { ((*nbl).MiniportReserved.0[0] as usize, (*nbl).Next) };
            let mut rx = self.rx.lock();
            if slot < self.slots.len() {
                rx.free.push(slot as u16);
                rx.outstanding = rx.outstanding.saturating_sub(1);
            }
            if rx.outstanding == 0 && rx.state == PathState::Pausing {
                rx.state = PathState::Paused;
                pause_done = true;
            }
            drop(rx);
            nbl = next;
        }
        P::event_set(&self.returned);
        if pause_done {
            // SAFETY: the adapter handle is valid until halt, and NDIS holds
            // no receive NBL now.
            unsafe { P::pause_complete(self.handle.0) };
        }
    }

    /// Pause: new sends fail, no new receive indications; returns true when
    /// the pause is complete now, false when it completes on the last return.
    pub fn pause(&self) -> bool {
        self.tx.lock().state = PathState::Paused;
        let mut rx = self.rx.lock();
        if rx.outstanding == 0 {
            rx.state = PathState::Paused;
            true
        } else {
            rx.state = PathState::Pausing;
            false
        }
    }

    pub fn restart(&self) {
        self.tx.lock().state = PathState::Running;
        self.rx.lock().state = PathState::Running;
    }

    /// Copies a received frame into a free slot when the stack may receive it;
    /// returns the slot to indicate.
    fn take_slot(&self, frame: &[u8], filter: &RxFilter) -> Option<(u16, RxKind)> {
        let (kind, pass) = filter.classify(&self.info.mac, frame);
        let kind = match kind {
            Some(kind) => kind,
            None => {
                self.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        if !pass {
            return None;
        }
        if frame.len() > self.info.max_frame_len {
            // Larger than this adapter's MTU allows (the peer is configured
            // with a larger MTU): dropped whole, never truncated.
            self.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // All slots out: the stack is still holding them. Wait (on the
        // datapath thread, at PASSIVE_LEVEL) for returns rather than drop
        // at once; a stack that keeps them longer makes it a drop.
        let deadline = P::monotonic_us().saturating_add(RX_SLOT_WAIT_US);
        let slot = loop {
            let (slot, running) = {
                let mut rx = self.rx.lock();
                if rx.state != PathState::Running {
                    (None, false)
                } else {
                    let slot = rx.free.pop();
                    if slot.is_some() {
                        rx.outstanding += 1;
                    }
                    (slot, true)
                }
            };
            let now = P::monotonic_us();
            if slot.is_some() || !running || now >= deadline || self.stop.load(Ordering::Acquire) {
                break slot;
            }
            P::event_wait(&self.returned, deadline - now);
        };
        let Some(index) = slot else {
            self.stats.rx_discards.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let rx_slot = &self.slots[usize::from(index)];
        let len = frame.len();
        // SAFETY: the slot came off the free list, so this thread owns its
        // buffer exclusively until it is indicated; the buffer holds `cap`
        // (= max_frame_len) bytes and `len <= cap` (checked above).
        unsafe { ptr::copy_nonoverlapping(frame.as_ptr(), rx_slot.buf.0, len) };
        // SAFETY: as above for the slot's MDL and NBL, allocated at init.
        unsafe { prepare_rx_nbl(rx_slot, len, self.handle.0, index) };
        Some((index, kind))
    }

    /// Indicates the filled slots as one NBL chain.
    fn indicate(&self, filled: &[(u16, RxKind, usize)]) {
        if filled.is_empty() {
            return;
        }
        if self.stop.load(Ordering::Acquire) {
            // Halting: NDIS takes nothing more from this adapter (halt may
            // already have returned); the slots go back to the free list.
            let mut rx = self.rx.lock();
            rx.free.extend(filled.iter().map(|&(index, _, _)| index));
            rx.outstanding = rx.outstanding.saturating_sub(filled.len() as u32);
            return;
        }
        let mut head: *mut NET_BUFFER_LIST = ptr::null_mut();
        for &(index, kind, len) in filled.iter().rev() {
            let nbl = self.slots[usize::from(index)].nbl.0;
            // SAFETY: the thread owns the filled slots until they are indicated.
            unsafe { (*nbl).Next = head };
            head = nbl;
            let k = kind_index(kind);
            self.stats.rx_frames[k].fetch_add(1, Ordering::Relaxed);
            self.stats.rx_bytes[k].fetch_add(len as u64, Ordering::Relaxed);
        }
        // SAFETY: `head` chains `filled.len()` prepared NBLs of this adapter;
        // ownership passes to NDIS until it returns them. The thread runs at
        // PASSIVE_LEVEL, so no dispatch-level flag.
        unsafe { P::indicate_receive(self.handle.0, head, 0, filled.len() as u32, 0) };
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

/// Collects the byte ranges of one NET_BUFFER's data (DataOffset /
/// CurrentMdlOffset / DataLength over its MDL chain) into `parts`.
///
/// # Safety
/// `nb` is a valid NET_BUFFER whose MDLs stay mapped while the slices are used.
pub unsafe fn gather_parts<P: Platform>(
    nb: *const NET_BUFFER,
    parts: &mut [&[u8]; MAX_SEND_PARTS],
) -> Result<usize, NDIS_STATUS> {
    // SAFETY: the caller guarantees `nb` is valid.
    let (mut mdl, mut offset, mut remaining) = unsafe {
        (
            (*nb).CurrentMdl,
            (*nb).CurrentMdlOffset as usize,
            (*nb).DataLength as u32 as usize,
        )
    };
    let mut count = 0;
    while remaining > 0 {
        if mdl.is_null() || count == MAX_SEND_PARTS {
            return Err(NDIS_STATUS_INVALID_DATA);
        }
        // SAFETY: `mdl` is on the NET_BUFFER's chain (valid per the caller).
        let (va, byte_count, next) = unsafe {
            (
                P::mdl_system_address(mdl),
                (*mdl).ByteCount as usize,
                (*mdl).Next,
            )
        };
        if va.is_null() {
            return Err(NDIS_STATUS_RESOURCES);
        }
        if offset > byte_count {
            return Err(NDIS_STATUS_INVALID_DATA);
        }
        let take = (byte_count - offset).min(remaining);
        if take > 0 {
            // SAFETY: the MDL maps `byte_count` bytes at `va` and
            // `offset + take <= byte_count`.
            parts[count] = unsafe { core::slice::from_raw_parts(va.add(offset), take) };
            count += 1;
        }
        remaining -= take;
        offset = 0;
        mdl = next;
    }
    Ok(count)
}

/// Points a slot's NBL at the first `len` bytes of its buffer.
///
/// # Safety
/// The caller owns the slot (taken off the free list).
unsafe fn prepare_rx_nbl(slot: &RxSlot, len: usize, handle: NDIS_HANDLE, index: u16) {
    let nbl = slot.nbl.0;
    // SAFETY: the slot's NBL and its single NET_BUFFER were allocated from
    // the adapter's pool at init over the slot's MDL, and the caller owns them.
    unsafe {
        let nb = (*nbl).FirstNetBuffer;
        (*slot.mdl.0).ByteCount = len as u32;
        (*nb).DataLength = len;
        (*nb).DataOffset = 0;
        (*nb).CurrentMdl = slot.mdl.0;
        (*nb).CurrentMdlOffset = 0;
        (*nbl).Next = ptr::null_mut();
        (*nbl).SourceHandle = handle;
        (*nbl).Status = NDIS_STATUS_SUCCESS;
        (*nbl).MiniportReserved.0[0] = usize::from(index) as *mut c_void;
    }
}

/// The datapath thread's own state: the link engine and its two volumes.
pub struct Engine<P: Platform> {
    pub link: Link,
    pub send: P::File,
    pub recv: P::File,
}

/// The miniport's side of the datapath loop (`volnic_core::datapath`):
/// frames go up as NBL chains of receive slots, the link state as an NDIS
/// status indication, everything else to the trace.
struct ThreadHost<'a, P: Platform> {
    shared: &'a Shared<P>,
    /// Slots filled by the current poll, not yet indicated.
    filled: Vec<(u16, RxKind, usize)>,
    filter_version: u32,
    filter: RxFilter,
}

impl<'a, P: Platform> ThreadHost<'a, P> {
    fn new(shared: &'a Shared<P>) -> Self {
        Self {
            shared,
            filled: Vec::with_capacity(RX_SLOTS),
            filter_version: shared.filter_version.load(Ordering::Acquire),
            filter: shared.filter.lock().clone(),
        }
    }
}

impl<P: Platform> Host for ThreadHost<'_, P> {
    fn now_us(&self) -> u64 {
        P::monotonic_us()
    }

    fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn pack(&mut self, link: &mut Link, now_us: u64) -> bool {
        let mut tx = self.shared.tx.lock();
        link.pack(&mut tx.queue, now_us);
        !tx.queue.is_empty()
    }

    fn deliver(&mut self, frame: &[u8]) {
        // A frame that arrives after an OID set completes meets the new
        // filter, even in the middle of a poll.
        let version = self.shared.filter_version.load(Ordering::Acquire);
        if version != self.filter_version {
            self.filter_version = version;
            self.filter = self.shared.filter.lock().clone();
        }
        if let Some((index, kind)) = self.shared.take_slot(frame, &self.filter) {
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
        self.shared.indicate(&self.filled);
        self.filled.clear();
    }

    fn link_changed(&mut self, up: bool) {
        self.shared.link_up.store(up, Ordering::Release);
        self.shared.indicate_link(up);
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::WriteFailed(e) => {
                self.shared.stats.tx_errors.fetch_add(1, Ordering::Relaxed);
                trace_line::<P>(format_args!("volnic: send volume write failed: {e}"));
            }
            // Why the link carries nothing, and a peer that judges liveness
            // by another clock: each traced once when it appears or changes
            // (the Linux endpoint shows the same in `volnic status`).
            Event::DownReasonChanged(Some(reason)) => {
                trace_line::<P>(format_args!("volnic: link down: {reason}"));
            }
            Event::TimeoutMismatchChanged(Some(mismatch)) => {
                trace_line::<P>(format_args!("volnic: {mismatch}"));
            }
            Event::DownReasonChanged(None) | Event::TimeoutMismatchChanged(None) => {}
            Event::Stopped(e) => trace_line::<P>(format_args!("volnic: link stopped: {e}")),
            Event::ShutdownFailed(e) => {
                trace_line::<P>(format_args!("volnic: shutdown record not written: {e}"));
            }
        }
    }

    fn wait(&mut self, wait_us: u64, _report: &PollReport) {
        // The wake event stays set once a frame is queued, so a frame queued
        // since the pack ends this wait at once.
        P::event_wait(&self.shared.wake, wait_us);
    }
}

/// Body of the datapath thread after the link is open: the engine's loop
/// (`volnic_core::datapath`) until halt, which drains the queue and writes
/// the shutting-down record; then the volumes are closed. A link that stops
/// by itself (its send volume taken over, say) stays disconnected, with no
/// more volume I/O, until the adapter is halted.
pub fn run<P: Platform>(shared: Arc<Shared<P>>, mut engine: Engine<P>) {
    let mut host = ThreadHost::new(&shared);
    // The state NDIS was told last (initialize reports the first poll's,
    // or disconnected when it stopped waiting for the storage).
    let shown_up = shared.link_up.load(Ordering::Acquire);
    let mut datapath = Datapath::new(shared.info.poll_interval_us, shown_up);
    let stopped_itself = loop {
        match datapath.step(
            &mut host,
            &mut engine.link,
            &mut engine.send,
            &mut engine.recv,
        ) {
            Ok(true) => {}
            Ok(false) => break false,
            Err(_) => break true,
        }
    };
    if stopped_itself {
        while !shared.stop.load(Ordering::Acquire) {
            P::event_wait(&shared.wake, STOPPED_WAIT_US);
        }
    } else {
        datapath.finish(
            &mut host,
            &mut engine.link,
            &mut engine.send,
            &mut engine.recv,
        );
    }
    // Best effort: the record is written through already.
    let _ = P::flush_volume(&mut engine.send);
    shared.link_up.store(false, Ordering::Release);
    drop(engine);
    P::event_set(&shared.stopped);
}

/// Longest wait of a stopped link's thread between two looks at the halt
/// flag (halt also sets the wake event).
const STOPPED_WAIT_US: u64 = 1_000_000;

/// Formats one trace line without allocating more than the line.
pub fn trace_line<P: Platform>(args: core::fmt::Arguments<'_>) {
    let line = alloc::fmt::format(args);
    P::trace(&line);
}

/// Allocates the receive slots: a buffer, an MDL over it and an NBL with one
/// NET_BUFFER from `pool` for each. On failure frees what it made.
///
/// # Safety
/// `handle` and `pool` are this adapter's valid NDIS handles.
pub unsafe fn allocate_slots<P: Platform>(
    handle: NDIS_HANDLE,
    pool: NDIS_HANDLE,
    count: usize,
    cap: usize,
) -> Option<Vec<RxSlot>> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(count).ok()?;
    for _ in 0..count {
        // Fallibly: `cap` follows the configured MTU.
        let mut buffer = Vec::new();
        if buffer.try_reserve_exact(cap).is_err() {
            // SAFETY: the slots were made here and never handed out.
            unsafe { free_slots::<P>(slots) };
            return None;
        }
        buffer.resize(cap, 0u8);
        let buf = Box::into_raw(buffer.into_boxed_slice()).cast::<u8>();
        // SAFETY: `buf` is `cap` bytes of nonpaged memory owned by the slot.
        let mdl = unsafe { P::allocate_mdl(handle, buf.cast(), cap as u32) };
        let nbl = if mdl.is_null() {
            ptr::null_mut()
        } else {
            // SAFETY: `pool` is valid and `mdl` describes the slot buffer.
            unsafe { P::allocate_nb_and_nbl(pool, mdl, 0, 0) }
        };
        let slot = RxSlot {
            nbl: Raw(nbl),
            mdl: Raw(mdl),
            buf: Raw(buf),
            cap,
        };
        let failed = nbl.is_null();
        slots.push(slot);
        if failed {
            // SAFETY: the slots were made here and never handed out.
            unsafe { free_slots::<P>(slots) };
            return None;
        }
    }
    Some(slots)
}

/// Frees receive slots made by [`allocate_slots`].
///
/// # Safety
/// No slot is held by NDIS.
pub unsafe fn free_slots<P: Platform>(slots: Vec<RxSlot>) {
    for slot in slots {
        if !slot.nbl.0.is_null() {
            // SAFETY: allocated from the pool by allocate_slots, not in use.
            unsafe { P::free_nbl(slot.nbl.0) };
        }
        if !slot.mdl.0.is_null() {
            // SAFETY: allocated by allocate_slots, no NBL refers to it now.
            unsafe { P::free_mdl(slot.mdl.0) };
        }
        // SAFETY: `buf` came from Box::into_raw of a `cap`-byte slice.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(slot.buf.0, slot.cap)) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dest: [u8; 6]) -> Vec<u8> {
        let mut f = alloc::vec![0u8; 60];
        f[..6].copy_from_slice(&dest);
        f
    }

    #[test]
    fn filter_policy() {
        let mac = [2, 0, 0, 0, 0, 1];
        let mut filter = RxFilter::default();
        assert_eq!(
            filter.classify(&mac, &frame(mac)),
            (Some(RxKind::Directed), false)
        );
        filter.packet_filter = NDIS_PACKET_TYPE_DIRECTED;
        assert_eq!(
            filter.classify(&mac, &frame(mac)),
            (Some(RxKind::Directed), true)
        );
        assert!(!filter.classify(&mac, &frame([2, 0, 0, 0, 0, 9])).1);
        assert!(!filter.classify(&mac, &frame([0xff; 6])).1);
        filter.packet_filter |= NDIS_PACKET_TYPE_BROADCAST;
        assert_eq!(
            filter.classify(&mac, &frame([0xff; 6])),
            (Some(RxKind::Broadcast), true)
        );
        let group = [0x01, 0, 0x5e, 0, 0, 1];
        assert!(!filter.classify(&mac, &frame(group)).1);
        filter.packet_filter |= NDIS_PACKET_TYPE_MULTICAST;
        assert!(!filter.classify(&mac, &frame(group)).1);
        filter.multicast.push(group);
        assert_eq!(
            filter.classify(&mac, &frame(group)),
            (Some(RxKind::Multicast), true)
        );
        filter.packet_filter = NDIS_PACKET_TYPE_PROMISCUOUS;
        assert!(filter.classify(&mac, &frame([2, 0, 0, 0, 0, 9])).1);
        assert_eq!(filter.classify(&mac, &[0u8; 10]), (None, false));
    }

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
