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
const COPY_CHUNK: u64 = 1 << 20;

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

fn io_err(name: &str) -> impl Fn(VolumeError) -> MirrorError + '_ {
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
fn copy_range<A: Volume + ?Sized, B: Volume + ?Sized>(
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// SyncMirror

/// A [`Volume`] that mirrors every write synchronously: to the primary, then
/// to the secondary, before returning. Reads come from the primary.
///
/// [`cut`](Self::cut) breaks the link: writes then reach only the primary and
/// their ranges are tracked. [`resume`](Self::resume) re-copies them and
/// mirrors synchronously again. A failed secondary write cuts the link the
/// same way (the primary write stands, as with SRDF/S without domino mode or
/// a DRBD primary whose peer went away) and is reported by
/// [`last_error`](Self::last_error).
pub struct SyncMirror<P: Volume, S: Volume> {
    primary: P,
    secondary: S,
    cut: bool,
    dirty: DirtyRanges,
    last_error: Option<VolumeError>,
}

impl<P: Volume, S: Volume> SyncMirror<P, S> {
    /// Mirrors `primary` onto `secondary`, which must be at least as large.
    /// The two are assumed equal to start with.
    pub fn new(primary: P, secondary: S) -> Result<Self, MirrorError> {
        check_sizes(&primary, &secondary)?;
        Ok(Self {
            primary,
            secondary,
            cut: false,
            dirty: DirtyRanges::default(),
            last_error: None,
        })
    }

    /// Breaks the link: later writes reach only the primary.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Ranges written while cut and not yet re-copied.
    pub fn dirty(&self) -> &DirtyRanges {
        &self.dirty
    }

    /// The secondary write error that cut the link, if one did.
    pub fn last_error(&self) -> Option<VolumeError> {
        self.last_error
    }

    /// Re-copies everything written while cut, then mirrors synchronously
    /// again. Returns the bytes copied. On error the link stays cut and the
    /// ranges not yet copied stay dirty.
    pub fn resume(&mut self) -> Result<u64, MirrorError> {
        let mut buf = AlignedBuf::new(COPY_CHUNK as usize);
        let mut copied = 0;
        while let Some(range) = self.dirty.remove_first() {
            if let Err((at, err, reading)) =
                copy_range(&mut self.primary, &mut self.secondary, range, &mut buf)
            {
                self.dirty.insert(at, range.1);
                let name = if reading { "primary" } else { "secondary" };
                return Err(io_err(name)(err));
            }
            copied += range.1 - range.0;
        }
        self.cut = false;
        self.last_error = None;
        Ok(copied)
    }

    pub fn primary(&self) -> &P {
        &self.primary
    }

    pub fn primary_mut(&mut self) -> &mut P {
        &mut self.primary
    }

    pub fn secondary(&self) -> &S {
        &self.secondary
    }

    pub fn secondary_mut(&mut self) -> &mut S {
        &mut self.secondary
    }

    pub fn into_inner(self) -> (P, S) {
        (self.primary, self.secondary)
    }
}

fn check_sizes<P: Volume + ?Sized, S: Volume + ?Sized>(
    primary: &P,
    secondary: &S,
) -> Result<(), MirrorError> {
    if secondary.len_bytes() < primary.len_bytes() {
        return Err(MirrorError::DestinationTooSmall {
            src: "primary".into(),
            dst: "secondary".into(),
            dst_len: secondary.len_bytes(),
            need: primary.len_bytes(),
        });
    }
    Ok(())
}

impl<P: Volume, S: Volume> Volume for SyncMirror<P, S> {
    fn len_bytes(&self) -> u64 {
        self.primary.len_bytes()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.primary.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        self.primary.write_at(offset, data)?;
        if self.cut {
            self.dirty.insert_len(offset, data.len());
            return Ok(());
        }
        if let Err(e) = self.secondary.write_at(offset, data) {
            tracing::warn!(
                "sync mirror: secondary write at {offset} failed ({e}); link cut, tracking changes until resume()"
            );
            self.cut = true;
            self.last_error = Some(e);
            self.dirty.insert_len(offset, data.len());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// AsyncMirror

/// Settings of an [`AsyncMirror`].
#[derive(Clone, Debug)]
pub struct AsyncConfig {
    /// How long after a write it reaches the secondary.
    pub lag: Duration,
    /// Fault knob: when > 1, up to this many consecutive due writes are
    /// applied in a shuffled order (writes to overlapping ranges keep their
    /// order, so the secondary still converges to the primary).
    pub reorder_window: usize,
    /// Seed of the reorder shuffle.
    pub seed: u64,
    /// Queued bytes beyond which the link drops to change tracking (as an
    /// async array mirror does when its cache fills); `resume` re-copies.
    pub max_queued_bytes: usize,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        Self {
            lag: Duration::from_millis(10),
            reorder_window: 0,
            seed: 0,
            max_queued_bytes: 256 << 20,
        }
    }
}

struct Pending {
    offset: u64,
    data: AlignedBuf,
    at: Instant,
}

impl Pending {
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.data.len() as u64)
    }

    fn overlaps(&self, other: &Pending) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

struct AsyncState {
    queue: VecDeque<Pending>,
    queued_bytes: usize,
    in_flight: usize,
    lag: Duration,
    reorder_window: usize,
    max_queued_bytes: usize,
    paused: bool,
    cut: bool,
    dirty: DirtyRanges,
    applied: u64,
    last_error: Option<VolumeError>,
    shutdown: bool,
}

impl AsyncState {
    /// Drops the queue into change tracking.
    fn drop_queue(&mut self) {
        for p in self.queue.drain(..) {
            self.dirty.insert_len(p.offset, p.data.len());
        }
        self.queued_bytes = 0;
    }

    fn idle(&self) -> bool {
        self.in_flight == 0 && (self.queue.is_empty() || self.paused)
    }
}

struct Shared<S> {
    state: Mutex<AsyncState>,
    /// Wakes the applier and `wait_idle` callers.
    wake: Condvar,
    secondary: Arc<Mutex<S>>,
}

/// A [`Volume`] that mirrors asynchronously: a write goes to the primary and
/// returns; a background thread applies it to the secondary `lag` later.
///
/// The secondary is shared (`Arc<Mutex<S>>`, see [`secondary`](Self::secondary))
/// so that an in-process reader can read it; when it is a [`FileVolume`], the
/// reader can as well open the same file itself.
pub struct AsyncMirror<P: Volume, S: Volume + Send + 'static> {
    primary: P,
    shared: Arc<Shared<S>>,
    applier: Option<JoinHandle<()>>,
}

impl<P: Volume, S: Volume + Send + 'static> AsyncMirror<P, S> {
    /// Mirrors `primary` onto `secondary` (at least as large; assumed equal
    /// to start with).
    pub fn new(primary: P, secondary: S, config: AsyncConfig) -> Result<Self, MirrorError> {
        Self::with_shared(primary, Arc::new(Mutex::new(secondary)), config)
    }

    /// As [`new`](Self::new), with a secondary the caller keeps a handle on.
    pub fn with_shared(
        primary: P,
        secondary: Arc<Mutex<S>>,
        config: AsyncConfig,
    ) -> Result<Self, MirrorError> {
        check_sizes(&primary, &*lock(&secondary))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(AsyncState {
                queue: VecDeque::new(),
                queued_bytes: 0,
                in_flight: 0,
                lag: config.lag,
                reorder_window: config.reorder_window,
                max_queued_bytes: config.max_queued_bytes,
                paused: false,
                cut: false,
                dirty: DirtyRanges::default(),
                applied: 0,
                last_error: None,
                shutdown: false,
            }),
            wake: Condvar::new(),
            secondary,
        });
        let worker = Arc::clone(&shared);
        let seed = config.seed;
        let applier = std::thread::Builder::new()
            .name("volnic-async-mirror".into())
            .spawn(move || run_applier(&worker, seed))
            .map_err(|e| MirrorError::Io {
                name: "async mirror thread".into(),
                err: crate::filevol::volume_error(&e, false),
            })?;
        Ok(Self {
            primary,
            shared,
            applier: Some(applier),
        })
    }

    fn state(&self) -> MutexGuard<'_, AsyncState> {
        lock(&self.shared.state)
    }

    /// The secondary, shared with the applier thread.
    pub fn secondary(&self) -> Arc<Mutex<S>> {
        Arc::clone(&self.shared.secondary)
    }

    pub fn primary(&self) -> &P {
        &self.primary
    }

    pub fn primary_mut(&mut self) -> &mut P {
        &mut self.primary
    }

    /// Suspends applying; writes keep queueing.
    pub fn pause(&self) {
        self.state().paused = true;
        self.shared.wake.notify_all();
    }

    pub fn is_paused(&self) -> bool {
        self.state().paused
    }

    /// Breaks the link: the queued writes are dropped (their ranges tracked
    /// as dirty) and later writes are only tracked.
    pub fn cut(&self) {
        let mut st = self.state();
        st.cut = true;
        st.drop_queue();
        drop(st);
        self.shared.wake.notify_all();
    }

    pub fn is_cut(&self) -> bool {
        self.state().cut
    }

    /// Ends a pause and, after a cut, queues a copy of every range written
    /// while cut (read from the primary now; applied `lag` later like any
    /// write). Returns the bytes queued for re-copy.
    pub fn resume(&mut self) -> Result<u64, MirrorError> {
        let dirty = {
            let mut st = self.state();
            st.paused = false;
            let dirty = std::mem::take(&mut st.dirty);
            st.cut = false;
            st.last_error = None;
            dirty
        };
        let mut queued = 0;
        let ranges: Vec<(u64, u64)> = dirty.ranges().collect();
        for (idx, &(start, end)) in ranges.iter().enumerate() {
            let mut at = start;
            while at < end {
                let n = (end - at).min(COPY_CHUNK) as usize;
                let mut data = AlignedBuf::new(n);
                if let Err(e) = self.primary.read_at(at, data.as_mut_slice()) {
                    // Back to tracking with what is left.
                    let mut st = self.state();
                    st.cut = true;
                    st.drop_queue();
                    st.dirty.insert(at, end);
                    for &(s, e) in &ranges[idx + 1..] {
                        st.dirty.insert(s, e);
                    }
                    return Err(io_err("primary")(e));
                }
                self.enqueue(at, data);
                queued += n as u64;
                at += n as u64;
            }
        }
        self.shared.wake.notify_all();
        Ok(queued)
    }

    /// Sets the lag of writes not yet applied and of later ones.
    pub fn set_lag(&self, lag: Duration) {
        self.state().lag = lag;
        self.shared.wake.notify_all();
    }

    pub fn lag(&self) -> Duration {
        self.state().lag
    }

    /// Writes queued or being applied.
    pub fn pending(&self) -> usize {
        let st = self.state();
        st.queue.len() + st.in_flight
    }

    /// Writes applied to the secondary so far.
    pub fn applied(&self) -> u64 {
        self.state().applied
    }

    /// The secondary write error that cut the link, if one did.
    pub fn last_error(&self) -> Option<VolumeError> {
        self.state().last_error
    }

    /// Ranges written while cut and not yet re-queued.
    pub fn dirty(&self) -> DirtyRanges {
        self.state().dirty.clone()
    }

    /// Waits until nothing is queued or in flight (or the mirror is paused
    /// with nothing in flight), at most `timeout`; true if idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state();
        loop {
            if st.idle() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .wake
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn enqueue(&self, offset: u64, data: AlignedBuf) {
        let mut st = self.state();
        let len = data.len();
        if st.cut {
            st.dirty.insert_len(offset, len);
            return;
        }
        if st.queued_bytes.saturating_add(len) > st.max_queued_bytes {
            tracing::warn!(
                "async mirror: more than {} bytes queued; link dropped to change tracking until resume()",
                st.max_queued_bytes
            );
            st.cut = true;
            st.drop_queue();
            st.dirty.insert_len(offset, len);
            return;
        }
        st.queued_bytes += len;
        st.queue.push_back(Pending {
            offset,
            data,
            at: Instant::now(),
        });
        drop(st);
        self.shared.wake.notify_all();
    }
}

