//! Fault injection: what storage and mirrors do wrong, and what volnic does
//! about it. Two link ends run on in-memory volumes behind fault-injecting
//! wrappers (`volnic_tests::faulty`); each direction's mirror applies the
//! writer's writes one by one, whole, torn, altered, reordered, late or
//! never, as each test says.
//!
//! Every test states the expected behaviour in its doc comment and checks,
//! besides that, the promise that holds under every fault: the receiver
//! delivers only intact frames, each at most once and in the order sent
//! (`checked_ids`), and its counters say what it rejected and why. Each
//! prints how many cases it ran.

use volnic_core::format::{
    db_field, FormatError, Geometry, StateRecord, STATE_LEN, SUPERBLOCK_LEN,
};
use volnic_core::testkit::SharedVolume;
use volnic_core::{LinkConfig, PeerProblem, PeerState, VolumeErrorKind};
use volnic_tests::faulty::{checked_ids, next_random, FaultRig, Write, EIO, ENOSPC, SECTOR};
use volnic_tests::memrig::{copy_all, volume};
use volnic_tests::node::numbered_frame;

/// A 200 ms peer timeout: state records every 40 ms, peer records read
/// every 20 ms, so the slow paths of a test take little simulated time.
fn quick(cfg: &mut LinkConfig) {
    cfg.set_peer_timeout_us(200_000);
}

/// Length of a frame that fills exactly one block.
fn block_frame_len(geo: Geometry) -> usize {
    geo.payload_capacity(false) - 2
}

/// Applies the pending writes of A's mirror, passing each through `alter`.
fn apply_ab(rig: &FaultRig, mut alter: impl FnMut(&mut Write)) {
    while let Some(mut w) = rig.ab.take() {
        alter(&mut w);
        rig.ab.put(&w);
    }
}

/// Steps B only, `ticks` times `dt_us`, B's own writes mirrored to A.
fn step_b(rig: &mut FaultRig, ticks: usize, dt_us: u64) {
    for _ in 0..ticks {
        rig.now += dt_us;
        rig.b.step(rig.now).expect("node B steps");
        rig.ba.apply_all();
    }
}

/// Runs both ends synchronously until B has delivered `count` frames or
/// `max_ticks` ticks of `dt_us` have passed.
fn run_until_delivered(rig: &mut FaultRig, count: usize, max_ticks: usize, dt_us: u64) {
    for _ in 0..max_ticks {
        if rig.b.delivered.len() >= count {
            return;
        }
        rig.step_both(dt_us);
    }
}

/// A torn data block — only the first k of its 8 sectors have reached the
/// receive volume, the rest still holding what the slot held before (zeros,
/// or the block of the previous lap) — is never delivered while torn: the
/// reader counts it once in `rejects_torn` and waits. When the rest arrives
/// within the torn grace, the block is delivered, once.
#[test]
fn torn_data_block_at_every_sector_prefix_is_held_until_whole() {
    let mut cases = 0;
    for older_lap in [false, true] {
        for sectors in 1..8 {
            let mut rig = FaultRig::new(4096, 8, |_| {});
            let len = block_frame_len(rig.geo);
            if older_lap {
                // Fill the ring once so the next block's slot holds the
                // block of the previous lap.
                for id in 0..8 {
                    rig.a.send_frame(&numbered_frame(id, len)).unwrap();
                }
                run_until_delivered(&mut rig, 8, 100, 1_000);
                assert_eq!(checked_ids(&rig.b.delivered), (0..8).collect::<Vec<_>>());
                // Until A reads B's acknowledgement, its window is closed.
                rig.run(120, 1_000);
            }
            let before = rig.b.delivered.len();
            let torn_before = rig.b.link.counters().rejects_torn;
            rig.a.send_frame(&numbered_frame(100, len)).unwrap();
            rig.a.step(rig.now).unwrap();
            let slot = rig.geo.slot_offset(rig.a.link.next_seq() - 1);
            let mut held = None;
            while let Some(w) = rig.ab.take() {
                if w.offset == slot {
                    rig.ab.put_prefix(&w, sectors * SECTOR);
                    held = Some(w);
                } else {
                    rig.ab.put(&w);
                }
            }
            let held = held.expect("the block was written");
            step_b(&mut rig, 5, 1_000);
            assert_eq!(rig.b.delivered.len(), before, "torn block delivered");
            assert_eq!(rig.b.link.counters().rejects_torn, torn_before + 1);
            rig.ab.put(&held);
            step_b(&mut rig, 1, 1_000);
            let ids = checked_ids(&rig.b.delivered);
            assert_eq!(ids.last(), Some(&100), "block delivered once whole");
            assert_eq!(ids.len(), before + 1);
            let c = rig.b.link.counters();
            assert_eq!((c.rejects_corrupt, c.drops_blocks_missed), (0, 0), "{c:?}");
            cases += 1;
        }
    }
    volnic_tests::report!("torn prefixes tried: {cases}, wrong frames delivered: 0");
}

