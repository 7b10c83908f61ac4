//! The peer's state record: a block 1 never written,
//! a record of another link and a record older than one already seen each
//! leave the link down with a named reason, and none is ever taken for a
//! live peer — not even with valid data blocks in the ring.

use volnic_core::format::{st_field, StateRecord, STATE_LEN};
use volnic_core::{LinkConfig, PeerProblem, PeerState};
use volnic_tests::faulty::{checked_ids, FaultRig, Write};
use volnic_tests::node::numbered_frame;

const BS: u32 = 512;
const PEER_TIMEOUT_US: u64 = 200_000;
const TICK_US: u64 = 1_000;

fn quick(cfg: &mut LinkConfig) {
    cfg.set_peer_timeout_us(PEER_TIMEOUT_US);
}

/// Runs both ends for `ticks`, A's state-record writes replaced by what
/// `record` returns (data blocks pass).
fn run_with_record(rig: &mut FaultRig, ticks: u64, record: &dyn Fn(&Write) -> Option<Vec<u8>>) {
    let state_at = u64::from(BS);
    for _ in 0..ticks {
        rig.a.step(rig.now).unwrap();
        while let Some(w) = rig.ab.take() {
            if w.offset == state_at {
                if let Some(data) = record(&w) {
                    rig.ab.put(&Write {
                        offset: w.offset,
                        data,
                    });
                }
            } else {
                rig.ab.put(&w);
            }
        }
        rig.ba.apply_all();
        rig.b.step(rig.now).unwrap();
        rig.ba.apply_all();
        rig.now += TICK_US;
    }
}