impl<P: Volume, S: Volume + Send + 'static> Drop for AsyncMirror<P, S> {
    /// Stops the applier; writes still queued are not applied (the link
    /// goes down with the host).
    fn drop(&mut self) {
        self.state().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.applier.take() {
            let _ = handle.join();
        }
    }
}

impl<P: Volume, S: Volume + Send + 'static> Volume for AsyncMirror<P, S> {
    fn len_bytes(&self) -> u64 {
        self.primary.len_bytes()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.primary.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        self.primary.write_at(offset, data)?;
        {
            let mut st = self.state();
            if st.cut {
                st.dirty.insert_len(offset, data.len());
                return Ok(());
            }
        }
        let mut copy = AlignedBuf::new(data.len());
        copy.as_mut_slice().copy_from_slice(data);
        self.enqueue(offset, copy);
        Ok(())
    }
}

/// Orders a batch at random, except that a write never goes before an
/// earlier one it overlaps.
fn shuffle_keeping_overlaps(batch: Vec<Pending>, rng: &mut StdRng) -> VecDeque<Pending> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.shuffle(rng);
    let mut done = vec![false; batch.len()];
    let mut out_idx = Vec::with_capacity(batch.len());
    while out_idx.len() < batch.len() {
        let next = order
            .iter()
            .copied()
            .find(|&i| !done[i] && (0..i).all(|j| done[j] || !batch[j].overlaps(&batch[i])));
        // The earliest not-done write always qualifies, so `next` is Some.
        let Some(i) = next else { break };
        done[i] = true;
        out_idx.push(i);
    }
    let mut slots: Vec<Option<Pending>> = batch.into_iter().map(Some).collect();
    out_idx
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

