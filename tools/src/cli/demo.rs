//! `volnic demo`: the whole path in one command, without root. Two endpoints
//! run in this process on file-backed volumes in a temporary directory,
//! joined by the storage-mirror emulator; they exchange heartbeat-size
//! frames and a bulk stream, and the report puts volnic's figures beside the
//! disk's own direct-I/O latency measured in the same run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::bench::{measure_floor, scratch_dir, Rig};
use crate::pair::PairConfig;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the temporary volumes (default: under /var/tmp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Block size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub block_size: u32,
    /// Seconds of heartbeats, and again of bulk traffic.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
}

pub fn run(args: DemoArgs) -> Result<(), String> {
    let dir = scratch_dir(args.dir.as_ref())?;
    let secs = args.seconds.clamp(1, 20);
    println!(
        "volnic demo: two endpoints on file-backed volumes in {}, joined by the storage-mirror emulator",
        dir.path().display()
    );
    let floor = measure_floor(dir.path(), args.block_size, 0.5)?;
    let mut cfg = PairConfig::new(dir.path(), args.block_size);
    cfg.mirror = true;
    cfg.ring_blocks = 256;
    let rig = Rig::start(&cfg)?;
    let mut seq = 0;
    let hb = rig.heartbeats(
        Duration::from_millis(10),
        Duration::from_secs(secs),
        200,
        &mut seq,
    );
    let bulk = rig.bulk(Duration::from_secs(secs), 1514, &mut seq);
    let up = rig.sender.link_up() && rig.receiver.link_up();
    let sender = rig.sender.stop();
    let receiver = rig.receiver.stop();
    let lost = hb.sent.saturating_sub(hb.received);
    println!(
        "disk        {}-byte block, direct I/O {}: write p50 {} µs / p99 {} µs, read p50 {} µs / p99 {} µs; sequential write {:.0} MB/s",
        args.block_size,
        if floor.direct_io { "on" } else { "unavailable (page cache in the path)" },
        floor.write.p50,
        floor.write.p99,
        floor.read.p50,
        floor.read.p99,
        floor.seq_write_batched_mbps
    );
    println!(
        "heartbeats  {} × 200-byte frames every 10 ms: {} arrived, {} lost ({:.1} %); one-way latency p50 {} µs, p99 {} µs",
        hb.sent,
        hb.received,
        lost,
        lost as f64 * 100.0 / hb.sent.max(1) as f64,
        hb.latency_us.p50,
        hb.latency_us.p99
    );
    println!(
        "bulk        1514-byte frames for {secs} s: {} sent, {} arrived, {:.0} frames/s, {:.1} MB/s ({:.0} % of the disk's sequential write)",
        bulk.sent,
        bulk.received,
        bulk.frames_per_s,
        bulk.mb_per_s,
        bulk.mb_per_s * 100.0 / floor.seq_write_batched_mbps.max(1e-9)
    );
    println!(
        "link        {} during the run; blocks written {} / read {}; rejected blocks {}; frames dropped {} (plus {} waits on a full send queue)",
        if up { "up" } else { "DOWN" },
        sender.blocks_written + receiver.blocks_written,
        sender.blocks_read + receiver.blocks_read,
        sender.rejects() + receiver.rejects(),
        sender.drops() + receiver.drops() - sender.drops_queue_full - receiver.drops_queue_full,
        bulk.queue_full
    );
    if !up || hb.received == 0 {
        return Err("the demo link did not carry traffic: see the figures above".into());
    }
    Ok(())
}
