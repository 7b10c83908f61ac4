//! End to end on real network stacks: two network namespaces, each with a
//! `volnic up` endpoint on a TAP device, over file-backed volumes joined by
//! two `volnic mirror` processes. ARP, ping and a TCP transfer cross volnic;
//! stopping and restarting one endpoint turns the other's carrier off and on.
//!
//! Needs root, /dev/net/tun and `ip netns`, and python3 for the TCP
//! transfer. Where one is missing the test says so in one line, naming the
//! package, and passes, unless VOLNIC_REQUIRE_NETNS=1 (set by CI, which
//! runs as root) makes that a failure (`volnic_tests::prereq`).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use volnic_tests::prereq::{netns_ready, Program, PYTHON3};
use volnic_tools::netns::{Lab, LabConfig};

const PEER_TIMEOUT_MS: u64 = 3000;

fn lab_or_skip(test: &str, tag: &str, programs: &[Program]) -> Option<Lab> {
    if !netns_ready(&format!("netns_e2e::{test}"), programs) {
        return None;
    }
    let mut cfg = LabConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_volnic-test-cli")), tag);
    cfg.peer_timeout_ms = PEER_TIMEOUT_MS;
    Some(Lab::create(cfg).expect("build the laboratory"))
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

const RECEIVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
print("listening", flush=True)
s.settimeout(120)
c, _ = s.accept()
c.settimeout(120)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
"#;

const SENDER: &str = r#"
import socket, sys
data = open(sys.argv[3], "rb").read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.recv(1)
"#;

/// Sends `path` from node 0 to node 1 over TCP; returns (bytes, SHA-256)
/// as the receiver counted them.
fn tcp_transfer(lab: &Lab, path: &std::path::Path) -> (u64, String) {
    let receiver_addr = lab.addr(1);
    let mut receiver = lab
        .spawn(1, "python3", &["-c", RECEIVER, &receiver_addr])
        .expect("start the receiver");
    let mut lines = BufReader::new(receiver.stdout.take().expect("piped stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, "listening", "the receiver did not start");
    let sent = lab
        .exec(
            0,
            "python3",
            &[
                "-c",
                SENDER,
                &receiver_addr,
                "5001",
                path.to_str().expect("utf-8 path"),
            ],
        )
        .expect("run the sender");
    assert!(
        sent.status.success(),
        "sender failed: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let result = lines.next().and_then(Result::ok).unwrap_or_default();
    let mut err = String::new();
    if let Some(mut e) = receiver.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = receiver.wait();
    let mut words = result.split_whitespace();
    let bytes = words.next().and_then(|n| n.parse().ok());
    let digest = words.next().map(str::to_string);
    match (bytes, digest) {
        (Some(b), Some(d)) => (b, d),
        _ => panic!("receiver printed {result:?}; stderr: {err}"),
    }
}

fn describe(lab: &Lab) -> String {
    format!(
        "\n--- node 1 log ---\n{}\n--- node 2 log ---\n{}",
        lab.node_log(0),
        lab.node_log(1)
    )
}

#[test]
fn traffic_crosses_volnic_between_namespaces_and_carrier_follows_the_peer() {
    let Some(mut lab) = lab_or_skip(
        "traffic_crosses_volnic_between_namespaces_and_carrier_follows_the_peer",
        "e2e",
        &[PYTHON3],
    ) else {
        return;
    };
    lab.start_node(0).expect("start node 1");
    lab.start_node(1).expect("start node 2");
    let limit = Duration::from_secs(20);
    for node in 0..2 {
        let took = lab.wait_carrier(node, true, limit);
        assert!(
            took.is_some(),
            "node {} never got its carrier (flags {:?}){}",
            node + 1,
            lab.tap_flags(node),
            describe(&lab)
        );
    }
    let survivor = lab.node_pid(0);

    // ARP and ping.
    let ping = lab.ping(0, 200, "0.01").expect("ping");
    volnic_tests::report!("ping -c 200 -i 0.01: {ping:?}");
    assert_eq!(
        (ping.transmitted, ping.received),
        (200, 200),
        "ping lost packets{}",
        describe(&lab)
    );
    let neigh = lab
        .exec(0, "ip", &["neigh", "show", &lab.addr(1)])
        .expect("ip neigh");
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_string();
    let peer_mac = lab.mac(1).expect("node 2's MAC");
    assert!(
        neigh.contains(&format!("lladdr {peer_mac}")),
        "node 1's ARP entry for node 2 is {neigh:?}, node 2's MAC is {peer_mac}"
    );

    // 16 MiB over TCP.
    let data = lab.dir().join("payload.bin");
    let mut bytes = vec![0u8; 16 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random payload");
    std::fs::write(&data, &bytes).expect("write payload");
    let want = sha256_of(&data);
    let start = Instant::now();
    let (got_bytes, got) = tcp_transfer(&lab, &data);
    let secs = start.elapsed().as_secs_f64();
    volnic_tests::report!(
        "TCP: {got_bytes} bytes in {secs:.2} s ({:.1} MB/s), SHA-256 {got}",
        got_bytes as f64 / secs / 1e6
    );
    assert_eq!(got_bytes, 16 << 20, "{}", describe(&lab));
    assert_eq!(got, want, "the transfer arrived altered");

    // A clean stop (SIGTERM) writes the shutting-down record: the survivor's
    // carrier goes off well within the peer timeout, and the stopped
    // endpoint exits 0.
    let status = lab.stop_node(1, libc::SIGTERM).expect("stop node 2");
    assert!(status.success(), "node 2 exited with {status}");
    let timeout = Duration::from_millis(PEER_TIMEOUT_MS);
    let off = lab.wait_carrier(0, false, timeout + Duration::from_secs(2));
    volnic_tests::report!("SIGTERM: survivor's carrier off after {off:?}");
    assert!(off.is_some(), "carrier stayed on{}", describe(&lab));
    lab.start_node(1).expect("restart node 2");
    let on = lab.wait_carrier(0, true, limit);
    volnic_tests::report!("restart: survivor's carrier on after {on:?}");
    assert!(on.is_some(), "carrier stayed off{}", describe(&lab));

    // A crash (SIGKILL) writes nothing: the peer falls silent, and the
    // carrier goes off once the peer timeout has passed.
    let status = lab.stop_node(1, libc::SIGKILL).expect("kill node 2");
    assert!(!status.success());
    let off = lab.wait_carrier(0, false, timeout * 2 + Duration::from_secs(2));
    volnic_tests::report!(
        "SIGKILL: survivor's carrier off after {off:?} (peer timeout {timeout:?})"
    );
    assert!(off.is_some(), "carrier stayed on{}", describe(&lab));
    lab.start_node(1).expect("restart node 2 again");
    assert!(
        lab.wait_carrier(0, true, limit).is_some(),
        "carrier stayed off{}",
        describe(&lab)
    );
    assert!(lab.wait_carrier(1, true, limit).is_some());

    // Traffic flows again, and the survivor was never restarted.
    let ping = lab.ping(0, 50, "0.01").expect("ping");
    volnic_tests::report!("after restarts, ping -c 50: {ping:?}");
    assert_eq!(ping.received, 50, "{}", describe(&lab));
    assert_eq!(lab.node_pid(0), survivor);
    let status = lab.stop_node(0, libc::SIGTERM).expect("stop node 1");
    assert!(status.success(), "node 1 exited with {status}");
}

#[test]
fn everything_the_lab_created_is_removed_even_on_failure() {
    let Some(mut lab) = lab_or_skip(
        "everything_the_lab_created_is_removed_even_on_failure",
        "cleanup",
        &[],
    ) else {
        return;
    };
    lab.start_node(0).expect("start node 1");
    let ns = lab.namespace(0).to_string();
    let dir = lab.dir().to_path_buf();
    let pid = lab.node_pid(0).expect("running");
    // A failing test unwinds through the lab's Drop.
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _lab = lab;
        panic!("a failing test");
    }));
    assert!(unwound.is_err());
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&ns),
        "namespace {ns} left behind"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "endpoint process {pid} left behind"
    );
}