fn set_record(rig: &FaultRig, bytes: &[u8]) {
    let at = BS as usize;
    rig.b_recv.0.borrow_mut().bytes[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A block 1 that was never written (all zero, as `volnic format` leaves
/// it): the peer is unknown, the link down with "no state record" once a
/// peer timeout has passed, and data blocks in the ring (a valid one of
/// an earlier run) are neither delivered nor taken for a live peer.
#[test]
fn never_written_record_keeps_the_link_down_with_its_reason() {
    let mut rig = FaultRig::new(BS, 8, quick);
    // Traffic, so the ring holds valid blocks of A's run.
    for id in 0..4 {
        rig.a.send_frame(&numbered_frame(id, 100)).unwrap();
        rig.run(3, TICK_US);
    }
    assert_eq!(checked_ids(&rig.b.delivered), vec![0, 1, 2, 3]);
    // B restarts; A's record is zeroed and stays so (its writes of it
    // dropped), while its data blocks still arrive.
    set_record(&rig, &vec![0u8; BS as usize]);
    rig.b = FaultRig::open_node(2, &rig.b_send, &rig.b_recv, rig.now, &quick).unwrap();
    rig.ba.from = rig.b.send.faults.clone();
    rig.a.send_frame(&numbered_frame(4, 100)).unwrap();
    run_with_record(&mut rig, 3 * PEER_TIMEOUT_US / TICK_US, &|_| None);
    assert!(!rig.b.link.link_up());
    assert_eq!(rig.b.link.peer_state(rig.now), PeerState::Unknown);
    assert_eq!(rig.b.link.peer_problem(), Some(PeerProblem::NoRecord));
    assert!(
        rig.b.delivered.is_empty(),
        "blocks followed without a record"
    );
    let text = PeerProblem::NoRecord.to_string();
    assert!(text.contains("no state record"), "{text}");
    volnic_tests::report!("never-written record: down, '{text}'");
}

/// A valid state record of another link (other nodes) in block 1: counted
/// as foreign, never a sign of life — before any record of the peer was
/// seen, and when it replaces a live peer's — and named once no live peer
/// is seen for a peer timeout.
#[test]
fn record_of_another_link_is_never_taken_for_a_live_peer() {
    let mut rig = FaultRig::new(BS, 8, quick);
    assert!(rig.b.link.link_up());
    let foreign = |w: &Write| {
        let mut rec = StateRecord::parse(&w.data).expect("A's record");
        rec.writer_node = 3;
        let mut out = vec![0u8; w.data.len()];
        rec.emit(&mut out);
        Some(out)
    };
    let before = rig.b.link.counters().rejects_foreign;
    run_with_record(&mut rig, 3 * PEER_TIMEOUT_US / TICK_US, &foreign);
    assert!(!rig.b.link.link_up(), "a foreign record kept the link up");
    assert_eq!(rig.b.link.peer_state(rig.now), PeerState::Silent);
    assert_eq!(
        rig.b.link.peer_problem(),
        Some(PeerProblem::ForeignRecord {
            writer_node: 3,
            reader_node: 2
        })
    );
    assert!(rig.b.link.counters().rejects_foreign > before);
    // The genuine record back: up again.
    run_with_record(&mut rig, 100, &|w| Some(w.data.clone()));
    assert!(rig.b.link.link_up());
    assert_eq!(rig.b.link.peer_problem(), None);
    // From the start: a B that never saw A's own record.
    let mut rig = FaultRig::new(BS, 8, quick);
    rig.b = FaultRig::open_node(2, &rig.b_send, &rig.b_recv, rig.now, &quick).unwrap();
    rig.ba.from = rig.b.send.faults.clone();
    let mut rec =
        StateRecord::parse(&rig.b_recv.0.borrow().bytes[BS as usize..2 * BS as usize]).unwrap();
    rec.reader_node = 5;
    let mut out = vec![0u8; BS as usize];
    rec.emit(&mut out);
    set_record(&rig, &out);
    let held = out.clone();
    run_with_record(&mut rig, 3 * PEER_TIMEOUT_US / TICK_US, &move |_| {
        Some(held.clone())
    });
    assert!(!rig.b.link.link_up());
    assert_eq!(rig.b.link.peer_state(rig.now), PeerState::Unknown);
    assert!(matches!(
        rig.b.link.peer_problem(),
        Some(PeerProblem::ForeignRecord { reader_node: 5, .. })
    ));
}

/// A record older than one already seen — an earlier copy of this run's
/// record (lower update_count), or a record of the writer's previous run
/// — put back in block 1 (a rolled-back volume, a replay) is counted
/// stale, never a sign of life: the link goes down once the peer timeout
/// passes without a current record, naming it, and comes back with one.
#[test]
fn record_older_than_one_seen_is_never_taken_for_a_live_peer() {
    let mut rig = FaultRig::new(BS, 8, quick);
    let at = BS as usize;
    let old_run = rig.b_recv.0.borrow().bytes[at..at + STATE_LEN].to_vec();
    rig.restart_a(&quick);
    rig.run(100, TICK_US);
    assert!(rig.b.link.link_up());
    let earlier = rig.b_recv.0.borrow().bytes[at..at + STATE_LEN].to_vec();
    rig.run(100, TICK_US);
    let count = |r: &[u8]| {
        u64::from_le_bytes(
            r[st_field::UPDATE_COUNT..st_field::UPDATE_COUNT + 8]
                .try_into()
                .unwrap(),
        )
    };
    let now_rec = rig.b_recv.0.borrow().bytes[at..at + STATE_LEN].to_vec();
    assert!(count(&earlier) < count(&now_rec));
    for (name, old) in [
        ("earlier copy of this run", earlier),
        ("previous run", old_run),
    ] {
        let stale_before = rig.b.link.counters().rejects_stale;
        // The old record replaces every record A writes from now on,
        // alternating with nothing new: a rolled-back block 1.
        let held = old.clone();
        let mut padded = vec![0u8; BS as usize];
        padded[..STATE_LEN].copy_from_slice(&held);
        set_record(&rig, &padded);
        run_with_record(&mut rig, 3 * PEER_TIMEOUT_US / TICK_US, &move |_| {
            Some(padded.clone())
        });
        assert!(
            !rig.b.link.link_up(),
            "{name}: an old record kept the link up"
        );
        assert_eq!(rig.b.link.peer_state(rig.now), PeerState::Silent, "{name}");
        assert!(
            matches!(
                rig.b.link.peer_problem(),
                Some(PeerProblem::StaleRecord { .. })
            ),
            "{name}: {:?}",
            rig.b.link.peer_problem()
        );
        assert!(rig.b.link.counters().rejects_stale > stale_before, "{name}");
        let reason = rig.b.link.peer_problem().unwrap().to_string();
        assert!(reason.contains("older than one already read"), "{reason}");
        // Current records again: up.
        run_with_record(&mut rig, 100, &|w| Some(w.data.clone()));
        assert!(rig.b.link.link_up(), "{name}");
        volnic_tests::report!("{name}: down with '{reason}', then up again");
    }
}
