//! The mirror emulator on real files (O_DIRECT on a disk filesystem): the
//! polling mirror of `volnic mirror`, and the in-process mirrors with
//! file-backed volumes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volnic_core::aligned::AlignedBuf;
use volnic_core::Volume;
use volnic_tools::filevol::{FileVolume, OpenMode};
use volnic_tools::mirror::{
    AsyncConfig, AsyncMirror, MirrorError, PollConfig, PollMode, PollingMirror, SyncMirror,
};

const BS: usize = 512;
const RING: u64 = 8;
const VOL_BYTES: u64 = (2 + RING) * BS as u64;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("volnic-mirror-")
        .tempdir_in("/var/tmp")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir")
}

/// Block 0 of a volume formatted with this geometry (the engine's encoding,
/// which the mirror parses).
fn superblock(block_size: u32, ring: u32) -> AlignedBuf {
    let mut b = AlignedBuf::new(BS);
    volnic_core::format::Superblock {
        block_size,
        ring_blocks: ring,
        flags: 0,
        link_id: [7; 16],
        writer_node: 1,
        reader_node: 2,
        formatted_at_ms: 0,
    }
    .emit(b.as_mut_slice());
    b
}

/// A formatted SRC (opened for the test's writer) and a zeroed DST.
fn volumes(dir: &Path) -> (PathBuf, PathBuf, FileVolume) {
    let src = dir.join("a.send");
    let dst = dir.join("b.recv");
    let mut writer = FileVolume::create(&src, VOL_BYTES, false).unwrap();
    writer
        .write_at(0, superblock(BS as u32, RING as u32).as_slice())
        .unwrap();
    drop(FileVolume::create(&dst, VOL_BYTES, false).unwrap());
    (src, dst, writer)
}

fn block(tag: u64) -> AlignedBuf {
    let mut b = AlignedBuf::new(BS);
    for (i, x) in b.as_mut_slice().iter_mut().enumerate() {
        *x = (tag as u8).wrapping_add(i as u8);
    }
    b.as_mut_slice()[..8].copy_from_slice(&tag.to_le_bytes());
    b
}

/// Writes data block `seq` (with `tag`) to its slot, then the state record.
fn write_seq(writer: &mut FileVolume, seq: u64, tag: u64) {
    let slot = 2 + seq % RING;
    writer
        .write_at(slot * BS as u64, block(tag).as_slice())
        .unwrap();
    writer
        .write_at(BS as u64, block(1_000_000 + seq).as_slice())
        .unwrap();
}

fn no_sweeps() -> PollConfig {
    PollConfig {
        sweep_interval: Duration::from_secs(3600),
        ..PollConfig::default()
    }
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

fn slot_of(path: &Path, slot: u64) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let at = ((2 + slot) as usize) * BS;
    bytes[at..at + BS].to_vec()
}

#[test]
fn polling_mirror_chases_bursts_wraps_and_restarts() {
    let dir = tmp();
    let (src, dst, mut writer) = volumes(dir.path());
    let mut m = PollingMirror::open(&src, &dst, no_sweeps()).unwrap();
    assert_eq!(m.geometry().ring_blocks, RING as u32);

    // The first step sweeps: the superblock arrives.
    let r = m.step().unwrap();
    assert!(r.swept);
    assert!(same(&src, &dst));

    // One block at a time, followed by the chase slot alone.
    write_seq(&mut writer, 0, 100);
    let r = m.step().unwrap();
    assert!(!r.swept);
    assert_eq!(r.copied, 2, "data block and state record");
    assert!(same(&src, &dst));

    // A burst: followed in one step.
    for seq in 1..6 {
        write_seq(&mut writer, seq, 100 + seq);
    }
    let r = m.step().unwrap();
    assert_eq!(r.copied, 6);
    assert!(same(&src, &dst));

    // Round the ring and past its end.
    for seq in 6..(RING + 3) {
        write_seq(&mut writer, seq, 100 + seq);
        m.step().unwrap();
        assert!(same(&src, &dst), "after seq {seq}");
    }
    assert_eq!(m.chase_slot(), 3);
    assert_eq!(m.stats().sweeps, 1);

    // The writer restarts at slot 0: the chase slot (3) does not change, so
    // only a sweep finds it.
    write_seq(&mut writer, 0, 500);
    write_seq(&mut writer, 1, 501);
    m.step().unwrap();
    assert_ne!(slot_of(&src, 0), slot_of(&dst, 0));
    let copied = m.sweep().unwrap();
    // (The tick already copied the state record.)
    assert_eq!(copied, 2, "the two restarted slots");
    assert!(same(&src, &dst));
    assert_eq!(m.chase_slot(), 2);
    // ...and the chase follows the writer from there.
    write_seq(&mut writer, 2, 502);
    let r = m.step().unwrap();
    assert!(!r.swept);
    assert!(same(&src, &dst));
}