/// A block that stays torn (the rest of it never arrives: the write was cut
/// short and the writer went on) is given up on once the torn grace has
/// passed and the writer has provably moved past it: counted in
/// `rejects_torn`, then `rejects_corrupt` and `drops_blocks_missed`; its
/// frame is lost, the frames after it flow.
#[test]
fn block_that_stays_torn_is_skipped_after_the_grace() {
    let mut cases = 0;
    for sectors in 1..8 {
        let mut rig = FaultRig::new(4096, 8, quick);
        let len = block_frame_len(rig.geo);
        rig.a.send_frame(&numbered_frame(1, len)).unwrap();
        rig.a.step(rig.now).unwrap();
        let slot = rig.geo.slot_offset(rig.a.link.next_seq() - 1);
        while let Some(w) = rig.ab.take() {
            let keep = if w.offset == slot {
                sectors * SECTOR
            } else {
                w.data.len()
            };
            rig.ab.put_prefix(&w, keep);
        }
        for id in 2..5 {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        }
        run_until_delivered(&mut rig, 3, 100, 5_000);
        assert_eq!(checked_ids(&rig.b.delivered), vec![2, 3, 4]);
        let c = rig.b.link.counters();
        assert_eq!(
            (c.rejects_torn, c.rejects_corrupt, c.drops_blocks_missed),
            (1, 1, 1),
            "{c:?}"
        );
        assert!(rig.b.link.link_up());
        cases += 1;
    }
    volnic_tests::report!("blocks left torn: {cases}, skipped: {cases}, wrong frames delivered: 0");
}

/// A writer killed in the middle of a three-block write leaves any prefix
/// of its 24 sectors on the volume. Its restart (a new epoch) is followed
/// at once: the receiver delivers the frames of the blocks that were
/// written whole, never the torn one, then the new run's frames.
#[test]
fn write_torn_by_a_crash_at_every_sector_of_a_batch() {
    let mut cases = 0;
    for sectors in 1..24 {
        let mut rig = FaultRig::new(4096, 8, quick);
        let len = block_frame_len(rig.geo);
        for id in 0..3 {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        }
        rig.a.send.faults.borrow_mut().tear_next_write = Some(sectors * SECTOR);
        let report = rig.a.step(rig.now).unwrap();
        assert_eq!(report.write_error, Some(EIO));
        rig.ab.apply_all();
        step_b(&mut rig, 3, 1_000);
        // Node A dies here; a new run starts on the same volumes.
        let old_epoch = rig.a.link.epoch();
        rig.restart_a(&quick);
        assert!(rig.a.link.epoch() > old_epoch);
        for id in 10..12 {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        }
        run_until_delivered(&mut rig, sectors / 8 + 2, 100, 5_000);
        let whole: Vec<u64> = (0..(sectors / 8) as u64).collect();
        let expected: Vec<u64> = whole.into_iter().chain([10, 11]).collect();
        assert_eq!(checked_ids(&rig.b.delivered), expected, "{sectors} sectors");
        let c = rig.b.link.counters();
        assert_eq!(c.peer_restarts, 1, "{c:?}");
        if sectors % 8 != 0 {
            // Seen in the old run, and again in the new one if it sits in
            // a slot the new run reaches before its own block does.
            assert!(c.rejects_torn >= 1, "the torn block is seen: {c:?}");
        }
        cases += 1;
    }
    volnic_tests::report!("kill -9 mid-write at sector 1..23: {cases}, wrong frames delivered: 0");
}

/// A write that fails part-way (EIO after some sectors reached the volume)
/// is retried by the writer with the same blocks; the receiver never takes
/// the torn copy and delivers every frame once.
#[test]
fn write_failing_part_way_is_retried_and_delivered_once() {
    let mut cases = 0;
    for sectors in 1..24 {
        let mut rig = FaultRig::new(4096, 8, |_| {});
        let len = block_frame_len(rig.geo);
        for id in 0..3 {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        }
        rig.a.send.faults.borrow_mut().tear_next_write = Some(sectors * SECTOR);
        rig.a.step(rig.now).unwrap();
        rig.ab.apply_all();
        step_b(&mut rig, 2, 1_000);
        assert_eq!(rig.b.delivered.len(), sectors / 8, "only whole blocks");
        run_until_delivered(&mut rig, 3, 50, 1_000);
        assert_eq!(checked_ids(&rig.b.delivered), vec![0, 1, 2]);
        assert_eq!(rig.a.link.counters().write_errors, 1);
        assert_eq!(rig.b.link.counters().drops_blocks_missed, 0);
        cases += 1;
    }
    volnic_tests::report!(
        "writes failed part-way: {cases}, retried: {cases}, frames lost or doubled: 0"
    );
}

