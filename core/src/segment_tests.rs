//! Engine tests of segments: members of one together-form segment in one
//! process, each region a window of the same in-memory LUN, every member
//! a `Link` with one writer on its region and a reader per other member.

use alloc::vec;
use alloc::vec::Vec;

use crate::format::Superblock;
use crate::format::STATE_LEN;
use crate::link::{Link, LinkConfig, LinkError, PeerProblem, PeerState};
use crate::queue::SendQueue;
use crate::segment::{AckTable, SegmentLayout};
use crate::testkit::{format_with, region_window, together_segment, SharedVolume};
use crate::volume::{Volume, Window};

type Region = Window<SharedVolume>;

struct Member {
    id: u32,
    link: Link,
    send: Region,
    recvs: Vec<Region>,
    queue: SendQueue,
    /// Frames delivered, as (sender, sequence number in the frame).
    got: Vec<(u8, u32)>,
}

/// A frame from member `from`, numbered `n`: a minimal Ethernet frame
/// whose payload names both.
fn frame(from: u32, n: u32) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12] = 0x88;
    f[13] = 0xb5;
    f[14] = from as u8;
    f[15..19].copy_from_slice(&n.to_le_bytes());
    f
}

impl Member {
    fn step(&mut self, now: u64) -> crate::PollReport {
        self.link.pack(&mut self.queue, now);
        let got = &mut self.got;
        self.link
            .poll_all(now, &mut self.send, &mut self.recvs, &mut |f: &[u8]| {
                let mut n = [0u8; 4];
                n.copy_from_slice(&f[15..19]);
                got.push((f[14], u32::from_le_bytes(n)));
            })
            .unwrap()
    }

    fn send(&mut self, n: u32) {
        self.queue.push(&frame(self.id, n)).expect("queue room");
    }

    /// Sequence numbers delivered from member `from`, in delivery order.
    fn from(&self, from: u32) -> Vec<u32> {
        self.got
            .iter()
            .filter(|(m, _)| u32::from(*m) == from)
            .map(|(_, n)| *n)
            .collect()
    }
}

fn config(id: u32) -> LinkConfig {
    let mut cfg = LinkConfig::new(id);
    // Traffic tests: the claim is read back at once (claims are tested in
    // claim_tests.rs, and below for a duplicate node id).
    cfg.claim_settle_us = 0;
    cfg
}

fn join(lun: &SharedVolume, layout: SegmentLayout, id: u32, now: u64) -> Member {
    let mut send = region_window(lun, layout, id);
    let mut recvs: Vec<Region> = (1..=layout.members)
        .filter(|&k| k != id)
        .map(|k| region_window(lun, layout, k))
        .collect();
    let link = Link::open_all(config(id), &mut send, &mut recvs, now, 100 + u64::from(id))
        .expect("join the segment");
    Member {
        id,
        link,
        send,
        recvs,
        queue: SendQueue::new(1 << 20, layout.block_size as usize),
        got: Vec::new(),
    }
}

fn segment(members: u32, ring_blocks: u32) -> (SharedVolume, SegmentLayout, Vec<Member>) {
    let layout = SegmentLayout {
        block_size: 512,
        ring_blocks,
        members,
    };
    let lun = together_segment(layout, [0x5e; 16]).unwrap();
    let nodes = (1..=members).map(|id| join(&lun, layout, id, 0)).collect();
    (lun, layout, nodes)
}

fn run(nodes: &mut [Member], from: u64, to: u64, step: u64) {
    let mut t = from;
    while t <= to {
        for n in nodes.iter_mut() {
            n.step(t);
        }
        t += step;
    }
}

#[test]
fn every_member_of_three_gets_every_frame_of_the_others_once_in_order() {
    let (_lun, _layout, mut nodes) = segment(3, 16);
    run(&mut nodes, 1, 300_000, 1000);
    for n in &nodes {
        assert!(n.link.link_up(), "member {} is down", n.id);
        assert_eq!(n.link.peers(300_000).count(), 2);
    }
    // 40 frames from each member, more than two rings' worth of blocks in
    // all, with everybody polling.
    let mut t = 300_000;
    for round in 0..40 {
        for n in nodes.iter_mut() {
            n.send(round);
        }
        for _ in 0..3 {
            t += 1000;
            for n in nodes.iter_mut() {
                n.step(t);
            }
        }
    }
    run(&mut nodes, t, t + 200_000, 1000);
    let all: Vec<u32> = (0..40).collect();
    for n in &nodes {
        for other in (1..=3).filter(|&k| k != n.id) {
            assert_eq!(n.from(other), all, "member {} from {other}", n.id);
        }
        assert!(n.from(n.id).is_empty(), "member {} heard itself", n.id);
    }
}

