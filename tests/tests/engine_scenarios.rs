//! Engine scenarios on in-memory volumes with a hand-driven mirror, so each
//! storage event (a block copied, a sector torn, a bit flipped, a restart)
//! happens exactly when the test says.

use volnic_core::format::{Geometry, Superblock, SUPERBLOCK_LEN};
use volnic_core::testkit::SharedVolume;
use volnic_core::{LinkError, PeerProblem, PeerState};
use volnic_tests::memrig::{config, copy_all, copy_range, volume, MirroredPair};
use volnic_tests::node::{frame_id, numbered_frame, Node};

fn up(block_size: u32, ring: u32, flush_delay_us: u64) -> MirroredPair {
    let rig = MirroredPair::new(block_size, ring, flush_delay_us);
    assert!(rig.a.link.link_up() && rig.b.link.link_up(), "link came up");
    rig
}

fn ids(frames: &[Vec<u8>]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| frame_id(f).expect("intact frame"))
        .collect()
}

#[test]
fn full_block_is_written_without_waiting_for_the_flush_delay() {
    // A 1 s flush delay: only a full block may go out before it expires.
    let mut rig = up(512, 16, 1_000_000);
    let payload = 512 - 64;
    // Three 200-byte frames = 606 stream bytes: one full block plus a tail
    // holding the rest of frame 2.
    for id in 0..3 {
        rig.a.send_frame(&numbered_frame(id, 200)).unwrap();
    }
    rig.run(5, 1_000);
    assert_eq!(
        rig.a.link.counters().blocks_written,
        1,
        "the full block only"
    );
    // 448 payload bytes hold frames 0 and 1 (202 stream bytes each) whole.
    assert!(payload < 606);
    assert_eq!(
        ids(&rig.b.delivered),
        vec![0, 1],
        "frames wholly inside block 1"
    );
    rig.run(1, 1_000_000);
    rig.run(2, 1_000);
    assert_eq!(ids(&rig.b.delivered), vec![0, 1, 2], "tail after the delay");
}

#[test]
fn partial_block_waits_for_the_configured_flush_delay() {
    let mut rig = up(4096, 16, 200_000);
    rig.a.send_frame(&numbered_frame(7, 100)).unwrap();
    rig.run(150, 1_000); // 150 ms
    assert!(rig.b.delivered.is_empty(), "partial block written early");
    rig.run(60, 1_000); // past 200 ms
    assert_eq!(ids(&rig.b.delivered), vec![7]);
}

#[test]
fn torn_block_is_not_delivered_until_complete() {
    let mut rig = up(4096, 16, 0);
    rig.a.send_frame(&numbered_frame(1, 1000)).unwrap();
    rig.a.step(rig.now).unwrap();
    // The mirror has carried only the first sector of the new block.
    let slot = rig.geo.slot_offset(rig.a.link.next_seq() - 1);
    copy_range(&rig.a_send, &rig.b_recv, slot, 512);
    for _ in 0..5 {
        rig.b.step(rig.now).unwrap();
        rig.now += 1_000;
    }
    assert!(rig.b.delivered.is_empty(), "torn block delivered");
    assert_eq!(rig.b.link.counters().rejects_torn, 1);
    assert_eq!(rig.b.link.counters().rejects_corrupt, 0);
    copy_range(&rig.a_send, &rig.b_recv, slot, 4096);
    rig.b.step(rig.now).unwrap();
    assert_eq!(ids(&rig.b.delivered), vec![1]);
}

#[test]
fn block_with_a_flipped_bit_is_rejected_counted_and_skipped() {
    let mut rig = up(512, 16, 0);
    rig.a.send_frame(&numbered_frame(1, 100)).unwrap();
    rig.run(3, 1_000);
    rig.a.send_frame(&numbered_frame(2, 100)).unwrap();
    rig.a.step(rig.now).unwrap();
    let bad_slot = rig.geo.slot_offset(rig.a.link.next_seq() - 1) as usize;
    rig.mirror();
    rig.b_recv.0.borrow_mut().bytes[bad_slot + 100] ^= 0x10;
    rig.a.send_frame(&numbered_frame(3, 100)).unwrap();
    rig.a.step(rig.now).unwrap();
    // Mirror everything but the damaged block.
    let saved = rig.b_recv.0.borrow().bytes[bad_slot..bad_slot + 512].to_vec();
    rig.mirror();
    rig.b_recv.0.borrow_mut().bytes[bad_slot..bad_slot + 512].copy_from_slice(&saved);
    // The reader retries (torn?), then gives up once the writer's state
    // record shows it has moved past the block and the grace has passed.
    for _ in 0..400 {
        rig.a.step(rig.now).unwrap();
        let a_state = rig.geo.state_offset();
        copy_range(&rig.a_send, &rig.b_recv, a_state, 512);
        copy_all(&rig.b_send, &rig.a_recv);
        rig.b.step(rig.now).unwrap();
        rig.now += 1_000;
    }
    assert_eq!(
        ids(&rig.b.delivered),
        vec![1, 3],
        "frame 2 must never arrive"
    );
    let c = rig.b.link.counters();
    assert_eq!(c.rejects_corrupt, 1, "{c:?}");
    assert_eq!(c.rejects_torn, 1, "{c:?}");
}

