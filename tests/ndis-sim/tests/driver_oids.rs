//! OID requests through the real MiniportOidRequest, and the packet filter
//! they set applied to real traffic.

mod common;

use std::time::Duration;

use common::*;
use volnic_ndis_sim::facts::{self, oid, status, u32_constant};
use volnic_ndis_sim::storage::make_link;
use volnic_ndis_sim::SimHost;

/// Counter OIDs may be asked with a ULONG and then answer the low half.
fn counters() -> [u32; 5] {
    [
        "OID_GEN_XMIT_OK",
        "OID_GEN_RCV_OK",
        "OID_GEN_XMIT_ERROR",
        "OID_GEN_RCV_ERROR",
        "OID_GEN_RCV_NO_BUFFER",
    ]
    .map(oid)
}

#[test]
fn every_supported_oid_with_a_short_and_an_exact_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link(dir.path(), 4096, 16);
    let mut host = SimHost::load();
    let a = host
        .initialize("node1", &registry(&files.a_send, &files.a_recv, 1, 4096))
        .unwrap();
    host.restart(a);
    let supported = host.general(a).supported_oids;
    assert!(supported.len() >= 30, "supported list: {supported:x?}");
    // OID_GEN_SUPPORTED_LIST answers the same list.
    let list = host.query(a, oid("OID_GEN_SUPPORTED_LIST"), 4096);
    let listed: Vec<u32> = list
        .data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(listed, supported);

    let mut queried = 0;
    for &o in &supported {
        let big = host.query(a, o, 4096);
        if big.status == status("NDIS_STATUS_NOT_SUPPORTED") {
            // Set-only OIDs are listed too.
            assert_eq!(
                o,
                oid("OID_PNP_SET_POWER"),
                "query of listed OID {o:#x} not supported"
            );
            continue;
        }
        assert_eq!(big.status, status("NDIS_STATUS_SUCCESS"), "OID {o:#x}");
        let need = big.bytes_done as usize;
        if need > 0 {
            let short = host.query(a, o, need - 1);
            if counters().contains(&o) {
                assert_eq!(short.status, status("NDIS_STATUS_SUCCESS"), "OID {o:#x}");
                assert_eq!((short.bytes_done, short.bytes_needed), (4, 8), "OID {o:#x}");
            } else {
                assert_eq!(
                    short.status,
                    status("NDIS_STATUS_BUFFER_TOO_SHORT"),
                    "OID {o:#x}"
                );
                assert_eq!(short.bytes_needed as usize, need, "OID {o:#x}");
                assert_eq!(short.bytes_done, 0, "OID {o:#x}");
            }
            let empty = host.query(a, o, 0);
            assert_ne!(
                empty.status,
                status("NDIS_STATUS_SUCCESS"),
                "OID {o:#x} with no buffer"
            );
        }
        let exact = host.query(a, o, need);
        assert_eq!(exact.status, status("NDIS_STATUS_SUCCESS"), "OID {o:#x}");
        assert_eq!(exact.bytes_done as usize, need);
        assert_eq!(exact.data, big.data[..need], "OID {o:#x}: answers differ");
        queried += 1;
    }
    assert!(queried >= 30);

    // A few answers checked for content.
    let media = host.query(a, oid("OID_GEN_MEDIA_IN_USE"), 4);
    assert_eq!(media.data, u32_constant("NdisMedium802_3").to_le_bytes());
    let frame = host.query(a, oid("OID_GEN_MAXIMUM_FRAME_SIZE"), 4);
    assert_eq!(frame.data, 1500u32.to_le_bytes());
    let total = host.query(a, oid("OID_GEN_MAXIMUM_TOTAL_SIZE"), 4);
    assert_eq!(total.data, 1514u32.to_le_bytes());
    let speed = host.query(a, oid("OID_GEN_LINK_SPEED"), 4);
    assert_eq!(
        speed.data,
        10_000_000u32.to_le_bytes(),
        "1 Gbit/s in 100 bit/s units"
    );
    let mac = host.query(a, oid("OID_802_3_CURRENT_ADDRESS"), 6);
    assert_eq!(mac.data, host.general(a).mac);
    let stats = host.query(a, oid("OID_GEN_STATISTICS"), 4096);
    assert_eq!(stats.data.len(), facts::size_of("NDIS_STATISTICS_INFO"));

    // Sets: too short, wrong, right; unknown OIDs.
    let short = host.set(a, oid("OID_GEN_CURRENT_PACKET_FILTER"), &[1, 0]);
    assert_eq!(
        (short.status, short.bytes_needed),
        (status("NDIS_STATUS_INVALID_LENGTH"), 4)
    );
    let bad = host.set(
        a,
        oid("OID_GEN_CURRENT_PACKET_FILTER"),
        &0x1_0000u32.to_le_bytes(),
    );
    assert_eq!(bad.status, status("NDIS_STATUS_NOT_SUPPORTED"));
    let good = host.set(
        a,
        oid("OID_GEN_CURRENT_PACKET_FILTER"),
        &u32_constant("NDIS_PACKET_TYPE_DIRECTED").to_le_bytes(),
    );
    assert_eq!(
        (good.status, good.bytes_done),
        (status("NDIS_STATUS_SUCCESS"), 4)
    );
    let now = host.query(a, oid("OID_GEN_CURRENT_PACKET_FILTER"), 4);
    assert_eq!(
        now.data,
        u32_constant("NDIS_PACKET_TYPE_DIRECTED").to_le_bytes()
    );
    let ragged = host.set(a, oid("OID_802_3_MULTICAST_LIST"), &[1; 7]);
    assert_eq!(ragged.status, status("NDIS_STATUS_INVALID_LENGTH"));
    let full = host.set(a, oid("OID_802_3_MULTICAST_LIST"), &[1; 6 * 33]);
    assert_eq!(full.status, status("NDIS_STATUS_MULTICAST_FULL"));
    let power = host.set(a, oid("OID_PNP_SET_POWER"), &1u32.to_le_bytes());
    assert_eq!(power.status, status("NDIS_STATUS_SUCCESS"));
    assert_eq!(
        host.query(a, 0x00ff_00ff, 64).status,
        status("NDIS_STATUS_NOT_SUPPORTED")
    );
    assert_eq!(
        host.set(a, oid("OID_GEN_LINK_SPEED"), &[0; 4]).status,
        status("NDIS_STATUS_NOT_SUPPORTED")
    );
    host.finish();
}

