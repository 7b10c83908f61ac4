//! The miniport's state machine and failure paths, driven as NDIS drives
//! them: pause, queue full, halt with sends queued, the peer going away and
//! coming back, shutdown, and registry values that must stop initialization.

mod common;

use std::time::Duration;

use common::*;
use volnic_ndis_sim::facts::{oid, status, u32_constant, u8_constant, Header};
use volnic_ndis_sim::storage::{make_link, LinkFiles};
use volnic_ndis_sim::{AdapterId, AllocationFaults, RegValue, SimHost};

#[test]
fn sends_while_paused_fail_with_paused_and_paused_receivers_indicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), 4096, 64);
    p.host.pause(p.a);
    let refused: Vec<Vec<u8>> = (0..3).map(|i| frame(p.mac_b, p.mac_a, i, 100)).collect();
    let statuses = p.host.send(p.a, &nbls(&refused));
    assert_eq!(statuses, vec![status("NDIS_STATUS_PAUSED"); 3]);
    p.host.restart(p.a);

    // Frames reaching a paused adapter are dropped, never indicated (the sim
    // records any indication while paused as a breach).
    p.host.pause(p.b);
    let while_paused: Vec<Vec<u8>> = (10..15).map(|i| frame(p.mac_b, p.mac_a, i, 100)).collect();
    assert!(p
        .host
        .send(p.a, &nbls(&while_paused))
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    // Wait until node 2 has seen (and dropped) all five: its receive
    // discard counter says so.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let reply = p.host.query(p.b, oid("OID_GEN_RCV_NO_BUFFER"), 8);
        let dropped = u64::from_le_bytes(reply.data.try_into().unwrap());
        if dropped >= 5 {
            assert_eq!(dropped, 5);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 never saw the frames"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(p.host.received(p.b).is_empty());
    p.host.restart(p.b);

    let after: Vec<Vec<u8>> = (20..25).map(|i| frame(p.mac_b, p.mac_a, i, 100)).collect();
    assert!(p
        .host
        .send(p.a, &nbls(&after))
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    let got = p.host.wait_received(p.b, after.len(), WAIT);
    assert_eq!(
        got, after,
        "only frames sent after the restart are indicated"
    );
    p.host.finish();
}

/// Two running adapters on 4 KiB blocks, a ring of `ring_blocks`, node 1
/// with a send queue of `queue_kb` KiB; node 2 receives what is sent to it.
fn queue_pair(
    dir: &std::path::Path,
    ring_blocks: u32,
    queue_kb: u32,
) -> (SimHost, LinkFiles, AdapterId, AdapterId, [u8; 6], [u8; 6]) {
    let files = make_link(dir, 4096, ring_blocks);
    let mut host = SimHost::load();
    let mut reg_a = registry(&files.a_send, &files.a_recv, 1, 4096);
    reg_a.retain(|(k, _)| *k != "SendQueueKb");
    reg_a.push(("SendQueueKb", RegValue::Int(queue_kb)));
    let a = host.initialize("node1", &reg_a).unwrap();
    let b = host
        .initialize("node2", &registry(&files.b_send, &files.b_recv, 2, 4096))
        .unwrap();
    host.restart(a);
    host.restart(b);
    set_filter(&mut host, b);
    let (mac_a, mac_b) = (mac_of(&mut host, a), mac_of(&mut host, b));
    assert!(host.wait_link(a, true, WAIT) && host.wait_link(b, true, WAIT));
    (host, files, a, b, mac_a, mac_b)
}

#[test]
fn a_full_send_queue_completes_with_resources_and_loses_nothing_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut host, _, a, b, mac_a, mac_b) = queue_pair(dir.path(), 256, 64);

    // One chain far larger than the 64 KiB queue plus what the thread can
    // take from it while the call runs.
    let burst: Vec<Vec<u8>> = (0..400).map(|i| frame(mac_b, mac_a, i, 1514)).collect();
    let statuses = host.send(a, &nbls(&burst));
    let refused = statuses
        .iter()
        .filter(|&&s| s == status("NDIS_STATUS_RESOURCES"))
        .count();
    assert!(
        refused > 0,
        "a 600 KB burst into a 64 KiB queue refused nothing"
    );
    assert!(statuses
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS") || s == status("NDIS_STATUS_RESOURCES")));
    let accepted: Vec<Vec<u8>> = burst
        .iter()
        .zip(&statuses)
        .filter(|(_, &s)| s == status("NDIS_STATUS_SUCCESS"))
        .map(|(f, _)| f.clone())
        .collect();
    let got = host.wait_received(b, accepted.len(), WAIT);
    if got.len() != accepted.len() {
        let counter = |host: &mut SimHost, id, oid| {
            u64::from_le_bytes(host.query(id, oid, 8).data.try_into().unwrap())
        };
        let no_buffer = counter(&mut host, b, oid("OID_GEN_RCV_NO_BUFFER"));
        let rcv_error = counter(&mut host, b, oid("OID_GEN_RCV_ERROR"));
        panic!(
            "node 2 got {} of {} accepted frames ({} refused); no-buffer drops {no_buffer}, receive errors {rcv_error}; trace: {:?}",
            got.len(),
            accepted.len(),
            refused,
            volnic_ndis_sim::os::trace_log().lock().unwrap()
        );
    }
    assert!(
        got == accepted,
        "accepted frames must arrive, in order, intact"
    );

    let discards = host.query(a, oid("OID_GEN_XMIT_ERROR"), 8);
    assert_eq!(
        u64::from_le_bytes(discards.data.try_into().unwrap()),
        refused as u64
    );
    host.finish();
}

#[test]
fn halt_delivers_queued_sends_and_the_peer_sees_the_link_go_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), 4096, 64);
    let queued: Vec<Vec<u8>> = (0..30).map(|i| frame(p.mac_b, p.mac_a, i, 900)).collect();
    assert!(p
        .host
        .send(p.a, &nbls(&queued))
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    // Halt at once: what was accepted is written before the shutting-down
    // record.
    p.host.pause(p.a);
    p.host.halt(p.a);
    let got = p.host.wait_received(p.b, queued.len(), WAIT);
    assert_eq!(got, queued);
    assert!(
        p.host.wait_link(p.b, false, WAIT),
        "node 2 never saw node 1 shut down"
    );
    p.host.finish();
}

