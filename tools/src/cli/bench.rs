//! `volnic bench`: volnic's latency, throughput and CPU cost beside the
//! physical limit of the same storage, measured in the same run.
//!
//! The floor: one unbuffered block write, one unbuffered block read, and
//! sequential unbuffered write bandwidth. volnic: two endpoints in this
//! process over one shared file per direction (a shared LUN: the floor of a
//! one-way trip is exactly one write plus one read).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use volnic_core::aligned::AlignedBuf;
use volnic_core::Volume;

use crate::endpoint::{
    now_us, open_floor_volume, open_pair, probe_fields, probe_frame, stamp_probe, thread_cpu_ns,
    Endpoint, EndpointConfig,
};

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

/// The block size of a bench, demo or pair: the format's rule.
pub fn check_block_size_option(flag: &str, block_size: u32) -> Result<u32, String> {
    volnic_core::format::check_block_size(block_size).map_err(|_| {
        format!(
            "{flag} {block_size} is not a multiple of 512 between 512 and 1048576: use e.g. 4096"
        )
    })?;
    Ok(block_size)
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

/// Latency percentiles in µs.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            if samples.is_empty() {
                0
            } else {
                let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
                samples[i - 1]
            }
        };
        Self {
            samples: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The storage's own figures.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Floor {
    pub direct_io: bool,
    pub write: Percentiles,
    pub read: Percentiles,
    /// Sequential unbuffered write bandwidth, one block per write, MB/s.
    pub seq_write_mbps: f64,
    /// The same with 1 MiB per write (what volnic writes at most at once
    /// under load).
    pub seq_write_batched_mbps: f64,
    /// CPU (% of one core) of a bare idle poller at the poll interval: one
    /// unbuffered block read, then sleep for the interval. Not a strict
    /// floor (volnic's own wait can come out cheaper than `thread::sleep`),
    /// but it shows what the storage read alone costs.
    pub idle_poll_cpu_pct: f64,
}

/// Measures the floor on a scratch file in `dir`.
pub fn measure_floor(
    dir: &std::path::Path,
    block_size: u32,
    seconds: f64,
    poll_us: u64,
) -> Result<Floor, String> {
    let bs = check_block_size_option("--block-size", block_size)? as usize;
    let span: u64 = 64 << 20;
    let path = dir.join("floor.vol");
    let mut vol = open_floor_volume(&path, span)?;
    let blocks = span / bs as u64;
    let batch = ((1usize << 20) / bs).max(1) as u64;
    let mut buf = AlignedBuf::new(bs * batch as usize);
    buf.as_mut_slice().fill(0x5a);
    let io = |e: volnic_core::VolumeError| format!("{}: {e}", path.display());
    // Write the whole span once first, as `volnic format` does for a ring:
    // a preallocated but never written extent makes every first write a
    // metadata update, which is not the steady state being measured.
    let mut at = 0u64;
    while at < blocks {
        let n = batch.min(blocks - at);
        vol.write_at(at * bs as u64, &buf.as_slice()[..n as usize * bs])
            .map_err(io)?;
        at += n;
    }
    let budget = Duration::from_secs_f64(seconds.max(0.2));
    let timed = |f: &mut dyn FnMut(u64) -> Result<(), String>| -> Result<Vec<u64>, String> {
        let mut samples = Vec::new();
        let start = Instant::now();
        let mut i = 0u64;
        while start.elapsed() < budget && samples.len() < 200_000 {
            let t = now_us();
            f(i)?;
            samples.push(now_us() - t);
            i += 1;
        }
        Ok(samples)
    };
    // Single-block latency: the slots a link uses are a small region, so
    // write and read the same few blocks over and over, like a ring.
    let mut w = timed(&mut |i| {
        vol.write_at((i % 64) * bs as u64, &buf.as_slice()[..bs])
            .map_err(io)
    })?;
    let mut rbuf = AlignedBuf::new(bs);
    let mut r = timed(&mut |i| {
        vol.read_at((i % 64) * bs as u64, rbuf.as_mut_slice())
            .map_err(io)
    })?;
    let mut seq = |per_write: u64| -> Result<f64, String> {
        let start = Instant::now();
        let mut written = 0u64;
        let mut at = 0u64;
        while start.elapsed() < budget / 2 {
            if at + per_write > blocks {
                at = 0;
            }
            let len = (per_write as usize) * bs;
            vol.write_at(at * bs as u64, &buf.as_slice()[..len])
                .map_err(io)?;
            at += per_write;
            written += len as u64;
        }
        Ok(written as f64 / start.elapsed().as_secs_f64() / 1e6)
    };
    let seq_write_mbps = seq(1)?;
    let seq_write_batched_mbps = seq(batch)?;
    // The idle poller's floor: read the next slot, sleep, again.
    let (cpu0, start) = (thread_cpu_ns(), Instant::now());
    while start.elapsed() < budget.min(Duration::from_secs(2)) {
        vol.read_at(0, rbuf.as_mut_slice()).map_err(io)?;
        std::thread::sleep(Duration::from_micros(poll_us.max(1)));
    }
    let idle_poll_cpu_pct =
        (thread_cpu_ns() - cpu0) as f64 / 1e9 * 100.0 / start.elapsed().as_secs_f64();
    let direct_io = vol.direct_io();
    drop(vol);
    let _ = std::fs::remove_file(&path);
    Ok(Floor {
        direct_io,
        write: Percentiles::of(&mut w),
        read: Percentiles::of(&mut r),
        seq_write_mbps,
        seq_write_batched_mbps,
        idle_poll_cpu_pct,
    })
}

