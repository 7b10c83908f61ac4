//! The measurements of `volnic bench` (and the floor `volnic demo` shows):
//! the storage floor (one unbuffered block write, one unbuffered block read,
//! sequential unbuffered write bandwidth) and a pair of endpoints in this
//! process over one shared file per direction (a shared LUN: the floor of a
//! one-way trip is exactly one write plus one read), with what its receiver
//! saw.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volnic_core::aligned::AlignedBuf;
use volnic_core::Volume;

use crate::endpoint::{
    now_us, open_floor_volume, open_pair, probe_fields, probe_frame, stamp_probe, thread_cpu_ns,
    Endpoint, EndpointConfig,
};
use crate::format::check_block_size_option;

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
pub struct MeasuredPair {
    pub sender: Endpoint,
    pub receiver: Endpoint,
    received: Arc<Mutex<Received>>,
}

impl MeasuredPair {
    /// Formats two volumes in `cfg.dir` and starts two endpoints.
    pub fn start(cfg: &EndpointConfig) -> Result<MeasuredPair, String> {
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
        Ok(MeasuredPair {
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
