//! Cluster acceptance: a two-node corosync cluster (knet transport) whose
//! link 0 is a LAN (a veth pair) and link 1 is volnic keeps its membership
//! when the LAN is cut; and, as the control that proves the test can fail,
//! loses it once volnic is stopped too.
//!
//! Each node is a network namespace running `volnic up` on file-backed
//! volumes joined by `volnic mirror` processes (tools/src/netns.rs), and
//! `corosync -f` in a private mount namespace (its lock file lives in
//! /run, so each instance gets its own tmpfs there) with its own state
//! directory. Needs root, /dev/net/tun, `ip netns` and corosync; skips with
//! the reason where one is missing, unless VOLNIC_REQUIRE_NETNS=1 (CI).
//!
//! Environment: VOLNIC_CLUSTER_HOLD_S sets how long membership must hold
//! after the LAN cut (default 30).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use volnic_tests::prereq::{netns_ready, COROSYNC};
use volnic_tools::netns::{Lab, LabConfig};

/// corosync's token timeout (ms) in this test, and its consensus timeout
/// (1.2 × token, corosync's default).
const TOKEN_MS: u64 = 5000;
const CONSENSUS_MS: u64 = TOKEN_MS * 12 / 10;
/// knet's link checks on both links.
const KNET_PING_INTERVAL_MS: u64 = 100;
const KNET_PING_TIMEOUT_MS: u64 = 500;
/// volnic's peer timeout: well under corosync's token timeout.
const VOLNIC_PEER_TIMEOUT_MS: u64 = 2000;

fn lan_addr(node: usize) -> String {
    format!("169.254.10.{}", node + 1)
}

fn config(lab: &Lab, node: usize) -> String {
    let state = lab.dir().join(format!("corosync{}", node + 1));
    format!(
        "totem {{
    version: 2
    cluster_name: volnic-test
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: {TOKEN_MS}
    consensus: {CONSENSUS_MS}
    link_mode: passive
    interface {{
        linknumber: 0
        knet_link_priority: 2
        knet_ping_interval: {KNET_PING_INTERVAL_MS}
        knet_ping_timeout: {KNET_PING_TIMEOUT_MS}
    }}
    interface {{
        linknumber: 1
        knet_link_priority: 1
        knet_ping_interval: {KNET_PING_INTERVAL_MS}
        knet_ping_timeout: {KNET_PING_TIMEOUT_MS}
    }}
}}
nodelist {{
    node {{
        nodeid: 1
        name: node1
        ring0_addr: {}
        ring1_addr: {}
    }}
    node {{
        nodeid: 2
        name: node2
        ring0_addr: {}
        ring1_addr: {}
    }}
}}
quorum {{
    provider: corosync_votequorum
    two_node: 1
}}
logging {{
    to_stderr: yes
    to_syslog: no
    to_logfile: no
    timestamp: on
}}
system {{
    state_dir: {}
}}
",
        lan_addr(0),
        lab.addr(0),
        lan_addr(1),
        lab.addr(1),
        state.display()
    )
}

/// The corosync processes; stopped (and their logs kept for messages)
/// before the lab goes.
struct Corosync {
    children: Vec<Option<Child>>,
    logs: Vec<PathBuf>,
}

impl Corosync {
    fn start(lab: &Lab) -> Corosync {
        let mut c = Corosync {
            children: Vec::new(),
            logs: Vec::new(),
        };
        for node in 0..2 {
            let state = lab.dir().join(format!("corosync{}", node + 1));
            std::fs::create_dir_all(&state).expect("state dir");
            let conf = state.join("corosync.conf");
            std::fs::write(&conf, config(lab, node)).expect("write corosync.conf");
            let log = state.join("corosync.log");
            let script = format!(
                "mount -t tmpfs volnic-test /run && exec corosync -f -c {}",
                conf.display()
            );
            let child = Command::new("ip")
                .args(["netns", "exec", lab.namespace(node)])
                .args(["unshare", "-m", "--propagation", "private", "sh", "-c"])
                .arg(script)
                .stdout(File::create(&log).expect("log"))
                .stderr(Stdio::from(
                    File::options().append(true).open(&log).expect("log"),
                ))
                .spawn()
                .expect("start corosync");
            c.children.push(Some(child));
            c.logs.push(log);
        }
        c
    }

