//! The storage-mirror emulator: what an array's remote mirroring (SRDF, DRBD,
//! ...) does to volnic's volumes, done on files or in memory.
//!
//! - [`SyncMirror`]: in-process synchronous mirroring; a write returns once
//!   it is on both sides. The link can be cut and resumed (re-copying the
//!   ranges written while it was cut).
//! - [`AsyncMirror`]: in-process asynchronous mirroring; writes reach the
//!   secondary `lag` after they were made, from a background thread, with an
//!   optional reorder fault.
//! - [`PollingMirror`]: a separate process (`volnic mirror`) that cannot see
//!   the writes and so polls the source volume and copies what changed.
//!
//! The on-volume layout this module relies on is only: block size and ring
//! size in the superblock (block 0, read with the engine's parser,
//! `volnic_core::format::Superblock`), the state record in block 1, the ring
//! slots in blocks `2..2 + ring_blocks`, written in order.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{Geometry, Superblock, SUPERBLOCK_LEN};
use volnic_core::{Volume, VolumeError};

use crate::filevol::{FileVolume, OpenMode};

/// Bytes moved at once when re-copying dirty ranges.
pub(super) const COPY_CHUNK: u64 = 1 << 20;

/// Largest formatted volume a [`PollingMirror`] keeps a shadow copy of.
pub const MAX_SHADOW_BYTES: u64 = 4 << 30;

/// Why mirroring could not start or go on. Every message is one line that
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{0}")]
    Open(#[from] crate::filevol::VolumeOpenError),
    #[error("{name}: {err}")]
    Io { name: String, err: VolumeError },
    #[error("{dst} holds {dst_len} bytes but {src} needs {need}: use a destination at least as large as the source (format it with the same --blocks and --block-size, or use a larger device)")]
    DestinationTooSmall {
        src: String,
        dst: String,
        dst_len: u64,
        need: u64,
    },
    #[error("{name} is not a formatted volnic volume ({why}): run `volnic format` on it first")]
    NotFormatted { name: String, why: String },
    #[error(
        "{name} was reformatted while mirroring ({} -> {}): restart `volnic mirror`",
        describe(.was),
        describe(.now)
    )]
    Reformatted {
        name: String,
        was: Geometry,
        now: Geometry,
    },
    #[error("{name}: cannot hold a {bytes}-byte shadow copy in memory: mirror a smaller volume")]
    TooLarge { name: String, bytes: u64 },
    #[error("{0} and {1} are the same file: the destination must be the peer's receive volume")]
    SameFile(String, String),
}

pub(super) fn io_err(name: &str) -> impl Fn(VolumeError) -> MirrorError + '_ {
    move |err| MirrorError::Io {
        name: name.to_owned(),
        err,
    }
}

/// Byte ranges written while the link was cut, merged as they come.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirtyRanges {
    /// start -> end (exclusive); disjoint and not adjacent.
    map: BTreeMap<u64, u64>,
}

impl DirtyRanges {
    /// Marks `[start, end)` dirty.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=end)
            .rev()
            .take_while(|&(_, &re)| re >= start)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in touching {
            self.map.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.map.insert(s, e);
    }

    /// Marks `len` bytes at `offset` dirty (saturating at the end of u64).
    pub fn insert_len(&mut self, offset: u64, len: usize) {
        self.insert(offset, offset.saturating_add(len as u64));
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total dirty bytes.
    pub fn bytes(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }

    /// The ranges, in order, as `(start, end)`.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }

    fn remove_first(&mut self) -> Option<(u64, u64)> {
        self.map.pop_first()
    }
}

/// Copies `[start, end)` from `from` to `to` through `buf`; on failure,
/// returns the part not yet copied with the error.
pub(super) fn copy_range<A: Volume + ?Sized, B: Volume + ?Sized>(
    from: &mut A,
    to: &mut B,
    (start, end): (u64, u64),
    buf: &mut AlignedBuf,
) -> Result<(), (u64, VolumeError, bool)> {
    let mut at = start;
    while at < end {
        let n = (end - at).min(buf.len() as u64) as usize;
        let chunk = &mut buf.as_mut_slice()[..n];
        from.read_at(at, chunk).map_err(|e| (at, e, true))?;
        to.write_at(at, chunk).map_err(|e| (at, e, false))?;
        at += n as u64;
    }
    Ok(())
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

mod lagged;
mod polling;
mod sync;

pub use lagged::*;
pub use polling::*;
pub use sync::*;

#[cfg(test)]
mod tests;
