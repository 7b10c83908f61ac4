//! Never backwards: a reader never delivers a block at
//! or below the highest (epoch, sequence) it has delivered for a link —
//! not after its own restart, the writer's restart, a superblock swapped
//! and put back, or the receive volume rolled back to an older copy of
//! itself. Frames in flight may be lost; none is delivered twice.
//!
//! Each test numbers every frame the writer sends from one counter and
//! checks, over everything the receiver delivered (across its restarts),
//! that the numbers only grow (`checked_ids`), and that frames keep
//! arriving after each event.

use volnic_core::auth::AuthKey;
use volnic_core::format::{block_crc, SB_FLAG_AUTHENTICATED};
use volnic_core::LinkConfig;
use volnic_tests::faulty::{checked_ids, FaultRig};
use volnic_tests::node::numbered_frame;

const BS: u32 = 512;
const PEER_TIMEOUT_US: u64 = 200_000;
const TICK_US: u64 = 1_000;

fn tune(auth: bool) -> impl Fn(&mut LinkConfig) {
    move |cfg: &mut LinkConfig| {
        cfg.set_peer_timeout_us(PEER_TIMEOUT_US);
        if auth {
            cfg.auth_key = Some(AuthKey::from_secret(b"never backwards, sixteen+").unwrap());
        }
    }
}

/// A rig (plain or authenticated) with the link up.
fn rig(auth: bool) -> FaultRig {
    let mut rig = FaultRig::new(BS, 8, tune(false));
    if auth {
        // Reformat both directions authenticated and start over.
        let geo = rig.geo;
        for (vol, w, r, id) in [(&rig.a_send, 1, 2, 0xa1u8), (&rig.b_send, 2, 1, 0xb2)] {
            let fresh = volnic_tests::memrig::volume_flags(geo, w, r, id, SB_FLAG_AUTHENTICATED);
            volnic_tests::memrig::copy_all(&fresh, vol);
        }
        volnic_tests::memrig::copy_all(&rig.a_send, &rig.b_recv);
        volnic_tests::memrig::copy_all(&rig.b_send, &rig.a_recv);
        rig.a = FaultRig::open_node(1, &rig.a_send, &rig.a_recv, rig.now, &tune(true)).unwrap();
        rig.b = FaultRig::open_node(2, &rig.b_send, &rig.b_recv, rig.now, &tune(true)).unwrap();
        rig.ab.from = rig.a.send.faults.clone();
        rig.ba.from = rig.b.send.faults.clone();
        for _ in 0..2_000 {
            if rig.a.link.link_up() && rig.b.link.link_up() {
                break;
            }
            rig.run(1, TICK_US);
        }
    }
    assert!(rig.a.link.link_up() && rig.b.link.link_up());
    rig
}

/// Traffic: one frame per tick (of up to two blocks), numbered from `next`.
fn traffic(rig: &mut FaultRig, next: &mut u64, ticks: usize) {
    for _ in 0..ticks {
        let len = 40 + (*next as usize * 131) % 700;
        let _ = rig.a.send_frame(&numbered_frame(*next, len));
        *next += 1;
        rig.step_both(TICK_US);
    }
}

/// As [`traffic`], but A's state-record writes do not reach B (an
/// asynchronous mirror behind on that block, or a record lagging the
/// blocks by a state interval, as it may): B sees A's position only in the
/// ring.
fn traffic_record_held(rig: &mut FaultRig, next: &mut u64, ticks: usize, send: bool) {
    for _ in 0..ticks {
        if send {
            let len = 40 + (*next as usize * 131) % 700;
            let _ = rig.a.send_frame(&numbered_frame(*next, len));
            *next += 1;
        }
        rig.a.step(rig.now).unwrap();
        while let Some(w) = rig.ab.take() {
            if w.offset != u64::from(BS) {
                rig.ab.put(&w);
            }
        }
        rig.ba.apply_all();
        rig.b.step(rig.now).unwrap();
        rig.ba.apply_all();
        rig.now += TICK_US;
    }
}

/// Everything B delivered so far, its current incarnation's included.
fn all(delivered: &[Vec<u8>], rig: &FaultRig) -> Vec<Vec<u8>> {
    let mut v = delivered.to_vec();
    v.extend(rig.b.delivered.iter().cloned());
    v
}

/// Restarts B (as after kill -9) and runs until its claim is done, A quiet
/// and its records not reaching B meanwhile (B starts from the record the
/// receive volume holds).
fn restart_b(rig: &mut FaultRig, auth: bool, earlier: &mut Vec<Vec<u8>>, next: &mut u64) {
    earlier.append(&mut rig.b.delivered);
    rig.b = FaultRig::open_node(2, &rig.b_send, &rig.b_recv, rig.now, &tune(auth)).unwrap();
    rig.ba.from = rig.b.send.faults.clone();
    while rig.b.link.claiming() {
        traffic_record_held(rig, next, 1, false);
    }
    traffic_record_held(rig, next, 5, false);
}

