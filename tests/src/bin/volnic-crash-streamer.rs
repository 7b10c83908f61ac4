//! The victim of the crash-consistency test (`tests/tests/crash.rs`): one
//! volnic node that streams numbered, checksummed frames as fast as its
//! peer takes them, until it is killed.
//!
//! `volnic-crash-streamer SEND RECV RUN PEER_TIMEOUT_MS`: node 1 on the
//! file volumes SEND (written) and RECV (read). It prints `running EPOCH`
//! once its link is open and its claim wait is over, then sends frames
//! made by [`frame`] for run RUN, numbered from 0. The test kills it with
//! SIGKILL at random moments and starts it again on the same volumes.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volnic_core::{Link, LinkConfig, SendQueue};
use volnic_tests::crashframe::frame;
use volnic_tools::filevol::{FileVolume, OpenMode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, send_path, recv_path, run, timeout_ms] = &args[..] else {
        eprintln!("usage: volnic-crash-streamer SEND RECV RUN PEER_TIMEOUT_MS");
        std::process::exit(2);
    };
    let run: u32 = run.parse().expect("RUN is a number");
    let timeout_ms: u64 = timeout_ms.parse().expect("PEER_TIMEOUT_MS is a number");
    if let Err(e) = stream(Path::new(send_path), Path::new(recv_path), run, timeout_ms) {
        eprintln!("volnic-crash-streamer: {e}");
        std::process::exit(1);
    }
}

fn stream(send_path: &Path, recv_path: &Path, run: u32, timeout_ms: u64) -> Result<(), String> {
    let origin = Instant::now();
    let now = || origin.elapsed().as_micros() as u64 + 1;
    let mut send = FileVolume::open(send_path, OpenMode::ReadWrite).map_err(|e| e.to_string())?;
    let mut recv = FileVolume::open(recv_path, OpenMode::ReadOnly).map_err(|e| e.to_string())?;
    let mut cfg = LinkConfig::new(1);
    cfg.set_peer_timeout_us(timeout_ms * 1_000);
    cfg.set_host_name(&format!("streamer-run-{run}"));
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut link = Link::open(cfg, &mut send, &mut recv, now(), wall).map_err(|e| e.to_string())?;
    let mut queue = SendQueue::new(256 * 1024, link.block_payload());
    let mut announced = false;
    let mut n = 0u64;
    loop {
        if !announced && !link.claiming() {
            let mut out = std::io::stdout().lock();
            writeln!(out, "running {}", link.epoch()).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            announced = true;
        }
        if announced {
            // Keep the queue topped up; what does not fit waits.
            while queue.push(&frame(run, n)).is_ok() {
                n += 1;
            }
        }
        link.pack(&mut queue, now());
        let report = link
            .poll(now(), &mut send, &mut recv, &mut |_: &[u8]| {})
            .map_err(|e| e.to_string())?;
        if !report.busy() {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}
