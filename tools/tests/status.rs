//! `volnic status` tells a live writer from one that never started, one
//! that shut down and one that crashed, and shows the peer's
//! acknowledgement.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use volnic_core::{Link, LinkConfig, Volume};
use volnic_tools::endpoint::{format_pair, now_us, Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};

fn status(paths: &[&Path]) -> (String, serde_json::Value) {
    let run = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_volnic"));
        cmd.args(["status", "--watch-ms", "1000"]).args(paths);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("volnic status runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let json = serde_json::from_str(&run(true)).expect("valid JSON");
    (run(false), json)
}

fn writer(json: &serde_json::Value, i: usize) -> &str {
    json[i]["writer"].as_str().unwrap_or_default()
}

#[test]
fn status_follows_the_writers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EndpointConfig::new(dir.path(), 4096);
    cfg.ring_blocks = 64;
    cfg.peer_timeout_us = 1_000_000;
    let (a, b) = format_pair(&cfg).unwrap();

    let (_, json) = status(&[&a, &b]);
    assert_eq!(
        (writer(&json, 0), writer(&json, 1)),
        ("never-started", "never-started")
    );

    // Two live endpoints on one shared file per direction.
    let one = Endpoint::start(&cfg, 1, &a, &b, Box::new(|_| {})).unwrap();
    let two = Endpoint::start(&cfg, 2, &b, &a, Box::new(|_| {})).unwrap();
    assert!(one.wait_up(Duration::from_secs(10)) && two.wait_up(Duration::from_secs(10)));
    for _ in 0..5 {
        one.send(&[0xab; 200]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let (text, json) = status(&[&a, &b]);
    assert_eq!(
        (writer(&json, 0), writer(&json, 1)),
        ("alive", "alive"),
        "{text}"
    );
    assert!(json[0]["updates_during_watch"].as_u64().unwrap() > 0);
    // Node 2 has read node 1's blocks: its acknowledgement, read from b.vol,
    // is shown against a.vol and reaches a.vol's next sequence number.
    let next_a = json[0]["record"]["next_seq"].as_u64().unwrap();
    assert!(next_a >= 1, "{text}");
    assert_eq!(json[0]["peer_ack"]["seq"].as_u64(), Some(next_a), "{text}");
    assert!(text.contains("peer ack    node 2 has read this volume's blocks before seq"));
    assert!(text.contains("(0 block(s) not yet read)"), "{text}");

    two.stop();
    let (_, json) = status(&[&a, &b]);
    assert_eq!(writer(&json, 1), "shut-down");
    one.stop();

    // A writer that dies without shutting down leaves a record saying
    // running that no longer changes.
    {
        let mut send = FileVolume::open(&a, OpenMode::ReadWrite).unwrap();
        let mut recv = FileVolume::open(&b, OpenMode::ReadOnly).unwrap();
        let mut link_cfg = LinkConfig::new(1);
        link_cfg.set_peer_timeout_us(1_000_000);
        let mut link = Link::open(link_cfg, &mut send, &mut recv, now_us(), 7).unwrap();
        let start = now_us();
        while now_us() - start < 300_000 {
            link.poll(now_us(), &mut send, &mut recv, &mut |_: &[u8]| {})
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(send.len_bytes() > 0);
        // Dropped here without `shutdown`: a crash.
    }
    let (text, json) = status(&[&a]);
    assert_eq!(writer(&json, 0), "stale", "{text}");
    assert!(text.contains("stopped without shutting down"), "{text}");
}

#[test]
fn status_of_a_non_volume_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .arg("status")
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not a volnic volume"), "{err}");
}

/// With both volumes of a link listed, status says what would keep each
/// one's reader from reading it, in the engine's own words: here the two
/// send volumes were formatted with different block sizes, and one of
/// them is authenticated.
#[test]
fn status_names_what_keeps_a_reader_off_a_volume() {
    use volnic_tools::format::{format, FormatArgs};
    let dir = tempfile::tempdir().unwrap();
    let volume = |name: &str, block_size, writer_node, reader_node, authenticated| {
        let args = FormatArgs {
            path: dir.path().join(name),
            block_size,
            blocks: 16,
            writer_node,
            reader_node,
            force: false,
            authenticated,
            members: None,
            member: None,
            segment_id: None,
        };
        format(&args).unwrap();
        args.path
    };
    let a = volume("a.vol", 4096, 1, 2, false);
    let b = volume("b.vol", 512, 2, 1, false);
    let (text, json) = status(&[&a, &b]);
    let problem = |i: usize| {
        json[i]["reader_problem"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // Node 2 sends 512-byte blocks and would meet node 1's 4096-byte ones.
    assert_eq!(
        problem(0),
        "peer uses 4096-byte blocks, this node 512: format both send volumes with the same block size"
    );
    assert_eq!(
        problem(1),
        "peer uses 512-byte blocks, this node 4096: format both send volumes with the same block size"
    );
    assert!(
        text.contains("reader      node 2 would not read it: peer uses 4096-byte blocks"),
        "{text}"
    );

    let c = volume("c.vol", 4096, 2, 1, true);
    let (_, json) = status(&[&a, &c]);
    let problem = |i: usize| {
        json[i]["reader_problem"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        problem(0).starts_with("peer volume is not authenticated"),
        "{}",
        problem(0)
    );
    assert!(
        problem(1).starts_with("peer volume is authenticated but this node has no key"),
        "{}",
        problem(1)
    );

    // A volume listed alone, or a pair that fits, has no such line.
    let d = volume("d.vol", 4096, 2, 1, false);
    let (text, json) = status(&[&a, &d]);
    assert!(json[0]["reader_problem"].is_null() && json[1]["reader_problem"].is_null());
    assert!(!text.contains("would not read it"), "{text}");
    let (_, json) = status(&[&b]);
    assert!(json[0]["reader_problem"].is_null());
}

/// A state record of member `member` of a segment, as its writer would
/// write it (`state`, update `update`).
fn member_record(member: u32, state: volnic_core::format::WriterState, update: u64) -> Vec<u8> {
    let mut rec = volnic_core::format::StateRecord {
        state,
        writer_node: member,
        reader_node: 0,
        epoch: 9,
        next_seq: 4,
        ack_epoch: 0,
        ack_seq: 0,
        update_count: update,
        writer_time_us: 0,
        host_name: [0; 32],
        counters: Default::default(),
        mac: [0; 32],
    };
    rec.set_host_name(&format!("member-{member}"));
    let mut block = vec![0u8; 4096];
    rec.emit(&mut block);
    block
}

/// `volnic status SEGMENT` judges every member region's writer as it
/// judges a volume's: one whose record keeps changing is alive, one whose
/// record says running but stands still stopped without shutting down,
/// one that shut down cleanly is said so, one never started likewise.
#[test]
fn status_judges_every_member_of_a_segment() {
    use std::io::{Seek, SeekFrom, Write};
    use volnic_core::format::WriterState;
    use volnic_core::segment::SegmentHeader;
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("segment");
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args([
            "format",
            seg.to_str().unwrap(),
            "--members",
            "4",
            "--blocks",
            "16",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(&seg).unwrap();
    let layout = SegmentHeader::parse(&bytes[..4096]).unwrap().layout();
    let record_at = |m: u32| layout.region_offset(m) + 4096;
    let put = |m: u32, block: &[u8]| {
        let mut f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.seek(SeekFrom::Start(record_at(m))).unwrap();
        f.write_all(block).unwrap();
    };
    put(1, &member_record(1, WriterState::ShuttingDown, 5));
    put(3, &member_record(3, WriterState::Running, 5));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let live = {
        let (seg, stop) = (seg.clone(), stop.clone());
        let at = record_at(2);
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
            let mut update = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                update += 1;
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&member_record(2, WriterState::Running, update))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (text, json) = status(&[&seg]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    live.join().unwrap();
    let members = json[0]["members"].as_array().expect("members");
    let liveness: Vec<&str> = members
        .iter()
        .map(|m| m["liveness"].as_str().unwrap())
        .collect();
    assert_eq!(
        liveness,
        ["shut-down", "alive", "stale", "never-started"],
        "{json}"
    );
    assert_eq!(json[0]["segment"]["members"], 4);
    assert!(members[1]["updates"].as_u64().unwrap() > 3, "{json}");
    assert!(text.contains("member  2 alive"), "{text}");
    assert!(text.contains("'member-3'"), "{text}");
}