#[test]
fn polling_mirror_periodic_sweep_catches_restart() {
    let dir = tmp();
    let (src, dst, mut writer) = volumes(dir.path());
    let config = PollConfig {
        sweep_interval: Duration::ZERO,
        ..PollConfig::default()
    };
    let mut m = PollingMirror::open(&src, &dst, config).unwrap();
    for seq in 0..5 {
        write_seq(&mut writer, seq, seq);
    }
    m.step().unwrap();
    write_seq(&mut writer, 0, 900);
    let r = m.step().unwrap();
    assert!(r.swept);
    assert!(same(&src, &dst));
}

#[test]
fn polling_mirror_pauses() {
    let dir = tmp();
    let (src, dst, mut writer) = volumes(dir.path());
    let mut m = PollingMirror::open(&src, &dst, no_sweeps()).unwrap();
    m.step().unwrap();
    let pause = m.pause_handle();
    pause.store(true, std::sync::atomic::Ordering::Release);
    write_seq(&mut writer, 0, 7);
    let r = m.step().unwrap();
    assert!(r.paused);
    assert!(!same(&src, &dst));
    pause.store(false, std::sync::atomic::Ordering::Release);
    m.step().unwrap();
    assert!(same(&src, &dst));
}

#[test]
fn polling_mirror_async_shows_copies_after_the_lag() {
    let dir = tmp();
    let (src, dst, mut writer) = volumes(dir.path());
    let lag = Duration::from_millis(300);
    let config = PollConfig {
        mode: PollMode::Async { lag },
        ..no_sweeps()
    };
    let mut m = PollingMirror::open(&src, &dst, config).unwrap();
    // Superblock, seen now, lands after the lag like everything else.
    let start = Instant::now();
    m.step().unwrap();
    write_seq(&mut writer, 0, 42);
    let written = Instant::now();
    m.step().unwrap();
    if start.elapsed() < lag {
        assert_ne!(slot_of(&src, 0), slot_of(&dst, 0), "visible before the lag");
        assert!(m.pending() > 0);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !same(&src, &dst) {
        assert!(Instant::now() < deadline, "never copied");
        std::thread::sleep(Duration::from_millis(2));
        m.step().unwrap();
    }
    assert!(written.elapsed() >= lag, "copied before the lag");
    assert_eq!(m.pending(), 0);
}

#[test]
fn polling_mirror_refuses_bad_volumes() {
    let dir = tmp();
    let d = dir.path();
    let dst = d.join("dst");
    drop(FileVolume::create(&dst, VOL_BYTES, false).unwrap());
    let make = |name: &str, sb: Option<(u32, u32)>, len: u64| {
        let p = d.join(name);
        let mut v = FileVolume::create(&p, len, false).unwrap();
        if let Some((bs, ring)) = sb {
            v.write_at(0, superblock(bs, ring).as_slice()).unwrap();
        }
        p
    };
    let msg = |src: &Path, dst: &Path| {
        PollingMirror::open(src, dst, PollConfig::default())
            .err()
            .expect("refused")
            .to_string()
    };

    let blank = make("blank", None, VOL_BYTES);
    let m = msg(&blank, &dst);
    assert!(
        m.contains("not a formatted volnic volume") && m.contains("volnic format"),
        "{m}"
    );
    assert!(m.contains(&blank.display().to_string()), "{m}");

    let odd = make("odd", Some((1000, 8)), VOL_BYTES);
    assert!(msg(&odd, &dst).contains("block_size"));

    let short = make("short", Some((512, 100)), VOL_BYTES);
    assert!(msg(&short, &dst).contains("need"));

    let big = make("big", Some((512, 16)), 18 * 512);
    let m = msg(&big, &dst);
    assert!(m.contains("at least as large"), "{m}");
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), VOL_BYTES);

    let m = msg(&d.join("missing"), &dst);
    assert!(m.starts_with("SRC ") && m.contains("not found"), "{m}");

    let good = make("good", Some((512, 8)), VOL_BYTES);
    assert!(msg(&good, &good).contains("same file"));
    let m = msg(&good, d);
    assert!(m.starts_with("DST ") && m.contains("is a directory"), "{m}");
    for m in [msg(&blank, &dst), msg(&big, &dst)] {
        assert!(!m.contains('\n'));
    }
    let err = PollingMirror::open(&blank, &dst, PollConfig::default())
        .err()
        .unwrap();
    assert!(matches!(err, MirrorError::NotFormatted { .. }));
}