/// How the receiver classifies a data block with bit `bit` flipped, its
/// sequence number being `seq`: a flip in the magic makes the block look
/// never written, and a flip that lowers the sequence number makes it look
/// like the previous lap being overwritten — either way the block is
/// *missing*, skipped once the writer's records show it moved on. Every
/// other flip fails the CRC: *corrupt*.
fn flip_is_missing(bit: usize, seq: u64) -> bool {
    let byte = bit / 8;
    let seq_bytes = db_field::SEQ..db_field::SEQ + 8;
    byte < 4 || (seq_bytes.contains(&byte) && seq >> (bit - db_field::SEQ * 8) & 1 == 1)
}

/// A bit flipped anywhere in a data block (every one of the 4096 bits of a
/// 512-byte block, header, payload, padding and CRC) is never delivered.
/// The receiver skips the block once the writer has moved past it and the
/// torn grace is over — counted in `drops_blocks_missed`, and, unless the
/// flip hid the block (see `flip_is_missing`), in `rejects_torn` when
/// first seen and `rejects_corrupt` when skipped — and the next frame
/// flows.
#[test]
fn bit_flip_anywhere_in_a_data_block_is_never_delivered() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = block_frame_len(rig.geo);
    let mut followers = Vec::new();
    let (mut corrupt, mut missing) = (0u64, 0u64);
    for bit in 0..512 * 8 {
        let victim = 2 * bit as u64;
        rig.a.send_frame(&numbered_frame(victim, len)).unwrap();
        rig.a.step(rig.now).unwrap();
        let seq = rig.a.link.next_seq() - 1;
        let slot = rig.geo.slot_offset(seq);
        apply_ab(&rig, |w| {
            if w.offset == slot {
                w.data[bit / 8] ^= 1 << (bit % 8);
            }
        });
        let before = *rig.b.link.counters();
        rig.a.send_frame(&numbered_frame(victim + 1, len)).unwrap();
        followers.push(victim + 1);
        run_until_delivered(&mut rig, followers.len(), 100, 10_000);
        let c = rig.b.link.counters();
        // Only the follower arrived since the last round (earlier rounds
        // were checked already; numbers grow from round to round).
        let new = checked_ids(&rig.b.delivered[followers.len() - 1..]);
        assert_eq!(new, vec![victim + 1], "bit {bit}");
        assert_eq!(
            c.drops_blocks_missed,
            before.drops_blocks_missed + 1,
            "bit {bit}"
        );
        let hidden = flip_is_missing(bit, seq);
        let rejected = u64::from(!hidden);
        assert_eq!(
            c.rejects_corrupt,
            before.rejects_corrupt + rejected,
            "bit {bit}"
        );
        assert_eq!(c.rejects_torn, before.rejects_torn + rejected, "bit {bit}");
        // The mirror's next resync repairs the slot; else the damaged block
        // would be met (and counted) again a lap later, before its
        // successor's write arrives.
        volnic_tests::memrig::copy_range(&rig.a_send, &rig.b_recv, slot, 512);
        corrupt += rejected;
        missing += u64::from(hidden);
    }
    assert!(rig.b.link.link_up());
    assert_eq!(checked_ids(&rig.b.delivered), followers);
    volnic_tests::report!(
        "data-block bits flipped: 4096, rejected as corrupt: {corrupt}, skipped as missing: {missing}, wrong frames delivered: 0"
    );
}

/// Steps A until it writes its state record; returns that write (the other
/// writes are applied as they come).
fn next_state_write(rig: &mut FaultRig) -> Write {
    let state = rig.geo.state_offset();
    for _ in 0..100 {
        rig.now += 5_000;
        rig.a.step(rig.now).unwrap();
        while let Some(w) = rig.ab.take() {
            if w.offset == state {
                return w;
            }
            rig.ab.put(&w);
        }
    }
    panic!("node A wrote no state record");
}