#[test]
fn each_member_acknowledges_each_peer_in_its_table_and_reads_its_own_entry() {
    let (lun, layout, mut nodes) = segment(3, 16);
    run(&mut nodes, 1, 300_000, 1000);
    for r in 0..5 {
        nodes[0].send(r);
    }
    run(&mut nodes, 300_001, 600_000, 1000);
    // Member 1 wrote 5 frames' blocks; members 2 and 3 acknowledge them in
    // their tables on the LUN, each against member 1's run.
    let epoch1 = nodes[0].link.epoch();
    let next1 = nodes[0].link.next_seq();
    assert!(next1 > 0);
    for reader in [2u32, 3] {
        let mut region = region_window(&lun, layout, reader);
        let mut area = vec![0u8; 512 * layout.state_blocks() as usize];
        region.read_at(512, &mut area).unwrap();
        let table = AckTable::parse(&area[STATE_LEN..]).unwrap();
        let e = table.entry(1).unwrap();
        assert_eq!((e.ack_epoch, e.ack_seq), (epoch1, next1), "member {reader}");
        assert_eq!(e.ack_link_tag, u32::from_le_bytes([1; 4]));
        assert_eq!(*table.entry(reader).unwrap(), Default::default());
    }
    // And member 1 reads its own entry in each peer's table.
    for p in nodes[0].link.peers(600_000) {
        assert_eq!(p.ack, (epoch1, next1), "ack from member {}", p.member);
        assert_eq!(p.state, PeerState::Running);
    }
}

#[test]
fn flow_control_waits_for_a_live_slow_member_and_not_for_a_dead_one() {
    let (_lun, _layout, mut nodes) = segment(3, 8);
    run(&mut nodes, 1, 300_000, 1000);
    // Member 3 stays live (its record fresh) but reads nothing for a
    // while: member 1 may write no more than one ring past what 3 has
    // acknowledged.
    let mut t = 300_000;
    let mut blocked = false;
    for r in 0..40 {
        nodes[0].send(r);
        t += 1000;
        let report = nodes[0].step(t);
        blocked |= report.flow_blocked;
        nodes[1].step(t);
    }
    assert!(blocked, "member 1 overran a live member's ring");
    assert_eq!(nodes[0].link.counters().drops_overwritten, 0);
    // Member 3 catches up: everything arrives, nothing lost.
    run(&mut nodes, t, t + 300_000, 1000);
    let all: Vec<u32> = (0..40).collect();
    assert_eq!(nodes[2].from(1), all);
    assert_eq!(nodes[1].from(1), all);
    // Member 3 dies (never polled again). Past the peer timeout member 1
    // writes on for member 2 alone, and the link stays up.
    let dead_at = t + 300_000;
    let mut t = dead_at;
    while t < dead_at + 4_000_000 {
        t += 1000;
        nodes[0].step(t);
        nodes[1].step(t);
    }
    for r in 100..140 {
        nodes[0].send(r);
        t += 1000;
        nodes[0].step(t);
        nodes[1].step(t);
    }
    run(&mut nodes[..2], t, t + 100_000, 1000);
    let later: Vec<u32> = (100..140).collect();
    assert_eq!(&nodes[1].from(1)[40..], &later[..]);
    assert!(nodes[0].link.link_up() && nodes[1].link.link_up());
    let states: Vec<PeerState> = nodes[0].link.peers(t).map(|p| p.state).collect();
    assert_eq!(states, vec![PeerState::Running, PeerState::Silent]);
}

