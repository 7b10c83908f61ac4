//! `volnic demo`: the whole path in one command, without root. Two endpoints
//! run in this process on file-backed volumes in a temporary directory,
//! joined by the storage-mirror emulator; they exchange heartbeat-size
//! frames and a bulk stream, and the report puts volnic's figures beside the
//! disk's own direct-I/O latency measured in the same run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::bench::{measure_floor, scratch_dir, MeasuredPair};
use crate::endpoint::EndpointConfig;
use crate::netns::{unavailable, Lab, LabConfig, TAP};

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
    /// Instead: build two network namespaces, each with a `volnic up`
    /// endpoint on a TAP device; ping across, measure one-way latency and
    /// TCP throughput between them, and remove everything (needs root and
    /// iproute2).
    #[arg(long)]
    pub netns: bool,
}

pub fn run(args: DemoArgs) -> Result<(), String> {
    if args.netns {
        return run_netns(&args);
    }
    let dir = scratch_dir(args.dir.as_ref())?;
    let secs = args.seconds.clamp(1, 20);
    println!(
        "volnic demo: two endpoints on file-backed volumes in {}, joined by the storage-mirror emulator",
        dir.path().display()
    );
    let floor = measure_floor(dir.path(), args.block_size, 0.5, 1000)?;
    let mut cfg = EndpointConfig::new(dir.path(), args.block_size);
    cfg.mirror = true;
    cfg.ring_blocks = 256;
    let rig = MeasuredPair::start(&cfg)?;
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

/// `volnic demo --netns`: the Linux endpoint on real network stacks.
fn run_netns(args: &DemoArgs) -> Result<(), String> {
    if let Some(why) = unavailable() {
        return Err(format!(
            "volnic demo --netns {why}; run it as root, or run `volnic demo` without --netns"
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut cfg = LabConfig::new(exe, "demo");
    cfg.block_size = args.block_size;
    let mut lab = Lab::create(cfg)?;
    println!(
        "volnic demo --netns: namespaces {} and {}, each a `volnic up` endpoint on TAP {TAP}, volumes in {} joined by two `volnic mirror` processes",
        lab.namespace(0),
        lab.namespace(1),
        lab.dir().display()
    );
    lab.start_node(0)?;
    lab.start_node(1)?;
    for node in 0..2 {
        let took = lab
            .wait_carrier(node, true, Duration::from_secs(20))
            .ok_or_else(|| {
                format!(
                    "node {}'s carrier never came on; its log:\n{}",
                    node + 1,
                    lab.node_log(node)
                )
            })?;
        println!(
            "node {}      {} {}/16, MAC {}, carrier on after {} ms",
            node + 1,
            TAP,
            lab.addr(node),
            lab.mac(node).unwrap_or_default(),
            took.as_millis()
        );
    }
    let secs = args.seconds.clamp(1, 20);
    // ARP and ICMP echo, answered by the peer's kernel.
    let ping = lab.ping(0, 20, "0.05")?;
    let rtt = ping
        .rtt_ms
        .map_or("no replies".to_string(), |(min, avg, max)| {
            format!("round trip min {min:.2} / avg {avg:.2} / max {max:.2} ms")
        });
    println!(
        "ping        {} -> {}: {} sent, {} received ({:.0} % loss); {rtt}",
        lab.addr(0),
        lab.addr(1),
        ping.transmitted,
        ping.received,
        ping.loss_percent()
    );
    if ping.received == 0 {
        return Err(format!(
            "no ping reply crossed volnic; the endpoints' logs:\n{}\n{}",
            lab.node_log(0),
            lab.node_log(1)
        ));
    }
    // One-way latency: both ends are threads of this process reading one
    // clock, so each direction is measured, not half a round trip.
    let probes = (secs * 100) as u32;
    let lat = lab.one_way_latency(0, probes, Duration::from_millis(10))?;
    println!(
        "latency     {} UDP probes every 10 ms, {} answered; one-way node 1 -> 2 p50 {:.0} µs / p99 {:.0} µs / max {:.0} µs, node 2 -> 1 p50 {:.0} µs / p99 {:.0} µs / max {:.0} µs",
        lat.sent,
        lat.answered,
        lat.forward_us.p50,
        lat.forward_us.p99,
        lat.forward_us.max,
        lat.back_us.p50,
        lat.back_us.p99,
        lat.back_us.max
    );
    let tcp = lab.tcp_throughput(0, Duration::from_secs(secs))?;
    println!(
        "tcp         node 1 -> 2, one connection for {secs} s: {} bytes arrived intact in {:.2} s, {:.1} MB/s ({:.0} Mbit/s)",
        tcp.bytes,
        tcp.seconds,
        tcp.mb_per_s(),
        tcp.mb_per_s() * 8.0
    );
    drop(lab);
    println!("cleanup     namespaces, TAP devices, processes and volumes removed");
    if lat.answered == 0 {
        return Err("no UDP probe crossed volnic and back".into());
    }
    Ok(())
}
