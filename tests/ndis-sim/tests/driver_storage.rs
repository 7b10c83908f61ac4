//! The miniport on storage that is not there yet: an unattended heartbeat
//! NIC whose volumes appear after boot (an iSCSI LUN that logs in late, an
//! offline disk brought online) starts disconnected, says why, and comes up
//! by itself when the volumes appear; a configuration fault that no waiting
//! cures still fails initialization.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use volnic_ndis_sim::storage::make_link;
use volnic_ndis_sim::SimHost;

/// How long the volumes stay away after initialize (the scenario).
const ABSENT_FOR: Duration = Duration::from_secs(10);

fn hidden(path: &Path) -> PathBuf {
    path.with_extension("away")
}

fn count(log: &[String], needle: &str) -> usize {
    log.iter().filter(|line| line.contains(needle)).count()
}

#[test]
fn volumes_that_appear_after_initialize_bring_the_link_up_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 32);
    // Node 1's send LUN is not there when its adapter starts. (Its
    // receive volume is node 2's mirror target, which node 2 needs.)
    std::fs::rename(&files.a_send, hidden(&files.a_send)).unwrap();
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .expect("a missing volume does not fail initialization");
    let b = host
        .initialize("node2", &registry(&files.b_send, &files.b_recv, 2, 4096))
        .expect("node 2 initializes");
    host.restart(a);
    host.restart(b);
    set_filter(&mut host, a);
    set_filter(&mut host, b);
    assert!(
        !host.general(a).connected,
        "node 1 starts with media disconnected"
    );
    let log = host.event_log();
    assert_eq!(
        count(&log, "waiting for its storage: SendVolume"),
        1,
        "the reason is logged once: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("waiting for its storage") && l.contains("not found")),
        "{log:#?}"
    );

    std::thread::sleep(ABSENT_FOR);
    // Still down, and the unchanged reason was not logged again.
    assert!(!host.link_states(a).last().copied().unwrap_or(false));
    assert_eq!(count(&host.event_log(), "waiting for its storage"), 1);

    std::fs::rename(hidden(&files.a_send), &files.a_send).unwrap();
    assert!(
        host.wait_link(a, true, WAIT),
        "node 1 comes up by itself once its volumes are there: {:#?}",
        host.event_log()
    );
    assert!(host.wait_link(b, true, WAIT), "node 2 sees node 1");
    assert_eq!(count(&host.event_log(), "volumes open, link starting"), 1);

    // And it carries traffic both ways.
    let (mac_a, mac_b) = (mac_of(&mut host, a), mac_of(&mut host, b));
    let to_b: Vec<Vec<u8>> = (0..8).map(|i| frame(mac_b, mac_a, i, 200)).collect();
    let to_a: Vec<Vec<u8>> = (100..108).map(|i| frame(mac_a, mac_b, i, 300)).collect();
    host.send(a, &nbls(&to_b));
    host.send(b, &nbls(&to_a));
    assert_eq!(host.wait_received(b, to_b.len(), WAIT), to_b);
    assert_eq!(host.wait_received(a, to_a.len(), WAIT), to_a);
    host.finish();
}

#[test]
fn a_new_reason_while_waiting_is_logged_and_halt_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    std::fs::rename(&files.a_recv, hidden(&files.a_recv)).unwrap();
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .expect("a missing receive volume does not fail initialization");
    host.restart(a);
    let log = host.event_log();
    assert!(
        log.iter()
            .any(|l| l.contains("waiting for its storage: ReceiveVolume")),
        "{log:#?}"
    );
    // The send volume goes too: the reason changes and is logged.
    std::fs::rename(&files.a_send, hidden(&files.a_send)).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count(&host.event_log(), "waiting for its storage: SendVolume") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:#?}",
            host.event_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Halt while the thread waits: it ends, nothing leaks (finish checks).
    host.pause(a);
    host.halt(a);
    host.finish();
}

#[test]
fn configuration_faults_still_fail_initialization() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let mut host = SimHost::load();
    // A volume of another node: no waiting cures it.
    let reason = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 2, 4096))
        .expect_err("a volume of another node fails initialization");
    assert!(
        reason.contains("formatted for writer node 1, this is node 2"),
        "{reason}"
    );
    // A block size the volume was not formatted with.
    let reason = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 8192))
        .expect_err("a wrong block size fails initialization");
    assert!(
        reason.contains("formatted with 4096-byte blocks"),
        "{reason}"
    );
    host.finish();
}

#[test]
fn halt_returns_within_its_bound_when_the_storage_never_completes_a_write() {
    use volnic_ndis_sim::os::{release_writes, stall_writes};
    let dir = tempfile::tempdir().unwrap();
    let mut pair = Pair::start(dir.path(), 4096, 32);
    let send = pair.files.a_send.to_string_lossy().into_owned();
    stall_writes(&send);
    // Node 1's thread is now held inside a write of its own: a frame, or at
    // the latest its next state record.
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|i| frame(pair.mac_b, pair.mac_a, i, 500))
        .collect();
    pair.host.send(pair.a, &nbls(&frames));
    std::thread::sleep(Duration::from_millis(500));

    let began = std::time::Instant::now();
    pair.host.pause(pair.a);
    pair.host.halt(pair.a);
    let took = began.elapsed();
    let bound = Duration::from_micros(volnic::adapter::HALT_WAIT_US);
    volnic_tests_report(&format!(
        "halt with stalled storage returned after {} ms (bound {} ms)",
        took.as_millis(),
        bound.as_millis()
    ));
    assert!(
        took < bound + Duration::from_secs(10),
        "halt waited {took:?} for a write that never completes"
    );
    assert!(
        took >= bound,
        "halt returned after {took:?}, before its bound: did the thread end?"
    );
    assert_eq!(
        count(
            &pair.host.event_log(),
            "halt: the storage has not completed a write"
        ),
        1,
        "{:#?}",
        pair.host.event_log()
    );
    // The storage answers again before the driver unloads: Unload waits
    // for the thread and frees what it used; no NDIS call came after halt
    // and nothing leaks (finish checks both).
    release_writes(&send);
    pair.host.finish();
}