#[test]
fn previous_epoch_is_never_delivered_after_the_new_epoch_is_seen() {
    let mut rig = up(512, 16, 0);
    // Epoch 1 writes 8 blocks; the reader sees only the first three.
    for id in 0..8 {
        rig.a.send_frame(&numbered_frame(id, 400)).unwrap();
        rig.a.step(rig.now).unwrap();
        if id < 3 {
            copy_all(&rig.a_send, &rig.b_recv);
            rig.b.step(rig.now).unwrap();
        }
        rig.now += 1_000;
    }
    assert_eq!(ids(&rig.b.delivered), vec![0, 1, 2]);
    let old_epoch = rig.a.link.epoch();
    // Node A crashes and restarts with a new epoch (after its claim wait).
    let mut restarted = Node::open(
        config(1, 0),
        rig.a_send.clone(),
        rig.a_recv.clone(),
        rig.now,
        1 << 20,
    )
    .unwrap();
    assert!(restarted.link.epoch() > old_epoch);
    while restarted.link.claiming() {
        restarted.step(rig.now).unwrap();
        rig.now += 50_000;
    }
    for id in 100..102 {
        restarted.send_frame(&numbered_frame(id, 400)).unwrap();
        restarted.step(rig.now).unwrap();
    }
    rig.a = restarted;
    // Now everything reaches B: new state record, 2 new blocks, and the
    // old epoch's unread blocks 3..7 still in the ring.
    rig.now += 200_000;
    rig.run(30, 1_000);
    assert_eq!(ids(&rig.b.delivered), vec![0, 1, 2, 100, 101]);
    assert!(rig.b.link.counters().rejects_stale > 0);
    assert_eq!(rig.b.link.counters().peer_restarts, 1);
}

#[test]
fn volume_formatted_for_another_node_or_link_is_rejected_with_a_clear_error() {
    let geo = Geometry::new(512, 16);
    // Node 1 pointed at node 2's send volume.
    let err = Node::open(
        config(1, 0),
        volume(geo, 2, 1, 1),
        volume(geo, 2, 1, 2),
        0,
        4096,
    )
    .err()
    .expect("open must fail");
    assert!(matches!(
        err,
        LinkError::SendOwnedByOther {
            writer_node: 2,
            node_id: 1,
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("writer node 2") && text.contains("node 1"),
        "{text}"
    );

    // A receive volume written for node 3: link stays down with the reason.
    let mut node = Node::open(
        config(1, 0),
        volume(geo, 1, 2, 1),
        volume(geo, 2, 3, 2),
        0,
        4096,
    )
    .unwrap();
    node.step(1).unwrap();
    assert_eq!(
        node.link.peer_problem(),
        Some(PeerProblem::WrongReader {
            reader_node: 3,
            node_id: 1
        })
    );
    assert!(!node.link.link_up());
    let text = node.link.peer_problem().unwrap().to_string();
    assert!(text.contains("node 3"), "{text}");

    // A receive volume that is not a volnic volume at all.
    let mut node = Node::open(
        config(1, 0),
        volume(geo, 1, 2, 1),
        SharedVolume::new(geo.volume_bytes() as usize),
        0,
        4096,
    )
    .unwrap();
    node.step(1).unwrap();
    assert!(matches!(
        node.link.peer_problem(),
        Some(PeerProblem::NotFormatted(_))
    ));
}

#[test]
fn blocks_of_another_link_in_the_ring_are_rejected_as_foreign() {
    let mut rig = up(512, 16, 0);
    rig.inject_foreign_block();
    assert!(rig.b.delivered.is_empty());
    assert_eq!(rig.b.link.counters().rejects_foreign, 1);
    assert!(matches!(
        rig.b.link.peer_problem(),
        Some(PeerProblem::Foreign { .. })
    ));
    assert!(!rig.b.link.link_up());
    let mut sb_bytes = vec![0u8; 512];
    sb_bytes.copy_from_slice(&rig.b_recv.0.borrow().bytes[..512]);
    assert!(Superblock::parse(&sb_bytes[..SUPERBLOCK_LEN]).is_ok());
}

#[test]
fn ring_wraps_many_times_and_acks_hold_back_the_writer_for_a_slow_reader() {
    let mut rig = up(512, 8, 0);
    let total = 400u64;
    let mut next_id = 0u64;
    let mut blocked = false;
    for tick in 0..20_000u64 {
        while next_id < total && rig.a.queue.frames() < 4 {
            rig.a.send_frame(&numbered_frame(next_id, 440)).unwrap();
            next_id += 1;
        }
        let report = rig.a.step(rig.now).unwrap();
        blocked |= report.flow_blocked;
        rig.mirror();
        // The reader polls only every 7th tick: it is the slow side.
        if tick % 7 == 0 {
            rig.b.step(rig.now).unwrap();
            rig.mirror();
        }
        rig.now += 1_000;
        if rig.b.delivered.len() as u64 == total {
            break;
        }
    }
    assert_eq!(ids(&rig.b.delivered), (0..total).collect::<Vec<_>>());
    assert!(blocked, "the writer must have waited for acknowledgements");
    assert!(rig.a.link.next_seq() > 10 * 8, "wrapped many times");
    assert_eq!(rig.a.link.counters().drops_overwritten, 0);
    assert_eq!(rig.b.link.counters().drops_blocks_missed, 0);
}

#[test]
fn dead_reader_lets_the_writer_overwrite_oldest_and_count_drops() {
    let mut rig = up(512, 8, 0);
    // B stops polling: after the peer timeout A sees it silent.
    for _ in 0..40 {
        rig.a.step(rig.now).unwrap();
        rig.mirror();
        rig.now += 100_000;
    }
    assert_eq!(rig.a.link.peer_state(rig.now), PeerState::Silent);
    for id in 0..100 {
        rig.a.send_frame(&numbered_frame(id, 440)).unwrap();
        let report = rig.a.step(rig.now).unwrap();
        assert!(!report.flow_blocked);
        rig.now += 1_000;
    }
    let c = rig.a.link.counters();
    assert_eq!(c.blocks_written, 100);
    assert!(
        c.drops_overwritten >= 100 - 8,
        "overwritten blocks counted: {c:?}"
    );
    assert_eq!(c.drops_queue_full, 0);
}