    fn logs(&self) -> String {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "\n--- corosync node {} ---\n{}",
                    i + 1,
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Corosync {
    fn drop(&mut self) {
        for mut child in self.children.iter_mut().filter_map(Option::take) {
            // SAFETY: kill has no memory preconditions; the pid is our own
            // unreaped child (`ip`, which exec'd into unshare, sh, corosync).
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            for _ in 0..300 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(lab: &Lab, node: usize, program: &str, args: &[&str]) -> String {
    let out = lab.exec(node, program, args).expect(program);
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// (members, ring id) as `corosync-quorumtool -s` shows them on `node`.
fn membership(lab: &Lab, node: usize) -> Option<(u32, String)> {
    let text = run(lab, node, "corosync-quorumtool", &["-s"]);
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    };
    Some((field("Nodes")?.parse().ok()?, field("Ring ID")?))
}

/// Whether `node` sees the other node connected on knet link `link`
/// (`corosync-cfgtool -s`).
fn link_connected(lab: &Lab, node: usize, link: u32) -> bool {
    let text = run(lab, node, "corosync-cfgtool", &["-s"]);
    let peer = format!("nodeid:          {}:", 2 - node);
    let mut in_link = false;
    for line in text.lines() {
        if line.starts_with("LINK ID") {
            in_link = line.starts_with(&format!("LINK ID {link} "));
        } else if in_link && line.trim_start().starts_with(&peer) {
            return line.trim_end().ends_with("connected") && !line.contains("disconnected");
        }
    }
    false
}

fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// One-way latency over volnic, estimated as half the ping round trip.
fn volnic_one_way_ms(lab: &Lab) -> Option<(f64, f64)> {
    let ping = lab.ping(0, 20, "0.2").ok()?;
    ping.rtt_ms.map(|(_, avg, max)| (avg / 2.0, max / 2.0))
}

fn setup() -> Option<Lab> {
    if !netns_ready(
        "cluster_corosync::corosync_membership_survives_the_loss_of_the_lan_over_volnic",
        &[COROSYNC],
    ) {
        return None;
    }
    let mut cfg = LabConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_volnic-test-cli")), "cs");
    cfg.peer_timeout_ms = VOLNIC_PEER_TIMEOUT_MS;
    // /24, so that with the LAN cut its addresses are not routed over volnic.
    cfg.prefix_len = 24;
    let lab = Lab::create(cfg).expect("build the laboratory");
    // The LAN: a veth pair between the two namespaces.
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {}", args.join(" "));
    };
    ip(&[
        "-n",
        lab.namespace(0),
        "link",
        "add",
        "lan0",
        "type",
        "veth",
        "peer",
        "name",
        "lan0",
        "netns",
        lab.namespace(1),
    ]);
    for node in 0..2 {
        let cidr = format!("{}/24", lan_addr(node));
        ip(&[
            "-n",
            lab.namespace(node),
            "addr",
            "add",
            &cidr,
            "dev",
            "lan0",
        ]);
        ip(&["-n", lab.namespace(node), "link", "set", "lan0", "up"]);
    }
    Some(lab)
}

#[test]
fn corosync_membership_survives_the_loss_of_the_lan_over_volnic() {
    let Some(mut lab) = setup() else {
        return;
    };
    let hold = Duration::from_secs(
        std::env::var("VOLNIC_CLUSTER_HOLD_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    lab.start_node(0).expect("volnic node 1");
    lab.start_node(1).expect("volnic node 2");
    for node in 0..2 {
        assert!(
            lab.wait_carrier(node, true, Duration::from_secs(20))
                .is_some(),
            "volnic carrier never came on at node {}",
            node + 1
        );
    }
    let corosync = Corosync::start(&lab);
    let formed = wait_for(Duration::from_secs(30), || {
        (0..2).all(|n| membership(&lab, n).is_some_and(|(members, _)| members == 2))
    });
    assert!(formed.is_some(), "no 2-node membership{}", corosync.logs());
    let both_links = wait_for(Duration::from_secs(20), || {
        (0..2).all(|n| link_connected(&lab, n, 0) && link_connected(&lab, n, 1))
    });
    assert!(
        both_links.is_some(),
        "knet links 0 and 1 not both connected{}",
        corosync.logs()
    );
    let before = volnic_one_way_ms(&lab);
    let ring = membership(&lab, 0).expect("membership").1;
    volnic_tests::report!(
        "membership formed after {formed:?}, ring id {ring}; both knet links connected"
    );

    // Cut the LAN.
    let cut = Instant::now();
    let ok = Command::new("ip")
        .args(["-n", lab.namespace(0), "link", "set", "lan0", "down"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot cut the LAN");
    let switched = wait_for(Duration::from_secs(20), || {
        !link_connected(&lab, 0, 0) && link_connected(&lab, 0, 1)
    });
    volnic_tests::report!(
        "LAN cut: corosync reports link 0 down and link 1 carrying the cluster after {:?}",
        switched
    );
    assert!(
        switched.is_some(),
        "corosync did not fall back to link 1{}",
        corosync.logs()
    );

    // Membership holds: 2 nodes, the same ring id, link 1 connected.
    let mut changes = 0;
    let mut last_ring = ring.clone();
    let mut latencies = Vec::new();
    while cut.elapsed() < hold {
        for node in 0..2 {
            let (members, ring_now) = membership(&lab, node).unwrap_or((0, String::new()));
            assert_eq!(
                members,
                2,
                "node {} lost the other {:?} after the LAN cut{}",
                node + 1,
                cut.elapsed(),
                corosync.logs()
            );
            if node == 0 && ring_now != last_ring {
                changes += 1;
                last_ring = ring_now;
            }
            assert!(
                link_connected(&lab, node, 1),
                "node {} reports link 1 down{}",
                node + 1,
                corosync.logs()
            );
        }
        if let Some(l) = volnic_one_way_ms(&lab) {
            latencies.push(l);
        }
    }
    let avg = latencies.iter().map(|l| l.0).sum::<f64>() / latencies.len().max(1) as f64;
    let max = latencies.iter().map(|l| l.1).fold(0.0, f64::max);
    volnic_tests::report!(
        "after the cut: {} s with 2 members, membership changes {changes}; volnic one-way latency (ping rtt / 2) avg {avg:.2} ms, max {max:.2} ms over {} pings (before the cut: {before:?})",
        hold.as_secs(),
        latencies.len() * 20
    );
    assert_eq!(
        changes,
        0,
        "the ring changed after the LAN cut{}",
        corosync.logs()
    );

    // Control: without volnic too, each node loses the other within the
    // token and consensus timeouts (plus a margin for polling and knet's
    // ping timeout).
    let stop = Instant::now();
    for node in 0..2 {
        let status = lab.stop_node(node, libc::SIGTERM).expect("stop volnic");
        assert!(status.success());
    }
    let limit = Duration::from_millis(TOKEN_MS + CONSENSUS_MS + KNET_PING_TIMEOUT_MS + 3000);
    let lost = wait_for(limit, || {
        (0..2).all(|n| membership(&lab, n).is_some_and(|(members, _)| members == 1))
    });
    volnic_tests::report!(
        "control: volnic stopped too; each node alone after {lost:?} (token {TOKEN_MS} ms, consensus {CONSENSUS_MS} ms)"
    );
    assert!(
        lost.is_some(),
        "membership survived without any link: the test cannot tell{}",
        corosync.logs()
    );
    drop(corosync);
    let _ = stop;
}