/// Frames received by the measuring endpoint.
#[derive(Default)]
struct Received {
    latencies: Vec<u64>,
    frames: u64,
    bytes: u64,
    last_seq: Option<u64>,
    out_of_order: u64,
}

/// Heartbeats at a fixed interval: one-way latency and loss.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct HeartbeatResult {
    pub interval_ms: u64,
    pub sent: u64,
    pub received: u64,
    pub latency_us: Percentiles,
}

/// Streaming MTU frames as fast as the link takes them.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct BulkResult {
    pub frames_per_s: f64,
    pub mb_per_s: f64,
    pub sent: u64,
    pub received: u64,
    /// Times the sender found the send queue full and waited
    /// (backpressure, not loss).
    pub queue_full: u64,
}

/// CPU cost of each endpoint's datapath, per cent of one core.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CpuResult {
    pub idle_sender: f64,
    pub idle_receiver: f64,
    pub load_sender: f64,
    pub load_receiver: f64,
}

/// Everything a bench run measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BenchReport {
    pub dir: String,
    pub block_size: u32,
    pub poll_us: u64,
    pub flush_delay_ms: u64,
    pub floor: Floor,
    pub heartbeat_1ms: HeartbeatResult,
    pub heartbeat_1s: HeartbeatResult,
    pub bulk: BulkResult,
    pub cpu: CpuResult,
    /// p99 one-way latency at 1 ms heartbeats / (write + read floor p50).
    pub latency_ratio: f64,
    /// bulk MB/s / best sequential write MB/s.
    pub throughput_ratio: f64,
    /// bulk MB/s / sequential write MB/s at one block per write (the raw
    /// unbuffered bandwidth at this block size).
    pub throughput_ratio_block: f64,
}

/// The pair of endpoints under test and what the receiver saw.
pub struct Rig {
    pub sender: Endpoint,
    pub receiver: Endpoint,
    received: Arc<Mutex<Received>>,
}

