//! Packs queued frames into data blocks.
//!
//! The payload of consecutive blocks is one byte stream of frames, each behind
//! a two-byte little-endian length. A frame may span block boundaries; a
//! length prefix never does (a block with fewer than two bytes left is
//! closed). Each block records where the first frame starting in it begins,
//! so a receiver that lost the previous block can resynchronise.
//!
//! Closed blocks are ready at once; the last, partly filled block becomes
//! ready `flush_delay_us` after its first byte arrived.

use alloc::vec::Vec;

use crate::aligned::AlignedBuf;
use crate::format::{DATA_HEADER_LEN, FRAME_PREFIX_LEN, MAX_FRAME_LEN, NO_FRAME_START};
use crate::queue::SendQueue;

/// Bookkeeping of one pending block.
#[derive(Clone, Copy, Debug, Default)]
pub struct PendingBlock {
    pub valid_bytes: u32,
    pub first_frame: u32,
    pub frames: u32,
    pub frame_bytes: u64,
}

/// A batch of up to `max_blocks` pending blocks in one aligned buffer, so
/// consecutive ready blocks go to the volume in a single write.
#[derive(Debug)]
pub struct Packer {
    block_size: usize,
    payload_cap: usize,
    max_blocks: usize,
    batch: AlignedBuf,
    blocks: Vec<PendingBlock>,
    /// The last block in `blocks` still accepts bytes.
    last_open: bool,
    /// When the open block received its first byte.
    open_since_us: u64,
    flush_delay_us: u64,
}

impl Packer {
    pub fn new(
        block_size: usize,
        payload_cap: usize,
        max_blocks: usize,
        flush_delay_us: u64,
    ) -> Self {
        let max_blocks = max_blocks.max(1);
        Self {
            block_size,
            payload_cap,
            max_blocks,
            batch: AlignedBuf::new(block_size * max_blocks),
            blocks: Vec::with_capacity(max_blocks),
            last_open: false,
            open_since_us: 0,
            flush_delay_us,
        }
    }

    /// As [`Packer::new`], but `None` where the memory cannot be had (the
    /// block size is the volume's).
    pub fn try_new(
        block_size: usize,
        payload_cap: usize,
        max_blocks: usize,
        flush_delay_us: u64,
    ) -> Option<Self> {
        let max_blocks = max_blocks.max(1);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(max_blocks).ok()?;
        Some(Self {
            block_size,
            payload_cap,
            max_blocks,
            batch: AlignedBuf::try_new(block_size.checked_mul(max_blocks)?)?,
            blocks,
            last_open: false,
            open_since_us: 0,
            flush_delay_us,
        })
    }

