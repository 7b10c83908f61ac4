//! `volnic bench`: volnic's latency, throughput and CPU cost beside the
//! physical limit of the same storage, measured in the same run.
//!
//! The floor: one unbuffered block write, one unbuffered block read, and
//! sequential unbuffered write bandwidth. volnic: two endpoints in this
//! process over one shared file per direction (a shared LUN: the floor of a
//! one-way trip is exactly one write plus one read).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::bench::{
    measure_floor, scratch_dir, BenchReport, BulkResult, CpuResult, MeasuredPair, Percentiles,
};
use crate::endpoint::EndpointConfig;
use crate::format::check_block_size_option;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Directory for the volumes (on the storage to measure). Default: a
    /// new directory under /var/tmp (or the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Block size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub block_size: u32,
    /// Seconds per phase (idle, heartbeats every 1 ms, heartbeats every 1 s,
    /// bulk).
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Receive poll interval when idle, µs.
    #[arg(long, default_value_t = 1000)]
    pub poll_us: u64,
    /// Flush delay for partial blocks, ms.
    #[arg(long, default_value_t = 0)]
    pub flush_delay_ms: u64,
    /// Heartbeat frame size in bytes.
    #[arg(long, default_value_t = 200)]
    pub heartbeat_bytes: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Longest bench phase, in seconds.
pub const MAX_SECONDS: u64 = 3600;
/// Smallest heartbeat frame: the probe's header, sequence and time stamp.
pub const MIN_HEARTBEAT_BYTES: usize = 30;
/// Largest heartbeat frame: a 9000-byte MTU's frame.
pub const MAX_HEARTBEAT_BYTES: usize = 9014;

/// A numeric option inside `range`, or the one-line error naming it.
pub fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    flag: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{flag} {value} is out of range: use {}..={}",
            range.start(),
            range.end()
        ))
    }
}

impl BenchArgs {
    /// The range checks of every numeric option, before anything runs.
    pub fn check(&self) -> Result<(), String> {
        use volnic_core::settings;
        check_block_size_option("--block-size", self.block_size)?;
        in_range("--seconds", self.seconds, 1..=MAX_SECONDS)?;
        let poll = settings::POLL_INTERVAL_US.range();
        in_range(
            "--poll-us",
            self.poll_us,
            u64::from(poll.min)..=u64::from(poll.max),
        )?;
        let flush = settings::FLUSH_DELAY_MS.range();
        in_range(
            "--flush-delay-ms",
            self.flush_delay_ms,
            u64::from(flush.min)..=u64::from(flush.max),
        )?;
        in_range(
            "--heartbeat-bytes",
            self.heartbeat_bytes,
            MIN_HEARTBEAT_BYTES..=MAX_HEARTBEAT_BYTES,
        )?;
        Ok(())
    }
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let report = bench(&args, !args.json)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!(report)).unwrap_or_default()
        );
    } else {
        print_table(&report);
    }
    Ok(())
}

fn progress(show: bool, what: &str) {
    if show {
        eprintln!("volnic bench: {what}");
    }
}

