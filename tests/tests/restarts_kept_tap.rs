//! Never twice, seen from the application: two network namespaces whose
//! TAP devices outlive their `volnic up` endpoints (persistent devices,
//! address and neighbours kept, as when systemd restarts the service), a
//! UDP sender on one side numbering its datagrams, a receiver on the other
//! writing down every number it gets. Twenty receiver restarts, twenty
//! writer restarts (SIGTERM and SIGKILL alike) and ten rollbacks of the
//! receiver's receive volume to an earlier copy of itself, while the
//! datagrams flow: no number may arrive twice, and datagrams must arrive
//! after every fault.
//!
//! Needs root, /dev/net/tun and `ip netns`; where one is missing it says so
//! in one line and passes, unless VOLNIC_REQUIRE_NETNS=1 (CI).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use volnic_tests::prereq::netns_ready;
use volnic_tools::netns::{Lab, LabConfig, TAP};

const TEST: &str =
    "restarts_kept_tap::no_datagram_is_delivered_twice_across_restarts_and_rollbacks";
const PORT: &str = "47000";
/// One datagram every 0.3 ms (about 3000 a second, up to a block each):
/// the 256-block ring wraps several times a second, and a restarted reader
/// that resumed behind what it had delivered would deliver hundreds again
/// (it does, 339 in one run, when made to resume 64 blocks early).
const INTERVAL_US: &str = "300";

fn datagrams() -> &'static str {
    env!("CARGO_BIN_EXE_volnic-datagrams")
}

/// The numbers the receiver has written down so far.
fn received(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until the receiver has more than `after` numbers (traffic flows
/// again after a fault); the count then.
fn wait_for_more(log: &Path, after: usize, what: &str, lab: &Lab) -> usize {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let n = received(log).len();
        if n > after + 10 {
            return n;
        }
        assert!(
            Instant::now() < end,
            "no datagram arrived within 60 s after {what} ({n} so far); node 1: {}\nnode 2: {}",
            lab.node_log(0),
            lab.node_log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `bytes` over the start of the file at `path` in place (no
/// truncation: the reader never sees a short volume, only older blocks).
fn write_over(path: &Path, bytes: &[u8]) {
    let mut f = File::options().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(bytes).unwrap();
}

fn in_namespace(lab: &Lab, node: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", lab.namespace(node)]).args(args);
    cmd
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn no_datagram_is_delivered_twice_across_restarts_and_rollbacks() {
    if !netns_ready(TEST, &[]) {
        return;
    }
    let mut cfg = LabConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_volnic-test-cli")), "kept");
    cfg.ring_blocks = 256;
    cfg.peer_timeout_ms = 1000;
    let mut lab = Lab::create(cfg).expect("build the laboratory");
    // Persistent TAP devices: each endpoint attaches to its namespace's,
    // which keeps its address, routes and neighbours when the endpoint
    // stops.
    for node in 0..2 {
        let out = in_namespace(
            &lab,
            node,
            &["ip", "tuntap", "add", "mode", "tap", "name", TAP],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "ip tuntap add: {out:?}");
    }
    lab.start_node(0).unwrap();
    lab.start_node(1).unwrap();
    for node in 0..2 {
        assert!(
            lab.wait_carrier(node, true, Duration::from_secs(30))
                .is_some(),
            "node {} never came up: {}",
            node + 1,
            lab.node_log(node)
        );
    }
    let log = lab.dir().join("received.txt");
    let receiver = in_namespace(&lab, 1, &[datagrams(), "recv", PORT])
        .stdout(File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let to = format!("{}:{PORT}", lab.addr(1));
    let sender = in_namespace(&lab, 0, &[datagrams(), "send", &to, INTERVAL_US])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut count = wait_for_more(&log, 0, "the start", &lab);

    // Node 2 (index 1) receives on a.mirror.vol: its rollbacks go back to
    // copies taken earlier, some from before a writer restart (an older
    // epoch), some of this epoch's earlier laps.
    let recv_volume = lab.dir().join("a.mirror.vol");
    let mut snapshot = std::fs::read(&recv_volume).unwrap();
    let (mut receiver_restarts, mut writer_restarts, mut rollbacks) = (0, 0, 0);
    for round in 0..50 {
        let signal = if round % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGKILL
        };
        let what = match round % 5 {
            0 | 1 => {
                lab.stop_node(1, signal).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                lab.start_node(1).unwrap();
                receiver_restarts += 1;
                format!("receiver restart {receiver_restarts} (signal {signal})")
            }
            2 | 3 => {
                if round % 5 == 2 {
                    snapshot = std::fs::read(&recv_volume).unwrap();
                }
                lab.stop_node(0, signal).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                lab.start_node(0).unwrap();
                writer_restarts += 1;
                format!("writer restart {writer_restarts} (signal {signal})")
            }
            _ => {
                write_over(&recv_volume, &snapshot);
                rollbacks += 1;
                format!("rollback {rollbacks}")
            }
        };
        count = wait_for_more(&log, count, &what, &lab);
    }
    // Let what is in flight arrive, then look.
    std::thread::sleep(Duration::from_secs(1));
    stop(sender);
    std::thread::sleep(Duration::from_millis(200));
    stop(receiver);
    let got = received(&log);
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for &seq in &got {
        *seen.entry(seq).or_default() += 1;
    }
    let twice: Vec<(u64, usize)> = seen
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(&s, &n)| (s, n))
        .collect();
    let highest = got.iter().copied().max().unwrap_or(0);
    volnic_tests::report!(
        "{receiver_restarts} receiver restarts, {writer_restarts} writer restarts, {rollbacks} rollbacks: {} datagrams received of {} sent, {} received more than once",
        got.len(),
        highest + 1,
        twice.len()
    );
    // Deleting the namespaces (when the lab is dropped, which stops the
    // endpoints first) removes the devices.
    assert!(
        twice.is_empty(),
        "datagrams received more than once (seq, times): {twice:?}"
    );
    assert_eq!(
        (receiver_restarts, writer_restarts, rollbacks),
        (20, 20, 10)
    );
}
