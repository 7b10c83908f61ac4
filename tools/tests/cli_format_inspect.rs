//! `volnic format` and `volnic inspect` on good and bad input: exit status,
//! one-line errors, nothing destroyed without --force, no panics.

use std::path::Path;
use std::process::{Command, Output};

fn volnic(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args(args)
        .output()
        .expect("volnic runs")
}

fn dir() -> tempfile::TempDir {
    // Prefer a disk-backed directory (O_DIRECT) over a tmpfs /tmp.
    tempfile::Builder::new()
        .prefix("volnic-cli-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
}

/// The command failed with a single-line message naming `what`.
fn assert_one_line_error(out: &Output, what: &str) {
    assert!(!out.status.success(), "exit status must be non-zero");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(
        lines[0].contains(what),
        "error should mention {what:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn format_then_inspect_round_trip() {
    let d = dir();
    let vol = d.path().join("a.vol");
    let out = volnic(&[
        "format",
        path_str(&vol),
        "--block-size",
        "512",
        "--blocks",
        "16",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = volnic(&["inspect", "--json", path_str(&vol)]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["superblock"]["block_size"], 512);
    assert_eq!(json["superblock"]["ring_blocks"], 16);
    assert_eq!(json["superblock"]["writer_node"], 1);
    assert_eq!(json["ring"]["empty"], 16);
    assert_eq!(std::fs::metadata(&vol).unwrap().len(), 18 * 512);
}

#[test]
fn inspect_rejects_bad_volumes_with_one_line() {
    let d = dir();
    let empty = d.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_error(&volnic(&["inspect", path_str(&empty)]), "empty");

    let garbage = d.path().join("garbage");
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &noise).unwrap();
    assert_one_line_error(
        &volnic(&["inspect", path_str(&garbage)]),
        "not a volnic volume",
    );

    let vol = d.path().join("v.vol");
    assert!(volnic(&["format", path_str(&vol), "--blocks", "64"])
        .status
        .success());
    let truncated = d.path().join("truncated");
    let bytes = std::fs::read(&vol).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert_one_line_error(&volnic(&["inspect", path_str(&truncated)]), "truncated");

    assert_one_line_error(&volnic(&["inspect", path_str(d.path())]), "directory");
    let missing = d.path().join("missing");
    assert_one_line_error(&volnic(&["inspect", path_str(&missing)]), "not found");
}

#[test]
fn format_refuses_to_overwrite_without_force() {
    let d = dir();
    let vol = d.path().join("a.vol");
    assert!(volnic(&["format", path_str(&vol), "--blocks", "16"])
        .status
        .success());
    let before = std::fs::read(&vol).unwrap();
    let out = volnic(&["format", path_str(&vol), "--blocks", "32"]);
    assert_one_line_error(&out, "--force");
    assert_eq!(std::fs::read(&vol).unwrap(), before, "volume changed");

    // Other data is protected the same way.
    let data = d.path().join("data.img");
    std::fs::write(&data, vec![0x5a; 8192]).unwrap();
    assert_one_line_error(&volnic(&["format", path_str(&data)]), "--force");
    assert_eq!(std::fs::read(&data).unwrap(), vec![0x5a; 8192]);

    // With --force it is replaced.
    let out = volnic(&["format", path_str(&vol), "--blocks", "32", "--force"]);
    assert!(out.status.success(), "{out:?}");
    assert_ne!(std::fs::read(&vol).unwrap(), before);
}

#[test]
fn format_rejects_bad_geometry_with_one_line() {
    let d = dir();
    let vol = d.path().join("a.vol");
    let v = path_str(&vol);
    assert_one_line_error(
        &volnic(&["format", v, "--block-size", "1000"]),
        "multiple of 512",
    );
    assert_one_line_error(&volnic(&["format", v, "--blocks", "2"]), "--blocks");
    assert_one_line_error(
        &volnic(&["format", v, "--writer-node", "2", "--reader-node", "2"]),
        "both 2",
    );
    assert!(!vol.exists(), "nothing created on bad input");
}

/// `volnic format --members M` lays a together-form segment out as
/// docs/FORMAT.md ("Segments") says, the offsets computed here from the
/// document's rules: block 0 the segment header, blocks 1..=M the head
/// blocks (zero until members run), then region k at block
/// 1 + M + (k−1)·R, R = 1 + S + N blocks, S = ceil((328 + 24·M) / B)
/// (state record 256 bytes, acknowledgement table 72 + 24·M).
#[test]
fn format_members_lays_out_the_together_form() {
    use volnic_core::segment::{RegionSuperblock, SegmentHeader};
    let d = dir();
    for (members, bs, ring) in [(3u64, 512u64, 64u64), (8, 4096, 16), (32, 512, 8)] {
        let p = d.path().join(format!("seg{members}"));
        let out = volnic(&[
            "format",
            path_str(&p),
            "--members",
            &members.to_string(),
            "--block-size",
            &bs.to_string(),
            "--blocks",
            &ring.to_string(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let bytes = std::fs::read(&p).unwrap();
        let s = (328 + 24 * members).div_ceil(bs);
        let r = 1 + s + ring;
        assert_eq!(bytes.len() as u64, (1 + members + members * r) * bs);
        assert_eq!(&bytes[..8], b"VOLNICSG");
        let header = SegmentHeader::parse(&bytes[..bs as usize]).unwrap();
        assert_eq!(u64::from(header.members), members);
        let heads = &bytes[bs as usize..((1 + members) * bs) as usize];
        assert!(heads.iter().all(|&b| b == 0), "head blocks start empty");
        let mut link_ids = Vec::new();
        for k in 1..=members {
            let at = ((1 + members + (k - 1) * r) * bs) as usize;
            let region = RegionSuperblock::parse(&bytes[at..at + bs as usize])
                .unwrap_or_else(|e| panic!("member {k} of {members}: {e}"));
            assert_eq!(u64::from(region.member), k);
            assert_eq!(u64::from(region.members), members);
            assert_eq!(region.segment_id, header.segment_id);
            // Its state area and ring: zero (never started).
            let rest = &bytes[at + bs as usize..at + (r * bs) as usize];
            assert!(rest.iter().all(|&b| b == 0), "member {k}: region not empty");
            link_ids.push(region.link_id);
        }
        link_ids.sort();
        link_ids.dedup();
        assert_eq!(
            link_ids.len() as u64,
            members,
            "every region its own link id"
        );
    }
}

#[test]
fn format_members_refuses_bad_counts_and_overwrites_only_with_force() {
    let d = dir();
    let p = d.path().join("seg");
    let seg = path_str(&p);
    for bad in ["1", "33", "0"] {
        let out = volnic(&["format", seg, "--members", bad]);
        assert_one_line_error(&out, "--members");
    }
    assert!(!p.exists(), "nothing created for a refused count");
    let out = volnic(&["format", seg, "--members", "3", "--writer-node", "2"]);
    assert!(!out.status.success());
    let ok = volnic(&["format", seg, "--members", "3", "--blocks", "16"]);
    assert!(ok.status.success(), "{ok:?}");
    let before = std::fs::read(&p).unwrap();
    for again in [
        vec!["format", seg, "--members", "4", "--blocks", "16"],
        vec!["format", seg, "--blocks", "16"],
    ] {
        let out = volnic(&again);
        assert_one_line_error(&out, "--force");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "{again:?} changed the segment"
        );
    }
    let forced = volnic(&["format", seg, "--members", "4", "--blocks", "16", "--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert_ne!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn inspect_shows_every_member_of_a_segment_and_up_refuses_one() {
    let d = dir();
    let p = d.path().join("seg");
    let seg = path_str(&p);
    assert!(volnic(&["format", seg, "--members", "5", "--blocks", "16"])
        .status
        .success());
    let text = volnic(&["inspect", seg]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("5 members"), "{text}");
    for k in 1..=5 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("member {k:>2}")))
            .unwrap_or_else(|| panic!("no line for member {k}: {text}"));
        assert!(line.contains("never started"), "{line}");
    }
    let json = volnic(&["inspect", "--json", seg]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["segment"]["members"], 5);
    let members = v["members"].as_array().expect("members");
    assert_eq!(members.len(), 5);
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m["member"], i as u64 + 1);
        assert!(m["superblock_error"].is_null(), "{m}");
    }
    // One region's superblock damaged: shown as such, the others still.
    let mut bytes = std::fs::read(&p).unwrap();
    let at = v["members"][1]["offset"].as_u64().unwrap() as usize;
    bytes[at + 20] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let text = volnic(&["inspect", seg]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("member  2") && l.contains("unreadable")),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("member  3") && l.contains("never started")));
    let other = d.path().join("other");
    let out = volnic(&["up", "--send", seg, "--recv", path_str(&other)]);
    assert_one_line_error(&out, "is a volnic segment");
}