/// A bit flipped anywhere in the peer's state record (every bit of its 256
/// bytes) makes the reader reject that record — counted in `rejects_state`,
/// once per read — and wait for the next; a genuine record within the peer
/// timeout keeps the link up, and frames go on flowing.
#[test]
fn bit_flip_anywhere_in_the_state_record_is_rejected_and_counted() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = block_frame_len(rig.geo);
    let poll = rig.b.link.config().state_poll_us;
    for bit in 0..STATE_LEN * 8 {
        let mut record = next_state_write(&mut rig);
        record.data[bit / 8] ^= 1 << (bit % 8);
        assert!(StateRecord::parse(&record.data).is_err());
        rig.ab.put(&record);
        let before = rig.b.link.counters().rejects_state;
        rig.now += poll;
        rig.b.step(rig.now).unwrap();
        rig.ba.apply_all();
        assert_eq!(rig.b.link.counters().rejects_state, before + 1, "bit {bit}");
        assert!(rig.b.link.link_up(), "bit {bit}");
        // The next record is genuine.
        let record = next_state_write(&mut rig);
        rig.ab.put(&record);
        rig.now += poll;
        rig.b.step(rig.now).unwrap();
        rig.ba.apply_all();
        assert_eq!(rig.b.link.counters().rejects_state, before + 1, "bit {bit}");
        if bit % 64 == 0 {
            rig.a.send_frame(&numbered_frame(bit as u64, len)).unwrap();
        }
    }
    run_until_delivered(&mut rig, 32, 50, 1_000);
    let ids = checked_ids(&rig.b.delivered);
    assert_eq!(ids, (0..32).map(|i| i * 64).collect::<Vec<_>>());
    assert_eq!(rig.b.link.counters().rejects_state, 2048);
    volnic_tests::report!(
        "state-record bits flipped: 2048, records rejected: 2048, wrong frames delivered: 0"
    );
}

/// A bit flipped anywhere in the receive volume's superblock (every bit of
/// its 128 bytes) takes the link down with a one-line reason ("receive
/// volume is not a volnic volume ...") at the next superblock check; the
/// superblock's repair brings it back up, and the stream goes on from
/// where it was: nothing delivered twice, frames sent meanwhile arrive.
#[test]
fn bit_flip_in_the_receive_superblock_takes_the_link_down_until_repaired() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = 100;
    let poll = rig.b.link.config().state_poll_us;
    let mut sent = 0u64;
    for bit in 0..SUPERBLOCK_LEN * 8 {
        rig.a.send_frame(&numbered_frame(sent, len)).unwrap();
        sent += 1;
        rig.run(2, 1_000);
        rig.b_recv.0.borrow_mut().bytes[bit / 8] ^= 1 << (bit % 8);
        rig.a.send_frame(&numbered_frame(sent, len)).unwrap();
        sent += 1;
        rig.run(2, poll);
        assert!(!rig.b.link.link_up(), "bit {bit}");
        let problem = rig.b.link.peer_problem().expect("a reason");
        assert!(
            matches!(problem, PeerProblem::NotFormatted(_)),
            "bit {bit}: {problem:?}"
        );
        assert!(
            problem.to_string().starts_with("receive volume"),
            "{problem}"
        );
        rig.b_recv.0.borrow_mut().bytes[bit / 8] ^= 1 << (bit % 8);
        rig.run(2, poll);
        assert!(rig.b.link.link_up(), "bit {bit}: back up");
        run_until_delivered(&mut rig, sent as usize, 20, 1_000);
        assert_eq!(checked_ids(&rig.b.delivered), (0..sent).collect::<Vec<_>>());
    }
    volnic_tests::report!(
        "superblock bits flipped: 1024, link down each time: 1024, frames delivered twice: 0"
    );
}

/// Regression: a receive superblock that fails its check for a while used
/// to restart the receiver's view of the peer when it came back, from the
/// peer's state record — which lags the blocks already delivered, so those
/// were delivered a second time. The same superblock coming back is now
/// followed on from where the receiver was.
#[test]
fn superblock_coming_back_does_not_deliver_again() {
    let mut rig = FaultRig::new(512, 8, |_| {});
    for id in 0..5 {
        rig.a.send_frame(&numbered_frame(id, 100)).unwrap();
        rig.step_both(3_000);
    }
    // The peer's state record still says next_seq 0: it was written when
    // the peer started, and the peer timeout (3 s) is far off.
    rig.b_recv.0.borrow_mut().bytes[40] ^= 1;
    rig.run(40, 3_000);
    assert!(!rig.b.link.link_up());
    rig.b_recv.0.borrow_mut().bytes[40] ^= 1;
    rig.run(40, 3_000);
    assert!(rig.b.link.link_up());
    assert_eq!(checked_ids(&rig.b.delivered), vec![0, 1, 2, 3, 4]);
    let c = rig.b.link.counters();
    assert_eq!(c.drops_blocks_missed, 0, "{c:?}");
}

