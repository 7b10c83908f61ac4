//! `volnic mirror` as a separate process: SIGUSR1 cuts it (the peer's copy
//! stops changing), SIGUSR2 resumes it (the copy catches up), SIGTERM stops
//! it with exit status 0.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use volnic_tools::endpoint::{format_pair, Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};
use volnic_tools::inspect::read_records;

/// The state record's update count on `path` (0 while unwritten).
fn updates(path: &Path) -> u64 {
    let mut vol = FileVolume::open(path, OpenMode::ReadOnly).unwrap();
    let (_, state) = read_records(&mut vol, path).unwrap();
    state.map_or(0, |s| s.update_count)
}

fn signal(pid: u32, sig: i32) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `f` holds, for at most 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigusr1_cuts_and_sigusr2_resumes_a_mirror_process() {
    if !volnic_tests::prereq::programs_ready(
        "mirror_signals::sigusr1_cuts_and_sigusr2_resumes_a_mirror_process",
        &[volnic_tests::prereq::KILL],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EndpointConfig::new(dir.path(), 4096);
    cfg.ring_blocks = 64;
    cfg.peer_timeout_us = 500_000; // state record rewritten every 100 ms
    let (a, b) = format_pair(&cfg).unwrap();
    let copy = dir.path().join("a.mirror.vol");
    std::fs::copy(&a, &copy).unwrap();
    let mut mirror = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .arg("mirror")
        .arg(&a)
        .arg(&copy)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Node 1 writes a.vol; its records reach the copy through the mirror.
    let writer = Endpoint::start(&cfg, 1, &a, &b, Box::new(|_| {})).unwrap();
    eventually("records reach the copy", || updates(&copy) >= 3);

    signal(mirror.id(), libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(200)); // let a tick in flight finish
    let frozen = updates(&copy);
    std::thread::sleep(Duration::from_millis(600));
    assert!(updates(&a) > frozen + 2, "the writer kept writing");
    assert_eq!(updates(&copy), frozen, "the copy changed while cut");

    signal(mirror.id(), libc::SIGUSR2);
    eventually("the copy catches up after resume", || {
        updates(&copy) > frozen + 2
    });

    writer.stop();
    signal(mirror.id(), libc::SIGTERM);
    let status = mirror.wait().unwrap();
    assert!(status.success(), "mirror exited with {status}");
}