fn run_applier<S: Volume>(shared: &Shared<S>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut st = lock(&shared.state);
    loop {
        if st.shutdown {
            break;
        }
        let Some(head_at) = st.queue.front().map(|p| p.at) else {
            st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        if st.paused {
            st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        let now = Instant::now();
        let lag = st.lag;
        let due_at = head_at.checked_add(lag).unwrap_or(now);
        if now < due_at {
            st = shared
                .wake
                .wait_timeout(st, due_at - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        let window = st.reorder_window.max(1);
        let due = st
            .queue
            .iter()
            .take(window)
            .take_while(|p| p.at.checked_add(lag).is_none_or(|t| t <= now))
            .count()
            .max(1);
        let batch: Vec<Pending> = st.queue.drain(..due).collect();
        st.queued_bytes -= batch.iter().map(|p| p.data.len()).sum::<usize>();
        let mut batch = if batch.len() > 1 {
            shuffle_keeping_overlaps(batch, &mut rng)
        } else {
            VecDeque::from(batch)
        };
        while let Some(item) = batch.pop_front() {
            if st.cut || st.shutdown {
                st.dirty.insert_len(item.offset, item.data.len());
                for p in batch.drain(..) {
                    st.dirty.insert_len(p.offset, p.data.len());
                }
                break;
            }
            if st.paused {
                // Back to the head of the queue, in the order chosen.
                batch.push_front(item);
                for p in batch.drain(..).rev() {
                    st.queued_bytes += p.data.len();
                    st.queue.push_front(p);
                }
                break;
            }
            st.in_flight = batch.len() + 1;
            drop(st);
            let result = lock(&shared.secondary).write_at(item.offset, item.data.as_slice());
            st = lock(&shared.state);
            match result {
                Ok(()) => st.applied += 1,
                Err(e) => {
                    tracing::warn!(
                        "async mirror: secondary write at {} failed ({e}); link cut, tracking changes until resume()",
                        item.offset
                    );
                    st.last_error = Some(e);
                    st.cut = true;
                    st.dirty.insert_len(item.offset, item.data.len());
                    for p in batch.drain(..) {
                        st.dirty.insert_len(p.offset, p.data.len());
                    }
                    st.drop_queue();
                }
            }
        }
        st.in_flight = 0;
        shared.wake.notify_all();
    }
    st.in_flight = 0;
    shared.wake.notify_all();
}

// ---------------------------------------------------------------------------
// PollingMirror

const STATE_BLOCK: u64 = 1;
const RING_START: u64 = 2;

/// The geometry of the volume whose block 0 starts with `block0`, by the
/// engine's superblock parser (so the mirror accepts what a reader would);
/// `Err` says what is wrong.
pub fn parse_geometry(block0: &[u8]) -> Result<Geometry, String> {
    let head = block0
        .get(..SUPERBLOCK_LEN)
        .ok_or_else(|| "superblock cut short".to_owned())?;
    Superblock::parse(head)
        .map(|sb| sb.geometry())
        .map_err(|e| e.to_string())
}

/// A geometry for messages: "8 ring blocks of 4096 bytes".
pub fn describe(g: &Geometry) -> String {
    format!("{} ring blocks of {} bytes", g.ring_blocks, g.block_size)
}

/// How a [`PollingMirror`] makes copies visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    /// As soon as they are seen.
    Sync,
    /// `lag` after they were seen.
    Async { lag: Duration },
}

/// Settings of a [`PollingMirror`].
#[derive(Clone, Debug)]
pub struct PollConfig {
    pub mode: PollMode,
    /// Sleep between ticks in [`PollingMirror::run_until`].
    pub interval: Duration,
    /// Period of the full re-read of the source.
    pub sweep_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            mode: PollMode::Sync,
            interval: Duration::from_micros(50),
            sweep_interval: Duration::from_millis(100),
        }
    }
}

/// What one [`PollingMirror::step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Changed blocks found (written to DST in sync mode, queued in async).
    pub copied: usize,
    /// Queued blocks written to DST (async mode).
    pub applied: usize,
    /// Whether this step re-read the whole source.
    pub swept: bool,
    /// Whether the mirror was paused (nothing done).
    pub paused: bool,
}