/// A bit flipped in the *send* volume's superblock is found when the writer
/// next starts: the start fails with a one-line reason naming the send
/// volume and what to do, and writes nothing.
#[test]
fn bit_flip_in_the_send_superblock_stops_the_next_start_and_writes_nothing() {
    let mut cases = 0;
    for bit in (0..SUPERBLOCK_LEN * 8).step_by(7) {
        let rig = FaultRig::new(512, 8, |_| {});
        rig.a_send.0.borrow_mut().bytes[bit / 8] ^= 1 << (bit % 8);
        let before = rig.a_send.0.borrow().bytes.clone();
        let err = FaultRig::open_node(1, &rig.a_send, &rig.a_recv, rig.now, &|_| {})
            .err()
            .expect("start refused");
        let text = err.to_string();
        assert!(text.starts_with("send volume"), "{text}");
        assert!(text.contains("volnic format"), "{text}");
        assert!(
            rig.a_send.0.borrow().bytes == before,
            "bit {bit}: volume changed"
        );
        cases += 1;
    }
    volnic_tests::report!(
        "send superblocks damaged: {cases}, starts refused: {cases}, volumes changed: 0"
    );
}

/// An asynchronous mirror applies the writes of a window in any order
/// (writes to the same blocks keep theirs), as `AsyncMirror` does with its
/// reorder fault. Blocks, the state record and acknowledgements overtake
/// each other, but none is held back longer than the torn grace: every
/// frame is delivered, once, in order, and nothing is counted lost.
#[test]
fn async_mirror_reordering_within_its_window_delivers_every_frame_once_in_order() {
    let mut runs = 0;
    let mut total = 0;
    for window in [2, 4, 8, 16] {
        for seed in 1..=12u64 {
            let mut rng = seed * 7919;
            let mut rig = FaultRig::new(512, 8, |_| {});
            let mut sent = 0u64;
            for _ in 0..60 {
                for _ in 0..next_random(&mut rng) % 3 {
                    let len = 14 + (next_random(&mut rng) % 1200) as usize;
                    rig.a.send_frame(&numbered_frame(sent, len)).unwrap();
                    sent += 1;
                }
                rig.a.step(rig.now).unwrap();
                for w in rig.ab.take_reordered(window, &mut rng) {
                    rig.ab.put(&w);
                    rig.now += 1_000;
                    rig.b.step(rig.now).unwrap();
                    for w in rig.ba.take_reordered(window, &mut rng) {
                        rig.ba.put(&w);
                    }
                }
                rig.now += 1_000;
            }
            run_until_delivered(&mut rig, sent as usize, 200, 1_000);
            assert_eq!(
                checked_ids(&rig.b.delivered),
                (0..sent).collect::<Vec<_>>(),
                "window {window} seed {seed}"
            );
            let c = rig.b.link.counters();
            assert_eq!(c.drops(), 0, "window {window} seed {seed}: {c:?}");
            runs += 1;
            total += sent;
        }
    }
    volnic_tests::report!(
        "reordering runs: {runs}, frames: {total}, lost: 0, wrong frames delivered: 0"
    );
}

/// The mirror from A to B pauses for longer than the ring can hold while B
/// itself is alive (its records reach A). A's flow control stops it a ring
/// ahead of B's acknowledgement — nothing is overwritten — and frames wait
/// in A's queue; B's link goes down when A's records stop arriving (peer
/// silent). When the mirror resumes and replays its backlog, B comes back
/// up and every frame is delivered once, in order.
#[test]
fn mirror_paused_longer_than_the_ring_with_the_reader_alive_loses_nothing() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = block_frame_len(rig.geo);
    let frames = 40u64; // five rings' worth
    let mut blocked = false;
    for id in 0..frames {
        rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        let report = rig.a.step(rig.now).unwrap();
        blocked |= report.flow_blocked;
        rig.b.step(rig.now).unwrap();
        rig.ba.apply_all();
        rig.now += 10_000; // 400 ms in all: twice the peer timeout
    }
    assert!(blocked, "A must wait for B's acknowledgements");
    assert_eq!(rig.a.link.next_seq(), 8, "one ring written, no more");
    assert_eq!(rig.a.link.counters().drops_overwritten, 0);
    assert!(rig.a.link.link_up(), "B is alive: A's side stays up");
    assert!(!rig.b.link.link_up(), "A is silent to B");
    assert_eq!(rig.b.link.peer_state(rig.now), PeerState::Silent);
    rig.ab.apply_all();
    run_until_delivered(&mut rig, frames as usize, 200, 2_000);
    assert_eq!(
        checked_ids(&rig.b.delivered),
        (0..frames).collect::<Vec<_>>()
    );
    assert!(rig.b.link.link_up());
    let c = rig.b.link.counters();
    assert_eq!(c.drops(), 0, "{c:?}");
    volnic_tests::report!("frames sent through a paused mirror: {frames}, lost: 0, overwritten: 0");
}

