//! `volnic demo` (the README's main job) runs without root and reports
//! traffic that crossed the link with nothing lost or rejected.

use std::process::Command;

#[test]
fn demo_runs_and_reports_a_working_link() {
    let dir = tempfile::Builder::new()
        .prefix("volnic-demo-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args(["demo", "--seconds", "1", "--dir"])
        .arg(dir.path())
        .output()
        .expect("volnic demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stdout}\n{stderr}");
    for label in ["disk ", "heartbeats ", "bulk ", "link "] {
        assert!(
            stdout.lines().any(|l| l.starts_with(label)),
            "no {label:?} line in: {stdout}"
        );
    }
    let heartbeats = stdout
        .lines()
        .find(|l| l.starts_with("heartbeats"))
        .unwrap_or_default();
    assert!(
        heartbeats.contains(" 0 lost"),
        "heartbeats lost over a synchronous mirror: {heartbeats}"
    );
    let link = stdout
        .lines()
        .find(|l| l.starts_with("link"))
        .unwrap_or_default();
    assert!(link.contains("up during the run"), "{link}");
    assert!(link.contains("rejected blocks 0"), "{link}");
    assert!(link.contains("frames dropped 0"), "{link}");
    // The temporary volumes are gone afterwards.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "demo left files behind: {left:?}");
}

/// The figure after `label` in `line`, e.g. `number_after(l, "p50 ")`.
fn number_after(line: &str, label: &str) -> f64 {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        + label.len();
    line[at..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

/// `volnic demo --netns` pings, measures one-way latency and TCP throughput
/// itself (no `ping` program), reports figures that make sense, and leaves
/// no namespace behind.
#[test]
fn demo_netns_pings_measures_and_removes_what_it_created() {
    if !volnic_tests::prereq::netns_ready(
        "demo::demo_netns_pings_measures_and_removes_what_it_created",
        &[],
    ) {
        return;
    }
    // Only iproute2 on PATH beside volnic: what the demo needs, no more.
    let bin = tempfile::tempdir().expect("temp dir");
    let ip = volnic_tests::prereq::IP.find().expect("ip is installed");
    std::os::unix::fs::symlink(&ip, bin.path().join("ip")).expect("link ip");
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args(["demo", "--netns", "--seconds", "1"])
        .env("PATH", bin.path())
        .output()
        .expect("volnic demo --netns runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |label: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in: {stdout}"))
            .to_string()
    };
    let ping = line("ping ");
    assert!(ping.contains("20 sent, 20 received"), "{stdout}");
    let avg = number_after(&ping, "avg ");
    assert!(avg > 0.0, "{ping}");
    let latency = line("latency ");
    assert!(latency.contains("100 UDP probes"), "{latency}");
    let answered = number_after(&latency, "every 10 ms, ");
    assert!(answered >= 95.0, "{latency}");
    for (direction, label) in [("forward", "1 -> 2 p50 "), ("back", "2 -> 1 p50 ")] {
        let p50 = number_after(&latency, label);
        // More than nothing; less than the 3 s peer timeout.
        assert!(p50 > 0.0 && p50 < 3_000_000.0, "{direction}: {latency}");
    }
    let tcp = line("tcp ");
    let bytes = number_after(&tcp, "1 s: ");
    let mbps = number_after(&tcp, "s, ");
    assert!(bytes > 0.0 && mbps > 0.0, "{tcp}");
    volnic_tests::report!("volnic demo --netns:\n{ping}\n{latency}\n{tcp}");
    // The namespaces it named are gone.
    let list = Command::new(&ip).args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for word in stdout.split_whitespace() {
        if word.starts_with("vnl-demo-") {
            assert!(!list.contains(word), "{word} left behind");
        }
    }
}