/// A send queue larger than one write batch (1 MiB): halt drains it over
/// several pack → poll rounds (the engine's loop, `volnic_core::datapath`)
/// before the shutting-down record, so nothing accepted is lost. The send
/// volume holds its writes while the burst is queued, so the queue is full
/// when halt comes.
#[test]
fn halt_drains_a_queue_of_several_batches() {
    use volnic_ndis_sim::os::{release_writes, stall_writes};
    let dir = tempfile::tempdir().unwrap();
    // 2048 blocks of 4 KiB: room for the whole burst in the ring.
    let (mut host, files, a, b, mac_a, mac_b) = queue_pair(dir.path(), 2048, 4096);
    let send = files.a_send.to_string_lossy().into_owned();
    stall_writes(&send);
    // About 3 MB: three batches and more, all accepted by the 4 MiB queue.
    let burst: Vec<Vec<u8>> = (0..2000).map(|i| frame(mac_b, mac_a, i, 1514)).collect();
    assert!(host
        .send(a, &nbls(&burst))
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    host.pause(a);
    // The storage answers again while halt waits (well within its bound).
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        release_writes(&send);
    });
    host.halt(a);
    release.join().unwrap();
    let got = host.wait_received(b, burst.len(), WAIT);
    assert_eq!(
        got.len(),
        burst.len(),
        "frames accepted before halt were lost"
    );
    assert!(got == burst, "in order, intact");
    assert!(
        host.wait_link(b, false, WAIT),
        "node 2 saw node 1 shut down"
    );
    host.finish();
}

#[test]
fn peer_shutdown_and_restart_are_followed_by_link_state_indications() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), 4096, 64);
    p.host.pause(p.b);
    p.host.halt(p.b);
    assert!(
        p.host.wait_link(p.a, false, WAIT),
        "link stayed up after the peer halted"
    );

    // The peer comes back (a new adapter instance on the same volumes).
    let reg_b = registry(&p.files.b_send, &p.files.b_recv, 2, 4096);
    let b2 = p
        .host
        .initialize("node2-again", &reg_b)
        .expect("peer restarts");
    assert!(
        p.host.general(b2).connected,
        "node 1 is running, so node 2 starts connected"
    );
    p.host.restart(b2);
    set_filter(&mut p.host, b2);
    assert!(p.host.wait_link(p.a, true, WAIT), "link never came back up");
    let states = p.host.link_states(p.a);
    let tail: Vec<bool> = states.iter().rev().take(2).rev().copied().collect();
    assert_eq!(tail, vec![false, true], "link states at node 1: {states:?}");

    let mac_b2 = mac_of(&mut p.host, b2);
    assert_eq!(
        mac_b2, p.mac_b,
        "the MAC is stable for the same volume and node"
    );
    let frames: Vec<Vec<u8>> = (0..5).map(|i| frame(mac_b2, p.mac_a, i, 200)).collect();
    assert!(p
        .host
        .send(p.a, &nbls(&frames))
        .iter()
        .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    assert_eq!(p.host.wait_received(b2, 5, WAIT), frames);
    p.host.finish();
}

