//! `volnic bench --json` measures every figure it promises, beside the
//! storage floor from the same run. (Figures are printed, never asserted
//! against time limits: only that each was measured and is consistent.)

use std::process::Command;

#[test]
fn bench_measures_floor_latency_throughput_and_cpu() {
    let dir = tempfile::Builder::new()
        .prefix("volnic-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_volnic"))
        .args(["bench", "--seconds", "1", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .expect("volnic bench runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    let f = |path: &[&str]| -> f64 {
        let mut v = &r;
        for p in path {
            v = &v[*p];
        }
        v.as_f64()
            .unwrap_or_else(|| panic!("{path:?} missing in the report"))
    };
    // The floor was measured.
    assert!(f(&["floor", "write", "samples"]) > 0.0);
    assert!(f(&["floor", "read", "samples"]) > 0.0);
    assert!(f(&["floor", "seq_write_mbps"]) > 0.0);
    assert!(f(&["floor", "idle_poll_cpu_pct"]) > 0.0);
    // Every heartbeat arrived, and each latency sample is one of them.
    for phase in ["heartbeat_1ms", "heartbeat_1s"] {
        let sent = f(&[phase, "sent"]);
        assert!(sent > 0.0, "{phase}: nothing sent");
        assert_eq!(f(&[phase, "received"]), sent, "{phase}: loss");
        assert_eq!(f(&[phase, "latency_us", "samples"]), sent);
        assert!(f(&[phase, "latency_us", "p50"]) <= f(&[phase, "latency_us", "p99"]));
    }
    assert!(f(&["bulk", "received"]) > 0.0);
    assert!(f(&["bulk", "mb_per_s"]) > 0.0);
    assert!(f(&["cpu", "idle_sender"]) > 0.0);
    assert!(f(&["cpu", "load_sender"]) > f(&["cpu", "idle_sender"]));
    let ratio = f(&["throughput_ratio_block"]);
    let want = f(&["bulk", "mb_per_s"]) / f(&["floor", "seq_write_mbps"]);
    assert!((ratio - want).abs() < 1e-9 * want.max(1.0));
}