/// One line of figures straight to standard error, past the test
/// harness's capture, so CI's log shows it.
fn volnic_tests_report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[test]
fn initialize_returns_within_its_bound_when_the_storage_never_completes_a_write() {
    use volnic_ndis_sim::os::{release_writes, stall_writes};
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let send = files.a_send.to_string_lossy().into_owned();
    stall_writes(&send);
    let mut host = SimHost::load();
    let b = host
        .initialize("node2", &registry(&files.b_send, &files.b_recv, 2, 4096))
        .expect("node 2 initializes");
    let began = std::time::Instant::now();
    // Opening the link writes node 1's starting record, which never
    // completes: initialize gives up waiting and starts disconnected.
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .expect("stalled storage does not fail initialization");
    let took = began.elapsed();
    volnic_tests_report(&format!(
        "initialize with stalled storage returned after {} ms",
        took.as_millis()
    ));
    assert!(took < Duration::from_secs(15), "initialize waited {took:?}");
    assert!(!host.general(a).connected, "starts disconnected");
    host.restart(a);
    host.restart(b);
    // The storage answers: the open completes and the link comes up.
    release_writes(&send);
    assert!(
        host.wait_link(a, true, WAIT),
        "node 1 comes up once its storage answers: {:#?}",
        host.event_log()
    );
    host.finish();
}

#[test]
fn a_peer_problem_found_while_running_is_logged_once_with_its_reason() {
    use volnic_ndis_sim::os::trace_log;
    use volnic_ndis_sim::storage::make_direction;
    let dir = tempfile::tempdir().unwrap();
    let (a_send, b_recv) = (dir.path().join("a-send.vol"), dir.path().join("b-recv.vol"));
    let (b_send, a_recv) = (dir.path().join("b-send.vol"), dir.path().join("a-recv.vol"));
    // The peer's direction was formatted with other blocks than this one's.
    make_direction(&a_send, &b_recv, 4096, 16, 1, 2, 0);
    make_direction(&b_send, &a_recv, 8192, 16, 2, 1, 0);
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&a_send, &a_recv, 1, 4096))
        .expect("node 1 initializes: its own volume is right");
    let b = host
        .initialize("node2", &registry(&b_send, &b_recv, 2, 8192))
        .expect("node 2 initializes");
    host.restart(a);
    host.restart(b);
    let line = "volnic: link down: peer uses 8192-byte blocks, this node 4096";
    let deadline = std::time::Instant::now() + WAIT;
    let logged = || {
        trace_log()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.starts_with(line))
            .count()
    };
    while logged() == 0 {
        assert!(std::time::Instant::now() < deadline, "never logged: {line}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Polls go on; the unchanged reason is not logged again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(logged(), 1);
    assert!(!host.link_states(a).last().copied().unwrap_or(false));
    host.finish();
}

#[test]
fn on_4096_byte_sector_storage_the_driver_links_at_4096_and_refuses_512() {
    use volnic_ndis_sim::os::make_four_k_native;
    use volnic_ndis_sim::storage::make_link;
    let four_k = |files: &volnic_ndis_sim::storage::LinkFiles| {
        for p in [&files.a_send, &files.a_recv, &files.b_send, &files.b_recv] {
            make_four_k_native(&p.to_string_lossy());
        }
    };
    // 4096-byte blocks: the driver learns the sector from the storage's
    // refusal of a 512-byte read, and the link carries frames.
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 32);
    four_k(&files);
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .expect("4096-byte blocks on 4Kn storage");
    let b = host
        .initialize("node2", &registry(&files.b_send, &files.b_recv, 2, 4096))
        .expect("4096-byte blocks on 4Kn storage");
    host.restart(a);
    host.restart(b);
    set_filter(&mut host, a);
    set_filter(&mut host, b);
    assert!(host.wait_link(a, true, WAIT), "{:#?}", host.event_log());
    let (mac_a, mac_b) = (mac_of(&mut host, a), mac_of(&mut host, b));
    let frames: Vec<Vec<u8>> = (0..12).map(|i| frame(mac_b, mac_a, i, 700)).collect();
    host.send(a, &nbls(&frames));
    assert_eq!(host.wait_received(b, frames.len(), WAIT), frames);
    host.finish();

    // 512-byte blocks on the same storage: refused at initialize, naming
    // both sizes (a configuration fault: no waiting cures it).
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 512, 32);
    four_k(&files);
    let mut host = SimHost::load();
    let reason = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 512))
        .expect_err("512-byte blocks on 4Kn storage");
    assert!(
        reason.contains("512-byte blocks but its storage has 4096-byte logical sectors"),
        "{reason}"
    );
    host.finish();
}
