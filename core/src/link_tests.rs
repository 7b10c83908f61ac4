//! Engine tests on shared in-memory volumes: both ends of a link in one
//! process, the storage being the same bytes (a shared LUN).

use alloc::vec;
use alloc::vec::Vec;

use crate::format::Geometry;
use crate::link::{Link, LinkConfig, PeerState};
use crate::queue::SendQueue;
use crate::testkit::{format_volume, SharedVolume};

struct Node {
    link: Link,
    send: SharedVolume,
    recv: SharedVolume,
    queue: SendQueue,
    got: Vec<Vec<u8>>,
}

impl Node {
    fn step(&mut self, now: u64) -> crate::PollReport {
        self.link.pack(&mut self.queue, now);
        let got = &mut self.got;
        self.link
            .poll(now, &mut self.send, &mut self.recv, &mut |f: &[u8]| {
                got.push(f.to_vec())
            })
            .unwrap()
    }
}

fn pair(block_size: u32, ring: u32, flush_delay_us: u64) -> (Node, Node) {
    pair_of_rings(block_size, ring, ring, flush_delay_us)
}

/// Node 1 sends on a ring of `ring_ab` slots, node 2 on one of `ring_ba`.
fn pair_of_rings(block_size: u32, ring_ab: u32, ring_ba: u32, flush_delay_us: u64) -> (Node, Node) {
    let volume = |ring_blocks| {
        let geo = Geometry::new(block_size, ring_blocks);
        SharedVolume::new(geo.volume_bytes() as usize)
    };
    let mut ab = volume(ring_ab);
    let mut ba = volume(ring_ba);
    format_volume(&mut ab, block_size, ring_ab, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, block_size, ring_ba, 2, 1, [2; 16]).unwrap();
    let mk = |id: u32, send: SharedVolume, recv: SharedVolume| {
        let mut cfg = LinkConfig::new(id);
        cfg.flush_delay_us = flush_delay_us;
        // These tests are about traffic: the claim is read back at once
        // (the claim itself is tested in claim_tests.rs).
        cfg.claim_settle_us = 0;
        let (mut s, mut r) = (send.clone(), recv.clone());
        let link = Link::open(cfg, &mut s, &mut r, 0, 100).unwrap();
        Node {
            link,
            send,
            recv,
            queue: SendQueue::new(1 << 20, block_size as usize),
            got: Vec::new(),
        }
    };
    (mk(1, ab.clone(), ba.clone()), mk(2, ba, ab))
}

fn run(a: &mut Node, b: &mut Node, from: u64, to: u64, step: u64) {
    let mut t = from;
    while t <= to {
        a.step(t);
        b.step(t);
        t += step;
    }
}

#[test]
fn frames_cross_and_link_comes_up() {
    let (mut a, mut b) = pair(512, 16, 0);
    // Each end sees the other's running record at its next state read
    // after the claim (a tenth of the peer timeout, 100 ms at most).
    run(&mut a, &mut b, 1, 200_000, 1000);
    assert!(a.link.link_up() && b.link.link_up());
    assert_eq!(b.link.peer_state(200_000), PeerState::Running);
    let frames: Vec<Vec<u8>> = (0..50u32)
        .map(|i| vec![i as u8; 14 + (i as usize * 37) % 1500])
        .collect();
    for f in &frames {
        a.queue.push(f).unwrap();
    }
    run(&mut a, &mut b, 201_000, 600_000, 1000);
    assert_eq!(b.got, frames);
    assert_eq!(a.link.counters().drops(), 0);
    assert_eq!(b.link.counters().rejects(), 0);
}

/// Each volume has its own ring size (FORMAT.md: `N` is the volume's):
/// a reader walks its receive volume's ring by that volume's `N`, not its
/// own send volume's, in both directions and over several laps.
#[test]
fn volumes_of_different_ring_sizes_carry_frames_over_many_laps() {
    let (mut a, mut b) = pair_of_rings(512, 8, 32, 0);
    run(&mut a, &mut b, 1, 200_000, 1000);
    assert!(a.link.link_up() && b.link.link_up());
    let frames: Vec<Vec<u8>> = (0..400u32).map(|i| vec![i as u8; 300]).collect();
    let mut t = 201_000;
    for chunk in frames.chunks(4) {
        for f in chunk {
            a.queue.push(f).unwrap();
            b.queue.push(f).unwrap();
        }
        run(&mut a, &mut b, t, t + 3_000, 1000);
        t += 4_000;
    }
    run(&mut a, &mut b, t, t + 200_000, 1000);
    // Compared by count and first difference: a failure prints two
    // numbers, not four hundred frames.
    let first_wrong = |got: &[Vec<u8>]| {
        got.iter()
            .zip(&frames)
            .position(|(g, f)| g != f)
            .unwrap_or(got.len().min(frames.len()))
    };
    assert_eq!(
        (b.got.len(), first_wrong(&b.got)),
        (frames.len(), frames.len()),
        "node 1's 8-slot ring, read by node 2 (32 slots): (frames, first wrong)"
    );
    assert_eq!(
        (a.got.len(), first_wrong(&a.got)),
        (frames.len(), frames.len()),
        "node 2's 32-slot ring, read by node 1 (8 slots): (frames, first wrong)"
    );
    assert_eq!(a.link.counters().rejects() + b.link.counters().rejects(), 0);
}

