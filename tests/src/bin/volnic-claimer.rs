//! A writer that claims a send volume and reports whether it got it, for
//! the ownership tests' two-process runs (two hosts sharing only a file):
//!
//!     volnic-claimer SEND RECV HOLD_MS [--lock]
//!
//! Opens SEND read-write (with this host's lock only if `--lock`, else as
//! another host would, sharing nothing but the file) and RECV read-only,
//! starts an endpoint (peer timeout 200 ms), keeps it HOLD_MS, then prints
//! one line: `running`, `refused: <why>` (at start or during its claim) or
//! `lost: <why>` (it had been running and the volume was taken from it),
//! and exits 0, 3 or 4.

use std::path::PathBuf;
use std::time::Duration;

use volnic_tools::endpoint::{Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: volnic-claimer SEND RECV HOLD_MS [--lock]");
        return std::process::ExitCode::from(2);
    }
    let (send, recv) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let hold: u64 = args[3].parse().unwrap_or(1000);
    let lock = args.get(4).is_some_and(|a| a == "--lock");
    let mut cfg = EndpointConfig::new(std::path::Path::new("."), 4096);
    cfg.peer_timeout_us = 200_000;
    let started = if lock {
        Endpoint::start(&cfg, 1, &send, &recv, Box::new(|_: &[u8]| {}))
    } else {
        match (
            FileVolume::open(&send, OpenMode::ReadWrite),
            FileVolume::open(&recv, OpenMode::ReadOnly),
        ) {
            (Ok(s), Ok(r)) => {
                Endpoint::start_on(&cfg, 1, Box::new(s), Box::new(r), Box::new(|_: &[u8]| {}))
            }
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
        }
    };
    let endpoint = match started {
        Ok(e) => e,
        Err(e) => {
            println!("refused: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    std::thread::sleep(Duration::from_millis(hold));
    let outcome = endpoint.error();
    drop(endpoint);
    match outcome {
        None => {
            println!("running");
            std::process::ExitCode::SUCCESS
        }
        Some(e) if e.starts_with("stopped writing") => {
            println!("lost: {e}");
            std::process::ExitCode::from(4)
        }
        Some(e) => {
            println!("refused: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