/// 20 receiver restarts under steady traffic, plain and authenticated:
/// nothing delivered twice, and frames flow after every restart.
#[test]
fn receiver_restarts_never_deliver_twice() {
    for auth in [false, true] {
        let mut rig = rig(auth);
        let (mut next, mut earlier) = (0u64, Vec::new());
        for round in 0..20 {
            traffic(&mut rig, &mut next, 37 + round * 3);
            // A's records stop reaching B a little before the restart:
            // the record B starts from lags what B had delivered; and A
            // is quiet while B restarts, so the ring still holds the
            // blocks B delivered.
            traffic_record_held(&mut rig, &mut next, 5, true);
            restart_b(&mut rig, auth, &mut earlier, &mut next);
            let before = rig.b.delivered.len();
            traffic(&mut rig, &mut next, 60);
            assert!(
                rig.b.delivered.len() > before,
                "round {round}: nothing after the restart"
            );
        }
        let ids = checked_ids(&all(&earlier, &rig));
        volnic_tests::report!(
            "20 receiver restarts (auth {auth}): {} of {next} frames delivered, none twice",
            ids.len()
        );
    }
}

/// 20 writer restarts under steady traffic: nothing of an older run after
/// a newer one, nothing twice, and frames flow after every restart.
#[test]
fn writer_restarts_never_deliver_twice() {
    for auth in [false, true] {
        let mut rig = rig(auth);
        let mut next = 0u64;
        for round in 0..20 {
            traffic(&mut rig, &mut next, 41 + round * 2);
            rig.restart_a(&tune(auth));
            let before = rig.b.delivered.len();
            traffic(&mut rig, &mut next, 60);
            assert!(rig.b.delivered.len() > before, "round {round}");
        }
        let ids = checked_ids(&rig.b.delivered);
        volnic_tests::report!(
            "20 writer restarts (auth {auth}): {} of {next} frames delivered, none twice",
            ids.len()
        );
    }
}

/// One byte of the receive superblock's link id changed (CRC fixed: no key
/// needed) and put back 150 ms later, 8 times, under traffic: in plain
/// mode the reader follows the changed volume from scratch, but never from
/// further back than it had got; in authenticated mode it ignores the
/// change (see `authenticated_superblock_changed_without_the_key_…`);
/// nothing delivered twice.
#[test]
fn superblock_swapped_and_restored_never_delivers_twice() {
    for auth in [false, true] {
        let mut rig = rig(auth);
        let mut next = 0u64;
        for round in 0..8 {
            traffic(&mut rig, &mut next, 50);
            let original = rig.b_recv.0.borrow().bytes[..128].to_vec();
            {
                let mut v = rig.b_recv.0.borrow_mut();
                v.bytes[24 + 5 + round % 3] ^= 0x5a;
                let crc = block_crc(&v.bytes[..128], 124);
                v.bytes[124..128].copy_from_slice(&crc.to_le_bytes());
            }
            traffic(&mut rig, &mut next, 150);
            rig.b_recv.0.borrow_mut().bytes[..128].copy_from_slice(&original);
            let before = rig.b.delivered.len();
            traffic(&mut rig, &mut next, 120);
            assert!(rig.b.delivered.len() > before, "round {round}");
        }
        let ids = checked_ids(&rig.b.delivered);
        volnic_tests::report!(
            "8 superblock swaps (auth {auth}): {} of {next} frames delivered, none twice",
            ids.len()
        );
    }
}

/// The receive volume rolled back to an older copy of itself (a snapshot
/// restore, a mirror failback) under a running reader, 10 times, every
/// other time with the reader restarting on the rolled-back volume (A
/// quiet meanwhile): nothing
/// delivered twice, nothing of an older run after a newer one; frames flow
/// again once the writer's next writes arrive.
#[test]
fn receive_volume_rolled_back_never_delivers_twice() {
    for auth in [false, true] {
        let mut rig = rig(auth);
        let (mut next, mut earlier) = (0u64, Vec::new());
        let mut snapshots = Vec::new();
        for round in 0..10 {
            traffic(&mut rig, &mut next, 30);
            snapshots.push(rig.b_recv.0.borrow().bytes.clone());
            if round % 3 == 2 {
                rig.restart_a(&tune(auth)); // older copies of another run
            }
            traffic(&mut rig, &mut next, 40);
            let back = &snapshots[(round * 7) % snapshots.len()];
            rig.b_recv.0.borrow_mut().bytes.copy_from_slice(back);
            if round % 2 == 1 {
                // The reader restarts on the rolled-back volume (its
                // records older than what it had followed).
                restart_b(&mut rig, auth, &mut earlier, &mut next);
            }
            let before = rig.b.delivered.len();
            traffic(&mut rig, &mut next, 120);
            assert!(rig.b.delivered.len() > before, "round {round}");
        }
        let ids = checked_ids(&all(&earlier, &rig));
        volnic_tests::report!(
            "10 rollbacks of the receive volume (auth {auth}): {} of {next} frames delivered, none twice",
            ids.len()
        );
    }
}