#[test]
fn shutdown_writes_the_shutting_down_record_and_later_sends_fail_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), 4096, 64);
    p.host.shutdown(p.a);
    assert!(
        p.host.wait_link(p.b, false, WAIT),
        "the peer never saw the shutdown"
    );
    let statuses = p.host.send(p.a, &nbls(&[frame(p.mac_b, p.mac_a, 1, 100)]));
    assert_eq!(statuses, vec![status("NDIS_STATUS_MEDIA_DISCONNECTED")]);
    p.host.finish();
}

fn init_error(edit: impl FnOnce(&mut Vec<(&'static str, RegValue)>, &std::path::Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let mut host = SimHost::load();
    let mut reg = registry(&files.a_send, &files.a_recv, 1, 4096);
    edit(&mut reg, dir.path());
    let reason = host
        .initialize("node1", &reg)
        .expect_err("initialization must fail");
    host.finish();
    reason
}

fn set(reg: &mut Vec<(&'static str, RegValue)>, key: &'static str, value: RegValue) {
    reg.retain(|(k, _)| *k != key);
    reg.push((key, value));
}

#[test]
fn bad_registry_values_fail_initialization_with_a_named_reason() {
    let reason = init_error(|reg, _| reg.retain(|(k, _)| *k != "SendVolume"));
    assert!(reason.contains("SendVolume is missing"), "{reason}");

    let reason = init_error(|reg, _| {
        let send = reg
            .iter()
            .find(|(k, _)| *k == "SendVolume")
            .unwrap()
            .1
            .clone();
        set(reg, "ReceiveVolume", send);
    });
    assert!(
        reason.contains("SendVolume and ReceiveVolume name the same volume"),
        "{reason}"
    );

    let reason = init_error(|reg, _| set(reg, "BlockSize", RegValue::Int(1000)));
    assert!(
        reason.contains("BlockSize = 1000 is not a multiple of 512"),
        "{reason}"
    );

    let reason = init_error(|reg, _| set(reg, "BlockSize", RegValue::Int(256)));
    assert!(reason.contains("BlockSize = 256 is outside"), "{reason}");

    let reason = init_error(|reg, _| set(reg, "BlockSize", RegValue::Int(4 << 20)));
    assert!(
        reason.contains("BlockSize = 4194304 is outside"),
        "{reason}"
    );

    let reason = init_error(|reg, _| set(reg, "BlockSize", RegValue::Int(8192)));
    assert!(
        reason.contains("formatted with 4096-byte blocks"),
        "{reason}"
    );

    // A volume that is not there yet does not fail initialization: the
    // adapter starts disconnected and waits for it (driver_storage.rs).

    let reason = init_error(|reg, _| set(reg, "NodeId", RegValue::Int(2)));
    assert!(
        reason.contains("formatted for writer node 1, this is node 2"),
        "{reason}"
    );

    let reason = init_error(|reg, _| {
        set(
            reg,
            "NetworkAddress",
            RegValue::Str("01:00:5e:00:00:01".into()),
        )
    });
    assert!(reason.contains("NetworkAddress"), "{reason}");
}

#[test]
fn configured_network_address_is_the_current_mac() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let mut host = SimHost::load();
    let mut reg = registry(&files.a_send, &files.a_recv, 1, 4096);
    reg.push(("NetworkAddress", RegValue::Str("02-00-5E-10-20-30".into())));
    let a = host.initialize("node1", &reg).unwrap();
    let general = host.general(a);
    assert_eq!(general.mac, [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    assert_ne!(general.permanent_mac, general.mac);
    assert_eq!(
        general.permanent_mac[0] & 0x03,
        0x02,
        "permanent MAC is locally administered unicast"
    );
    host.finish();
}

#[test]
fn frames_larger_than_the_receivers_mtu_are_dropped_whole_never_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 64);
    let mut host = SimHost::load();
    let mut reg_a = registry(&files.a_send, &files.a_recv, 1, 4096);
    reg_a.push(("MTU", RegValue::Int(9000)));
    let a = host.initialize("node1", &reg_a).unwrap();
    let b = host
        .initialize("node2", &registry(&files.b_send, &files.b_recv, 2, 4096))
        .unwrap();
    host.restart(a);
    host.restart(b);
    set_filter(&mut host, b);
    let (mac_a, mac_b) = (mac_of(&mut host, a), mac_of(&mut host, b));
    assert!(host.wait_link(b, true, WAIT));
    let jumbo = frame(mac_b, mac_a, 1, 9014);
    let normal = frame(mac_b, mac_a, 2, 1514);
    let statuses = host.send(a, &nbls(&[jumbo, normal.clone()]));
    assert_eq!(statuses, vec![status("NDIS_STATUS_SUCCESS"); 2]);
    assert_eq!(host.wait_received(b, 1, WAIT), vec![normal]);
    let errors = host.query(b, oid("OID_GEN_RCV_ERROR"), 8);
    assert_eq!(u64::from_le_bytes(errors.data.try_into().unwrap()), 1);
    host.finish();
}

#[test]
fn the_attributes_and_objects_the_driver_hands_ndis_are_those_of_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .unwrap();
    // Registration attributes at revision 2, as NDIS 6.30 miniports
    // register them, with the flags' values from the WDK headers.
    let registration = host.registration(a).expect("registration attributes");
    assert_eq!(
        registration.header,
        Header::expected(
            "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES",
            "NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES",
            u8_constant("NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2"),
        )
    );
    assert_eq!(
        registration.attribute_flags,
        u32_constant("NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND")
            | u32_constant("NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK")
    );
    assert_eq!(
        registration.interface_type,
        u32_constant("NdisInterfaceInternal")
    );
    let general = host.general(a);
    assert_eq!(
        general.revision,
        u8_constant("NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2")
    );
    assert_eq!(general.media_type, u32_constant("NdisMedium802_3"));
    // The OID answers that are NDIS objects carry the headers the tables
    // give and are exactly that revision's size.
    host.restart(a);
    for (name, record, revision) in [
        (
            "OID_GEN_STATISTICS",
            "NDIS_STATISTICS_INFO",
            "NDIS_STATISTICS_INFO_REVISION_1",
        ),
        (
            "OID_GEN_LINK_STATE",
            "NDIS_LINK_STATE",
            "NDIS_LINK_STATE_REVISION_1",
        ),
        (
            "OID_GEN_INTERRUPT_MODERATION",
            "NDIS_INTERRUPT_MODERATION_PARAMETERS",
            "NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1",
        ),
    ] {
        let reply = host.query(a, oid(name), 4096);
        assert_eq!(reply.status, status("NDIS_STATUS_SUCCESS"), "{name}");
        let want = Header::expected("NDIS_OBJECT_TYPE_DEFAULT", record, u8_constant(revision));
        assert_eq!(reply.data.len(), usize::from(want.size), "{name}");
        // SAFETY: the answer holds at least a header (its length is the
        // record's size, checked above).
        let header = unsafe { Header::read(reply.data.as_ptr()) };
        assert_eq!(header, want, "{name}");
    }
    host.finish();
}

/// Memory running out during initialize: it fails with the reason, and
/// whatever it made before (the NBL pool, slots with their MDLs and NBLs,
/// half-made ones too) is freed, which the simulation checks at unload;
/// with memory back, the adapter initializes.
#[test]
fn initialize_out_of_memory_fails_with_the_reason_and_frees_what_it_made() {
    let none = AllocationFaults::default();
    let cases = [
        (
            AllocationFaults {
                pools: Some(0),
                ..none
            },
            "out of memory for the receive NBL pool",
        ),
        (
            AllocationFaults {
                mdls: Some(0),
                ..none
            },
            "out of memory for receive buffers",
        ),
        (
            AllocationFaults {
                nbls: Some(0),
                ..none
            },
            "out of memory for receive buffers",
        ),
        (
            AllocationFaults {
                mdls: Some(37),
                ..none
            },
            "out of memory for receive buffers",
        ),
        (
            AllocationFaults {
                nbls: Some(63),
                ..none
            },
            "out of memory for receive buffers",
        ),
    ];
    for (faults, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let files = make_link(dir.path(), 4096, 16);
        let reg = registry(&files.a_send, &files.a_recv, 1, 4096);
        let mut host = SimHost::load();
        host.fail_allocations(faults);
        let reason = host
            .initialize("node1", &reg)
            .expect_err("initialization must fail");
        assert!(reason.contains(want), "{faults:?}: {reason}");
        host.fail_allocations(none);
        let a = host
            .initialize("node1-again", &reg)
            .unwrap_or_else(|e| panic!("{faults:?}: with memory back: {e}"));
        host.restart(a);
        host.pause(a);
        host.halt(a);
        // Unload: any NBL, MDL or pool left over is a breach.
        host.finish();
    }
}