/// Reformatting a segment while one member's writer is alive (its state
/// record keeps changing) is refused, --force or not, and nothing is
/// written; the writer is named.
#[test]
fn format_members_refuses_a_segment_with_a_live_member() {
    use std::io::{Seek, SeekFrom, Write};
    use volnic_core::format::{PublishedCounters, StateRecord, WriterState};
    use volnic_core::segment::SegmentHeader;
    let d = dir();
    let p = d.path().join("seg");
    let seg = path_str(&p).to_string();
    assert!(
        volnic(&["format", &seg, "--members", "3", "--blocks", "16"])
            .status
            .success()
    );
    let bytes = std::fs::read(&p).unwrap();
    let layout = SegmentHeader::parse(&bytes[..4096]).unwrap().layout();
    // Member 2's record: at its region's block 1.
    let at = layout.region_offset(2) + 4096;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            let mut update = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                update += 1;
                let mut rec = StateRecord {
                    state: WriterState::Running,
                    writer_node: 2,
                    reader_node: 0,
                    epoch: 7,
                    next_seq: 0,
                    ack_epoch: 0,
                    ack_seq: 0,
                    update_count: update,
                    writer_time_us: 0,
                    host_name: [0; 32],
                    counters: PublishedCounters::default(),
                    mac: [0; 32],
                };
                rec.set_host_name("member-two");
                let mut block = vec![0u8; 4096];
                rec.emit(&mut block);
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&block).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(120));
    let out = volnic(&[
        "format",
        &seg,
        "--members",
        "3",
        "--blocks",
        "16",
        "--force",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_one_line_error(&out, "live volnic writer 'member-two' (node 2");
    let after = std::fs::read(&p).unwrap();
    assert_eq!(
        after[..at as usize],
        bytes[..at as usize],
        "nothing before the record rewritten"
    );
}

/// `volnic format V --members M --member K` formats member K's volume of
/// an apart-form segment: its region alone from block 0, (1 + S + N) × B
/// bytes, carrying the segment id given with --segment-id (or a new one,
/// printed for the other members' volumes); `volnic inspect` reads it.
#[test]
fn format_member_makes_one_apart_form_volume_per_member() {
    use volnic_core::segment::RegionSuperblock;
    let d = dir();
    let path = |k: u32| d.path().join(format!("member{k}"));
    let first = volnic(&[
        "format",
        path_str(&path(1)),
        "--members",
        "3",
        "--member",
        "1",
        "--blocks",
        "16",
    ]);
    assert!(first.status.success(), "{first:?}");
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    let id = said
        .rsplit("--segment-id ")
        .next()
        .map(str::trim)
        .expect("the segment id for the other members")
        .to_string();
    assert_eq!(id.len(), 32, "{said}");
    for k in [2, 3] {
        let out = volnic(&[
            "format",
            path_str(&path(k)),
            "--members",
            "3",
            "--member",
            &k.to_string(),
            "--blocks",
            "16",
            "--segment-id",
            &id,
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    let s = (328u64 + 24 * 3).div_ceil(4096);
    let mut segment_ids = Vec::new();
    for k in 1..=3u32 {
        let bytes = std::fs::read(path(k)).unwrap();
        assert_eq!(bytes.len() as u64, (1 + s + 16) * 4096);
        let region = RegionSuperblock::parse(&bytes[..4096]).unwrap();
        assert_eq!((region.member, region.members), (k, 3));
        segment_ids.push(region.segment_id);
        assert!(bytes[4096..].iter().all(|&b| b == 0));
        let json = volnic(&["inspect", "--json", path_str(&path(k))]);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        assert_eq!(v["segment"]["form"], "apart");
        assert_eq!(v["segment"]["segment_id"], id.as_str());
        assert_eq!(v["members"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["members"][0]["member"], k);
    }
    assert!(segment_ids.iter().all(|s| *s == segment_ids[0]));
    let other = path_str(&d.path().join("other")).to_string();
    for (args, what) in [
        (vec!["--members", "3", "--member", "4"], "--member 4"),
        (vec!["--members", "3", "--member", "0"], "--member 0"),
        (
            vec!["--members", "3", "--member", "2", "--segment-id", "12ab"],
            "--segment-id",
        ),
    ] {
        let mut all = vec!["format", other.as_str()];
        all.extend(args);
        assert_one_line_error(&volnic(&all), what);
    }
    assert!(!volnic(&["format", &other, "--member", "2"])
        .status
        .success());
    assert!(
        !d.path().join("other").exists(),
        "nothing created when refused"
    );
}