/// Totals over a [`PollingMirror`]'s life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    pub ticks: u64,
    pub sweeps: u64,
    pub blocks_seen: u64,
    pub blocks_written: u64,
}

/// A mirror run as a separate process: it polls SRC and copies changed blocks
/// to DST.
///
/// It keeps a shadow copy of SRC as last seen. Each tick reads the state
/// record and the "chase" slot (the ring slot after the last one seen
/// changing), following consecutive changed slots at once; every
/// `sweep_interval` it re-reads all of SRC (catching a writer restarting at
/// another slot, and the superblock). Data blocks are written before the
/// state record read with them, so DST never holds a state that points at
/// blocks it lacks.
pub struct PollingMirror<S: Volume = FileVolume, D: Volume = FileVolume> {
    src: S,
    dst: D,
    src_name: String,
    dst_name: String,
    geometry: Geometry,
    config: PollConfig,
    shadow: Vec<u8>,
    /// Ring slot read each tick.
    chase: u64,
    last_sweep: Option<Instant>,
    /// Async mode: blocks seen, to write at `seen + lag`.
    pending: VecDeque<(u64, Instant, AlignedBuf)>,
    paused: Arc<AtomicBool>,
    block: AlignedBuf,
    state_block: AlignedBuf,
    chunk: AlignedBuf,
    stats: PollStats,
}

impl PollingMirror<FileVolume, FileVolume> {
    /// Opens SRC read-only and DST read-write.
    pub fn open(src: &Path, dst: &Path, config: PollConfig) -> Result<Self, MirrorError> {
        let src_name = format!("SRC {}", src.display());
        let dst_name = format!("DST {}", dst.display());
        let s = FileVolume::open(src, OpenMode::ReadOnly).map_err(|e| e.with_role("SRC"))?;
        let d = FileVolume::open(dst, OpenMode::ReadWrite).map_err(|e| e.with_role("DST"))?;
        if same_file(s.file(), d.file()) {
            return Err(MirrorError::SameFile(src_name, dst_name));
        }
        for v in [&s, &d] {
            if !v.direct_io() {
                tracing::warn!(
                    "{}: no O_DIRECT; the mirror may read stale page-cache data",
                    v.path().display()
                );
            }
        }
        Self::with_names(s, d, src_name, dst_name, config)
    }
}

fn same_file(a: &std::fs::File, b: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino(), a.rdev()) == (b.dev(), b.ino(), b.rdev()),
        _ => false,
    }
}

impl<S: Volume, D: Volume> PollingMirror<S, D> {
    /// Mirrors `src` onto `dst`. SRC must be a formatted volnic volume and
    /// DST at least as large as SRC's formatted span.
    pub fn new(src: S, dst: D, config: PollConfig) -> Result<Self, MirrorError> {
        Self::with_names(src, dst, "SRC".into(), "DST".into(), config)
    }

