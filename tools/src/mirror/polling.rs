//! [`PollingMirror`]: the separate process (`volnic mirror`) that polls
//! the source volume and copies what changed.

#[allow(unused_imports)]
use super::*;

/// The first block of the state area (the state record; a segment
/// region's acknowledgement table follows it, over `state_blocks` blocks).
pub(super) const STATE_BLOCK: u64 = 1;

/// The geometry of the volume whose block 0 starts with `block0`, by the
/// engine's parsers (so the mirror accepts what a reader would): a link
/// volume's superblock, or a segment region's (an apart-form member
/// volume, whose state area may span several blocks); `Err` says what is
/// wrong.
pub fn parse_geometry(block0: &[u8]) -> Result<Geometry, String> {
    let head = block0
        .get(..SUPERBLOCK_LEN)
        .ok_or_else(|| "superblock cut short".to_owned())?;
    match Superblock::parse(head) {
        Ok(sb) => Ok(sb.geometry()),
        Err(e) => volnic_core::segment::RegionSuperblock::parse(head)
            .map(|r| r.layout().geometry())
            .map_err(|_| e.to_string()),
    }
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

pub(super) fn same_file(a: &std::fs::File, b: &std::fs::File) -> bool {
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
            state_block: AlignedBuf::new(bs * geometry.state_blocks as usize),
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

    /// Reads block `block` into the block buffer, or (`into_state`) the
    /// whole state area from `block` on into the state buffer.
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

    /// Reads the state area, then chases the ring; writes the changed
    /// data blocks, then the changed blocks of the state area, the last
    /// first (the state record, in block 1, last of all).
    fn tick(&mut self) -> Result<usize, MirrorError> {
        self.read_block(STATE_BLOCK, true)?;
        let bs = self.geometry.block_size as usize;
        let state_blocks = u64::from(self.geometry.state_blocks);
        let ring_start = self.geometry.ring_start();
        let mut copied = 0;
        let ring = u64::from(self.geometry.ring_blocks);
        for _ in 0..ring {
            let block = ring_start + self.chase;
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
        let area = std::mem::replace(&mut self.state_block, AlignedBuf::new(0));
        let mut result = Ok(());
        for i in (0..state_blocks).rev() {
            let data = &area.as_slice()[i as usize * bs..(i as usize + 1) * bs];
            if self.differs(STATE_BLOCK + i, data) {
                result = self.emit(STATE_BLOCK + i, data);
                if result.is_err() {
                    break;
                }
                copied += 1;
            }
        }
        self.state_block = area;
        result?;
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
        let ring_start = self.geometry.ring_start();
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
                if block < ring_start {
                    head.push((block, data.to_vec()));
                    continue;
                }
                if let Err(e) = self.emit(block, data) {
                    result = Err(e);
                    break;
                }
                copied += 1;
                changed_slots.push(block - ring_start);
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
pub(super) fn next_chase(changed: &[u64], chase: u64, ring: u32) -> Option<u64> {
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