/// Both mirrors pause past the peer timeout: each node sees the other
/// silent and its link goes down, and A, with no live reader to wait for,
/// overwrites its oldest blocks like a NIC whose queue is full (counted in
/// `drops_overwritten`). Whether the mirror then replays its backlog in
/// order or re-copies the whole volume at once (an array's resync), B
/// counts the blocks it never saw (`drops_blocks_missed`), resynchronises,
/// delivers only intact frames in order, and the link comes back.
#[test]
fn mirrors_paused_past_the_peer_timeout_drop_oldest_and_deliver_nothing_wrong() {
    for resync in [false, true] {
        let mut rig = FaultRig::new(512, 8, quick);
        let len = block_frame_len(rig.geo);
        let frames = 40u64;
        for id in 0..frames {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
            rig.a.step(rig.now).unwrap();
            rig.b.step(rig.now).unwrap();
            rig.now += 10_000;
        }
        assert!(!rig.a.link.link_up() && !rig.b.link.link_up());
        assert_eq!(rig.a.link.peer_state(rig.now), PeerState::Silent);
        let overwritten = rig.a.link.counters().drops_overwritten;
        assert!(overwritten > 0, "{:?}", rig.a.link.counters());
        if resync {
            rig.ab.discard();
            rig.ba.discard();
            copy_all(&rig.a_send, &rig.b_recv);
            copy_all(&rig.b_send, &rig.a_recv);
        } else {
            rig.ab.apply_all();
            rig.ba.apply_all();
        }
        rig.run(10, 10_000);
        assert!(rig.a.link.link_up() && rig.b.link.link_up());
        rig.a.send_frame(&numbered_frame(1000, len)).unwrap();
        rig.run(3, 1_000);
        let ids = checked_ids(&rig.b.delivered);
        assert_eq!(ids.last(), Some(&1000), "traffic resumes");
        let c = rig.b.link.counters();
        assert!(c.drops_blocks_missed > 0, "{c:?}");
        volnic_tests::report!(
            "both mirrors paused ({}): sent {frames}, delivered {}, overwritten {overwritten}, missed {}, wrong frames delivered: 0",
            if resync { "whole-volume resync" } else { "backlog replayed" },
            ids.len() - 1,
            c.drops_blocks_missed
        );
    }
}

/// The receive volume is cut short under a running reader (to nothing, to
/// its superblock, to half): the link goes down with a one-line reason (an
/// I/O error past the end, or "holds N bytes but its format needs M") and
/// nothing is delivered from it; once the volume is whole again the link
/// comes back and the stream goes on without a frame twice.
#[test]
fn receive_volume_truncated_while_running_takes_the_link_down_until_restored() {
    for keep in [0usize, 512, 2560] {
        let mut rig = FaultRig::new(512, 8, quick);
        let full = rig.b_recv.0.borrow().bytes.len();
        rig.a.send_frame(&numbered_frame(0, 100)).unwrap();
        rig.run(3, 1_000);
        rig.b_recv.0.borrow_mut().bytes.truncate(keep);
        rig.a.send_frame(&numbered_frame(1, 100)).unwrap();
        rig.a.step(rig.now).unwrap();
        rig.ab.discard(); // nowhere to mirror to
        step_b(&mut rig, 3, 20_000);
        assert!(!rig.b.link.link_up(), "{keep} bytes");
        let problem = rig.b.link.peer_problem().expect("a reason");
        match keep {
            0 => assert!(
                matches!(problem, PeerProblem::Io(e) if e.kind == VolumeErrorKind::OutOfRange),
                "{problem:?}"
            ),
            _ => assert!(
                matches!(problem, PeerProblem::Truncated { have, .. } if have == keep as u64),
                "{problem:?}"
            ),
        }
        let text = problem.to_string();
        assert!(
            text.contains("receive volume") && text.contains("check"),
            "{text}"
        );
        rig.b_recv.0.borrow_mut().bytes.resize(full, 0);
        copy_all(&rig.a_send, &rig.b_recv);
        rig.a.send_frame(&numbered_frame(2, 100)).unwrap();
        rig.run(10, 20_000);
        assert!(rig.b.link.link_up(), "back up after {keep}");
        assert_eq!(checked_ids(&rig.b.delivered), vec![0, 1, 2]);
        volnic_tests::report!("receive volume truncated to {keep} bytes: link down: {problem}");
    }
}