    fn with_names(
        mut src: S,
        mut dst: D,
        src_name: String,
        dst_name: String,
        config: PollConfig,
    ) -> Result<Self, MirrorError> {
        let not_formatted = |why: String| MirrorError::NotFormatted {
            name: src_name.clone(),
            why,
        };
        let src_len = src.len_bytes();
        if src_len < 512 {
            return Err(not_formatted(format!("only {src_len} bytes")));
        }
        let mut head = AlignedBuf::new(512);
        src.read_at(0, head.as_mut_slice())
            .map_err(io_err(&src_name))?;
        let geometry = parse_geometry(head.as_slice()).map_err(&not_formatted)?;
        let need = geometry.volume_bytes();
        if need > src_len {
            return Err(not_formatted(format!(
                "{} need {need} bytes but it holds {src_len}",
                describe(&geometry)
            )));
        }
        let dst_len = dst.len_bytes();
        if dst_len < need {
            return Err(MirrorError::DestinationTooSmall {
                src: src_name,
                dst: dst_name,
                dst_len,
                need,
            });
        }
        let too_large = || MirrorError::TooLarge {
            name: src_name.clone(),
            bytes: need,
        };
        if need > MAX_SHADOW_BYTES {
            return Err(too_large());
        }
        let need_usize = usize::try_from(need).map_err(|_| too_large())?;
        let mut shadow = Vec::new();
        shadow
            .try_reserve_exact(need_usize)
            .map_err(|_| too_large())?;
        shadow.resize(need_usize, 0);
        let bs = geometry.block_size as usize;
        let chunk_len = (COPY_CHUNK as usize).max(bs) / bs * bs;
        let mut chunk = AlignedBuf::new(chunk_len);
        // The shadow starts as what DST holds: the first sweep copies only
        // what differs.
        let mut at = 0usize;
        while at < need_usize {
            let n = (need_usize - at).min(chunk_len);
            let buf = &mut chunk.as_mut_slice()[..n];
            dst.read_at(at as u64, buf).map_err(io_err(&dst_name))?;
            shadow[at..at + n].copy_from_slice(buf);
            at += n;
        }
        Ok(Self {
            src,
            dst,
            src_name,
            dst_name,
            geometry,
            config,
            shadow,
            chase: 0,
            last_sweep: None,
            pending: VecDeque::new(),
            paused: Arc::new(AtomicBool::new(false)),
            block: AlignedBuf::new(bs),
            state_block: AlignedBuf::new(bs),
            chunk,
            stats: PollStats::default(),
        })
    }

