//! Every numeric option of every subcommand, given arbitrary values: the
//! command line is parsed and checked in-process exactly as `volnic` does
//! before running a subcommand (`volnic_tools::cli::check_command_line`),
//! and the property is: no panic, no hang, and either a one-line error or
//! values inside the option's documented range.

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use volnic_tools::cli::check_command_line;

/// A numeric option and the range a value must be in to be accepted.
struct Opt {
    flag: &'static str,
    min: i128,
    max: i128,
}

const fn opt(flag: &'static str, min: i128, max: i128) -> Opt {
    Opt { flag, min, max }
}

/// Each subcommand: its fixed arguments and its numeric options.
fn subcommands() -> Vec<(&'static str, Vec<&'static str>, Vec<Opt>)> {
    vec![
        (
            "format",
            vec!["/nonexistent/volnic-options/a.vol"],
            vec![
                opt("--block-size", 512, 1 << 20),
                opt("--blocks", 8, 1 << 24),
                opt("--writer-node", 1, 32),
                opt("--reader-node", 1, 32),
            ],
        ),
        (
            "inspect",
            vec!["/nonexistent/volnic-options/a.vol"],
            vec![opt("--last", 0, 4096)],
        ),
        (
            "status",
            vec!["/nonexistent/volnic-options/a.vol"],
            vec![opt("--watch-ms", 1, 600_000)],
        ),
        (
            "bench",
            vec![],
            vec![
                opt("--block-size", 512, 1 << 20),
                opt("--seconds", 1, 3600),
                opt("--poll-us", 50, 1_000_000),
                opt("--flush-delay-ms", 0, 1000),
                opt("--heartbeat-bytes", 30, 9014),
            ],
        ),
        (
            "up",
            vec![
                "--send",
                "/nonexistent/volnic-options/a.vol",
                "--recv",
                "/nonexistent/volnic-options/b.vol",
            ],
            vec![
                opt("--mtu", 576, 9000),
                opt("--flush-delay-ms", 0, 1000),
                opt("--poll-us", 50, 1_000_000),
                opt("--peer-timeout-ms", 200, 60_000),
                opt("--node-id", 1, 32),
                opt("--queue-kb", 64, 65536),
            ],
        ),
        (
            "mirror",
            vec![
                "/nonexistent/volnic-options/a.vol",
                "/nonexistent/volnic-options/b.vol",
                "--mode",
                "async",
            ],
            vec![
                opt("--lag-ms", 0, 600_000),
                opt("--interval-us", 1, 1_000_000),
                opt("--sweep-ms", 1, 365 * 24 * 3_600_000),
                opt("--duration-ms", 0, 365 * 24 * 3_600_000),
            ],
        ),
        (
            "demo",
            vec![],
            vec![
                opt("--block-size", 512, 1 << 20),
                opt("--seconds", 0, u64::MAX as i128),
            ],
        ),
    ]
}

/// Values of every kind: in range, at and past the edges, negative, huge,
/// and text that is no number at all.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i128..=70_000).prop_map(|v| v.to_string()),
        any::<u32>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i128>().prop_map(|v| v.to_string()),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "511",
            "512",
            "513",
            "4096",
            "1048577",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "",
            " ",
            "-",
            "+5",
            "0x10",
            "1e3",
            "5 ",
            "٣",
            "NaN",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
    ]
}

/// Runs the check on its own thread, so a hang fails the test instead of
/// stopping it.
fn checked(argv: Vec<String>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let shown = argv.join(" ");
    std::thread::spawn(move || {
        let _ = tx.send(check_command_line(argv));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang: {shown}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("panic: {shown}"),
    }
}

fn check_subcommand(index: usize, picks: &[(usize, String)]) -> Result<(), TestCaseError> {
    let (name, fixed, opts) = &subcommands()[index];
    let mut argv = vec!["volnic".to_string(), name.to_string()];
    argv.extend(fixed.iter().map(|s| s.to_string()));
    let mut given = Vec::new();
    for (i, v) in picks {
        let o = &opts[i % opts.len()];
        argv.push(format!("{}={v}", o.flag));
        given.push((o, v.clone()));
    }
    match checked(argv.clone()) {
        Ok(()) => {
            // Accepted: every value given (the last one of a flag given
            // twice is the one clap keeps) is a number in its range.
            for (o, v) in &given {
                let last = given
                    .iter()
                    .rev()
                    .find(|(p, _)| p.flag == o.flag)
                    .map(|(_, v)| v);
                if last != Some(v) {
                    continue;
                }
                let n: i128 = v.trim_start_matches('+').parse().map_err(|_| {
                    TestCaseError::fail(format!("{} accepted {v:?}: {argv:?}", o.flag))
                })?;
                prop_assert!(
                    (o.min..=o.max).contains(&n),
                    "{} accepted {n}, outside {}..={}: {argv:?}",
                    o.flag,
                    o.min,
                    o.max
                );
            }
        }
        Err(message) => {
            prop_assert!(!message.is_empty(), "empty error: {argv:?}");
            prop_assert!(
                !message.contains('\n'),
                "not one line: {message:?} for {argv:?}"
            );
        }
    }
    Ok(())
}

fn picks() -> impl Strategy<Value = Vec<(usize, String)>> {
    prop::collection::vec((0usize..8, value()), 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn format_options(p in picks()) { check_subcommand(0, &p)?; }
    #[test]
    fn inspect_options(p in picks()) { check_subcommand(1, &p)?; }
    #[test]
    fn status_options(p in picks()) { check_subcommand(2, &p)?; }
    #[test]
    fn bench_options(p in picks()) { check_subcommand(3, &p)?; }
    #[test]
    fn up_options(p in picks()) { check_subcommand(4, &p)?; }
    #[test]
    fn mirror_options(p in picks()) { check_subcommand(5, &p)?; }
    #[test]
    fn demo_options(p in picks()) { check_subcommand(6, &p)?; }
}

/// The case the red team found, and each bench option at its edges.
#[test]
fn bench_block_size_zero_is_a_one_line_error() {
    let err = check_command_line(["volnic", "bench", "--block-size", "0"]).unwrap_err();
    assert_eq!(
        err,
        "--block-size 0 is not a multiple of 512 between 512 and 1048576: use e.g. 4096"
    );
    for (flag, bad, good) in [
        ("--seconds", "0", "1"),
        ("--poll-us", "49", "50"),
        ("--flush-delay-ms", "1001", "1000"),
        ("--heartbeat-bytes", "29", "30"),
        ("--heartbeat-bytes", "9015", "9014"),
    ] {
        let err = check_command_line(["volnic", "bench", flag, bad]).unwrap_err();
        assert!(
            err.starts_with(&format!("{flag} {bad} is out of range")),
            "{err}"
        );
        check_command_line(["volnic", "bench", flag, good]).unwrap();
    }
    let err = check_command_line([
        "volnic",
        "status",
        "x",
        "--watch-ms",
        "18446744073709551615",
    ])
    .unwrap_err();
    assert!(err.contains("--watch-ms"), "{err}");
}

/// The real program says it in one line too, with a non-zero status, and
/// a malformed number is one line rather than clap's usage block.
#[test]
fn the_program_prints_one_line() {
    for args in [
        &["bench", "--block-size", "0"][..],
        &["bench", "--block-size", "-1"][..],
        &["format", "/nonexistent/x", "--blocks", "lots"][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_volnic-test-cli"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("volnic: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