#[test]
fn the_link_is_up_while_any_peer_runs_and_down_when_none_does() {
    let (_lun, _layout, mut nodes) = segment(3, 8);
    run(&mut nodes, 1, 300_000, 1000);
    assert!(nodes[0].link.link_up());
    // Member 2 stops cleanly: 1 stays up with 3.
    let m = &mut nodes[1];
    m.link.shutdown(301_000, &mut m.send).unwrap();
    let mut t = 301_000;
    while t < 700_000 {
        t += 1000;
        nodes[0].step(t);
        nodes[2].step(t);
    }
    assert!(nodes[0].link.link_up());
    // Member 3 too: 1 is down, its peers shut down.
    let m = &mut nodes[2];
    m.link.shutdown(t, &mut m.send).unwrap();
    let end = t + 400_000;
    while t < end {
        t += 1000;
        nodes[0].step(t);
    }
    assert!(!nodes[0].link.link_up());
    assert_eq!(nodes[0].link.peer_state(t), PeerState::ShuttingDown);
}

#[test]
fn a_restarted_member_is_followed_in_its_new_run_and_nothing_of_the_old_is_delivered_again() {
    let (lun, layout, mut nodes) = segment(3, 16);
    run(&mut nodes, 1, 300_000, 1000);
    for r in 0..5 {
        nodes[1].send(r);
    }
    run(&mut nodes, 300_001, 500_000, 1000);
    let old_epoch = nodes[1].link.epoch();
    // Member 2 is killed (no shutdown record) with frames still queued;
    // it comes back after the others took it for silent.
    for r in 5..8 {
        nodes[1].send(r);
    }
    let mut t = 500_000;
    while t < 4_000_000 {
        t += 1000;
        nodes[0].step(t);
        nodes[2].step(t);
    }
    assert_eq!(
        nodes[0].link.peers(t).next().unwrap().state,
        PeerState::Silent
    );
    nodes[1] = join(&lun, layout, 2, t);
    for r in 100..105 {
        nodes[1].send(r);
    }
    run(&mut nodes, t, t + 5_000_000, 1000);
    assert!(nodes[1].link.epoch() > old_epoch);
    for n in [&nodes[0], &nodes[2]] {
        assert_eq!(n.from(2), vec![0, 1, 2, 3, 4, 100, 101, 102, 103, 104]);
        assert!(n.link.link_up());
    }
    // And the new run hears the others.
    for r in 200..203 {
        nodes[0].send(r);
    }
    let t = t + 5_000_000;
    run(&mut nodes, t, t + 200_000, 1000);
    assert_eq!(nodes[1].from(1), vec![200, 201, 202]);
}

