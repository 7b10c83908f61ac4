//! [`AsyncMirror`]: in-process asynchronous mirroring; writes reach the
//! secondary `lag` after they were made, from a background thread.

#[allow(unused_imports)]
use super::*;

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

pub(super) struct Pending {
    pub(super) offset: u64,
    pub(super) data: AlignedBuf,
    pub(super) at: Instant,
}

impl Pending {
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.data.len() as u64)
    }

    fn overlaps(&self, other: &Pending) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

pub(super) struct AsyncState {
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

/// What the asynchronous mirror and its applier thread share: the writes
/// waiting to reach the secondary, the wake-up, and the secondary itself.
pub(super) struct ApplyQueue<S> {
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
    shared: Arc<ApplyQueue<S>>,
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
        let shared = Arc::new(ApplyQueue {
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
pub(super) fn shuffle_keeping_overlaps(batch: Vec<Pending>, rng: &mut StdRng) -> VecDeque<Pending> {
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

pub(super) fn run_applier<S: Volume>(shared: &ApplyQueue<S>, seed: u64) {
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