/// The receive volume is replaced under a running reader. By a volume that
/// is not volnic's, one meant for another reader, or this node's own send
/// volume: the link goes down with the matching one-line reason and
/// nothing is delivered. By the volume of a new link (the peer's volume
/// reformatted, the peer restarted on it): the reader follows the new
/// link from its start and never delivers a frame of the old one after it.
#[test]
fn receive_volume_replaced_while_running() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = 100;
    let original = rig.b_recv.0.borrow().bytes.clone();
    rig.a.send_frame(&numbered_frame(0, len)).unwrap();
    rig.run(3, 1_000);
    let geo = rig.geo;
    let others: [(&str, SharedVolume); 3] = [
        ("not volnic", SharedVolume::new(geo.volume_bytes() as usize)),
        ("for node 3", volume(geo, 1, 3, 0x33)),
        ("own send volume", rig.b_send.clone()),
    ];
    for (what, other) in others {
        let bytes = other.0.borrow().bytes.clone();
        rig.b_recv.0.borrow_mut().bytes = bytes;
        step_b(&mut rig, 3, 20_000);
        assert!(!rig.b.link.link_up(), "{what}");
        let problem = rig.b.link.peer_problem().expect("a reason");
        match what {
            "not volnic" => assert!(matches!(
                problem,
                PeerProblem::NotFormatted(FormatError::BadMagic)
            )),
            "for node 3" => assert!(matches!(
                problem,
                PeerProblem::WrongReader {
                    reader_node: 3,
                    node_id: 2
                }
            )),
            _ => assert_eq!(problem, PeerProblem::OwnVolume),
        }
        volnic_tests::report!("receive volume replaced by {what}: {problem}");
        assert_eq!(rig.b.delivered.len(), 1);
    }
    rig.b_recv.0.borrow_mut().bytes = original;
    rig.ab.discard();
    copy_all(&rig.a_send, &rig.b_recv);
    rig.run(10, 20_000);
    assert!(rig.b.link.link_up());

    // The peer's volume is reformatted (a new link id) and the peer starts
    // on it, while the old volume's unread blocks are still in B's ring.
    for id in 1..4 {
        rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        rig.a.step(rig.now).unwrap();
    }
    rig.ab.discard(); // frames 1..3 never reach B
    let fresh = volume(geo, 1, 2, 0x5e);
    let mut new_a = FaultRig::open_node(1, &fresh, &rig.a_recv, rig.now, &quick).unwrap();
    for id in 100..103 {
        new_a.send_frame(&numbered_frame(id, len)).unwrap();
    }
    rig.ab.from = new_a.send.faults.clone();
    rig.a = new_a;
    rig.a_send = fresh;
    rig.ab.discard();
    copy_all(&rig.a_send, &rig.b_recv);
    rig.run(20, 20_000);
    assert!(rig.b.link.link_up());
    assert_eq!(checked_ids(&rig.b.delivered), vec![0, 100, 101, 102]);
    volnic_tests::report!(
        "receive volume replaced by a new link: old frames delivered after it: 0"
    );
}

/// The send volume refuses writes — ENOSPC (a sparse volume file on a full
/// filesystem) or EIO — for a while. Each failed write is counted
/// (`write_errors`) and reported (`PollReport::write_error`, the
/// `VolumeError` naming the cause); the link is down on the writer's side
/// from the first failure until a write works again, and on the reader's
/// side once the writer's records stop for the peer timeout. Blocks wait
/// and are retried: when the volume works again everything queued is
/// delivered, once, in order, and the link comes back on both sides.
#[test]
fn send_volume_enospc_and_eio_hold_the_link_down_and_lose_nothing_queued() {
    for (error, outage_ticks) in [(ENOSPC, 5), (EIO, 5), (ENOSPC, 40), (EIO, 40)] {
        let mut rig = FaultRig::new(512, 8, quick);
        let len = 300;
        rig.a.send.faults.borrow_mut().write_error = Some(error);
        let mut reported = None;
        for id in 0..outage_ticks as u64 {
            rig.a.send_frame(&numbered_frame(id, len)).unwrap();
            let report = rig.a.step(rig.now).unwrap();
            reported = reported.or(report.write_error);
            assert!(
                !rig.a.link.link_up(),
                "writer's link down while writes fail"
            );
            assert_eq!(rig.a.link.send_error(), Some(error));
            rig.b.step(rig.now).unwrap();
            rig.ba.apply_all();
            rig.now += 10_000;
        }
        assert_eq!(reported, Some(error));
        let long = outage_ticks * 10_000 > 200_000;
        assert_eq!(
            !rig.b.link.link_up(),
            long,
            "reader down only past the peer timeout"
        );
        assert!(rig.a.link.counters().write_errors > 0);
        assert!(rig.b.delivered.is_empty());
        rig.a.send.faults.borrow_mut().write_error = None;
        rig.run(10, 10_000);
        assert!(rig.a.link.link_up() && rig.b.link.link_up());
        assert_eq!(rig.a.link.send_error(), None);
        assert_eq!(
            checked_ids(&rig.b.delivered),
            (0..outage_ticks as u64).collect::<Vec<_>>()
        );
        volnic_tests::report!(
            "send volume failing with {error} for {} ms: write errors counted {}, frames lost 0",
            outage_ticks * 10,
            rig.a.link.counters().write_errors
        );
    }
}