/// A receive volume that is not there when `volnic up` starts (a mirror
/// target or LUN attached later) is waited for, the reason logged once,
/// and the link comes up by itself once the volume appears and the peer
/// runs: the same rule as the miniport's (`VolumeErrorKind::may_heal`).
#[test]
fn a_receive_volume_that_appears_later_is_waited_for() {
    let Some(mut lab) = lab_or_skip(
        "a_receive_volume_that_appears_later_is_waited_for",
        "late",
        &[],
    ) else {
        return;
    };
    // Node 1 receives on b.mirror.vol: hide it (the mirror keeps writing
    // the same file through its open descriptor).
    let recv = lab.dir().join("b.mirror.vol");
    let hidden = lab.dir().join("b.mirror.vol.detached");
    std::fs::rename(&recv, &hidden).unwrap();
    lab.start_node(0).unwrap();
    // 0.25 s, 0.5 s, 1 s, 2 s: four tries fail, one reason.
    std::thread::sleep(Duration::from_secs(4));
    assert!(lab.node_pid(0).is_some());
    std::fs::rename(&hidden, &recv).unwrap();
    lab.start_node(1).unwrap();
    let took = lab.wait_carrier(0, true, Duration::from_secs(30));
    let log = lab.node_log(0);
    assert!(took.is_some(), "node 1 never came up: {log}");
    let waiting = log
        .lines()
        .filter(|l| l.contains("waiting for the receive volume, retrying: receive volume"))
        .collect::<Vec<_>>();
    assert_eq!(waiting.len(), 1, "the reason is logged once: {log}");
    assert!(waiting[0].contains("not found"), "{log}");
    assert!(log.contains("is there"), "{log}");
    volnic_tests::report!(
        "receive volume attached 4 s after start: carrier on {} ms after the peer started",
        took.unwrap().as_millis()
    );
}
