//! The writer's claim of its send volume, and its watch over the volume
//! while it runs: on shared in-memory volumes, with time passed
//! in, so every interleaving of two claimants is played exactly.

use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use crate::format::{Geometry, StateExt, StateRecord, WriterState, STATE_LEN};
use crate::link::{Link, LinkConfig, LinkError, LostCause};
use crate::testkit::{format_volume, SharedVolume};
use crate::volume::Volume;

const BS: u32 = 512;
const RING: u32 = 16;

fn geo() -> Geometry {
    Geometry::new(BS, RING)
}

fn volumes() -> (SharedVolume, SharedVolume) {
    let len = geo().volume_bytes() as usize;
    let (mut ab, mut ba) = (SharedVolume::new(len), SharedVolume::new(len));
    format_volume(&mut ab, BS, RING, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, BS, RING, 2, 1, [2; 16]).unwrap();
    (ab, ba)
}

fn cfg(name: &str, nonce: u64) -> LinkConfig {
    let mut cfg = LinkConfig::new(1);
    cfg.set_peer_timeout_us(1_000_000); // state interval 200 ms
    cfg.set_host_name(name);
    cfg.claim_nonce = nonce;
    cfg
}

fn record(vol: &SharedVolume) -> (StateRecord, StateExt) {
    let bytes = vol.0.borrow().bytes[BS as usize..BS as usize + STATE_LEN].to_vec();
    (StateRecord::parse(&bytes).unwrap(), StateExt::read(&bytes))
}

/// One writer (node 1) on `send`, its outcome so far.
struct Claimant {
    link: Option<Link>,
    send: SharedVolume,
    recv: SharedVolume,
    error: Option<LinkError>,
}

impl Claimant {
    fn open(name: &str, nonce: u64, send: &SharedVolume, recv: &SharedVolume, now: u64) -> Self {
        let (mut s, mut r) = (send.clone(), recv.clone());
        match Link::open(cfg(name, nonce), &mut s, &mut r, now, 1_000) {
            Ok(link) => Claimant {
                link: Some(link),
                send: s,
                recv: r,
                error: None,
            },
            Err(e) => Claimant {
                link: None,
                send: s,
                recv: r,
                error: Some(e),
            },
        }
    }