/// The receive volume's reads fail with EIO: the reader's link goes down at
/// once with the reason ("receive volume: volume I/O error (code 5): check
/// the path, the storage and the mirror"), each failed read counted in
/// `read_errors`. The writer, whose reader is alive and acknowledging,
/// waits a ring ahead rather than overwrite. When reads work again, the
/// link comes back and every frame is delivered once, in order.
#[test]
fn receive_volume_eio_takes_the_link_down_and_recovers() {
    let mut rig = FaultRig::new(512, 8, quick);
    let len = block_frame_len(rig.geo);
    rig.b.recv.faults.borrow_mut().read_error = Some(EIO);
    for id in 0..20 {
        rig.a.send_frame(&numbered_frame(id, len)).unwrap();
        rig.step_both(5_000);
    }
    assert!(!rig.b.link.link_up());
    let problem = rig.b.link.peer_problem().expect("a reason");
    assert_eq!(problem, PeerProblem::Io(EIO));
    assert!(problem.to_string().contains("check the path"), "{problem}");
    assert!(rig.b.link.counters().read_errors > 0);
    assert_eq!(rig.a.link.counters().drops_overwritten, 0);
    rig.b.recv.faults.borrow_mut().read_error = None;
    run_until_delivered(&mut rig, 20, 100, 5_000);
    assert!(rig.b.link.link_up());
    assert_eq!(checked_ids(&rig.b.delivered), (0..20).collect::<Vec<_>>());
    volnic_tests::report!(
        "receive reads failed: {}, frames lost: 0",
        rig.b.link.counters().read_errors
    );
}

/// A volume that cannot be read when the link starts stops the start with
/// one line naming which volume and what to check, and nothing is written.
#[test]
fn volume_unreadable_at_start_fails_with_a_clear_reason() {
    let rig = FaultRig::new(512, 8, |_| {});
    let cases = [("send", true), ("receive", false)];
    for (which, send_fails) in cases {
        let before = rig.a_send.0.borrow().bytes.clone();
        let mut send = volnic_tests::faulty::FaultyVolume::new(rig.a_send.clone());
        let mut recv = volnic_tests::faulty::FaultyVolume::new(rig.a_recv.clone());
        if send_fails {
            send.faults.borrow_mut().read_error = Some(EIO);
        } else {
            recv.faults.borrow_mut().read_error = Some(EIO);
        }
        let err = volnic_core::Link::open(LinkConfig::new(1), &mut send, &mut recv, 0, 1)
            .expect_err("start refused");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{which} volume: volume I/O error (code 5): check")),
            "{text}"
        );
        if send_fails {
            assert!(rig.a_send.0.borrow().bytes == before);
        }
        volnic_tests::report!("{which} volume unreadable at start: {text}");
    }
}

/// Regression (found by the `link_volume` fuzz target): a peer record that
/// claims the writer is far ahead of a ring holding nothing makes the
/// reader skip slot after slot, more than 64 reads in one poll; doubling
/// the read batch each time overflowed (a panic, or in a release build a
/// batch of zero and a poll that never ends). The reader now skips on,
/// each poll bounded, delivering nothing from the empty slots.
#[test]
fn a_record_far_ahead_of_an_empty_ring_is_skipped_towards_without_overflow() {
    let mut rig = FaultRig::new(512, 8, quick);
    rig.run(5, 3_000);
    assert!(rig.b.link.link_up());
    let bs = 512usize;
    let delivered_before = rig.b.delivered.len();
    {
        let mut v = rig.b_recv.0.borrow_mut();
        let at = rig.geo.state_offset() as usize;
        let mut rec = StateRecord::parse(&v.bytes[at..at + STATE_LEN]).expect("A's record");
        rec.next_seq += 1 << 40;
        rec.update_count += 1;
        let mut block = vec![0u8; bs];
        rec.emit(&mut block);
        v.bytes[at..at + bs].copy_from_slice(&block);
        let ring = rig.geo.slot_index_offset(0) as usize;
        v.bytes[ring..].fill(0);
    }
    // B alone (A paused, so its own record does not put the claim right).
    let missed_before = rig.b.link.counters().drops_blocks_missed;
    for _ in 0..400 {
        rig.now += 1_000;
        rig.b.step(rig.now).expect("B steps");
        rig.ba.apply_all();
    }
    let missed = rig.b.link.counters().drops_blocks_missed - missed_before;
    assert!(
        missed > 64 * 8,
        "B skipped only {missed} empty slots the record says the writer passed"
    );
    assert_eq!(
        rig.b.delivered.len(),
        delivered_before,
        "nothing from empty slots"
    );
}
