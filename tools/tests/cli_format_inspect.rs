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