/// Runs every phase.
pub fn bench(args: &BenchArgs, show: bool) -> Result<BenchReport, String> {
    args.check()?;
    let dir = scratch_dir(args.dir.as_ref())?;
    let secs = args.seconds.max(1);
    let phase = Duration::from_secs(secs);
    progress(show, "measuring the storage floor");
    let floor = measure_floor(dir.path(), args.block_size, secs as f64 / 2.0, args.poll_us)?;
    let mut cfg = EndpointConfig::new(dir.path(), args.block_size);
    cfg.poll_us = args.poll_us;
    cfg.flush_delay_us = args.flush_delay_ms * 1000;
    progress(show, "starting two endpoints");
    let rig = MeasuredPair::start(&cfg)?;
    let mut seq = 0;
    progress(show, "idle");
    let (idle_s, idle_r) = rig.cpu_during(|| std::thread::sleep(phase));
    progress(show, "heartbeats every 1 ms");
    let heartbeat_1ms = rig.heartbeats(
        Duration::from_millis(1),
        phase,
        args.heartbeat_bytes,
        &mut seq,
    );
    progress(show, "heartbeats every 1 s");
    let heartbeat_1s = rig.heartbeats(
        Duration::from_secs(1),
        phase.max(Duration::from_secs(10)),
        args.heartbeat_bytes,
        &mut seq,
    );
    progress(show, "bulk MTU frames");
    let mut bulk = BulkResult::default();
    let (load_s, load_r) = rig.cpu_during(|| bulk = rig.bulk(phase, 1514, &mut seq));
    let sender = rig.sender.stop();
    let receiver = rig.receiver.stop();
    if sender.rejects() + receiver.rejects() > 0 {
        progress(
            show,
            &format!("warning: rejected blocks: {sender:?} {receiver:?}"),
        );
    }
    let floor_trip = (floor.write.p50 + floor.read.p50).max(1) as f64;
    let best_seq = floor
        .seq_write_mbps
        .max(floor.seq_write_batched_mbps)
        .max(1e-9);
    Ok(BenchReport {
        dir: dir.path().display().to_string(),
        block_size: args.block_size,
        poll_us: args.poll_us,
        flush_delay_ms: args.flush_delay_ms,
        latency_ratio: heartbeat_1ms.latency_us.p99 as f64 / floor_trip,
        throughput_ratio: bulk.mb_per_s / best_seq,
        throughput_ratio_block: bulk.mb_per_s / floor.seq_write_mbps.max(1e-9),
        floor,
        heartbeat_1ms,
        heartbeat_1s,
        bulk,
        cpu: CpuResult {
            idle_sender: idle_s,
            idle_receiver: idle_r,
            load_sender: load_s,
            load_receiver: load_r,
        },
    })
}

fn print_table(r: &BenchReport) {
    let f = &r.floor;
    println!(
        "volnic bench — {} (block {} B, poll {} µs, flush delay {} ms, {})",
        r.dir,
        r.block_size,
        r.poll_us,
        r.flush_delay_ms,
        if f.direct_io {
            "O_DIRECT"
        } else {
            "no O_DIRECT: page cache in the path"
        }
    );
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "latency (µs)", "p50", "p99", "p99.9", "max"
    );
    let row = |name: &str, p: &Percentiles| {
        println!(
            "{:<44} {:>10} {:>10} {:>10} {:>10}",
            format!("{name} (n={})", p.samples),
            p.p50,
            p.p99,
            p.p999,
            p.max
        )
    };
    row("floor: unbuffered block write", &f.write);
    row("floor: unbuffered block read", &f.read);
    row(
        &format!(
            "volnic one-way, heartbeat every 1 ms ({}/{} arrived)",
            r.heartbeat_1ms.received, r.heartbeat_1ms.sent
        ),
        &r.heartbeat_1ms.latency_us,
    );
    row(
        &format!(
            "volnic one-way, heartbeat every 1 s ({}/{} arrived)",
            r.heartbeat_1s.received, r.heartbeat_1s.sent
        ),
        &r.heartbeat_1s.latency_us,
    );
    println!();
    println!("{:<44} {:>10}", "throughput", "MB/s");
    println!(
        "{:<44} {:>10.1}",
        "floor: sequential write, 1 block/write", f.seq_write_mbps
    );
    println!(
        "{:<44} {:>10.1}",
        "floor: sequential write, 1 MiB/write", f.seq_write_batched_mbps
    );
    println!(
        "{:<44} {:>10.1}",
        format!(
            "volnic bulk, 1514-byte frames ({:.0} frames/s)",
            r.bulk.frames_per_s
        ),
        r.bulk.mb_per_s
    );
    println!();
    println!(
        "CPU (% of one core): idle sender {:.2}, idle receiver {:.2} (a bare loop of one unbuffered block read + sleep every {} µs: {:.2}); under load sender {:.1}, receiver {:.1}",
        r.cpu.idle_sender,
        r.cpu.idle_receiver,
        r.poll_us,
        f.idle_poll_cpu_pct,
        r.cpu.load_sender,
        r.cpu.load_receiver
    );
    println!(
        "ratios: latency p99 / (write + read floor p50) = {:.2}; throughput / sequential write at 1 block/write = {:.0} %, / best sequential write = {:.0} %",
        r.latency_ratio,
        r.throughput_ratio_block * 100.0,
        r.throughput_ratio * 100.0
    );
}