    /// The geometry read from SRC's superblock.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Set to true to pause (nothing read or written), false to resume.
    pub fn pause_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.paused)
    }

    pub fn config(&self) -> &PollConfig {
        &self.config
    }

    pub fn set_mode(&mut self, mode: PollMode) {
        self.config.mode = mode;
    }

    pub fn stats(&self) -> PollStats {
        self.stats
    }

    /// Ring slot read on each tick.
    pub fn chase_slot(&self) -> u64 {
        self.chase
    }

    /// Blocks seen but not yet written to DST (async mode).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn src(&self) -> &S {
        &self.src
    }

    pub fn dst_mut(&mut self) -> &mut D {
        &mut self.dst
    }

    /// Runs ticks, sleeping `interval` between them, until `stop` is set.
    pub fn run_until(&mut self, stop: &AtomicBool) -> Result<(), MirrorError> {
        while !stop.load(Ordering::Relaxed) {
            self.step()?;
            std::thread::sleep(self.config.interval);
        }
        Ok(())
    }

    /// One tick: writes due copies, reads the state record and the chase
    /// slot(s), and sweeps the whole source when the sweep interval is up.
    pub fn step(&mut self) -> Result<StepReport, MirrorError> {
        let mut report = StepReport::default();
        if self.paused.load(Ordering::Acquire) {
            report.paused = true;
            return Ok(report);
        }
        self.stats.ticks += 1;
        let now = Instant::now();
        report.applied += self.apply_due(now)?;
        let sweep_due = self
            .last_sweep
            .is_none_or(|t| now.duration_since(t) >= self.config.sweep_interval);
        if sweep_due {
            report.copied += self.sweep()?;
            report.swept = true;
        } else {
            report.copied += self.tick()?;
        }
        report.applied += self.apply_due(Instant::now())?;
        Ok(report)
    }

    fn block_range(&self, block: u64) -> std::ops::Range<usize> {
        // block < the geometry's blocks, and its volume_bytes() fits in usize (the
        // shadow was allocated with it), so this cannot overflow.
        let bs = self.geometry.block_size as usize;
        let start = block as usize * bs;
        start..start + bs
    }

    fn differs(&self, block: u64, data: &[u8]) -> bool {
        self.shadow.get(self.block_range(block)) != Some(data)
    }

    /// Records `data` as SRC's block and writes (sync) or queues (async) it.
    fn emit(&mut self, block: u64, data: &[u8]) -> Result<(), MirrorError> {
        let range = self.block_range(block);
        self.stats.blocks_seen += 1;
        match self.config.mode {
            PollMode::Sync if self.pending.is_empty() => {
                let offset = range.start as u64;
                self.dst
                    .write_at(offset, data)
                    .map_err(io_err(&self.dst_name))?;
                self.stats.blocks_written += 1;
            }
            _ => {
                let mut copy = AlignedBuf::new(data.len());
                copy.as_mut_slice().copy_from_slice(data);
                self.pending.push_back((block, Instant::now(), copy));
            }
        }
        if let Some(shadow) = self.shadow.get_mut(range) {
            shadow.copy_from_slice(data);
        }
        Ok(())
    }

    fn apply_due(&mut self, now: Instant) -> Result<usize, MirrorError> {
        let lag = match self.config.mode {
            PollMode::Async { lag } => lag,
            PollMode::Sync => Duration::ZERO,
        };
        let mut applied = 0;
        while let Some((block, seen, _)) = self.pending.front() {
            if seen.checked_add(lag).is_some_and(|due| due > now) {
                break;
            }
            let offset = self.block_range(*block).start as u64;
            let (_, _, data) = &self.pending[0];
            self.dst
                .write_at(offset, data.as_slice())
                .map_err(io_err(&self.dst_name))?;
            self.pending.pop_front();
            self.stats.blocks_written += 1;
            applied += 1;
        }
        Ok(applied)
    }

    fn read_block(&mut self, block: u64, into_state: bool) -> Result<(), MirrorError> {
        let offset = self.block_range(block).start as u64;
        let buf = if into_state {
            &mut self.state_block
        } else {
            &mut self.block
        };
        self.src
            .read_at(offset, buf.as_mut_slice())
            .map_err(io_err(&self.src_name))
    }

    /// Reads the state record, then chases the ring; writes the changed
    /// data blocks, then the state record.
    fn tick(&mut self) -> Result<usize, MirrorError> {
        self.read_block(STATE_BLOCK, true)?;
        let state_changed = self.differs(STATE_BLOCK, self.state_block.as_slice());
        let mut copied = 0;
        let ring = u64::from(self.geometry.ring_blocks);
        for _ in 0..ring {
            let block = RING_START + self.chase;
            self.read_block(block, false)?;
            if !self.differs(block, self.block.as_slice()) {
                break;
            }
            let data = std::mem::replace(&mut self.block, AlignedBuf::new(0));
            let result = self.emit(block, data.as_slice());
            self.block = data;
            result?;
            copied += 1;
            self.chase = (self.chase + 1) % ring;
        }
        if state_changed {
            let data = std::mem::replace(&mut self.state_block, AlignedBuf::new(0));
            let result = self.emit(STATE_BLOCK, data.as_slice());
            self.state_block = data;
            result?;
            copied += 1;
        }
        Ok(copied)
    }

    /// Re-reads all of SRC and copies every block that differs from the
    /// shadow: ring blocks first, then the state record, the superblock
    /// last. Moves the chase slot after the run of changed slots found
    /// first from where it was.
    pub fn sweep(&mut self) -> Result<usize, MirrorError> {
        self.stats.sweeps += 1;
        self.last_sweep = Some(Instant::now());
        let bs = self.geometry.block_size as usize;
        let total = self.shadow.len();
        let chunk_len = self.chunk.len();
        let mut changed_slots: Vec<u64> = Vec::new();
        let mut head: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut copied = 0;
        let mut chunk = std::mem::replace(&mut self.chunk, AlignedBuf::new(0));
        let mut result = Ok(());
        let mut at = 0usize;
        while at < total {
            let n = (total - at).min(chunk_len);
            let buf = &mut chunk.as_mut_slice()[..n];
            if let Err(e) = self.src.read_at(at as u64, buf) {
                result = Err(io_err(&self.src_name)(e));
                break;
            }
            for (i, data) in buf.chunks_exact(bs).enumerate() {
                let block = ((at / bs) + i) as u64;
                if !self.differs(block, data) {
                    continue;
                }
                if block < RING_START {
                    head.push((block, data.to_vec()));
                    continue;
                }
                if let Err(e) = self.emit(block, data) {
                    result = Err(e);
                    break;
                }
                copied += 1;
                changed_slots.push(block - RING_START);
            }
            if result.is_err() {
                break;
            }
            at += n;
        }
        self.chunk = chunk;
        result?;
        // State record, then superblock.
        head.sort_by_key(|&(block, _)| std::cmp::Reverse(block));
        for (block, data) in head {
            if block == 0 {
                match parse_geometry(&data) {
                    Ok(now) if now != self.geometry => {
                        return Err(MirrorError::Reformatted {
                            name: self.src_name.clone(),
                            was: self.geometry,
                            now,
                        });
                    }
                    Ok(_) => {}
                    Err(why) => tracing::warn!(
                        "{}: superblock changed and does not parse ({why}); copying it anyway",
                        self.src_name
                    ),
                }
            }
            let mut aligned = AlignedBuf::new(data.len());
            aligned.as_mut_slice().copy_from_slice(&data);
            self.emit(block, aligned.as_slice())?;
            copied += 1;
        }
        if let Some(next) = next_chase(&changed_slots, self.chase, self.geometry.ring_blocks) {
            self.chase = next;
        }
        Ok(copied)
    }
}

