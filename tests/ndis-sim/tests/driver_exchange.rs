//! Two adapters of the real miniport, each on its own file-backed send
//! volume mirrored (synchronously, as array mirroring) to the other's
//! receive volume, exchange Ethernet frames through NDIS as simulated.

mod common;

use common::*;
use volnic_ndis_sim::facts::{oid, status};
use volnic_ndis_sim::SendFrame;

/// Frames sent on one adapter are indicated byte-identical, in order, on the
/// other, both ways, including frames that span blocks.
fn exchange(block_size: u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pair::start(dir.path(), block_size, 64);
    // Sizes from minimal to jumbo-ish MTU frames; with 512-byte blocks most
    // span two or more blocks, with 64 KiB blocks many share one.
    let sizes = [60usize, 1514, 300, 1000, 64, 1514, 777, 1200, 90, 1514];
    let a_to_b: Vec<Vec<u8>> = (0..40)
        .map(|i| frame(p.mac_b, p.mac_a, i, sizes[i as usize % sizes.len()]))
        .collect();
    let b_to_a: Vec<Vec<u8>> = (0..25)
        .map(|i| {
            frame(
                p.mac_a,
                p.mac_b,
                1000 + i,
                sizes[(i as usize + 3) % sizes.len()],
            )
        })
        .collect();
    // In several NBL chains, each NBL with its own MDL layout.
    for chunk in a_to_b.chunks(7) {
        let statuses = p.host.send(p.a, &nbls(chunk));
        assert!(
            statuses.iter().all(|&s| s == status("NDIS_STATUS_SUCCESS")),
            "{statuses:x?}"
        );
    }
    for chunk in b_to_a.chunks(5) {
        let statuses = p.host.send(p.b, &nbls(chunk));
        assert!(
            statuses.iter().all(|&s| s == status("NDIS_STATUS_SUCCESS")),
            "{statuses:x?}"
        );
    }
    // One NBL carrying several NET_BUFFERs.
    let multi: Vec<Vec<u8>> = (0..3)
        .map(|i| frame(p.mac_b, p.mac_a, 500 + i, 200 + i as usize))
        .collect();
    let nbl = multi
        .iter()
        .map(|f| SendFrame {
            bytes: f.clone(),
            layout: volnic_ndis_sim::MdlLayout::chained(&[10, 50]),
        })
        .collect();
    assert_eq!(
        p.host.send(p.a, &[nbl]),
        vec![status("NDIS_STATUS_SUCCESS")]
    );

    let mut want_b = a_to_b.clone();
    want_b.extend(multi);
    let got_b = p.host.wait_received(p.b, want_b.len(), WAIT);
    let got_a = p.host.wait_received(p.a, b_to_a.len(), WAIT);
    assert_eq!(
        got_b.len(),
        want_b.len(),
        "node 2 got {} of {} frames",
        got_b.len(),
        want_b.len()
    );
    assert!(
        got_b == want_b,
        "node 2's frames differ from what node 1 sent"
    );
    assert_eq!(
        got_a, b_to_a,
        "node 1's frames differ from what node 2 sent"
    );

    // Statistics follow the traffic.
    let stats = p.host.query(p.b, oid("OID_GEN_RCV_OK"), 8);
    assert_eq!(
        u64::from_le_bytes(stats.data.try_into().unwrap()),
        want_b.len() as u64
    );
    p.host.pause(p.a);
    p.host.pause(p.b);
    p.host.halt(p.a);
    p.host.halt(p.b);
    p.host.finish();
}

#[test]
fn exchange_with_512_byte_blocks() {
    exchange(512);
}

#[test]
fn exchange_with_4096_byte_blocks() {
    exchange(4096);
}

#[test]
fn exchange_with_65536_byte_blocks() {
    exchange(65536);
}
