//! The send path: MiniportSendNetBufferLists copies each NET_BUFFER's bytes
//! (gathered over its MDL chain) into the send queue and completes the NBLs
//! at once, so no send is ever pending; the datapath thread packs the queue
//! into blocks.

use core::sync::atomic::Ordering;

use volnic_core::{QueueError, SendQueue};

use super::stats::kind_index;
use super::{AdapterState, PathState, RxKind};
use crate::ndis::*;
use crate::ndis_api::Platform;
use crate::os::SpinLock;

/// Most MDLs one sent NET_BUFFER may span.
pub const MAX_SEND_PARTS: usize = 64;

/// What the send lock guards: the queue and the send state.
pub struct TxSide {
    pub queue: SendQueue,
    pub state: PathState,
}

/// The adapter state's send section.
pub struct SendSection<P: Platform> {
    pub tx: SpinLock<P, TxSide>,
}

impl<P: Platform> SendSection<P> {
    /// A paused send section around `queue`.
    pub fn new(queue: SendQueue) -> Self {
        Self {
            tx: SpinLock::new(TxSide {
                queue,
                state: PathState::Paused,
            }),
        }
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

impl<P: Platform> AdapterState<P> {
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
            let status = unsafe { self.send_one(nbl, &mut wake) };
            // SAFETY: as above.
            unsafe { (*nbl).Status = status };
            // SAFETY: as above.
            nbl = unsafe { (*nbl).Next };
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
    ///
    /// # Safety
    /// The caller owns `nbl`, an NBL NDIS handed to the send path.
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
                let mut tx = self.send.tx.lock();
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
    let mut mdl = unsafe { (*nb).CurrentMdl };
    // SAFETY: as above.
    let mut offset = unsafe { (*nb).CurrentMdlOffset } as usize;
    // SAFETY: as above.
    let mut remaining = unsafe { (*nb).DataLength } as u32 as usize;
    let mut count = 0;
    while remaining > 0 {
        if mdl.is_null() || count == MAX_SEND_PARTS {
            return Err(NDIS_STATUS_INVALID_DATA);
        }
        // SAFETY: `mdl` is on the NET_BUFFER's chain (valid per the caller).
        let va = unsafe { P::mdl_system_address(mdl) };
        // SAFETY: as above.
        let byte_count = unsafe { (*mdl).ByteCount } as usize;
        // SAFETY: as above.
        let next = unsafe { (*mdl).Next };
        if va.is_null() {
            return Err(NDIS_STATUS_RESOURCES);
        }
        if offset > byte_count {
            return Err(NDIS_STATUS_INVALID_DATA);
        }
        let take = (byte_count - offset).min(remaining);
        if take > 0 {
            // SAFETY: the MDL maps `byte_count` bytes at `va`, and
            // `offset + take <= byte_count`, so the range is inside it.
            let start = unsafe { va.add(offset) };
            // SAFETY: as above: `take` mapped bytes from `start`, which NDIS
            // keeps mapped while the caller uses the slices.
            parts[count] = unsafe { core::slice::from_raw_parts(start, take) };
            count += 1;
        }
        remaining -= take;
        offset = 0;
        mdl = next;
    }
    Ok(count)
}
