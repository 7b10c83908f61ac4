//! Tests of the three mirrors and their shared parts.

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
    assert_eq!(parse_geometry(&sb).unwrap(), Geometry::new(4096, 8));
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

/// A volume whose bytes the test keeps a handle on while the mirror owns
/// it.
#[derive(Clone)]
struct Handle(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Volume for Handle {
    fn len_bytes(&self) -> u64 {
        self.0.borrow().len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), volnic_core::VolumeError> {
        let v = self.0.borrow();
        buf.copy_from_slice(&v[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), volnic_core::VolumeError> {
        self.0.borrow_mut()[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// The polling mirror carries an apart-form segment member's volume: it
/// takes its geometry from the region superblock, copies every block of
/// a state area that spans several blocks (8 members in 512-byte blocks:
/// two) on its ticks, not only at sweeps, and the ring after it.
#[test]
fn polling_mirror_carries_a_segment_region_with_a_multi_block_state_area() {
    use volnic_core::segment::{RegionSuperblock, SegmentLayout};
    let layout = SegmentLayout {
        block_size: 512,
        ring_blocks: 8,
        members: 8,
    };
    let geo = layout.geometry();
    assert_eq!(
        geo.state_blocks, 2,
        "(328 + 24 × 8) bytes in 512-byte blocks"
    );
    let len = layout.region_bytes() as usize;
    let src = Handle(std::rc::Rc::new(std::cell::RefCell::new(vec![0u8; len])));
    let dst = Handle(std::rc::Rc::new(std::cell::RefCell::new(vec![0u8; len])));
    RegionSuperblock {
        block_size: 512,
        ring_blocks: 8,
        flags: 0,
        link_id: [3; 16],
        member: 3,
        members: 8,
        segment_id: [9; 16],
        formatted_at_ms: 0,
    }
    .emit(&mut src.0.borrow_mut()[..SUPERBLOCK_LEN]);
    assert_eq!(parse_geometry(&src.0.borrow()[..512]).unwrap(), geo);
    let config = PollConfig {
        sweep_interval: Duration::from_secs(3600),
        ..PollConfig::default()
    };
    let mut m = PollingMirror::new(src.clone(), dst.clone(), config).unwrap();
    assert!(m.step().unwrap().swept, "the first step sweeps");
    assert_eq!(*dst.0.borrow(), *src.0.borrow());
    // A writer's turn: ring slot 0 (block 1 + S), then both blocks of its
    // state area.
    {
        let mut v = src.0.borrow_mut();
        let ring = geo.slot_index_offset(0) as usize;
        v[ring..ring + 512].copy_from_slice(&fill(512, 1));
        v[512..1536].copy_from_slice(&fill(1024, 2));
    }
    let report = m.step().unwrap();
    assert!(!report.swept);
    assert_eq!(report.copied, 3, "one ring block and two state blocks");
    assert_eq!(*dst.0.borrow(), *src.0.borrow());
    // Only the state area's second block changes (the acknowledgement
    // table moved): it too is carried by a tick.
    src.0.borrow_mut()[1024 + 100] ^= 0xff;
    assert_eq!(m.step().unwrap().copied, 1);
    assert_eq!(*dst.0.borrow(), *src.0.borrow());
}
