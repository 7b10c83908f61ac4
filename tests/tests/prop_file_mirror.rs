//! Two endpoints on file-backed volumes (`O_DIRECT` where the filesystem has
//! it), each with its own send volume, joined by the storage-mirror emulator.
//!
//! - Synchronous mirror: every frame is delivered exactly once, in order,
//!   byte-identical, for random frame sequences under 512, 4096 and
//!   65536-byte blocks (time is simulated, so the runs are reproducible).
//! - Asynchronous mirror with lag, random reordering inside its window and
//!   cuts: frames may be lost, but what arrives is a subsequence of what was
//!   sent, each frame intact, none twice (real time, a background thread).

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use volnic_core::LinkConfig;
use volnic_tests::node::{frame_id, numbered_frame, Node};
use volnic_tools::filevol::{FileVolume, OpenMode};
use volnic_tools::mirror::{AsyncConfig, AsyncMirror, SyncMirror};

const RING: u32 = 32;

fn format(path: &Path, block_size: u32, writer: u32, reader: u32) {
    let args = volnic_tools::format::FormatArgs {
        path: path.to_path_buf(),
        block_size,
        blocks: RING,
        writer_node: writer,
        reader_node: reader,
        force: false,
        authenticated: false,
        members: None,
        member: None,
        segment_id: None,
    };
    volnic_tools::format::format(&args).expect("format");
}

fn open(path: &Path) -> FileVolume {
    FileVolume::open(path, OpenMode::ReadWrite).expect("open volume")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("volnic-prop-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
}

/// Formats the four files of a link: each node's send volume and the
/// mirror target that is the other node's receive volume.
fn volumes(dir: &Path, block_size: u32) -> [std::path::PathBuf; 4] {
    let paths = ["a-send", "b-recv", "b-send", "a-recv"].map(|n| dir.join(n));
    format(&paths[0], block_size, 1, 2);
    format(&paths[1], block_size, 1, 2); // overwritten by the mirror
    format(&paths[2], block_size, 2, 1);
    format(&paths[3], block_size, 2, 1);
    // Mirror targets start as exact copies, as after an initial array sync.
    std::fs::copy(&paths[0], &paths[1]).unwrap();
    std::fs::copy(&paths[2], &paths[3]).unwrap();
    paths
}

fn config(node: u32) -> LinkConfig {
    let mut cfg = LinkConfig::new(node);
    cfg.set_peer_timeout_us(2_000_000);
    cfg
}

fn frame_sizes(max: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(
        prop_oneof![
            8 => 14usize..=1514,
            1 => 1514usize..=max,
        ],
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn sync_mirror_delivers_every_frame_once_in_order(
        block_size in prop_oneof![Just(512u32), Just(4096), Just(65536)],
        sizes in frame_sizes(9000),
        burst in 1usize..20,
    ) {
        let dir = temp_dir();
        let p = volumes(dir.path(), block_size);
        let a_send = SyncMirror::new(open(&p[0]), open(&p[1])).unwrap();
        let b_send = SyncMirror::new(open(&p[2]), open(&p[3])).unwrap();
        let mut a = Node::open(config(1), a_send, open(&p[3]), 0, 1 << 20).unwrap();
        let mut b = Node::open(config(2), b_send, open(&p[1]), 0, 1 << 20).unwrap();
        let max = a.link.max_frame_len();
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| numbered_frame(i as u64, len.min(max)))
            .collect();
        let mut now = 1;
        let mut next = 0;
        for _ in 0..20_000 {
            // Offer a burst, as a host would between two polls.
            for _ in 0..burst {
                if next < frames.len() && a.send_frame(&frames[next]).is_ok() {
                    next += 1;
                }
            }
            a.step(now).unwrap();
            b.step(now).unwrap();
            now += 500;
            if b.delivered.len() == frames.len() {
                break;
            }
        }
        prop_assert_eq!(&b.delivered, &frames);
        prop_assert_eq!(a.link.counters().drops(), 0);
        prop_assert_eq!(b.link.counters().rejects(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn async_mirror_with_lag_and_cuts_only_loses(
        block_size in prop_oneof![Just(512u32), Just(4096), Just(65536)],
        sizes in frame_sizes(4000),
        lag_ms in 0u64..15,
        reorder in 0usize..4,
        cut_at in 0usize..120,
        cut_ms in 0u64..600,
        seed in any::<u64>(),
    ) {
        let dir = temp_dir();
        let p = volumes(dir.path(), block_size);
        let cfg = |seed| AsyncConfig {
            lag: Duration::from_millis(lag_ms),
            reorder_window: reorder,
            seed,
            ..AsyncConfig::default()
        };
        let a_send = AsyncMirror::new(open(&p[0]), open(&p[1]), cfg(seed)).unwrap();
        let b_send = AsyncMirror::new(open(&p[2]), open(&p[3]), cfg(seed ^ 1)).unwrap();
        let start = Instant::now();
        let now = || start.elapsed().as_micros() as u64 + 1;
        let mut a = Node::open(config(1), a_send, open(&p[3]), now(), 1 << 20).unwrap();
        let mut b = Node::open(config(2), b_send, open(&p[1]), now(), 1 << 20).unwrap();
        let max = a.link.max_frame_len();
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| numbered_frame(i as u64, len.min(max)))
            .collect();
        let mut next = 0;
        let mut cut_until = None;
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            if next == cut_at && cut_until.is_none() && cut_ms > 0 {
                a.send.cut();
                cut_until = Some(Instant::now() + Duration::from_millis(cut_ms));
            }
            if cut_until.is_some_and(|t| Instant::now() >= t) {
                a.send.resume().unwrap();
                cut_until = Some(deadline + Duration::from_secs(1));
            }
            if next < frames.len() && a.send_frame(&frames[next]).is_ok() {
                next += 1;
            }
            a.step(now()).unwrap();
            b.step(now()).unwrap();
            if next == frames.len() && b.delivered.len() == frames.len() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // Only loss: strictly increasing ids, each frame byte-identical.
        let mut last = None;
        for frame in &b.delivered {
            let id = frame_id(frame);
            prop_assert!(id.is_some(), "corrupted frame delivered");
            let id = id.unwrap();
            prop_assert!(last.is_none_or(|l| id > l), "duplicate or reordered: {} after {:?}", id, last);
            prop_assert_eq!(frame, &frames[id as usize]);
            last = Some(id);
        }
        if cut_ms == 0 {
            // Without a cut the link stays up: the lag only delays.
            prop_assert_eq!(b.delivered.len(), frames.len());
        }
    }
}
