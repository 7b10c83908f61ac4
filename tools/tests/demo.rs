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

#[test]
fn demo_netns_pings_across_and_removes_what_it_created() {
    if let Some(why) = volnic_tools::netns::unavailable() {
        assert!(
            std::env::var_os("VOLNIC_REQUIRE_NETNS").is_none(),
            "VOLNIC_REQUIRE_NETNS is set but `volnic demo --netns` cannot run: {why}"
        );
        eprintln!("skipping `volnic demo --netns`: {why}");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args(["demo", "--netns", "--seconds", "1"])
        .output()
        .expect("volnic demo --netns runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ping = stdout
        .lines()
        .find(|l| l.starts_with("ping"))
        .unwrap_or_default();
    assert!(ping.contains("20 sent, 20 received"), "{stdout}");
    // The namespaces it named are gone.
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for word in stdout.split_whitespace() {
        if word.starts_with("vnl-demo-") {
            assert!(!list.contains(word), "{word} left behind");
        }
    }
}