/// Shutdown writes what is packed only as far as flow control allows: a
/// live peer's unread blocks are never overwritten to make room (the rest
/// is dropped and counted, as a full queue drops), so the peer still reads
/// every block it was sent, in order.
#[test]
fn shutdown_keeps_to_the_live_peers_window() {
    let (mut a, mut b) = pair(512, 8, 0);
    run(&mut a, &mut b, 1, 200_000, 1000);
    assert!(a.link.link_up() && b.link.link_up());
    // Node 2 stops reading (its record stays fresh for the peer timeout):
    // node 1 fills its window of 8 blocks, and has 8 more packed.
    let frames: Vec<Vec<u8>> = (0..16u32).map(|i| vec![i as u8; 400]).collect();
    for f in &frames {
        a.queue.push(f).unwrap();
    }
    let report = a.step(201_000);
    assert!(report.flow_blocked, "the window is full");
    a.link.shutdown(202_000, &mut a.send).unwrap();
    assert_eq!(a.link.counters().drops_overwritten, 0);
    assert_eq!(a.link.counters().drops_shutdown, 8);
    for t in (203_000..400_000).step_by(1000) {
        b.step(t);
    }
    assert_eq!(b.got, frames[..8].to_vec(), "the first eight, in order");
}

#[test]
fn partial_block_waits_for_flush_delay() {
    let (mut a, mut b) = pair(4096, 16, 50_000);
    run(&mut a, &mut b, 1, 10_000, 1000);
    a.queue.push(&[7; 100]).unwrap();
    run(&mut a, &mut b, 20_000, 60_000, 1000);
    assert!(b.got.is_empty(), "written before the flush delay");
    run(&mut a, &mut b, 71_000, 80_000, 1000);
    assert_eq!(b.got, vec![vec![7; 100]]);
}

#[test]
fn peer_shutdown_and_silence_take_the_link_down() {
    let (mut a, mut b) = pair(512, 16, 0);
    run(&mut a, &mut b, 1, 10_000, 1000);
    assert!(b.link.link_up());
    a.link.shutdown(11_000, &mut a.send).unwrap();
    for t in (12_000..400_000).step_by(10_000) {
        b.step(t);
    }
    assert_eq!(b.link.peer_state(400_000), PeerState::ShuttingDown);
    assert!(!b.link.link_up());
}

#[test]
fn silent_peer_takes_the_link_down_and_a_restart_brings_it_back() {
    let (mut a, mut b) = pair(512, 16, 0);
    run(&mut a, &mut b, 1, 10_000, 1000);
    assert!(b.link.link_up());
    // A stops polling (crash): no state-record updates.
    let mut t = 10_000;
    while t < 10_000 + 3_000_000 + 200_000 {
        b.step(t);
        t += 50_000;
    }
    assert_eq!(b.link.peer_state(t), PeerState::Silent);
    assert!(!b.link.link_up());
    // A restarts: a new epoch after a claim wait.
    let old_epoch = a.link.epoch();
    let (mut s, mut r) = (a.send.clone(), a.recv.clone());
    a.link = Link::open(LinkConfig::new(1), &mut s, &mut r, t, 0).unwrap();
    assert!(a.link.epoch() > old_epoch);
    assert!(
        a.link.claiming(),
        "last record said running: claim wait first"
    );
    // Watch (2.5 state intervals), then claim and read it back (1.5).
    let end = t + 4_500_000;
    while t < end {
        a.step(t);
        b.step(t);
        t += 10_000;
    }
    assert!(b.link.link_up());
    a.queue.push(&[9; 60]).unwrap();
    for _ in 0..5 {
        a.step(t);
        b.step(t);
        t += 1000;
    }
    assert_eq!(b.got.last(), Some(&vec![9; 60]));
    assert_eq!(b.link.counters().peer_restarts, 1);
}

