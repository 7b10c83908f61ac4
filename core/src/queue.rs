//! The fixed-capacity circular send queue.
//!
//! Frames handed down by the host (NDIS send path, TAP reader) are copied,
//! each behind a two-byte length, into one byte ring allocated once. The
//! datapath thread drains it into blocks. Nothing is allocated per frame.

use alloc::vec;
use alloc::vec::Vec;

use crate::format::MAX_FRAME_LEN;

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Not enough free space: the host completes the send as out of
    /// resources (NDIS_STATUS_RESOURCES) and counts a drop.
    Full,
    /// The frame is empty or larger than the format carries.
    BadLength,
}

/// What a successful push tells the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Queued bytes now fill at least one block: wake the datapath thread at
    /// once instead of waiting for the flush delay.
    pub block_full: bool,
}

const PREFIX: usize = 2;

/// A byte ring of length-prefixed frames.
#[derive(Debug)]
pub struct SendQueue {
    ring: Vec<u8>,
    head: usize,
    used: usize,
    frames: usize,
    wake_threshold: usize,
}

impl SendQueue {
    /// A queue of `capacity` bytes that reports `block_full` once
    /// `wake_threshold` bytes (usually one block's payload) are queued.
    pub fn new(capacity: usize, wake_threshold: usize) -> Self {
        Self {
            ring: vec![0; capacity.max(PREFIX + 1)],
            head: 0,
            used: 0,
            frames: 0,
            wake_threshold,
        }
    }

    /// As [`SendQueue::new`], but `None` instead of an allocation failure
    /// (the queue's size comes from configuration; in a kernel a failed
    /// allocation must become an error, never an abort).
    pub fn try_new(capacity: usize, wake_threshold: usize) -> Option<Self> {
        let len = capacity.max(PREFIX + 1);
        let mut ring = Vec::new();
        ring.try_reserve_exact(len).ok()?;
        ring.resize(len, 0);
        Some(Self {
            ring,
            head: 0,
            used: 0,
            frames: 0,
            wake_threshold,
        })
    }

    pub fn capacity(&self) -> usize {
        self.ring.len()
    }
    /// Bytes in use, prefixes included.
    pub fn used_bytes(&self) -> usize {
        self.used
    }
    pub fn frames(&self) -> usize {
        self.frames
    }
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Queues one frame given as the concatenation of `parts` (an MDL chain,
    /// an iovec), copying each part once.
    pub fn push_parts(&mut self, parts: &[&[u8]]) -> Result<Pushed, QueueError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 || len > MAX_FRAME_LEN {
            return Err(QueueError::BadLength);
        }
        if self.ring.len() - self.used < PREFIX + len {
            return Err(QueueError::Full);
        }
        let mut tail = (self.head + self.used) % self.ring.len();
        tail = self.copy_in(tail, &(len as u16).to_le_bytes());
        for part in parts {
            tail = self.copy_in(tail, part);
        }
        self.used += PREFIX + len;
        self.frames += 1;
        Ok(Pushed {
            block_full: self.used >= self.wake_threshold,
        })
    }

    /// Queues one contiguous frame.
    pub fn push(&mut self, frame: &[u8]) -> Result<Pushed, QueueError> {
        self.push_parts(&[frame])
    }

    fn copy_in(&mut self, at: usize, data: &[u8]) -> usize {
        let first = data.len().min(self.ring.len() - at);
        self.ring[at..at + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        self.ring[..rest].copy_from_slice(&data[first..]);
        (at + data.len()) % self.ring.len()
    }

    /// Length of the oldest frame.
    pub fn front_len(&self) -> Option<usize> {
        if self.frames == 0 {
            return None;
        }
        let lo = self.ring[self.head];
        let hi = self.ring[(self.head + 1) % self.ring.len()];
        Some(usize::from(u16::from_le_bytes([lo, hi])))
    }

    /// The oldest frame as up to two slices (it may wrap around the ring).
    pub fn front(&self) -> Option<(&[u8], &[u8])> {
        let len = self.front_len()?;
        let start = (self.head + PREFIX) % self.ring.len();
        let first = len.min(self.ring.len() - start);
        Some((&self.ring[start..start + first], &self.ring[..len - first]))
    }

    /// Drops the oldest frame.
    pub fn pop(&mut self) {
        if let Some(len) = self.front_len() {
            self.head = (self.head + PREFIX + len) % self.ring.len();
            self.used -= PREFIX + len;
            self.frames -= 1;
            if self.frames == 0 {
                self.head = 0;
            }
        }
    }

    /// Drops every queued frame, returning how many there were.
    pub fn clear(&mut self) -> usize {
        let dropped = self.frames;
        self.head = 0;
        self.used = 0;
        self.frames = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front_vec(q: &SendQueue) -> Vec<u8> {
        let (a, b) = q.front().unwrap();
        let mut v = a.to_vec();
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn fifo_with_wrap_and_full() {
        let mut q = SendQueue::new(32, 16);
        assert_eq!(q.push(&[1; 10]), Ok(Pushed { block_full: false }));
        assert_eq!(q.push(&[2; 10]), Ok(Pushed { block_full: true }));
        assert_eq!(q.push(&[3; 10]), Err(QueueError::Full));
        assert_eq!(front_vec(&q), [1; 10]);
        q.pop();
        // 12 bytes free at the end + 12 at the start: this one wraps.
        q.push_parts(&[&[3; 4], &[4; 8]]).unwrap();
        assert_eq!(front_vec(&q), [2; 10]);
        q.pop();
        let mut expect = vec![3; 4];
        expect.extend_from_slice(&[4; 8]);
        assert_eq!(front_vec(&q), expect);
        q.pop();
        assert!(q.is_empty());
        assert_eq!(q.push(&[]), Err(QueueError::BadLength));
        assert_eq!(
            q.push(&vec![0; MAX_FRAME_LEN + 1]),
            Err(QueueError::BadLength)
        );
    }

    #[test]
    fn try_new_is_new_or_none_never_an_abort() {
        let q = SendQueue::try_new(4096, 512).unwrap();
        assert_eq!(q.capacity(), SendQueue::new(4096, 512).capacity());
        assert!(SendQueue::try_new(usize::MAX / 2, 512).is_none());
    }
}
