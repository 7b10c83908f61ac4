//! The receive path: the receive slots (a buffer, an MDL over it and an NBL
//! for each, allocated at initialize and freed with the adapter), the
//! packet filter, copying a frame the thread polled into a free slot,
//! indicating filled slots to NDIS as one chain, and taking them back in
//! MiniportReturnNetBufferLists.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use super::stats::kind_index;
use super::{AdapterState, KernelPtr, PathState};
use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::os::SpinLock;

/// Most receive NBLs NDIS may hold at once.
pub const RX_SLOTS: usize = 64;
/// Most receive NBLs indicated in one call (well under [`RX_SLOTS`], so
/// that most slots are always indicated and can be returned).
pub const RX_BATCH: usize = 16;
/// Longest wait for the stack to return a receive NBL before a frame is
/// dropped for want of one.
const RX_SLOT_WAIT_US: u64 = 100_000;
/// Most multicast addresses the adapter filters on.
pub const MULTICAST_LIST_MAX: usize = 32;

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

/// What the receive lock guards: the free slots and who holds the rest.
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
    pub nbl: KernelPtr<NET_BUFFER_LIST>,
    pub mdl: KernelPtr<MDL>,
    pub buf: KernelPtr<u8>,
    pub cap: usize,
}

/// The adapter's receive slots and the NBL pool their NBLs come from,
/// freed together when dropped.
///
/// Dropped only with the adapter's state, which is dropped only once the
/// datapath thread has ended and NDIS holds none of the slots: halt runs
/// after a completed pause, and a failed initialize indicated nothing.
pub struct RxSlots<P: Platform> {
    slots: Vec<RxSlot>,
    pool: KernelPtr<c_void>,
    _platform: PhantomData<fn() -> P>,
}

impl<P: Platform> RxSlots<P> {
    /// Allocates the NBL pool and `count` slots of `cap` bytes: a buffer,
    /// an MDL over it and an NBL with one NET_BUFFER from the pool for
    /// each. On failure, what was made is freed (by drop) and the error
    /// says what ran out.
    ///
    /// # Safety
    /// `miniport` is this adapter's valid NDIS handle.
    pub unsafe fn allocate(
        miniport: NDIS_HANDLE,
        count: usize,
        cap: usize,
    ) -> Result<Self, &'static str> {
        let pool_params = NET_BUFFER_LIST_POOL_PARAMETERS {
            Header: NDIS_OBJECT_HEADER {
                Type: NDIS_OBJECT_TYPE_DEFAULT,
                Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                Size: NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            },
            ProtocolId: 0,
            fAllocateNetBuffer: 1,
            ContextSize: 0,
            PoolTag: u32::from_le_bytes(*b"vnic"),
            DataSize: 0,
        };
        // SAFETY: `miniport` is valid (contract); the parameters live
        // across the call.
        let pool = unsafe { P::allocate_nbl_pool(miniport, &pool_params) };
        if pool.is_null() {
            return Err("out of memory for the receive NBL pool");
        }
        let mut made = Self {
            slots: Vec::new(),
            pool: KernelPtr(pool),
            _platform: PhantomData,
        };
        const NO_BUFFERS: &str = "out of memory for receive buffers";
        made.slots
            .try_reserve_exact(count)
            .map_err(|_| NO_BUFFERS)?;
        for _ in 0..count {
            // Fallibly: `cap` follows the configured MTU.
            let mut buffer = Vec::new();
            buffer.try_reserve_exact(cap).map_err(|_| NO_BUFFERS)?;
            buffer.resize(cap, 0u8);
            let buf = Box::into_raw(buffer.into_boxed_slice()).cast::<u8>();
            // SAFETY: `buf` is `cap` bytes of nonpaged memory owned by the
            // slot; `miniport` is valid.
            let mdl = unsafe { P::allocate_mdl(miniport, buf.cast(), cap as u32) };
            let nbl = if mdl.is_null() {
                ptr::null_mut()
            } else {
                // SAFETY: the pool is valid and `mdl` describes the slot buffer.
                unsafe { P::allocate_nb_and_nbl(pool, mdl, 0, 0) }
            };
            // Kept even when half made, so that drop frees what it holds.
            made.slots.push(RxSlot {
                nbl: KernelPtr(nbl),
                mdl: KernelPtr(mdl),
                buf: KernelPtr(buf),
                cap,
            });
            if nbl.is_null() {
                return Err(NO_BUFFERS);
            }
        }
        Ok(made)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, index: u16) -> Option<&RxSlot> {
        self.slots.get(usize::from(index))
    }
}

impl<P: Platform> Drop for RxSlots<P> {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            if !slot.nbl.0.is_null() {
                // SAFETY: allocated from the pool by `allocate`; NDIS holds
                // no slot when the slots are dropped (see the type's doc).
                unsafe { P::free_nbl(slot.nbl.0) };
            }
            if !slot.mdl.0.is_null() {
                // SAFETY: allocated by `allocate`; no NBL refers to it now.
                unsafe { P::free_mdl(slot.mdl.0) };
            }
            let buffer = ptr::slice_from_raw_parts_mut(slot.buf.0, slot.cap);
            // SAFETY: `buf` came from Box::into_raw of a `cap`-byte slice,
            // and nothing refers to it now.
            drop(unsafe { Box::from_raw(buffer) });
        }
        // SAFETY: allocated by `allocate`; every NBL from it is freed above.
        unsafe { P::free_nbl_pool(self.pool.0) };
    }
}

