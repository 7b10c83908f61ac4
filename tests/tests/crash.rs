//! Crash consistency: a sending node is killed with SIGKILL at random
//! moments — while opening its volumes, during its claim wait, in the middle
//! of streaming — and started again on the same send volume, hundreds of
//! times, while the receiving node runs on throughout.
//!
//! The sender is a separate process (`volnic-crash-streamer`, node 1 on
//! file volumes with `O_DIRECT`) streaming frames that carry its run number,
//! a per-run frame number and a checksum. The receiver is an in-process
//! `Endpoint` (node 2) on the same files (a shared LUN). At the receiver:
//! no frame with a bad checksum, no frame twice or out of order, nothing of
//! an older run once a newer run has been seen, and after every restart
//! traffic resumes within one peer timeout of the new run starting.
//!
//! `VOLNIC_CRASH_ITERATIONS` sets the number of kills (default 300).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volnic_tests::crashframe;
use volnic_tests::faulty::next_random;
use volnic_tools::endpoint::{format_pair, Endpoint, EndpointConfig};

const PEER_TIMEOUT_MS: u64 = 300;
const DEFAULT_ITERATIONS: usize = 300;

/// What the receiver saw, judged frame by frame as it arrived.
#[derive(Default)]
struct Verdict {
    frames: u64,
    bad_checksum: u64,
    repeated_or_reordered: u64,
    stale_after_newer: u64,
    last: Option<(u32, u64)>,
    /// First arrival of each run's first frame.
    first_of_run: std::collections::HashMap<u32, Instant>,
}

impl Verdict {
    fn judge(&mut self, frame: &[u8]) {
        self.frames += 1;
        let Some((run, n)) = crashframe::parse(frame) else {
            self.bad_checksum += 1;
            return;
        };
        if let Some((last_run, last_n)) = self.last {
            if run < last_run {
                self.stale_after_newer += 1;
                return;
            }
            if run == last_run && n <= last_n {
                self.repeated_or_reordered += 1;
                return;
            }
        }
        self.last = Some((run, n));
        self.first_of_run.entry(run).or_insert_with(Instant::now);
    }

    fn wrong(&self) -> u64 {
        self.bad_checksum + self.repeated_or_reordered + self.stale_after_newer
    }
}

fn iterations() -> usize {
    std::env::var("VOLNIC_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

/// Starts run `run` of the streamer; its "running" line arrives on the
/// returned channel.
fn spawn_streamer(dir: &Path, run: u32) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_volnic-crash-streamer"))
        .arg(dir.join("a.vol"))
        .arg(dir.join("b.vol"))
        .arg(run.to_string())
        .arg(PEER_TIMEOUT_MS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the streamer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn kill(mut child: Child) {
    // Child::kill sends SIGKILL.
    child.kill().expect("kill -9 the streamer");
    child.wait().expect("reap the streamer");
}

#[test]
fn sender_killed_at_random_points_never_makes_the_receiver_deliver_a_wrong_frame() {
    let dir = tempfile::Builder::new()
        .prefix("volnic-crash-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let mut cfg = EndpointConfig::new(dir.path(), 4096);
    cfg.ring_blocks = 64;
    cfg.peer_timeout_us = PEER_TIMEOUT_MS * 1_000;
    let (a, b) = format_pair(&cfg).expect("format the volumes");

    let verdict = Arc::new(Mutex::new(Verdict::default()));
    let sink_verdict = Arc::clone(&verdict);
    let receiver = Endpoint::start(
        &cfg,
        2,
        &b,
        &a,
        Box::new(move |frame: &[u8]| sink_verdict.lock().unwrap().judge(frame)),
    )
    .expect("start the receiver");

    let iterations = iterations();
    let peer_timeout = Duration::from_millis(PEER_TIMEOUT_MS);
    let mut rng = 0x5eed_u64 ^ std::process::id() as u64;
    let (mut killed_starting, mut killed_streaming) = (0, 0);
    let mut resumed_in_time = 0;
    let mut slowest_resume = Duration::ZERO;
    let started = Instant::now();
    for i in 0..iterations {
        let run = i as u32 + 1;
        let (child, lines) = spawn_streamer(dir.path(), run);
        if next_random(&mut rng).is_multiple_of(4) {
            // Anywhere in opening the volumes, the claim wait or the first
            // writes.
            let ms = next_random(&mut rng) % (PEER_TIMEOUT_MS * 3 / 4);
            std::thread::sleep(Duration::from_millis(ms));
            kill(child);
            killed_starting += 1;
            continue;
        }
        // Wait for the run to start streaming, then for its first frame at
        // the receiver, then kill it a little later, mid-stream.
        let line = match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let mut child = child;
                let _ = child.kill();
                let out = child.wait_with_output().expect("streamer output");
                panic!(
                    "run {run} never started streaming: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        assert!(line.starts_with("running "), "{line}");
        let running_at = Instant::now();
        let deadline = running_at + 20 * peer_timeout;
        let first = loop {
            if let Some(&at) = verdict.lock().unwrap().first_of_run.get(&run) {
                break Some(at);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let resume = first.map(|at| at.saturating_duration_since(running_at));
        if let Some(resume) = resume {
            slowest_resume = slowest_resume.max(resume);
            if resume <= peer_timeout {
                resumed_in_time += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(next_random(&mut rng) % 100));
        kill(child);
        killed_streaming += 1;
    }
    let elapsed = started.elapsed();
    let receiver_error = receiver.error();
    let counters = receiver.stop();
    let v = verdict.lock().unwrap();
    volnic_tests::report!(
        "kill -9 restarts: {iterations} ({killed_starting} while starting, {killed_streaming} while streaming) in {:.1} s; \
         frames delivered: {}, wrong frames delivered: {} (bad checksum {}, twice or out of order {}, older run after newer {}); \
         traffic resumed within one peer timeout ({PEER_TIMEOUT_MS} ms): {resumed_in_time}/{killed_streaming}, slowest {} ms; \
         receiver counters: peer restarts {}, torn {}, corrupt {}, stale {}, blocks missed {}",
        elapsed.as_secs_f64(),
        v.frames,
        v.wrong(),
        v.bad_checksum,
        v.repeated_or_reordered,
        v.stale_after_newer,
        slowest_resume.as_millis(),
        counters.peer_restarts,
        counters.rejects_torn,
        counters.rejects_corrupt,
        counters.rejects_stale,
        counters.drops_blocks_missed,
    );
    assert_eq!(receiver_error, None, "the receiver must keep running");
    assert_eq!(v.wrong(), 0, "wrong frames delivered");
    assert!(v.frames > 0);
    assert_eq!(
        resumed_in_time, killed_streaming,
        "every restart must carry traffic within one peer timeout (slowest {slowest_resume:?})"
    );
}
