//! One writer per volume, and volumes and keys that only their
//! owners can touch. Modes of the volumes `volnic format` creates, whatever
//! the umask; key files by mode and type; a receive volume any user may
//! write refused on a plain link; and, as `nobody` when the tests run as
//! root, that another local user can neither read a volume's frames nor
//! write into it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use volnic_tests::unprivileged::{self, is_root, Program, NOBODY};
use volnic_tools::cli::up::{check_volume_modes, read_key_file};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_volnic-test-cli"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `volnic ARGS` run by `sh` under `umask`.
fn under_umask(umask: &str, args: &[&str]) -> Output {
    let mut script = format!("umask {umask} && exec \"$0\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 1));
    }
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(cli())
        .args(args)
        .output()
        .expect("sh runs")
}

fn last_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    line.strip_prefix("volnic: ").unwrap_or(line).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn format_creates_volumes_0600_whatever_the_umask() {
    let dir = unprivileged::shared_dir("volnic-ownership-");
    for umask in ["000", "022", "077", "277"] {
        let vol = dir.path().join(format!("u{umask}.vol"));
        let out = under_umask(umask, &["format", s(&vol), "--blocks", "16"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode(&vol), 0o600, "umask {umask}");
        volnic_tests::report!("format under umask {umask}: mode {:04o}", mode(&vol));
        // Reformatting an existing file (made 0666 meanwhile) makes it
        // private again.
        chmod(&vol, 0o666);
        let out = under_umask(umask, &["format", s(&vol), "--blocks", "16", "--force"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode(&vol), 0o600, "reformat under umask {umask}");
    }
}

#[test]
fn format_with_a_service_group_is_0660_and_that_group() {
    let dir = unprivileged::shared_dir("volnic-ownership-");
    let vol = dir.path().join("g.vol");
    // Our own primary group: allowed to any user.
    // SAFETY: getegid has no preconditions and cannot fail.
    let gid = unsafe { libc::getegid() };
    let out = under_umask(
        "000",
        &[
            "format",
            s(&vol),
            "--blocks",
            "16",
            "--group",
            &gid.to_string(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&vol), 0o660);
    assert_eq!(std::fs::metadata(&vol).unwrap().gid(), gid);
    if is_root() {
        // By name (root may give a file any group).
        let vol = dir.path().join("named.vol");
        let out = under_umask(
            "022",
            &["format", s(&vol), "--blocks", "16", "--group", "root"],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::metadata(&vol).unwrap().gid(), 0);
        assert_eq!(mode(&vol), 0o660);
    }
    let out = under_umask(
        "022",
        &[
            "format",
            s(&dir.path().join("x.vol")),
            "--group",
            "no-such-group-volnic",
        ],
    );
    assert!(!out.status.success());
    assert!(last_line(&out).contains("no such group"), "{out:?}");
    assert!(!dir.path().join("x.vol").exists(), "nothing created");
}

fn key(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    chmod(&path, mode);
    path
}

#[test]
fn key_files_by_mode_and_type() {
    let dir = unprivileged::shared_dir("volnic-keys-");
    let secret = b"0123456789abcdef0123456789abcdef";
    for (m, ok) in [
        (0o600, true),
        (0o400, true),
        (0o700, true),
        (0o640, false),
        (0o644, false),
        (0o660, false),
        (0o606, false),
        (0o666, false),
    ] {
        let path = key(dir.path(), "k.key", secret, m);
        match read_key_file(&path) {
            Ok(_) => assert!(ok, "{m:04o} accepted"),
            Err(e) => {
                assert!(!ok, "{m:04o} refused: {e}");
                assert!(e.contains(&format!("chmod 600 {}", path.display())), "{e}");
                assert!(!e.contains("0123456789abcdef"), "key material in: {e}");
            }
        }
    }
    for (path, kind) in [
        (PathBuf::from("/dev/zero"), "character device"),
        (PathBuf::from("/dev/null"), "character device"),
        (dir.path().to_path_buf(), "directory"),
    ] {
        let e = read_key_file(&path).unwrap_err();
        assert!(e.contains(kind), "{}: {e}", path.display());
    }
    let fifo = dir.path().join("fifo.key");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = read_key_file(&fifo).unwrap_err();
    assert!(e.contains("FIFO"), "{e}");
    let big = key(dir.path(), "big.key", &vec![b'x'; 4097], 0o600);
    assert!(read_key_file(&big).unwrap_err().contains("4097 bytes"));
}

/// `volnic up` with a FIFO or /dev/zero as key file ends at once with the
/// refusal (it used to hang, or read 2 GiB); run through the real program.
#[test]
fn up_refuses_a_fifo_or_device_key_file_at_once() {
    let dir = unprivileged::shared_dir("volnic-keys-");
    let (a, b) = (dir.path().join("a.vol"), dir.path().join("b.vol"));
    for (v, w, r) in [(&a, "1", "2"), (&b, "2", "1")] {
        let out = under_umask(
            "022",
            &[
                "format",
                s(v),
                "--blocks",
                "16",
                "--authenticated",
                "--writer-node",
                w,
                "--reader-node",
                r,
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let fifo = dir.path().join("fifo.key");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for key in [fifo.as_path(), Path::new("/dev/zero")] {
        let out = Command::new("timeout")
            .arg("60")
            .arg(cli())
            .args([
                "up",
                "--send",
                s(&a),
                "--recv",
                s(&b),
                "--tap",
                "volnic-keyt",
                "--key-file",
            ])
            .arg(key)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(124), "hung on {}", key.display());
        assert!(!out.status.success());
        let line = last_line(&out);
        assert!(
            line.starts_with(&format!("key file {}:", key.display())),
            "{line}"
        );
        volnic_tests::report!("up --key-file {}: {line}", key.display());
    }
}

#[test]
fn a_receive_volume_anyone_may_write_is_refused_on_a_plain_link() {
    let dir = unprivileged::shared_dir("volnic-modes-");
    let (a, b) = (dir.path().join("a.vol"), dir.path().join("b.vol"));
    for (v, w, r) in [(&a, "1", "2"), (&b, "2", "1")] {
        let out = under_umask(
            "022",
            &[
                "format",
                s(v),
                "--blocks",
                "16",
                "--writer-node",
                w,
                "--reader-node",
                r,
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        check_volume_modes(&a, &b, false).unwrap(),
        Vec::<String>::new()
    );
    chmod(&b, 0o666);
    let e = check_volume_modes(&a, &b, false).unwrap_err();
    assert!(
        e.contains("lets every user write it") && e.contains("--key-file"),
        "{e}"
    );
    // Authenticated: a warning only (forged blocks fail their MAC).
    let w = check_volume_modes(&a, &b, true).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    chmod(&b, 0o600);
    chmod(&a, 0o646);
    let w = check_volume_modes(&a, &b, false).unwrap();
    assert!(
        w[0].starts_with(&format!("send volume {}: mode 0646", a.display())),
        "{w:?}"
    );
    assert!(
        w[0].contains(&format!("chmod 600 {}", a.display())),
        "{w:?}"
    );
    // The real program refuses before creating any device.
    chmod(&a, 0o600);
    chmod(&b, 0o602);
    let out = Command::new(cli())
        .args([
            "up",
            "--send",
            s(&a),
            "--recv",
            s(&b),
            "--tap",
            "volnic-modet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = last_line(&out);
    assert!(
        line.starts_with(&format!("receive volume {}: mode 0602", b.display())),
        "{line}"
    );
}

/// As `nobody` (when root runs the tests): a volume root formatted, even
/// under umask 000 in a directory every user may enter, can be neither read
/// (the frames) nor written (an injected block) by another user; and a key
/// file of root's is not readable either.
#[test]
fn another_user_can_neither_read_nor_write_a_volume_volnic_created() {
    if !is_root() {
        println!("SKIP another_user_can_neither_read_nor_write_a_volume_volnic_created: needs root to act as nobody");
        return;
    }
    let program = Program::copy_of(cli());
    let dir = unprivileged::shared_dir("volnic-nobody-");
    let vol = dir.path().join("a.vol");
    let out = under_umask("000", &["format", s(&vol), "--blocks", "16"]);
    assert!(out.status.success(), "{out:?}");
    let before = std::fs::read(&vol).unwrap();
    let out = program
        .as_nobody()
        .args(["inspect", s(&vol)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(last_line(&out).contains("permission denied"), "{out:?}");
    // Writing a block into it, as a hostile user would to inject a frame.
    let out = Command::new("dd")
        .args([
            "if=/dev/urandom",
            "bs=4096",
            "count=1",
            "seek=2",
            "conv=notrunc",
        ])
        .arg(format!("of={}", vol.display()))
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    assert!(!out.status.success(), "nobody wrote the volume");
    assert_eq!(std::fs::read(&vol).unwrap(), before);
    volnic_tests::report!(
        "as nobody: read {}, write {}",
        "refused",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or("refused")
    );
    // A key file of root's, mode 0600: nobody's `up` cannot read it and
    // says so (the volumes it needs first made readable to it).
    let key = key(
        dir.path(),
        "k.key",
        b"0123456789abcdef0123456789abcdef",
        0o600,
    );
    let (a, b) = (dir.path().join("ka.vol"), dir.path().join("kb.vol"));
    for (v, w, r) in [(&a, "1", "2"), (&b, "2", "1")] {
        let out = under_umask(
            "022",
            &[
                "format",
                s(v),
                "--blocks",
                "16",
                "--authenticated",
                "--writer-node",
                w,
                "--reader-node",
                r,
            ],
        );
        assert!(out.status.success(), "{out:?}");
        chmod(v, 0o644);
    }
    let out = program
        .as_nobody()
        .args([
            "up",
            "--send",
            s(&a),
            "--recv",
            s(&b),
            "--tap",
            "volnic-nob",
            "--key-file",
            s(&key),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = last_line(&out);
    assert!(
        line.contains(&format!("key file {}: permission denied", key.display())),
        "{line}"
    );
}

use volnic_tests::troubleshooting::check_row;

/// Rows O1–O6 of docs/TROUBLESHOOTING.md: each message as the table says.
#[test]
fn o_rows_read_as_the_troubleshooting_table() {
    let dir = unprivileged::shared_dir("volnic-orows-");
    let open = key(dir.path(), "open.key", b"0123456789abcdef0123", 0o644);
    check_row("O1", &read_key_file(&open).unwrap_err());
    check_row("O2", &read_key_file(Path::new("/dev/zero")).unwrap_err());
    let big = key(dir.path(), "big.key", &[b'k'; 5000], 0o600);
    check_row("O3", &read_key_file(&big).unwrap_err());
    let (a, b) = (dir.path().join("a.vol"), dir.path().join("b.vol"));
    for v in [&a, &b] {
        std::fs::write(v, b"").unwrap();
    }
    chmod(&b, 0o666);
    check_row("O4", &check_volume_modes(&a, &b, false).unwrap_err());
    chmod(&b, 0o600);
    chmod(&a, 0o644);
    check_row("O5", &check_volume_modes(&a, &b, false).unwrap()[0]);
    let e =
        volnic_tools::cli::check_command_line(["volnic", "bench", "--seconds", "0"]).unwrap_err();
    check_row("O6", &e);
}

// ---------------------------------------------------------------------------
// One writer per volume

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use volnic_tools::endpoint::{Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};

const TRIES: usize = 100;

/// A plain pair of volumes (a.vol written by node 1) in `dir`.
fn volume_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("a.vol"), dir.join("b.vol"));
    for (v, w, r) in [(&a, 1, 2), (&b, 2, 1)] {
        volnic_tools::format::format(&volnic_tools::format::FormatArgs {
            path: v.clone(),
            block_size: 4096,
            blocks: 16,
            writer_node: w,
            reader_node: r,
            force: true,
            authenticated: false,
            members: None,
            member: None,
            segment_id: None,
        })
        .expect("format");
    }
    (a, b)
}

fn quick_config(peer_timeout_ms: u64) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(Path::new("."), 4096);
    cfg.peer_timeout_us = peer_timeout_ms * 1000;
    cfg.poll_us = 1000;
    cfg
}

/// A writer of `a` as another host would open it: no local lock.
fn unlocked_writer(cfg: &EndpointConfig, a: &Path, b: &Path) -> Result<Endpoint, String> {
    Endpoint::start_on(
        cfg,
        1,
        Box::new(FileVolume::open(a, OpenMode::ReadWrite).map_err(|e| e.to_string())?),
        Box::new(FileVolume::open(b, OpenMode::ReadOnly).map_err(|e| e.to_string())?),
        Box::new(|_: &[u8]| {}),
    )
}

/// What became of one of two writers started together.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Running,
    Refused(String),
    /// Had been running, then the volume was taken from it: both wrote.
    Lost(String),
}

fn outcome(started: Result<Endpoint, String>, hold: Duration) -> Outcome {
    let endpoint = match started {
        Ok(e) => e,
        Err(e) => return Outcome::Refused(e),
    };
    std::thread::sleep(hold);
    let result = match endpoint.error() {
        None => Outcome::Running,
        Some(e) if e.starts_with("stopped writing") => Outcome::Lost(e),
        Some(e) => Outcome::Refused(e),
    };
    drop(endpoint);
    result
}

/// Two writers of one fresh volume started together, 100 times, as two
/// hosts on one LUN would (threads of this process, each with its own
/// descriptor and no lock): never both running, never one taken over after
/// it ran; and through this host's lock (`Endpoint::start`), the second is
/// refused at once.
#[test]
fn two_writers_started_together_never_both_run_in_process() {
    // Four lanes of 25 tries at once, to keep the run short.
    let lanes: Vec<_> = (0..4)
        .map(|lane| std::thread::spawn(move || in_process_lane(lane)))
        .collect();
    let (mut one, mut none, mut local_refusals) = (0, 0, 0);
    for lane in lanes {
        let (o, n, l) = lane.join().unwrap();
        one += o;
        none += n;
        local_refusals += l;
    }
    volnic_tests::report!(
        "two writers started together in-process: {TRIES} tries, both running 0, one running {one}, none {none}, refused by the local lock {local_refusals}"
    );
    // A race where both yield is safe but should be rare.
    assert!(
        one >= TRIES * 9 / 10,
        "only {one} of {TRIES} tries had a writer"
    );
    assert_eq!(
        local_refusals,
        TRIES / 2,
        "every locked try refuses its second writer at once"
    );
}

fn in_process_lane(lane: usize) -> (usize, usize, usize) {
    let cfg = quick_config(200);
    let (mut one, mut none, mut local_refusals) = (0, 0, 0);
    for i in lane * TRIES / 4..(lane + 1) * TRIES / 4 {
        let dir = unprivileged::shared_dir("volnic-claim-");
        let (a, b) = volume_pair(dir.path());
        let locked = i % 2 == 1;
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (cfg, a, b, barrier) = (cfg.clone(), a.clone(), b.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let started = if locked {
                        Endpoint::start(&cfg, 1, &a, &b, Box::new(|_: &[u8]| {}))
                    } else {
                        unlocked_writer(&cfg, &a, &b)
                    };
                    outcome(started, Duration::from_millis(800))
                })
            })
            .collect();
        let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let running = outcomes.iter().filter(|o| **o == Outcome::Running).count();
        assert!(running <= 1, "try {i}: both running: {outcomes:?}");
        for o in &outcomes {
            assert!(!matches!(o, Outcome::Lost(_)), "try {i}: {outcomes:?}");
            if let Outcome::Refused(e) = o {
                assert_eq!(e.lines().count(), 1, "{e}");
                if e.contains("holds the volume's lock") {
                    check_row("O7", e);
                    local_refusals += 1;
                }
            }
        }
        match running {
            1 => one += 1,
            _ => none += 1,
        }
    }
    (one, none, local_refusals)
}

fn claimer() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_volnic-claimer"))
}

/// The same with two separate processes that share only the file (the
/// on-volume claim alone, as between two hosts), in four parallel lanes of
/// 25 tries; and with `--lock`, this host's lock.
#[test]
fn two_writers_started_together_never_both_run_across_processes() {
    let lanes: Vec<_> = (0..4)
        .map(|lane| {
            std::thread::spawn(move || {
                let mut tally = (0usize, 0usize);
                for i in 0..TRIES / 4 {
                    let dir = unprivileged::shared_dir("volnic-claimp-");
                    let (a, b) = volume_pair(dir.path());
                    let lock = (lane + i) % 4 == 0;
                    let children: Vec<_> = (0..2)
                        .map(|_| {
                            let mut cmd = Command::new(claimer());
                            cmd.arg(&a).arg(&b).arg("800");
                            if lock {
                                cmd.arg("--lock");
                            }
                            cmd.stdout(std::process::Stdio::piped()).spawn().unwrap()
                        })
                        .collect();
                    let lines: Vec<String> = children
                        .into_iter()
                        .map(|c| {
                            let out = c.wait_with_output().unwrap();
                            String::from_utf8_lossy(&out.stdout).trim().to_string()
                        })
                        .collect();
                    let running = lines.iter().filter(|l| *l == "running").count();
                    assert!(running <= 1, "lane {lane} try {i}: both running: {lines:?}");
                    for l in &lines {
                        assert!(
                            l == "running" || l.starts_with("refused: "),
                            "lane {lane} try {i}: {lines:?}"
                        );
                    }
                    if running == 1 {
                        tally.0 += 1;
                    } else {
                        tally.1 += 1;
                    }
                }
                tally
            })
        })
        .collect();
    let (mut one, mut none) = (0, 0);
    for lane in lanes {
        let (o, n) = lane.join().unwrap();
        one += o;
        none += n;
    }
    volnic_tests::report!(
        "two writers started together as two processes sharing only the file: {TRIES} tries, both running 0, one running {one}, none {none}"
    );
    assert!(
        one >= TRIES * 9 / 10,
        "only {one} of {TRIES} tries had a writer"
    );
}

/// Waits for `endpoint` to stop with an error; returns it and how long it took.
fn stops_within(endpoint: &Endpoint, bound: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(e) = endpoint.error() {
            assert!(!endpoint.link_up());
            return (e, start.elapsed());
        }
        assert!(start.elapsed() < bound, "not noticed within {bound:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Lets `endpoint` get past its claim (it then runs until stopped).
fn past_claim(endpoint: &Endpoint) {
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(endpoint.error(), None);
}

#[test]
fn format_refuses_a_volume_whose_writer_is_alive_even_with_force() {
    let dir = unprivileged::shared_dir("volnic-reformat-");
    let (a, b) = volume_pair(dir.path());
    // On this host: the writer's lock.
    let writer = Endpoint::start(&quick_config(1000), 1, &a, &b, Box::new(|_: &[u8]| {})).unwrap();
    past_claim(&writer);
    let before = std::fs::read(&a).unwrap()[..4096].to_vec();
    let out = Command::new(cli())
        .args(["format", s(&a), "--blocks", "16", "--force"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = last_line(&out);
    assert!(
        line.contains("holds the volume's lock") && line.contains("--force overrides data"),
        "{line}"
    );
    assert_eq!(
        std::fs::read(&a).unwrap()[..4096],
        before[..],
        "superblock changed"
    );
    assert_eq!(writer.error(), None);
    check_row("O8", &line);
    drop(writer);
    // On another host (no lock in common): format watches the state record
    // for a state interval and names the live writer.
    let writer = unlocked_writer(&quick_config(1000), &a, &b).unwrap();
    past_claim(&writer);
    let out = Command::new(cli())
        .args(["format", s(&a), "--blocks", "16", "--force"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = last_line(&out);
    assert!(
        line.contains("is being written by a live volnic writer '"),
        "{line}"
    );
    check_row("O9", &line);
    assert_eq!(writer.error(), None, "the writer was disturbed");
    drop(writer);
    // Once it has shut down, --force formats.
    let out = Command::new(cli())
        .args(["format", s(&a), "--blocks", "16", "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_forced_overwrite_by_other_means_is_noticed_within_a_state_interval() {
    let interval = Duration::from_millis(200); // a fifth of the 1 s peer timeout
    let dir = unprivileged::shared_dir("volnic-overwrite-");
    let (a, b) = volume_pair(dir.path());
    let other = dir.path().join("other.vol");
    volnic_tools::format::format(&volnic_tools::format::FormatArgs {
        path: other.clone(),
        block_size: 4096,
        blocks: 16,
        writer_node: 1,
        reader_node: 2,
        force: true,
        authenticated: false,
        members: None,
        member: None,
        segment_id: None,
    })
    .unwrap();
    let new_superblock = std::fs::read(&other).unwrap()[..4096].to_vec();
    let writer = unlocked_writer(&quick_config(1000), &a, &b).unwrap();
    past_claim(&writer);
    // dd's way: the superblock of a fresh format written over the live one.
    let file = std::fs::OpenOptions::new().write(true).open(&a).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &new_superblock, 0).unwrap();
    drop(file);
    let (message, took) = stops_within(&writer, 5 * interval);
    assert!(
        message.contains("reformatted under this writer"),
        "{message}"
    );
    volnic_tests::report!("superblock overwritten under a live writer: noticed after {took:?} (state interval {interval:?}): {message}");
    check_row("O10", &message);
    // Another writer's record over this one's.
    let (a, b) = volume_pair(&dir.path().join("x").tap_mkdir());
    let writer = unlocked_writer(&quick_config(1000), &a, &b).unwrap();
    past_claim(&writer);
    let intruder = unlocked_writer(&quick_config(1000), &a, &b);
    // The intruder watches first and is refused: it writes nothing.
    let intruder = intruder.unwrap();
    let (refusal, _) = stops_within(&intruder, Duration::from_secs(5));
    assert!(refusal.contains("another live node"), "{refusal}");
    assert_eq!(writer.error(), None);
    drop(intruder);
    drop(writer);
}

/// Writes `bytes` at block `block` of `path` from another process (`dd`,
/// as a stray tool would), without truncating.
fn dd_block(path: &Path, block: u64, bytes: &[u8], dir: &Path) {
    let input = dir.join(format!("block-{block}.bin"));
    std::fs::write(&input, bytes).unwrap();
    let out = Command::new("dd")
        .arg(format!("if={}", input.display()))
        .arg(format!("of={}", path.display()))
        .args(["bs=4096", "count=1", "conv=notrunc,fsync"])
        .arg(format!("seek={block}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Ring slot `slot` of a 4096-byte-block volume, as on the file.
fn read_slot(path: &Path, slot: u64) -> Vec<u8> {
    let at = ((2 + slot) * 4096) as usize;
    std::fs::read(path).unwrap()[at..at + 4096].to_vec()
}

/// Writes `blocks` more data blocks (one 3000-byte frame each) and waits
/// until the writer is idle. More, not "up to": the published counter lags
/// the writer, so a previous call may have gone well past its own count.
fn write_blocks(writer: &Endpoint, blocks: u64) {
    let start = Instant::now();
    let target = writer.counters().blocks_written + blocks;
    while writer.counters().blocks_written < target {
        let _ = writer.send(&[0x42; 3000]);
        std::thread::sleep(Duration::from_millis(3));
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            writer.error()
        );
    }
    let mut last = writer.counters().blocks_written;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = writer.counters().blocks_written;
        if now == last {
            return;
        }
        last = now;
    }
}

#[test]
fn a_process_writing_into_a_ring_slot_is_noticed_within_a_state_interval() {
    let interval = Duration::from_millis(200); // a fifth of the 1 s peer timeout
    let dir = unprivileged::shared_dir("volnic-slot-");
    // Bytes of its own choosing into slot 5, after the writer has run
    // with its peer across several ring wraps (16 slots) without a word.
    let (a, b) = volume_pair(dir.path());
    let writer = unlocked_writer(&quick_config(1000), &a, &b).unwrap();
    let peer = Endpoint::start(&quick_config(1000), 2, &b, &a, Box::new(|_: &[u8]| {})).unwrap();
    past_claim(&writer);
    write_blocks(&writer, 80);
    std::thread::sleep(4 * interval);
    assert_eq!(
        writer.error(),
        None,
        "a change reported on an undisturbed volume"
    );
    let mut stray = vec![0x5a; 4096];
    stray[..8].copy_from_slice(b"NOTVOLNC");
    dd_block(&a, 2 + 5, &stray, dir.path());
    let (message, took) = stops_within(&writer, 25 * interval);
    assert!(
        message.contains("ring slot 5 (byte offset 28672)"),
        "{message}"
    );
    volnic_tests::report!("stray block in a live writer's ring: noticed after {took:?} (state interval {interval:?}): {message}");
    check_row("O16", &message);
    drop(peer);
    drop(writer);
    // An older block of the same writer replayed into its slot.
    let (a, b) = volume_pair(&dir.path().join("x").tap_mkdir());
    let writer = unlocked_writer(&quick_config(1000), &a, &b).unwrap();
    past_claim(&writer);
    write_blocks(&writer, 2);
    let old = read_slot(&a, 0);
    write_blocks(&writer, 20);
    assert_ne!(read_slot(&a, 0), old, "slot 0 not rewritten");
    dd_block(&a, 2, &old, dir.path());
    let (message, _) = stops_within(&writer, 25 * interval);
    assert!(
        message.contains("ring slot 0 (byte offset 8192)"),
        "{message}"
    );
    check_row("O16", &message);
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}
impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn truncation_or_deletion_under_a_running_writer_is_noticed_and_named() {
    let interval = Duration::from_millis(200);
    for (case, what) in [(0u64, "shrank"), (2, "shrank"), (u64::MAX, "gone")] {
        let dir = unprivileged::shared_dir("volnic-truncate-");
        let (a, b) = volume_pair(dir.path());
        let writer =
            Endpoint::start(&quick_config(1000), 1, &a, &b, Box::new(|_: &[u8]| {})).unwrap();
        past_claim(&writer);
        let len = std::fs::metadata(&a).unwrap().len();
        if case == u64::MAX {
            std::fs::remove_file(&a).unwrap();
        } else {
            let file = std::fs::OpenOptions::new().write(true).open(&a).unwrap();
            file.set_len(len.checked_div(case).unwrap_or(0)).unwrap();
        }
        let (message, took) = stops_within(&writer, 5 * interval);
        assert!(message.contains(what), "{message}");
        if case != u64::MAX {
            // Not grown back by the writer's own writes.
            let now = std::fs::metadata(&a).unwrap().len();
            assert!(now < len, "the writer grew the file back to {now}");
        }
        volnic_tests::report!(
            "send volume {}: noticed after {took:?}: {message}",
            if case == u64::MAX {
                "deleted".to_string()
            } else {
                format!("cut to {}", len.checked_div(case).unwrap_or(0))
            }
        );
        check_row(if case == u64::MAX { "O12" } else { "O11" }, &message);
    }
}

// ---------------------------------------------------------------------------
// Under systemd

/// A volume that is not there, under systemd (`INVOCATION_ID` set), may be
/// hidden by the unit's sandbox: the message says so; outside it does not.
#[test]
fn not_found_under_systemd_names_the_sandbox() {
    let dir = unprivileged::shared_dir("volnic-sandbox-");
    let (a, b) = volume_pair(dir.path());
    let missing = Path::new("/tmp/volnic-no-such-dir/a.vol");
    for (env, sandbox) in [(Some("0123abcd"), true), (None, false)] {
        let mut cmd = Command::new(cli());
        cmd.args([
            "up",
            "--send",
            s(missing),
            "--recv",
            s(&b),
            "--tap",
            "volnic-sbx",
        ]);
        cmd.env_remove("INVOCATION_ID");
        if let Some(id) = env {
            cmd.env("INVOCATION_ID", id);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        let line = last_line(&out);
        assert!(
            line.starts_with(&format!("send volume {}: not found", missing.display())),
            "{line}"
        );
        assert_eq!(line.contains("the unit's sandbox"), sandbox, "{line}");
        assert!(line.contains("ReadWritePaths=") == sandbox, "{line}");
    }
    let _ = a;
}

/// `volnic up` as a `Type=notify` service: with `$NOTIFY_SOCKET` set, each
/// of two endpoints (each in a network namespace of its own, on one pair of
/// volume files) sends `READY=1` once its link is up, and `STOPPING=1` when
/// stopped. Needs root and /dev/net/tun.
#[test]
fn up_tells_systemd_it_is_ready_once_the_link_is_up() {
    let unshare_works = Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !is_root() || !Path::new("/dev/net/tun").exists() || !unshare_works {
        println!(
            "SKIP up_tells_systemd_it_is_ready_once_the_link_is_up: needs root, /dev/net/tun and unshare --net"
        );
        return;
    }
    let dir = unprivileged::shared_dir("volnic-notify-");
    let (a, b) = volume_pair(dir.path());
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let start = Instant::now();
    let mut children: Vec<std::process::Child> = [(1, &a, &b), (2, &b, &a)]
        .into_iter()
        .map(|(node, send, recv)| {
            Command::new("unshare")
                .arg("--net")
                .arg(cli())
                .args([
                    "up",
                    "--send",
                    s(send),
                    "--recv",
                    s(recv),
                    "--peer-timeout-ms",
                    "1000",
                    "--tap",
                ])
                .arg(format!("vnotify{node}"))
                .env("NOTIFY_SOCKET", &sock_path)
                .env_remove("INVOCATION_ID")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ready = Vec::new();
    let mut buf = [0u8; 512];
    while ready.len() < 2 {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.starts_with("READY=1") {
                    ready.push(msg);
                }
            }
            Err(e) => {
                for c in &mut children {
                    let _ = c.kill();
                }
                panic!("no READY=1 from both endpoints within 30 s ({e}): {ready:?}");
            }
        }
    }
    let took = start.elapsed();
    for msg in &ready {
        assert!(
            msg.contains("STATUS=link up"),
            "ready before the link was up: {msg}"
        );
    }
    volnic_tests::report!("Type=notify: both endpoints READY=1 with the link up after {took:?}");
    let stop = |c: &std::process::Child| {
        // SAFETY: kill takes no pointers; the pid is our own child's.
        let rc = unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
    };
    // Node 2 stops first: node 1's status line turns to the link down.
    stop(&children[1]);
    let (mut stopping, mut down) = (0, None);
    while stopping < 1 || down.is_none() {
        let n = sock
            .recv(&mut buf)
            .expect("STOPPING=1 from node 2 and a link-down status from node 1");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg.starts_with("STOPPING=1") {
            stopping += 1;
        } else if msg.starts_with("STATUS=link down: ") {
            down = Some(msg);
        }
    }
    volnic_tests::report!("Type=notify: with the peer stopped, {}", down.unwrap());
    stop(&children[0]);
    while stopping < 2 {
        let n = sock.recv(&mut buf).expect("STOPPING=1 from both");
        if buf[..n].starts_with(b"STOPPING=1") {
            stopping += 1;
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------
// Block devices

/// A loop device over a file, detached when dropped.
struct Loop(PathBuf);

impl Loop {
    fn over(file: &Path) -> Option<Loop> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(Loop(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim(),
        )))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("blockdev")
            .arg("--setrw")
            .arg(&self.0)
            .status();
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// On block devices (loop devices, as root): a device set read-only is
/// named as such, a device smaller than its format says so (not "free
/// space"), and a second writer of a device is refused at once (O_EXCL and
/// the lock).
#[test]
fn block_devices_say_the_real_cause() {
    if !is_root() {
        println!("SKIP block_devices_say_the_real_cause: needs root for loop devices");
        return;
    }
    let dir = unprivileged::shared_dir("volnic-blockdev-");
    let (_, b) = volume_pair(dir.path());
    let img = dir.path().join("a.img");
    std::fs::write(&img, vec![0u8; 18 * 4096]).unwrap();
    let Some(dev) = Loop::over(&img) else {
        println!("SKIP block_devices_say_the_real_cause: losetup cannot attach a loop device here");
        return;
    };
    let out = Command::new(cli())
        .args(["format", s(&dev.0), "--blocks", "16"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // A second writer of the device, on this host: refused at once.
    let first =
        Endpoint::start(&quick_config(1000), 1, &dev.0, &b, Box::new(|_: &[u8]| {})).unwrap();
    let second = Endpoint::start(&quick_config(1000), 1, &dev.0, &b, Box::new(|_: &[u8]| {}));
    let e = second.err().expect("second writer of the device refused");
    assert!(
        e.contains("is busy") || e.contains("holds the volume's lock"),
        "{e}"
    );
    // And `format --force` refuses it too.
    let out = Command::new(cli())
        .args(["format", s(&dev.0), "--blocks", "16", "--force"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    volnic_tests::report!(
        "block device in use: second writer: {e}; format: {}",
        last_line(&out)
    );
    drop(first);
    // Read-only device.
    assert!(Command::new("blockdev")
        .arg("--setro")
        .arg(&dev.0)
        .status()
        .unwrap()
        .success());
    let out = Command::new(cli())
        .args([
            "up",
            "--send",
            s(&dev.0),
            "--recv",
            s(&b),
            "--tap",
            "volnic-robd",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = last_line(&out);
    check_row("O14", &line);
    assert!(Command::new("blockdev")
        .arg("--setrw")
        .arg(&dev.0)
        .status()
        .unwrap()
        .success());
    // A device smaller than the format written on it (a 32-block format's
    // superblock on a 16-block device).
    let big = dir.path().join("big.vol");
    let out = Command::new(cli())
        .args(["format", s(&big), "--blocks", "32"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sb = std::fs::read(&big).unwrap()[..4096].to_vec();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&dev.0)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &sb, 0).unwrap();
    file.sync_all().unwrap();
    drop(file);
    let e = Endpoint::start(&quick_config(1000), 1, &dev.0, &b, Box::new(|_: &[u8]| {}))
        .err()
        .expect("refused");
    assert!(
        e.contains("holds 73728 bytes but its format needs 139264"),
        "{e}"
    );
    assert!(!e.contains("free space"), "{e}");
    volnic_tests::report!("block device smaller than its format: {e}");
}

// ---------------------------------------------------------------------------
// One liveness clock per link

/// Two endpoints with different peer timeouts (5000 ms and 200 ms: the
/// first rewrites its record every second, five times the second's
/// timeout) on an idle link: the second judges the first by the timeout the
/// first declares, so its carrier stays steady (it flapped before), the
/// mismatch is reported, and `volnic status` names it.
#[test]
fn different_peer_timeouts_keep_a_steady_carrier() {
    let dir = unprivileged::shared_dir("volnic-clock-");
    let (a, b) = volume_pair(dir.path());
    let slow = Endpoint::start(&quick_config(5000), 1, &a, &b, Box::new(|_: &[u8]| {})).unwrap();
    let fast = Endpoint::start(&quick_config(200), 2, &b, &a, Box::new(|_: &[u8]| {})).unwrap();
    assert!(slow.wait_up(Duration::from_secs(20)) && fast.wait_up(Duration::from_secs(20)));
    let start = Instant::now();
    let (mut samples, mut down) = (0, 0);
    while start.elapsed() < Duration::from_secs(4) {
        samples += 1;
        if !fast.link_up() || !slow.link_up() {
            down += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    volnic_tests::report!(
        "peer timeouts 5000 ms and 200 ms, idle 4 s: carrier down in {down} of {samples} samples"
    );
    assert_eq!(down, 0, "a carrier flapped");
    assert_eq!(fast.peer_timeout_mismatch(), Some((200_000, 5_000_000)));
    assert_eq!(slow.peer_timeout_mismatch(), Some((5_000_000, 200_000)));
    let out = Command::new(cli())
        .args(["status", s(&a), s(&b), "--watch-ms", "300"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("mismatch    node 1 declares a peer timeout of 5000 ms, node 2 200 ms"),
        "{text}"
    );
    assert!(
        text.contains("rewrites its record every 1000 ms; its peer timeout is 5000 ms"),
        "{text}"
    );
    drop(fast);
    drop(slow);
}

#[test]
fn o15_reads_as_the_troubleshooting_table() {
    check_row(
        "O15",
        &volnic_tools::cli::up::timeout_mismatch_line(3_000_000, 60_000_000),
    );
}

/// `volnic keygen` under umask 000 still makes a key only its owner can
/// read (as `nobody`, when root runs the tests: refused), and it is a key
/// `volnic up` accepts.
#[test]
fn keygen_makes_a_private_key_whatever_the_umask() {
    let dir = unprivileged::shared_dir("volnic-keygen-");
    let key = dir.path().join("k.key");
    let out = under_umask("000", &["keygen", s(&key)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&key), 0o600);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&std::fs::read_to_string(&key).unwrap()));
    read_key_file(&key).expect("a valid key file");
    let out = under_umask("000", &["keygen", s(&key)]);
    assert!(!out.status.success() && last_line(&out).contains("--force"));
    if is_root() {
        let out = Command::new("cat")
            .arg(&key)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        assert!(!out.status.success(), "nobody read the key");
    }
}