impl Rig {
    /// Formats two volumes in `cfg.dir` and starts two endpoints.
    pub fn start(cfg: &EndpointConfig) -> Result<Rig, String> {
        let [(a_send, a_recv), (b_send, b_recv)] = open_pair(cfg)?;
        let received = Arc::new(Mutex::new(Received::default()));
        let sink_state = Arc::clone(&received);
        let receiver = Endpoint::start_on(
            cfg,
            2,
            b_send,
            b_recv,
            Box::new(move |frame: &[u8]| {
                let now = now_us();
                if let (Some((seq, sent)), Ok(mut r)) = (probe_fields(frame), sink_state.lock()) {
                    r.frames += 1;
                    r.bytes += frame.len() as u64;
                    if r.last_seq.is_some_and(|l| seq <= l) {
                        r.out_of_order += 1;
                    }
                    r.last_seq = Some(seq);
                    r.latencies.push(now.saturating_sub(sent));
                }
            }),
        )?;
        let sender = Endpoint::start_on(cfg, 1, a_send, a_recv, Box::new(|_: &[u8]| {}))?;
        if !(sender.wait_up(Duration::from_secs(10)) && receiver.wait_up(Duration::from_secs(10))) {
            return Err(format!(
                "the link did not come up within 10 s{}",
                sender
                    .error()
                    .or(receiver.error())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        Ok(Rig {
            sender,
            receiver,
            received,
        })
    }

    /// Frames and bytes received since the last `take`.
    fn arrived(&self) -> (u64, u64) {
        self.received
            .lock()
            .map(|r| (r.frames, r.bytes))
            .unwrap_or_default()
    }

    fn take(&self) -> Received {
        self.received
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Sends `len`-byte probes every `interval` for `duration` and returns
    /// what arrived (waiting a little for the last ones).
    pub fn heartbeats(
        &self,
        interval: Duration,
        duration: Duration,
        len: usize,
        seq: &mut u64,
    ) -> HeartbeatResult {
        self.take();
        let start = Instant::now();
        let mut sent = 0;
        let mut next = start;
        while start.elapsed() < duration {
            if self.sender.send(&probe_frame(*seq, len)).is_ok() {
                sent += 1;
            }
            *seq += 1;
            next += interval;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut got = self.take();
        HeartbeatResult {
            interval_ms: interval.as_millis() as u64,
            sent,
            received: got.frames,
            latency_us: Percentiles::of(&mut got.latencies),
        }
    }

    /// Streams `len`-byte frames as fast as the queue accepts them.
    pub fn bulk(&self, duration: Duration, len: usize, seq: &mut u64) -> BulkResult {
        self.take();
        let start = Instant::now();
        let mut sent = 0u64;
        let mut full = 0u64;
        let mut frame = probe_frame(*seq, len);
        while start.elapsed() < duration {
            stamp_probe(&mut frame, *seq);
            match self.sender.send(&frame) {
                Ok(()) => {
                    sent += 1;
                    *seq += 1;
                }
                Err(_) => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let (frames, bytes) = self.arrived();
        // Frames still queued or in flight when sending stopped arrive
        // shortly; they count as received but not toward the rate.
        let drain_end = Instant::now() + Duration::from_secs(3);
        while self.arrived().0 < sent && Instant::now() < drain_end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = self.take();
        BulkResult {
            frames_per_s: frames as f64 / elapsed,
            mb_per_s: bytes as f64 / elapsed / 1e6,
            sent,
            received: got.frames,
            queue_full: full,
        }
    }

    /// Per cent of one core used by each datapath over `duration` of `work`.
    pub fn cpu_during(&self, work: impl FnOnce()) -> (f64, f64) {
        let (s0, r0, t0) = (self.sender.cpu_ns(), self.receiver.cpu_ns(), Instant::now());
        work();
        // Let both threads publish their figures (every 100 ms).
        std::thread::sleep(Duration::from_millis(150));
        let wall = t0.elapsed().as_nanos() as f64;
        let pct = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / wall * 100.0;
        (
            pct(s0, self.sender.cpu_ns()),
            pct(r0, self.receiver.cpu_ns()),
        )
    }
}

/// A directory on disk for scratch volumes (not tmpfs where avoidable).
pub fn scratch_dir(dir: Option<&PathBuf>) -> Result<tempfile::TempDir, String> {
    let base = match dir {
        Some(d) => d.clone(),
        None if std::path::Path::new("/var/tmp").is_dir() => PathBuf::from("/var/tmp"),
        None => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix("volnic-")
        .tempdir_in(&base)
        .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))
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
    let rig = Rig::start(&cfg)?;
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