    /// Blocks formed and not yet handed out, the open one included.
    pub fn pending_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// True when no frame is waiting in a block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn payload_capacity(&self) -> usize {
        self.payload_cap
    }

    /// Largest frame a batch can hold (a frame is packed whole).
    pub fn max_frame_len(&self) -> usize {
        (self.max_blocks * self.payload_cap - FRAME_PREFIX_LEN).min(MAX_FRAME_LEN)
    }

    /// Moves whole frames from `queue` into blocks while room remains.
    /// Returns the number of frames packed; frames too large to ever fit
    /// are dropped and counted in `oversized`.
    pub fn pack(&mut self, queue: &mut SendQueue, now_us: u64, oversized: &mut u64) -> usize {
        let mut packed = 0;
        while let Some(len) = queue.front_len() {
            if len > self.max_frame_len() {
                // Hosts check the length first; a frame that slipped past
                // must not wedge the queue.
                queue.pop();
                *oversized += 1;
                continue;
            }
            if !self.has_room_for(len) {
                break;
            }
            let mut frame_parts = [&[][..], &[][..]];
            if let Some((a, b)) = queue.front() {
                frame_parts = [a, b];
            }
            self.begin_frame(now_us);
            let prefix = (len as u16).to_le_bytes();
            self.append(&prefix, now_us);
            for part in frame_parts {
                self.append(part, now_us);
            }
            if let Some(last) = self.blocks.last_mut() {
                last.frames += 1;
                last.frame_bytes += len as u64;
            }
            queue.pop();
            packed += 1;
        }
        packed
    }

    fn open_room(&self) -> usize {
        match (self.last_open, self.blocks.last()) {
            (true, Some(last)) => self.payload_cap - last.valid_bytes as usize,
            _ => 0,
        }
    }

    fn has_room_for(&self, frame_len: usize) -> bool {
        let mut room = self.open_room();
        if room < FRAME_PREFIX_LEN {
            room = 0;
        }
        let free_blocks = self.max_blocks - self.blocks.len();
        room + free_blocks * self.payload_cap >= FRAME_PREFIX_LEN + frame_len
    }

    /// Makes sure the open block has room for a length prefix and records the
    /// frame start.
    fn begin_frame(&mut self, now_us: u64) {
        if self.open_room() < FRAME_PREFIX_LEN {
            self.last_open = false;
            self.open_block(now_us);
        }
        if let Some(last) = self.blocks.last_mut() {
            if last.first_frame == NO_FRAME_START {
                last.first_frame = last.valid_bytes;
            }
        }
    }

    fn open_block(&mut self, now_us: u64) {
        self.blocks.push(PendingBlock {
            valid_bytes: 0,
            first_frame: NO_FRAME_START,
            frames: 0,
            frame_bytes: 0,
        });
        self.last_open = true;
        self.open_since_us = now_us;
    }

    fn append(&mut self, mut bytes: &[u8], now_us: u64) {
        while !bytes.is_empty() {
            if self.open_room() == 0 {
                self.last_open = false;
                self.open_block(now_us);
            }
            let index = self.blocks.len() - 1;
            let used = self.blocks[index].valid_bytes as usize;
            let take = bytes.len().min(self.payload_cap - used);
            let at = index * self.block_size + DATA_HEADER_LEN + used;
            self.batch.as_mut_slice()[at..at + take].copy_from_slice(&bytes[..take]);
            self.blocks[index].valid_bytes += take as u32;
            bytes = &bytes[take..];
            if self.blocks[index].valid_bytes as usize == self.payload_cap {
                self.last_open = false;
            }
        }
    }

    /// Number of leading blocks ready to be written at `now_us`.
    pub fn ready(&self, now_us: u64) -> usize {
        let n = self.blocks.len();
        if self.last_open && now_us.saturating_sub(self.open_since_us) < self.flush_delay_us {
            n - 1
        } else {
            n
        }
    }

    /// When the open block becomes ready, if there is one.
    pub fn flush_deadline(&self) -> Option<u64> {
        if self.last_open {
            Some(self.open_since_us.saturating_add(self.flush_delay_us))
        } else {
            None
        }
    }

    /// The first `n` pending blocks: their bookkeeping and their bytes (the
    /// header area of each is the caller's to fill).
    pub fn blocks_mut(&mut self, n: usize) -> (&[PendingBlock], &mut [u8]) {
        let bytes = &mut self.batch.as_mut_slice()[..n * self.block_size];
        (&self.blocks[..n], bytes)
    }

    /// Forgets the first `n` blocks once they are written (or given up).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.blocks.len());
        if n == 0 {
            return;
        }
        if n == self.blocks.len() {
            self.last_open = false;
        }
        self.blocks.drain(..n);
        let bs = self.block_size;
        let remaining = self.blocks.len();
        self.batch
            .as_mut_slice()
            .copy_within(n * bs..(n + remaining) * bs, 0);
        // Zero the freed tail so unused payload bytes are deterministic.
        self.batch.as_mut_slice()[remaining * bs..(n + remaining) * bs].fill(0);
    }

    /// Frames held in pending blocks (for counting drops on shutdown).
    pub fn pending_frames(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.frames)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_spans_and_flushes() {
        // 512-byte blocks: 448 payload bytes each.
        let mut p = Packer::new(512, 448, 4, 1000);
        let mut q = SendQueue::new(8192, 448);
        q.push(&[1u8; 300]).unwrap();
        let mut oversized = 0;
        assert_eq!(p.pack(&mut q, 10, &mut oversized), 1);
        assert_eq!(p.ready(10), 0, "partial block waits for the flush delay");
        assert_eq!(p.ready(1010), 1, "partial block ready after the delay");
        q.push(&[2u8; 300]).unwrap();
        p.pack(&mut q, 20, &mut oversized);
        // Frame 2 spans into a second block; the first is now full.
        assert_eq!(p.pending_blocks(), 2);
        assert_eq!(p.ready(20), 1, "a full block is ready at once");
        let (meta, _) = p.blocks_mut(2);
        assert_eq!(meta[0].valid_bytes, 448);
        assert_eq!(meta[0].first_frame, 0);
        assert_eq!(meta[1].first_frame, NO_FRAME_START);
        assert_eq!(meta[1].valid_bytes as usize, 2 * 302 - 448);
        // No room for a frame needing more than the remaining blocks.
        q.push(&[3u8; 1500]).unwrap();
        assert_eq!(p.pack(&mut q, 30, &mut oversized), 0);
        p.consume(1);
        assert_eq!(p.pending_blocks(), 1);
        assert_eq!(p.pack(&mut q, 30, &mut oversized), 1);
        // A frame larger than a whole batch is dropped, not left to wedge.
        assert_eq!(p.max_frame_len(), 4 * 448 - 2);
        q.push(&[4u8; 4 * 448]).unwrap();
        q.push(&[5u8; 10]).unwrap();
        p.consume(p.pending_blocks());
        assert_eq!(p.pack(&mut q, 40, &mut oversized), 1);
        assert_eq!(oversized, 1);
    }
}