#[test]
fn packet_filter_and_multicast_list_decide_what_is_indicated() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), 4096, 64);
    let other = [0x02, 9, 9, 9, 9, 9];
    let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    let unlisted_group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    let send = |p: &mut Pair, dests: &[[u8; 6]], base: u64| -> Vec<Vec<u8>> {
        let frames: Vec<Vec<u8>> = dests
            .iter()
            .enumerate()
            .map(|(i, d)| frame(*d, p.mac_a, base + i as u64, 120))
            .collect();
        assert!(p
            .host
            .send(p.a, &nbls(&frames))
            .iter()
            .all(|&s| s == status("NDIS_STATUS_SUCCESS")));
        frames
    };
    let dests = [p.mac_b, other, [0xff; 6], group, unlisted_group];
    // A directed frame after a batch: once it is indicated, every frame of
    // the batch has been through the filter (the link keeps order).
    let marker = |p: &mut Pair, id: u64| -> Vec<u8> {
        let mac_b = p.mac_b;
        send(p, &[mac_b], id).remove(0)
    };

    // Directed + broadcast + multicast with an empty list: ours and broadcast.
    let sent = send(&mut p, &dests, 0);
    let m = marker(&mut p, 50);
    let got = p.host.wait_received(p.b, 3, WAIT);
    assert_eq!(got, vec![sent[0].clone(), sent[2].clone(), m]);

    // The group joins the multicast list.
    let set = p.host.set(p.b, oid("OID_802_3_MULTICAST_LIST"), &group);
    assert_eq!(set.status, status("NDIS_STATUS_SUCCESS"));
    let sent = send(&mut p, &dests, 100);
    let m = marker(&mut p, 150);
    let got = p.host.wait_received(p.b, 7, WAIT);
    assert_eq!(
        got[3..],
        [sent[0].clone(), sent[2].clone(), sent[3].clone(), m]
    );

    // Promiscuous: everything.
    let promiscuous = u32_constant("NDIS_PACKET_TYPE_PROMISCUOUS").to_le_bytes();
    assert_eq!(
        p.host
            .set(p.b, oid("OID_GEN_CURRENT_PACKET_FILTER"), &promiscuous)
            .status,
        status("NDIS_STATUS_SUCCESS")
    );
    let mut sent = send(&mut p, &dests, 200);
    sent.push(marker(&mut p, 250));
    let got = p.host.wait_received(p.b, 13, WAIT);
    assert_eq!(got[7..], sent[..]);

    // Filter 0 drops everything; then directed only, which none of those
    // frames matches either, so only the marker follows.
    assert_eq!(
        p.host
            .set(
                p.b,
                oid("OID_GEN_CURRENT_PACKET_FILTER"),
                &0u32.to_le_bytes()
            )
            .status,
        status("NDIS_STATUS_SUCCESS")
    );
    send(&mut p, &dests[1..], 300);
    std::thread::sleep(Duration::from_millis(100));
    let directed = u32_constant("NDIS_PACKET_TYPE_DIRECTED").to_le_bytes();
    assert_eq!(
        p.host
            .set(p.b, oid("OID_GEN_CURRENT_PACKET_FILTER"), &directed)
            .status,
        status("NDIS_STATUS_SUCCESS")
    );
    let m = marker(&mut p, 400);
    let got = p.host.wait_received(p.b, 14, WAIT);
    assert_eq!(got.len(), 14);
    assert_eq!(got[13], m);
    p.host.finish();
}
