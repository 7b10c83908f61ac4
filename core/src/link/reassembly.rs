//! A block's frame stream, read back into frames.
//!
//! A writer packs frames into a block's payload one after another, each
//! behind a two-byte length prefix, and lets the last one run on into the
//! next block when this one is full (docs/FORMAT.md, "Payload: the frame
//! stream"). This file holds what the reader half needs to undo that: the
//! check that a payload is a stream a writer could have produced, and
//! [`Reassembly`], which walks each delivered payload in sequence order and
//! keeps the half of a frame that continues in the next block. It lives
//! apart from the reader so the frame layout is read in one place, and so
//! the half-frame buffer belongs to the one stream it is being built from.

use alloc::vec::Vec;

use crate::format::{FRAME_PREFIX_LEN, NO_FRAME_START};
use crate::stats::Counters;

/// A frame spanning blocks, as far as it has arrived.
#[derive(Debug)]
pub(super) struct Reassembly {
    /// The frame's bytes so far.
    buf: Vec<u8>,
    /// Bytes of the frame still to come from the next block.
    want: usize,
    /// Sequence number of the last block that contributed.
    seq: u64,
    /// A frame is under way (`buf`, `want` and `seq` describe it).
    active: bool,
}

impl Reassembly {
    /// No frame under way. The buffer grows with the first spanning frame.
    pub(super) fn new() -> Self {
        Reassembly {
            buf: Vec::new(),
            want: 0,
            seq: 0,
            active: false,
        }
    }

    /// Gives up the frame under way, if any (a block it needed is lost, or
    /// the stream is followed afresh). Returns true when there was one.
    pub(super) fn abandon(&mut self) -> bool {
        let was_active = self.active;
        self.active = false;
        self.buf.clear();
        self.want = 0;
        was_active
    }

    /// Walks the payload of block `seq`: continues a spanning frame,
    /// delivers whole frames to `sink`, starts the next spanning frame.
    /// Returns frames delivered.
    pub(super) fn deliver(
        &mut self,
        payload: &[u8],
        first_frame: u32,
        seq: u64,
        counters: &mut Counters,
        sink: &mut dyn FnMut(&[u8]),
    ) -> usize {
        let mut delivered = 0;
        let valid = payload.len();
        let cont_len = if first_frame == NO_FRAME_START {
            valid
        } else {
            first_frame as usize
        };
        let mut pos = match first_frame {
            NO_FRAME_START => valid,
            start => start as usize,
        };
        if self.active {
            let consecutive = self.seq + 1 == seq;
            if consecutive && cont_len == self.want.min(valid) {
                self.buf.extend_from_slice(&payload[..cont_len]);
                self.want -= cont_len;
                self.seq = seq;
                if self.want > 0 {
                    return delivered; // the frame goes on into the next block
                }
                self.active = false;
                counters.frames_received += 1;
                counters.bytes_received += self.buf.len() as u64;
                sink(&self.buf);
                delivered += 1;
                self.buf.clear();
            } else {
                // A block in between was lost, or this one does not continue
                // our half-frame as announced: the half-frame is dropped.
                counters.drops_partial_frames += 1;
                self.active = false;
                self.buf.clear();
            }
        }
        while pos + FRAME_PREFIX_LEN <= valid {
            let len = usize::from(u16::from_le_bytes([payload[pos], payload[pos + 1]]));
            pos += FRAME_PREFIX_LEN;
            if len == 0 {
                break; // padding: nothing more in this block
            }
            if pos + len <= valid {
                counters.frames_received += 1;
                counters.bytes_received += len as u64;
                sink(&payload[pos..pos + len]);
                delivered += 1;
                pos += len;
            } else {
                self.buf.clear();
                self.buf.extend_from_slice(&payload[pos..valid]);
                self.want = len - (valid - pos);
                self.seq = seq;
                self.active = true;
                break;
            }
        }
        delivered
    }
}

/// True when a frame stream is one a writer produces (the block's CRC, and
/// MAC when authenticated, already hold): every length prefix from
/// `first_frame` on is non-zero, and a frame runs past `valid_bytes` only
/// in a full block (a writer continues a frame in the next block only
/// when this one is full).
pub(super) fn payload_consistent(payload: &[u8], first_frame: u32, capacity: usize) -> bool {
    if first_frame == NO_FRAME_START {
        return true;
    }
    let valid = payload.len();
    let mut pos = first_frame as usize;
    while pos + FRAME_PREFIX_LEN <= valid {
        let len = usize::from(u16::from_le_bytes([payload[pos], payload[pos + 1]]));
        pos += FRAME_PREFIX_LEN;
        if len == 0 {
            return false;
        }
        if pos + len > valid {
            return valid == capacity;
        }
        pos += len;
    }
    // A writer ends a block where its last frame ends (fewer than two
    // bytes left: the block ends short, a prefix is never split).
    pos == valid
}