/// Authenticated mode (FORMAT.md reader rule 7): the receive superblock
/// changed under a running reader by someone without the key — another
/// link id, other geometry, the authenticated flag cleared, garbage — is
/// ignored: the reader keeps following the link it follows, the link stays
/// up, and every frame sent meanwhile is delivered, once, in order. (Plain
/// mode follows such a change; `superblock_swapped_and_restored_…` shows
/// it still never delivers twice.)
#[test]
fn authenticated_superblock_changed_without_the_key_is_ignored() {
    use volnic_core::format::sb_field;
    let mut rig = rig(true);
    let mut next = 0u64;
    let sealed = |v: &mut Vec<u8>| {
        let crc = block_crc(&v[..128], 124);
        v[124..128].copy_from_slice(&crc.to_le_bytes());
    };
    type Tamper = fn(&mut Vec<u8>);
    let tampers: [(&str, Tamper, bool); 5] = [
        (
            "another link id",
            |v| v[sb_field::LINK_ID + 3] ^= 0x5a,
            true,
        ),
        (
            "another ring size",
            |v| v[sb_field::RING_BLOCKS] ^= 0x04,
            true,
        ),
        (
            "another block size",
            |v| v[sb_field::BLOCK_SIZE + 1] ^= 0x06,
            true,
        ),
        ("flags cleared", |v| v[sb_field::FLAGS] = 0, true),
        ("garbage", |v| v[..128].fill(0xe7), false),
    ];
    for (what, tamper, reseal) in tampers {
        traffic(&mut rig, &mut next, 30);
        let original = rig.b_recv.0.borrow().bytes[..128].to_vec();
        let mut changed = original.clone();
        tamper(&mut changed);
        if reseal {
            sealed(&mut changed);
        }
        rig.b_recv.0.borrow_mut().bytes[..128].copy_from_slice(&changed);
        let first = next;
        for _ in 0..200 {
            traffic(&mut rig, &mut next, 1);
            assert!(
                rig.b.link.link_up(),
                "{what}: link down: {:?}",
                rig.b.link.peer_problem()
            );
        }
        // Nothing is lost either: a few ticks for the last frames to land.
        traffic_record_held(&mut rig, &mut next, 10, false);
        let ids = checked_ids(&rig.b.delivered);
        let during: Vec<u64> = ids.into_iter().filter(|&id| id >= first).collect();
        assert_eq!(during, (first..next).collect::<Vec<_>>(), "{what}");
        rig.b_recv.0.borrow_mut().bytes[..128].copy_from_slice(&original);
    }
    let ids = checked_ids(&rig.b.delivered);
    volnic_tests::report!(
        "5 superblock changes without the key: ignored, {} of {next} frames delivered, none twice",
        ids.len()
    );
}

/// Authenticated mode: a genuine reformat by the key holder (a new link id,
/// its writer running with the key) is still followed: the reader adopts
/// the new superblock once the new link's state record verifies under it,
/// and the new link's frames arrive, none twice.
#[test]
fn authenticated_reformat_by_the_key_holder_is_followed() {
    let mut rig = rig(true);
    let mut next = 0u64;
    traffic(&mut rig, &mut next, 60);
    let before = rig.b.delivered.len();
    assert!(before > 0);
    let old_id = rig.b_recv.0.borrow().bytes[24..40].to_vec();
    let fresh = volnic_tests::memrig::volume_flags(rig.geo, 1, 2, 0xc3, SB_FLAG_AUTHENTICATED);
    volnic_tests::memrig::copy_all(&fresh, &rig.a_send);
    volnic_tests::memrig::copy_all(&rig.a_send, &rig.b_recv);
    assert_ne!(rig.b_recv.0.borrow().bytes[24..40], old_id[..]);
    rig.restart_a(&tune(true));
    let first = next;
    traffic(&mut rig, &mut next, 300);
    let ids = checked_ids(&rig.b.delivered);
    let after: Vec<u64> = ids.iter().copied().filter(|&id| id >= first).collect();
    assert!(
        after.len() > 200,
        "new link followed: {} of {} frames, problem {:?}",
        after.len(),
        next - first,
        rig.b.link.peer_problem()
    );
    assert!(rig.b.link.link_up());
    volnic_tests::report!(
        "reformat by the key holder followed: {} of {} frames of the new link delivered",
        after.len(),
        next - first
    );
}
