//! `volnic mirror SRC DST`: emulates array remote mirroring between two
//! volumes, as a separate process that polls SRC (one node's send volume)
//! and copies what changed to DST (the peer's receive volume).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::mirror::{describe, PollConfig, PollMode, PollingMirror};

/// Default lag of `--mode async`.
pub const DEFAULT_ASYNC_LAG_MS: u64 = 50;
/// Longest async lag accepted (10 minutes).
pub const MAX_LAG_MS: u64 = 600_000;
/// Longest sweep period and run time accepted (a year: far beyond any test,
/// short of overflowing a deadline).
pub const MAX_MS: u64 = 365 * 24 * 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MirrorMode {
    /// Copy changes as soon as they are seen (like SRDF/S, DRBD protocol C).
    Sync,
    /// Make copies visible --lag-ms after they were seen (like SRDF/A).
    Async,
}

#[derive(Args, Debug, Clone)]
pub struct MirrorArgs {
    /// Source: the writing node's send volume (opened read-only).
    pub src: PathBuf,
    /// Destination: the peer's receive volume (as large as SRC's formatted
    /// span; its contents are overwritten).
    pub dst: PathBuf,
    /// Mirroring mode.
    #[arg(long, value_enum, default_value_t = MirrorMode::Sync)]
    pub mode: MirrorMode,
    /// Lag of --mode async, in milliseconds [default: 50].
    #[arg(long)]
    pub lag_ms: Option<u64>,
    /// Pause between polls of SRC, in microseconds.
    #[arg(long, default_value_t = 50)]
    pub interval_us: u64,
    /// Period of the full re-read of SRC, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub sweep_ms: u64,
    /// Stop after this many milliseconds (default: run until killed).
    #[arg(long)]
    pub duration_ms: Option<u64>,
}

/// The poll settings `args` ask for.
pub fn config(args: &MirrorArgs) -> Result<PollConfig, String> {
    let mode = match (args.mode, args.lag_ms) {
        (MirrorMode::Sync, Some(_)) => {
            return Err(
                "--lag-ms applies to --mode async only: add --mode async or drop --lag-ms".into(),
            )
        }
        (MirrorMode::Sync, None) => PollMode::Sync,
        (MirrorMode::Async, lag) => PollMode::Async {
            lag: Duration::from_millis(lag.unwrap_or(DEFAULT_ASYNC_LAG_MS)),
        },
    };
    if args.sweep_ms == 0 {
        return Err("--sweep-ms must be at least 1".into());
    }
    use crate::cli::bench::in_range;
    in_range("--sweep-ms", args.sweep_ms, 1..=MAX_MS)?;
    in_range("--interval-us", args.interval_us, 1..=1_000_000)?;
    if let Some(lag) = args.lag_ms {
        in_range("--lag-ms", lag, 0..=MAX_LAG_MS)?;
    }
    if let Some(ms) = args.duration_ms {
        in_range("--duration-ms", ms, 0..=MAX_MS)?;
    }
    Ok(PollConfig {
        mode,
        interval: Duration::from_micros(args.interval_us),
        sweep_interval: Duration::from_millis(args.sweep_ms),
    })
}

pub fn run(args: MirrorArgs) -> Result<(), String> {
    let config = config(&args)?;
    let mut mirror =
        PollingMirror::open(&args.src, &args.dst, config.clone()).map_err(|e| e.to_string())?;
    let mode = match config.mode {
        PollMode::Sync => "sync".to_owned(),
        PollMode::Async { lag } => format!("async, lag {} ms", lag.as_millis()),
    };
    eprintln!(
        "volnic mirror: {} -> {} ({mode}; {}; poll every {} µs, full sweep every {} ms){}",
        args.src.display(),
        args.dst.display(),
        describe(&mirror.geometry()),
        args.interval_us,
        args.sweep_ms,
        if args.duration_ms.is_some() {
            ""
        } else {
            "; SIGUSR1 cuts the mirror, SIGUSR2 resumes it, Ctrl-C stops it"
        }
    );
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(mirror.pause_handle(), Arc::clone(&stop))?;
    if let Some(ms) = args.duration_ms {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let result = mirror.run_until(&stop);
    let stats = mirror.stats();
    tracing::info!(
        ticks = stats.ticks,
        sweeps = stats.sweeps,
        blocks_seen = stats.blocks_seen,
        blocks_written = stats.blocks_written,
        "mirror stopped"
    );
    result.map_err(|e| e.to_string())
}

/// SIGUSR1 cuts the mirror (nothing more is copied, as when an array's
/// replication link fails), SIGUSR2 resumes it (what changed meanwhile is
/// copied by the next sweep), SIGINT/SIGTERM stop it.
fn watch_signals(pause: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals = signal_hook::iterator::Signals::new([SIGUSR1, SIGUSR2, SIGINT, SIGTERM])
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    std::thread::Builder::new()
        .name("volnic-mirror-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGUSR1 => {
                        pause.store(true, Ordering::Release);
                        tracing::warn!("mirror cut (SIGUSR1): nothing is copied until SIGUSR2");
                    }
                    SIGUSR2 => {
                        pause.store(false, Ordering::Release);
                        tracing::warn!("mirror resumed (SIGUSR2)");
                    }
                    _ => {
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: MirrorArgs,
    }

    #[test]
    fn parses_modes_and_lag() {
        let cli = Cli::try_parse_from(["x", "a", "b", "--mode", "async", "--lag-ms", "7"]).unwrap();
        assert_eq!(
            config(&cli.args).unwrap().mode,
            PollMode::Async {
                lag: Duration::from_millis(7)
            }
        );
        let cli = Cli::try_parse_from(["x", "a", "b"]).unwrap();
        let c = config(&cli.args).unwrap();
        assert_eq!(c.mode, PollMode::Sync);
        assert_eq!(c.interval, Duration::from_micros(50));
        let cli = Cli::try_parse_from(["x", "a", "b", "--lag-ms", "7"]).unwrap();
        assert!(config(&cli.args).unwrap_err().contains("--mode async"));
    }
}