#[test]
fn a_second_member_started_with_the_same_node_id_is_refused() {
    let (lun, layout, mut nodes) = segment(3, 8);
    run(&mut nodes, 1, 300_000, 1000);
    // Another node started as member 2 while member 2 runs: it watches
    // the region's record, sees it written, and gives way.
    let mut send = region_window(&lun, layout, 2);
    let mut recvs = vec![
        region_window(&lun, layout, 1),
        region_window(&lun, layout, 3),
    ];
    let mut cfg = LinkConfig::new(2);
    cfg.claim_settle_us = 0;
    let mut intruder = Link::open_all(cfg, &mut send, &mut recvs, 300_000, 5).unwrap();
    let mut t = 300_000;
    let err = loop {
        t += 1000;
        for n in nodes.iter_mut() {
            n.step(t);
        }
        match intruder.poll_all(t, &mut send, &mut recvs, &mut |_: &[u8]| {}) {
            Ok(_) if t < 5_000_000 => {}
            Ok(_) => panic!("a second member 2 was let in"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, LinkError::SendInUse { .. }), "{err:?}");
    // The running member 2 never noticed.
    run(&mut nodes, t, t + 100_000, 1000);
    assert!(nodes.iter().all(|n| n.link.link_up()));
    assert!(nodes[1].link.lost().is_none());
}

#[test]
fn regions_of_another_segment_a_link_volume_and_a_duplicate_are_each_named() {
    let layout = SegmentLayout {
        block_size: 512,
        ring_blocks: 8,
        members: 3,
    };
    let lun = together_segment(layout, [1; 16]).unwrap();
    let other = together_segment(layout, [2; 16]).unwrap();
    // Member 1 reads member 2 of this segment and member 3 of another.
    let mut send = region_window(&lun, layout, 1);
    let mut recvs = vec![
        region_window(&lun, layout, 2),
        region_window(&other, layout, 3),
    ];
    let link = Link::open_all(config(1), &mut send, &mut recvs, 0, 1).unwrap();
    let problems: Vec<Option<PeerProblem>> = link.peers(0).map(|p| p.problem).collect();
    assert_eq!(problems[1], Some(PeerProblem::OtherSegment { members: 3 }));
    assert_eq!(problems[0], None);
    // A link's volume where a region belongs.
    let geo = crate::format::Geometry::new(512, 8);
    let mut v1 = SharedVolume::new(geo.volume_bytes() as usize);
    let sb = Superblock {
        block_size: 512,
        ring_blocks: 8,
        flags: 0,
        link_id: [7; 16],
        writer_node: 2,
        reader_node: 1,
        formatted_at_ms: 0,
    };
    format_with(&mut v1, &sb).unwrap();
    let mut recvs = vec![Window {
        inner: v1.clone(),
        offset: 0,
        len: geo.volume_bytes(),
    }];
    let link = Link::open_all(config(1), &mut send, &mut recvs, 0, 1).unwrap();
    assert_eq!(link.peer_problem(), Some(PeerProblem::LinkVolumeForRegion));
    // And a region where a link's end reads.
    let mut own = v1.clone();
    format_with(
        &mut own,
        &Superblock {
            writer_node: 1,
            reader_node: 2,
            ..sb
        },
    )
    .unwrap();
    let mut region = region_window(&lun, layout, 2);
    let link = Link::open(config(1), &mut own, &mut region, 0, 1).unwrap();
    assert_eq!(
        link.peer_problem(),
        Some(PeerProblem::RegionForLink { members: 3 })
    );
    // Too many receive volumes for 3 members.
    let fresh = together_segment(layout, [3; 16]).unwrap();
    let mut send1 = region_window(&fresh, layout, 1);
    let mut three: Vec<Region> = [2, 3, 2].map(|k| region_window(&fresh, layout, k)).into();
    let err = Link::open_all(config(1), &mut send1, &mut three, 0, 9).unwrap_err();
    assert_eq!(
        err,
        LinkError::ReceiveCount {
            given: 3,
            members: Some(3)
        }
    );
    // Member 2's region given twice (say, the LUN and a mirror's copy of
    // it): the second reader is named a duplicate and nothing comes twice.
    let mut twice: Vec<Region> = [2, 2].map(|k| region_window(&fresh, layout, k)).into();
    let dup = Link::open_all(config(1), &mut send1, &mut twice, 0, 9).unwrap();
    let mut nodes = vec![Member {
        id: 1,
        link: dup,
        send: send1,
        recvs: twice,
        queue: SendQueue::new(1 << 20, 512),
        got: Vec::new(),
    }];
    nodes.extend((2..=3).map(|id| join(&fresh, layout, id, 0)));
    run(&mut nodes, 1, 300_000, 1000);
    for r in 0..6 {
        nodes[1].send(r);
    }
    run(&mut nodes, 300_001, 600_000, 1000);
    assert_eq!(nodes[0].from(2), vec![0, 1, 2, 3, 4, 5]);
    let problems: Vec<Option<PeerProblem>> =
        nodes[0].link.peers(600_000).map(|p| p.problem).collect();
    assert_eq!(
        problems,
        vec![None, Some(PeerProblem::DuplicateMember { member: 2 })]
    );
    assert!(nodes[0].link.link_up());
}

#[test]
fn eight_members_each_hear_seven() {
    let (_lun, _layout, mut nodes) = segment(8, 16);
    run(&mut nodes, 1, 300_000, 1000);
    for n in nodes.iter_mut() {
        let id = n.id;
        n.send(id);
    }
    run(&mut nodes, 300_001, 500_000, 1000);
    for n in &nodes {
        assert!(n.link.link_up());
        let heard: Vec<u32> = {
            let mut v: Vec<u32> = n.got.iter().map(|(m, _)| u32::from(*m)).collect();
            v.sort_unstable();
            v
        };
        let want: Vec<u32> = (1..=8).filter(|&k| k != n.id).collect();
        assert_eq!(heard, want, "member {}", n.id);
    }
}