#[test]
fn second_writer_on_a_send_volume_is_refused() {
    let (mut a, mut b) = pair(512, 16, 0);
    run(&mut a, &mut b, 1, 10_000, 1000);
    let mut cfg = LinkConfig::new(1);
    cfg.set_host_name("intruder");
    let (mut s, mut r) = (a.send.clone(), a.recv.clone());
    let mut second = Link::open(cfg, &mut s, &mut r, 10_000, 0).unwrap();
    let mut t = 10_000;
    let err = loop {
        a.step(t);
        match second.poll(t, &mut s, &mut r, &mut |_: &[u8]| {}) {
            Err(e) => break e,
            Ok(_) => assert!(second.claiming(), "claimed a volume in use"),
        }
        t += 100_000;
    };
    assert!(matches!(err, crate::LinkError::SendInUse { .. }), "{err}");
}

/// Two nodes with different peer timeouts (60 s and 3 s): on an idle link
/// each judges the other by the larger (the other's declared one, here),
/// so neither carrier flaps over two minutes, and the mismatch is named.
/// Then the slow node stops: the fast one takes it for gone only after the
/// slow one's own timeout.
#[test]
fn different_peer_timeouts_keep_a_steady_carrier_on_an_idle_link() {
    let geo = Geometry::new(512, 16);
    let len = geo.volume_bytes() as usize;
    let mut ab = SharedVolume::new(len);
    let mut ba = SharedVolume::new(len);
    format_volume(&mut ab, 512, 16, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, 512, 16, 2, 1, [2; 16]).unwrap();
    let mk = |id: u32, timeout_us: u64, send: SharedVolume, recv: SharedVolume| {
        let mut cfg = LinkConfig::new(id);
        cfg.set_peer_timeout_us(timeout_us);
        let (mut s, mut r) = (send.clone(), recv.clone());
        let link = Link::open(cfg, &mut s, &mut r, 0, 100).unwrap();
        Node {
            link,
            send,
            recv,
            queue: SendQueue::new(1 << 20, 512),
            got: Vec::new(),
        }
    };
    let mut slow = mk(1, 60_000_000, ab.clone(), ba.clone());
    let mut fast = mk(2, 3_000_000, ba, ab);
    let mut t = 0;
    while !(slow.link.link_up() && fast.link.link_up()) {
        t += 10_000;
        slow.step(t);
        fast.step(t);
        assert!(t < 10_000_000, "link never came up");
    }
    let up_at = t;
    let mut downs = 0;
    while t < up_at + 120_000_000 {
        t += 10_000;
        let (a, b) = (slow.step(t), fast.step(t));
        if !a.link_up || !b.link_up {
            downs += 1;
        }
    }
    assert_eq!(downs, 0, "a carrier flapped on an idle link");
    assert_eq!(
        fast.link.peer_timeout_mismatch(),
        Some((3_000_000, 60_000_000))
    );
    assert_eq!(
        slow.link.peer_timeout_mismatch(),
        Some((60_000_000, 3_000_000))
    );
    assert_eq!(fast.link.effective_peer_timeout_us(), 60_000_000);
    // The slow node stops polling (a crash): the fast one keeps it for its
    // declared 60 s, not its own 3 s, then takes the link down.
    let crash = t;
    while fast.link.link_up() {
        t += 100_000;
        fast.step(t);
        assert!(t < crash + 70_000_000);
    }
    assert!(t - crash >= 48_000_000, "down after {} µs", t - crash);
}

/// A record of an older writer (no declared timeout, bytes 160-167 zero):
/// freshness by this node's own timeout, as before.
#[test]
fn a_record_without_a_declared_timeout_is_judged_by_our_own() {
    let (mut a, mut b) = pair(512, 16, 0);
    run(&mut a, &mut b, 1, 200_000, 1000);
    assert_eq!(b.link.effective_peer_timeout_us(), 3_000_000);
    assert_eq!(b.link.peer_timeout_mismatch(), None);
    // Zero the declaration in A's record as an older writer leaves it.
    let bs = 512usize;
    {
        let mut vol = a.send.0.borrow_mut();
        let rec = &mut vol.bytes[bs..bs + 256];
        rec[160..168].fill(0);
        let crc = crate::format::block_crc(rec, 252);
        rec[252..256].copy_from_slice(&crc.to_le_bytes());
    }
    // B reads it (A does not write again within the next state poll).
    for t in (200_000..300_000).step_by(10_000) {
        b.step(t);
    }
    assert_eq!(b.link.peer_timeout_mismatch(), None);
    assert_eq!(b.link.effective_peer_timeout_us(), 3_000_000);
}