#[test]
fn cli_mirror_runs_for_a_while() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: volnic_tools::cli::mirror::MirrorArgs,
    }
    let dir = tmp();
    let (src, dst, mut writer) = volumes(dir.path());
    for seq in 0..4 {
        write_seq(&mut writer, seq, seq + 10);
    }
    let cli = Cli::try_parse_from([
        "mirror".as_ref(),
        src.as_os_str(),
        dst.as_os_str(),
        "--duration-ms".as_ref(),
        "300".as_ref(),
    ])
    .unwrap();
    volnic_tools::cli::mirror::run(cli.args).unwrap();
    assert!(same(&src, &dst));
}

#[test]
fn sync_mirror_on_files() {
    let dir = tmp();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let p = FileVolume::create(&a, 64 * 1024, false).unwrap();
    let s = FileVolume::create(&b, 64 * 1024, false).unwrap();
    let mut m = SyncMirror::new(p, s).unwrap();
    for i in 0..16 {
        m.write_at(i * 4096, block(i).as_slice()).unwrap();
    }
    assert!(same(&a, &b));
    m.cut();
    m.write_at(4096, block(99).as_slice()).unwrap();
    m.write_at(7, b"unaligned").unwrap();
    assert!(!same(&a, &b));
    m.resume().unwrap();
    assert!(same(&a, &b));
}

#[test]
fn async_mirror_into_a_file_the_reader_opens() {
    let dir = tmp();
    let send = dir.path().join("a.send");
    let recv = dir.path().join("b.recv");
    let p = FileVolume::create(&send, 64 * 1024, false).unwrap();
    let s = FileVolume::create(&recv, 64 * 1024, false).unwrap();
    let config = AsyncConfig {
        lag: Duration::from_millis(5),
        reorder_window: 4,
        seed: 3,
        ..AsyncConfig::default()
    };
    let mut m = AsyncMirror::with_shared(p, Arc::new(Mutex::new(s)), config).unwrap();
    let mut reader = FileVolume::open(&recv, OpenMode::ReadOnly).unwrap();
    for i in 0..16 {
        m.write_at(i * 4096, block(i + 1).as_slice()).unwrap();
    }
    assert!(m.wait_idle(Duration::from_secs(30)));
    let mut got = AlignedBuf::new(64 * 1024);
    reader.read_at(0, got.as_mut_slice()).unwrap();
    assert_eq!(got.as_slice(), std::fs::read(&send).unwrap().as_slice());
}