/// The adapter state's receive section.
pub struct ReceiveSection<P: Platform> {
    pub rx: SpinLock<P, RxSide>,
    pub filter: SpinLock<P, RxFilter>,
    /// Bumped on every filter change, so the thread's copy follows at once.
    pub filter_version: AtomicU32,
    pub lookahead: AtomicU32,
    pub slots: RxSlots<P>,
    /// Signalled whenever NDIS returns receive NBLs.
    pub returned: P::Event,
}

impl<P: Platform> ReceiveSection<P> {
    /// A paused receive section with every slot free.
    pub fn new(slots: RxSlots<P>, lookahead: u32, returned: P::Event) -> Self {
        let free = (0..slots.len() as u16).rev().collect();
        Self {
            rx: SpinLock::new(RxSide {
                state: PathState::Paused,
                free,
                outstanding: 0,
            }),
            filter: SpinLock::new(RxFilter::default()),
            filter_version: AtomicU32::new(0),
            lookahead: AtomicU32::new(lookahead),
            slots,
            returned,
        }
    }

    /// No new indications; true when NDIS holds no slot (the pause is
    /// complete), false when the last return completes it.
    pub fn pause(&self) -> bool {
        let mut rx = self.rx.lock();
        if rx.outstanding == 0 {
            rx.state = PathState::Paused;
            true
        } else {
            rx.state = PathState::Pausing;
            false
        }
    }

    /// Changes the filter the thread delivers by, at once.
    pub fn set_filter(&self, change: impl FnOnce(&mut RxFilter)) {
        change(&mut self.filter.lock());
        self.filter_version.fetch_add(1, Ordering::AcqRel);
    }
}

impl<P: Platform> AdapterState<P> {
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
            let slot = unsafe { (*nbl).MiniportReserved.0[0] } as usize;
            // SAFETY: as above.
            let next = unsafe { (*nbl).Next };
            let mut rx = self.receive.rx.lock();
            if slot < self.receive.slots.len() {
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
        P::event_set(&self.receive.returned);
        if pause_done {
            // SAFETY: the adapter handle is valid until halt, and NDIS holds
            // no receive NBL now.
            unsafe { P::pause_complete(self.handle.0) };
        }
    }

    /// Copies a received frame into a free slot when the stack may receive it;
    /// returns the slot to indicate.
    pub(super) fn take_slot(&self, frame: &[u8], filter: &RxFilter) -> Option<(u16, RxKind)> {
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
                let mut rx = self.receive.rx.lock();
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
            P::event_wait(&self.receive.returned, deadline - now);
        };
        let Some(index) = slot else {
            self.stats.rx_discards.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let rx_slot = self.receive.slots.get(index)?;
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
    pub(super) fn indicate(&self, filled: &[(u16, RxKind, usize)]) {
        if filled.is_empty() {
            return;
        }
        if self.stop.load(Ordering::Acquire) {
            // Halting: NDIS takes nothing more from this adapter (halt may
            // already have returned); the slots go back to the free list.
            let mut rx = self.receive.rx.lock();
            rx.free.extend(filled.iter().map(|&(index, _, _)| index));
            rx.outstanding = rx.outstanding.saturating_sub(filled.len() as u32);
            return;
        }
        let mut head: *mut NET_BUFFER_LIST = ptr::null_mut();
        let mut count = 0u32;
        for &(index, kind, len) in filled.iter().rev() {
            let Some(slot) = self.receive.slots.get(index) else {
                continue;
            };
            let nbl = slot.nbl.0;
            // SAFETY: the thread owns the filled slots until they are indicated.
            unsafe { (*nbl).Next = head };
            head = nbl;
            count += 1;
            let k = kind_index(kind);
            self.stats.rx_frames[k].fetch_add(1, Ordering::Relaxed);
            self.stats.rx_bytes[k].fetch_add(len as u64, Ordering::Relaxed);
        }
        // SAFETY: `head` chains `count` prepared NBLs of this adapter;
        // ownership passes to NDIS until it returns them. The thread runs at
        // PASSIVE_LEVEL, so no dispatch-level flag.
        unsafe { P::indicate_receive(self.handle.0, head, 0, count, 0) };
    }
}

/// Points a slot's NBL at the first `len` bytes of its buffer.
///
/// # Safety
/// `slot` is one of this adapter's [`RxSlots`] and the caller owns it (took
/// it off the free list), so nothing else touches its NBL, NET_BUFFER or
/// MDL until it is indicated.
unsafe fn prepare_rx_nbl(slot: &RxSlot, len: usize, handle: NDIS_HANDLE, index: u16) {
    let nbl = slot.nbl.0;
    let mdl = slot.mdl.0;
    // SAFETY: the slot's NBL and its single NET_BUFFER were allocated from
    // the adapter's pool at init over the slot's MDL, and the caller owns
    // them (contract; the same holds for every access below).
    let nb = unsafe { (*nbl).FirstNetBuffer };
    // SAFETY: as above.
    unsafe { (*mdl).ByteCount = len as u32 };
    // SAFETY: as above.
    unsafe { (*nb).DataLength = len };
    // SAFETY: as above.
    unsafe { (*nb).DataOffset = 0 };
    // SAFETY: as above.
    unsafe { (*nb).CurrentMdl = mdl };
    // SAFETY: as above.
    unsafe { (*nb).CurrentMdlOffset = 0 };
    // SAFETY: as above.
    unsafe { (*nbl).Next = ptr::null_mut() };
    // SAFETY: as above.
    unsafe { (*nbl).SourceHandle = handle };
    // SAFETY: as above.
    unsafe { (*nbl).Status = NDIS_STATUS_SUCCESS };
    // SAFETY: as above; the index comes back in MiniportReturnNetBufferLists.
    unsafe { (*nbl).MiniportReserved.0[0] = usize::from(index) as *mut c_void };
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
}