    fn step(&mut self, now: u64) {
        if self.error.is_some() {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if let Err(e) = link.poll(now, &mut self.send, &mut self.recv, &mut |_: &[u8]| {}) {
            self.error = Some(e);
        }
    }

    /// Past its claim, not stopped: this one writes data blocks.
    fn running(&self) -> bool {
        self.error.is_none() && self.link.as_ref().is_some_and(|l| !l.claiming())
    }
}

#[test]
fn a_fresh_volume_is_claimed_before_any_data_block() {
    let (ab, ba) = volumes();
    let mut a = Claimant::open("node-a", 77, &ab, &ba, 0);
    assert!(
        a.link.as_ref().unwrap().claiming(),
        "fresh volume: claim first"
    );
    let (rec, ext) = record(&ab);
    assert_eq!(rec.state, WriterState::Starting);
    assert_eq!(ext.claim_nonce, 77);
    assert_eq!((ext.state_interval_ms, ext.peer_timeout_ms), (200, 1000));
    assert_eq!(rec.host_name_str(), "node-a");
    let settle = cfg("x", 1).claim_settle_us;
    let mut t = 0;
    while t < settle {
        a.step(t);
        assert!(!a.running(), "running before the claim settled (t = {t})");
        t += 10_000;
    }
    a.step(settle + 10_000);
    assert!(a.running(), "{:?}", a.error);
    assert_eq!(record(&ab).0.state, WriterState::Running);
    assert_eq!(record(&ab).1.claim_nonce, 77);
}

/// Two writers of one volume (two hosts on one LUN, say), the second
/// starting `d` after the first, for every `d` from 0 to past the claim,
/// and polling at different phases: never both past their claim.
#[test]
fn two_claimants_never_both_run() {
    let settle = cfg("x", 1).claim_settle_us;
    let mut one_ran = 0;
    let mut cases = 0;
    let mut d = 0;
    while d <= 2 * settle + 600_000 {
        for (poll_a, poll_b) in [(5_000, 5_000), (3_000, 7_000), (20_000, 1_000)] {
            let (ab, ba) = volumes();
            let mut a = Claimant::open("node-a", 1111, &ab, &ba, 0);
            let mut b: Option<Claimant> = None;
            let mut t = 0u64;
            while t < 4_000_000 {
                if b.is_none() && t >= d {
                    b = Some(Claimant::open("node-b", 2222, &ab, &ba, t));
                }
                if t.is_multiple_of(poll_a) {
                    a.step(t);
                }
                if let Some(b) = b.as_mut() {
                    if t.is_multiple_of(poll_b) {
                        b.step(t);
                    }
                    assert!(
                        !(a.running() && b.running()),
                        "both running at t = {t}, d = {d}, polls {poll_a}/{poll_b}"
                    );
                }
                t += 1_000;
            }
            let b = b.unwrap();
            let ran = usize::from(a.running()) + usize::from(b.running());
            assert!(ran <= 1);
            one_ran += ran;
            cases += 1;
            // The loser names the winner.
            let loser = if a.running() { &b } else { &a };
            if ran == 1 {
                let msg = alloc::format!("{}", loser.error.as_ref().unwrap());
                let winner = if a.running() { "node-a" } else { "node-b" };
                assert!(msg.contains(winner), "{msg}");
            }
        }
        d += 7_000;
    }
    assert_eq!(one_ran, cases, "a claim race with no winner");
}

fn running_writer() -> (Claimant, u64) {
    let (ab, ba) = volumes();
    let mut a = Claimant::open("node-a", 5, &ab, &ba, 0);
    let mut t = 0;
    while !a.running() {
        a.step(t);
        t += 10_000;
        assert!(t < 5_000_000, "{:?}", a.error);
    }
    (a, t)
}

/// Steps `a` every 10 ms until it stops; returns when (after `from`).
fn until_lost(a: &mut Claimant, from: u64) -> (u64, LinkError) {
    let mut t = from;
    loop {
        a.step(t);
        if let Some(e) = a.error.clone() {
            return (t - from, e);
        }
        t += 10_000;
        assert!(t - from < 10_000_000, "never noticed");
    }
}

#[test]
fn a_reformat_under_a_running_writer_stops_it_within_a_state_interval() {
    let (mut a, t) = running_writer();
    let interval = a.link.as_ref().unwrap().config().state_interval_us;
    let mut other = a.send.clone();
    format_volume(&mut other, BS, RING, 1, 2, [9; 16]).unwrap();
    let snapshot = a.send.0.borrow().bytes.clone();
    let (after, err) = until_lost(&mut a, t);
    assert!(after <= interval + 10_000, "noticed after {after} µs");
    assert_eq!(
        err,
        LinkError::SendLost(LostCause::Reformatted { valid: true })
    );
    assert!(alloc::format!("{err}").contains("reformatted"));
    // Nothing more is written, not even the shutting-down record.
    let link = a.link.as_mut().unwrap();
    let r = link.shutdown(t + 1_000_000, &mut a.send);
    assert!(r.is_err());
    assert_eq!(
        a.send.0.borrow().bytes,
        snapshot,
        "wrote after losing the volume"
    );
}

#[test]
fn another_writers_record_stops_the_running_writer_and_names_it() {
    let (mut a, t) = running_writer();
    let interval = a.link.as_ref().unwrap().config().state_interval_us;
    // Another host's writer record lands on the volume (started by mistake
    // with its claim wait bypassed, or a copy restored over it).
    let (mut rec, _) = record(&a.send);
    rec.set_host_name("intruder");
    rec.epoch += 10;
    let mut block = vec![0u8; BS as usize];
    rec.emit_with(
        &StateExt {
            claim_nonce: 999,
            ..StateExt::default()
        },
        &mut block,
    );
    a.send.write_at(u64::from(BS), &block).unwrap();
    let (after, err) = until_lost(&mut a, t);
    assert!(after <= interval + 10_000, "noticed after {after} µs");
    let msg = alloc::format!("{err}");
    assert!(msg.contains("'intruder' (node 1,"), "{msg}");
    assert!(matches!(
        err,
        LinkError::SendLost(LostCause::OtherWriter(_))
    ));
}

#[test]
fn a_zeroed_record_or_superblock_stops_the_writer() {
    let (mut a, t) = running_writer();
    a.send.write_at(u64::from(BS), &[0u8; BS as usize]).unwrap();
    let (_, err) = until_lost(&mut a, t);
    assert_eq!(err, LinkError::SendLost(LostCause::RecordOverwritten));
    let (mut a, t) = running_writer();
    a.send.write_at(0, &[0u8; BS as usize]).unwrap();
    let (_, err) = until_lost(&mut a, t);
    assert_eq!(
        err,
        LinkError::SendLost(LostCause::Reformatted { valid: false })
    );
}

#[test]
fn a_truncated_volume_stops_the_writer_and_says_so() {
    for keep in [0usize, 3 * BS as usize, geo().volume_bytes() as usize / 2] {
        let (mut a, t) = running_writer();
        a.send.0.borrow_mut().bytes.truncate(keep);
        let (_, err) = until_lost(&mut a, t);
        let need = geo().volume_bytes();
        assert_eq!(
            err,
            LinkError::SendLost(LostCause::Shrunk {
                have: keep as u64,
                need
            }),
            "kept {keep}"
        );
        assert!(alloc::format!("{err}").contains("shrank"));
    }
}

#[test]
fn the_claim_lost_while_settling_yields_and_writes_nothing_more() {
    let (ab, ba) = volumes();
    let mut a = Claimant::open("node-a", 1, &ab, &ba, 0);
    // Another claimant, which read the record before a's claim landed,
    // writes its own claim while a waits.
    let (mut rec, _) = record(&ab);
    rec.set_host_name("node-b");
    let mut block = vec![0u8; BS as usize];
    rec.emit_with(
        &StateExt {
            claim_nonce: 2,
            ..StateExt::default()
        },
        &mut block,
    );
    let mut b_send = ab.clone();
    b_send.write_at(u64::from(BS), &block).unwrap();
    let snapshot: Vec<u8> = ab.0.borrow().bytes.clone();
    a.step(2_000);
    let err = a.error.clone().expect("a yields");
    assert!(matches!(err, LinkError::ClaimLost(_)), "{err}");
    assert!(alloc::format!("{err}").contains("'node-b'"), "{err}");
    let link = a.link.as_mut().unwrap();
    let _ = link.shutdown(3_000, &mut a.send);
    assert_eq!(ab.0.borrow().bytes, snapshot, "the loser wrote");
}

/// Frames queued while the claim settles wait: the ring is untouched until
/// the claim is read back, then they go out.
#[test]
fn no_data_block_before_the_claim_settles() {
    let (ab, ba) = volumes();
    let mut a = Claimant::open("node-a", 3, &ab, &ba, 0);
    let mut queue = crate::SendQueue::new(1 << 16, 448);
    for _ in 0..5 {
        queue.push(&[0x42; 300]).unwrap();
    }
    let ring_start = geo().slot_index_offset(0) as usize;
    let settle = cfg("x", 1).claim_settle_us;
    let mut t = 0;
    while t < settle {
        a.link.as_mut().unwrap().pack(&mut queue, t);
        a.step(t);
        assert!(
            ab.0.borrow().bytes[ring_start..].iter().all(|&b| b == 0),
            "a data block before the claim settled (t = {t})"
        );
        t += 10_000;
    }
    a.step(settle + 10_000);
    assert!(a.running());
    assert!(ab.0.borrow().bytes[ring_start..].iter().any(|&b| b != 0));
}

/// Sends one 400-byte frame through `a` (flush delay 0: one block per poll).
fn send_frame(a: &mut Claimant, queue: &mut crate::queue::SendQueue, now: u64, tag: u8) {
    queue.push(&[tag; 400]).unwrap();
    a.link.as_mut().unwrap().pack(queue, now);
    a.step(now);
}

fn slot_bytes(vol: &SharedVolume, slot: u64) -> Vec<u8> {
    let at = ((2 + slot) * u64::from(BS)) as usize;
    vol.0.borrow().bytes[at..at + BS as usize].to_vec()
}

fn put_slot(vol: &SharedVolume, slot: u64, bytes: &[u8]) {
    let at = ((2 + slot) * u64::from(BS)) as usize;
    vol.0.borrow_mut().bytes[at..at + BS as usize].copy_from_slice(bytes);
}

/// A running writer that has written `blocks` data blocks, one per 10 ms.
fn writer_with_blocks(blocks: u64) -> (Claimant, crate::queue::SendQueue, u64) {
    let (mut a, mut t) = running_writer();
    let mut queue = crate::queue::SendQueue::new(1 << 16, BS as usize);
    for i in 0..blocks {
        send_frame(&mut a, &mut queue, t, i as u8);
        t += 10_000;
    }
    assert_eq!(a.link.as_ref().unwrap().next_seq(), blocks, "{:?}", a.error);
    (a, queue, t)
}

#[test]
fn bytes_written_into_a_ring_slot_stop_the_writer_within_a_state_interval() {
    // Every slot, and a change made at several points of the sweep.
    for slot in 0..u64::from(RING) {
        for delay in [0, 70_000, 130_000] {
            let (mut a, mut queue, mut t) = writer_with_blocks(u64::from(RING));
            let interval = a.link.as_ref().unwrap().config().state_interval_us;
            for _ in 0..delay / 10_000 {
                a.step(t);
                t += 10_000;
            }
            let mut stray = vec![0x5a; BS as usize];
            stray[..8].copy_from_slice(b"NOTVOLNC");
            put_slot(&a.send, slot, &stray);
            let (after, err) = until_lost(&mut a, t);
            assert!(after <= interval, "slot {slot}: noticed after {after} µs");
            // Slot index and byte offset as FORMAT.md lays the volume out.
            let offset = (2 + slot) * u64::from(BS);
            assert_eq!(
                err,
                LinkError::SendLost(LostCause::SlotOverwritten { slot, offset })
            );
            assert!(err.to_string().contains(&format!("ring slot {slot} ")));
            // It stopped writing: nothing on the volume changes after.
            let before = a.send.0.borrow().bytes.clone();
            for k in 1..=30 {
                let now = t + after + k * 10_000;
                let link = a.link.as_mut().unwrap();
                queue.push(&[1; 400]).unwrap();
                link.pack(&mut queue, now);
                let again = link.poll(now, &mut a.send, &mut a.recv, &mut |_: &[u8]| {});
                assert_eq!(again.unwrap_err(), err);
            }
            assert!(
                a.send.0.borrow().bytes == before,
                "slot {slot}: wrote after"
            );
            assert!(!a.link.as_ref().unwrap().link_up());
        }
    }
}

#[test]
fn an_older_block_of_the_same_writer_replayed_into_its_slot_is_noticed() {
    let (mut a, mut queue, mut t) = writer_with_blocks(3);
    // Slot 2 holds sequence 2 now; keep it, let the ring wrap past it.
    let old = slot_bytes(&a.send, 2);
    for i in 3..u64::from(RING) + 5 {
        send_frame(&mut a, &mut queue, t, i as u8);
        t += 10_000;
    }
    assert!(a.error.is_none(), "{:?}", a.error);
    assert_ne!(slot_bytes(&a.send, 2), old, "slot 2 was rewritten (seq 18)");
    let interval = a.link.as_ref().unwrap().config().state_interval_us;
    put_slot(&a.send, 2, &old);
    let (after, err) = until_lost(&mut a, t);
    assert!(after <= interval, "noticed after {after} µs");
    assert_eq!(
        err,
        LinkError::SendLost(LostCause::SlotOverwritten {
            slot: 2,
            offset: 4 * u64::from(BS)
        })
    );
}

#[test]
fn a_block_changed_in_its_payload_only_is_noticed() {
    let (mut a, _, t) = writer_with_blocks(5);
    let mut block = slot_bytes(&a.send, 4);
    block[300] ^= 1;
    put_slot(&a.send, 4, &block);
    let (_, err) = until_lost(&mut a, t);
    assert!(matches!(
        err,
        LinkError::SendLost(LostCause::SlotOverwritten { slot: 4, .. })
    ));
}

#[test]
fn an_undisturbed_writer_with_a_slow_peer_never_reports_a_change() {
    // Node 1 sends a frame every 10 ms for 100 state intervals, the ring
    // wrapping again and again; node 2 (the peer, on the same storage)
    // polls only every 70 ms, so node 1 is often held by flow control.
    let (ab, ba) = volumes();
    let mut a = Claimant::open("node-a", 5, &ab, &ba, 0);
    let mut bcfg = LinkConfig::new(2);
    bcfg.set_peer_timeout_us(1_000_000);
    bcfg.set_host_name("node-b");
    let (mut bs, mut br) = (ba.clone(), ab.clone());
    let mut b = Link::open(bcfg, &mut bs, &mut br, 0, 1_000).unwrap();
    let mut queue = crate::queue::SendQueue::new(1 << 16, BS as usize);
    let mut got = 0u64;
    let interval = 200_000;
    let mut t = 0;
    while t < 100 * interval {
        if a.running() {
            let _ = queue.push(&[7; 300]);
            a.link.as_mut().unwrap().pack(&mut queue, t);
        }
        a.step(t);
        assert!(a.error.is_none(), "at {t} µs: {:?}", a.error);
        if t % 70_000 == 0 {
            b.poll(t, &mut bs, &mut br, &mut |_: &[u8]| got += 1)
                .unwrap();
        }
        t += 10_000;
    }
    let sent = a.link.as_ref().unwrap().next_seq();
    assert!(sent > 10 * u64::from(RING), "only {sent} blocks written");
    assert!(got > 500, "peer got {got} frames");
}