/// The slot after the run of consecutive changed slots met first going
/// round from `chase`. `changed` is sorted ascending.
fn next_chase(changed: &[u64], chase: u64, ring: u32) -> Option<u64> {
    let ring = u64::from(ring);
    let first = changed
        .iter()
        .copied()
        .find(|&s| s >= chase)
        .or_else(|| changed.first().copied())?;
    let mut slot = first;
    for _ in 0..ring {
        let next = (slot + 1) % ring;
        if changed.binary_search(&next).is_err() {
            return Some(next);
        }
        slot = next;
    }
    // Every slot changed: keep going from where we were.
    Some(chase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use volnic_core::MemVolume;

    fn fill(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn dirty_ranges_merge() {
        let mut d = DirtyRanges::default();
        d.insert(10, 20);
        d.insert(30, 40);
        d.insert(20, 25); // adjacent: merges
        assert_eq!(d.ranges().collect::<Vec<_>>(), vec![(10, 25), (30, 40)]);
        d.insert(5, 35);
        assert_eq!(d.ranges().collect::<Vec<_>>(), vec![(5, 40)]);
        d.insert(50, 50);
        d.insert(100, 110);
        assert_eq!(d.bytes(), 45);
        d.insert(0, 200);
        assert_eq!(d.ranges().collect::<Vec<_>>(), vec![(0, 200)]);
    }

    #[test]
    fn sync_mirror_copies_every_write_and_resyncs_after_cut() {
        let mut m = SyncMirror::new(MemVolume::new(64 * 1024), MemVolume::new(64 * 1024)).unwrap();
        for i in 0..16u64 {
            m.write_at(i * 4096, &fill(4096, i as u8)).unwrap();
            assert_eq!(m.primary().bytes, m.secondary().bytes, "after write {i}");
        }
        m.cut();
        m.write_at(8192, &fill(4096, 200)).unwrap();
        m.write_at(100, &fill(50, 201)).unwrap();
        m.write_at(60 * 1024, &fill(4096, 202)).unwrap();
        assert_ne!(m.primary().bytes, m.secondary().bytes);
        assert_eq!(m.dirty().ranges().count(), 3);
        let copied = m.resume().unwrap();
        assert_eq!(copied, 4096 + 50 + 4096);
        assert!(!m.is_cut());
        assert_eq!(m.primary().bytes, m.secondary().bytes);
        m.write_at(0, &fill(4096, 9)).unwrap();
        assert_eq!(m.primary().bytes, m.secondary().bytes);
    }

    #[test]
    fn sync_mirror_refuses_small_secondary() {
        let err = SyncMirror::new(MemVolume::new(8192), MemVolume::new(4096))
            .err()
            .unwrap();
        assert!(matches!(err, MirrorError::DestinationTooSmall { .. }));
    }

    /// A volume whose writes fail while `fail` is set.
    struct Flaky {
        inner: MemVolume,
        fail: bool,
    }

    impl Volume for Flaky {
        fn len_bytes(&self) -> u64 {
            self.inner.len_bytes()
        }
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> Result<(), VolumeError> {
            self.inner.read_at(o, b)
        }
        fn write_at(&mut self, o: u64, d: &[u8]) -> Result<(), VolumeError> {
            if self.fail {
                return Err(VolumeError::new(volnic_core::VolumeErrorKind::Io, 5));
            }
            self.inner.write_at(o, d)
        }
    }

    #[test]
    fn sync_mirror_secondary_failure_cuts_and_tracks() {
        let flaky = Flaky {
            inner: MemVolume::new(16384),
            fail: true,
        };
        let mut m = SyncMirror::new(MemVolume::new(16384), flaky).unwrap();
        m.write_at(4096, &fill(4096, 1)).unwrap();
        assert!(m.is_cut());
        assert_eq!(m.last_error().map(|e| e.code), Some(5));
        m.secondary_mut().fail = false;
        m.resume().unwrap();
        assert_eq!(m.primary().bytes, m.secondary().inner.bytes);
    }

    fn secondary_bytes(m: &AsyncMirror<MemVolume, MemVolume>) -> Vec<u8> {
        lock(&m.secondary()).bytes.clone()
    }

    #[test]
    fn async_mirror_applies_after_the_lag_not_before() {
        let lag = Duration::from_millis(300);
        let config = AsyncConfig {
            lag,
            ..AsyncConfig::default()
        };
        let mut m = AsyncMirror::new(MemVolume::new(16384), MemVolume::new(16384), config).unwrap();
        let data = fill(4096, 5);
        let written = Instant::now();
        m.write_at(4096, &data).unwrap();
        // Checked only while the lag cannot have run out, so this holds on
        // any machine however slow.
        let before = secondary_bytes(&m);
        if written.elapsed() < lag {
            assert_eq!(
                &before[4096..8192],
                &[0u8; 4096][..],
                "applied before the lag"
            );
        }
        // Wait (generously) until it shows, and note when it did.
        let deadline = Instant::now() + Duration::from_secs(30);
        let seen = loop {
            if secondary_bytes(&m)[4096..8192] == data[..] {
                break Instant::now();
            }
            assert!(Instant::now() < deadline, "never applied");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            seen.duration_since(written) >= lag,
            "applied before the lag"
        );
        assert!(m.wait_idle(Duration::from_secs(30)));
        assert_eq!(m.applied(), 1);
        assert_eq!(secondary_bytes(&m), m.primary().bytes);
    }

    #[test]
    fn async_mirror_pause_cut_resume_converge() {
        let config = AsyncConfig {
            lag: Duration::from_millis(1),
            ..AsyncConfig::default()
        };
        let len = 64 * 1024;
        let mut m = AsyncMirror::new(MemVolume::new(len), MemVolume::new(len), config).unwrap();
        m.pause();
        for i in 0..8u64 {
            m.write_at(i * 4096, &fill(4096, i as u8 + 1)).unwrap();
        }
        assert!(m.pending() >= 8);
        m.cut();
        assert_eq!(m.pending(), 0);
        m.write_at(40 * 1024, &fill(4096, 77)).unwrap();
        assert!(!m.dirty().is_empty());
        let queued = m.resume().unwrap();
        assert_eq!(queued, 8 * 4096 + 4096);
        assert!(m.wait_idle(Duration::from_secs(30)));
        assert_eq!(secondary_bytes(&m), m.primary().bytes);
        // Normal operation after the resume, with a new lag.
        m.set_lag(Duration::ZERO);
        m.write_at(0, &fill(4096, 99)).unwrap();
        assert!(m.wait_idle(Duration::from_secs(30)));
        assert_eq!(secondary_bytes(&m), m.primary().bytes);
    }

    #[test]
    fn async_mirror_reorder_window_still_converges() {
        let config = AsyncConfig {
            lag: Duration::ZERO,
            reorder_window: 8,
            seed: 42,
            ..AsyncConfig::default()
        };
        let len = 16 * 512;
        let mut m = AsyncMirror::new(MemVolume::new(len), MemVolume::new(len), config).unwrap();
        m.pause();
        // Many overlapping writes: the order among overlapping ones must hold.
        for i in 0..200u64 {
            let off = (i * 512 * 3) % (len as u64 - 1024);
            m.write_at(off, &fill(1024, i as u8)).unwrap();
        }
        m.resume().unwrap();
        assert!(m.wait_idle(Duration::from_secs(30)));
        assert_eq!(m.applied(), 200);
        assert_eq!(secondary_bytes(&m), m.primary().bytes);
    }

    /// A volume that logs the offsets written to it.
    struct Recorder {
        inner: MemVolume,
        log: Vec<u64>,
    }

    impl Volume for Recorder {
        fn len_bytes(&self) -> u64 {
            self.inner.len_bytes()
        }
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> Result<(), VolumeError> {
            self.inner.read_at(o, b)
        }
        fn write_at(&mut self, o: u64, d: &[u8]) -> Result<(), VolumeError> {
            self.log.push(o);
            self.inner.write_at(o, d)
        }
    }

    #[test]
    fn async_mirror_reorders_within_the_window() {
        let window = 4;
        let config = AsyncConfig {
            lag: Duration::ZERO,
            reorder_window: window,
            seed: 1,
            ..AsyncConfig::default()
        };
        let n = 64u64;
        let recorder = Recorder {
            inner: MemVolume::new(n as usize * 512),
            log: Vec::new(),
        };
        let mut m = AsyncMirror::new(MemVolume::new(n as usize * 512), recorder, config).unwrap();
        m.pause();
        for i in 0..n {
            m.write_at(i * 512, &fill(512, i as u8)).unwrap();
        }
        m.resume().unwrap();
        assert!(m.wait_idle(Duration::from_secs(30)));
        let secondary = m.secondary();
        let rec = lock(&secondary);
        let order: Vec<u64> = rec.log.iter().map(|o| o / 512).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..n).collect::<Vec<_>>(),
            "every write applied once"
        );
        assert_ne!(order, sorted, "nothing was reordered");
        for (pos, &i) in order.iter().enumerate() {
            assert!(
                pos.abs_diff(i as usize) < window,
                "write {i} applied at {pos}"
            );
        }
        assert_eq!(rec.inner.bytes, m.primary().bytes);
    }

    #[test]
    fn shuffle_respects_overlap_order() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = Instant::now();
        let mk = |offset: u64, tag: u8| {
            let mut data = AlignedBuf::new(512);
            data.as_mut_slice()[0] = tag;
            Pending {
                offset,
                data,
                at: now,
            }
        };
        for _ in 0..50 {
            let batch = vec![mk(0, 0), mk(512, 1), mk(0, 2), mk(1024, 3), mk(256, 4)];
            let out: Vec<u8> = shuffle_keeping_overlaps(batch, &mut rng)
                .iter()
                .map(|p| p.data.as_slice()[0])
                .collect();
            let pos = |t: u8| out.iter().position(|&x| x == t).unwrap();
            assert_eq!(out.len(), 5);
            assert!(pos(0) < pos(2) && pos(2) < pos(4) && pos(1) < pos(4));
        }
    }

    #[test]
    fn next_chase_follows_runs() {
        assert_eq!(next_chase(&[], 3, 8), None);
        assert_eq!(next_chase(&[3, 4, 5], 3, 8), Some(6));
        assert_eq!(next_chase(&[0, 1, 2], 5, 8), Some(3));
        assert_eq!(next_chase(&[0, 1, 6, 7], 6, 8), Some(2));
        assert_eq!(next_chase(&[0, 1, 2, 3, 4, 5, 6, 7], 2, 8), Some(2));
    }

    #[test]
    fn parse_geometry_rejects_bad_superblocks() {
        let mut sb = vec![0u8; 512];
        assert!(parse_geometry(&sb).is_err());
        let good = Superblock {
            block_size: 4096,
            ring_blocks: 8,
            flags: 0,
            link_id: [7; 16],
            writer_node: 1,
            reader_node: 2,
            formatted_at_ms: 0,
        };
        good.emit(&mut sb);
        assert_eq!(
            parse_geometry(&sb).unwrap(),
            Geometry {
                block_size: 4096,
                ring_blocks: 8
            }
        );
        assert!(parse_geometry(&sb[..14]).is_err());
        let bad = Superblock {
            block_size: 1000,
            ..good
        };
        bad.emit(&mut sb);
        assert!(parse_geometry(&sb).is_err());
        good.emit(&mut sb);
        sb[20] ^= 1;
        assert!(parse_geometry(&sb).is_err(), "a damaged superblock");
    }
}
