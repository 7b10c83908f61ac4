//! Shared setup of the driver tests: two simulated nodes on mirrored
//! file-backed volumes, and Ethernet frames that identify themselves.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use volnic_ndis_sim::facts::{oid, status, u32_constant};
use volnic_ndis_sim::storage::{make_link, LinkFiles};
use volnic_ndis_sim::{AdapterId, MdlLayout, RegValue, SendFrame, SimHost};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn registry(
    send: &Path,
    recv: &Path,
    node: u32,
    block_size: u32,
) -> Vec<(&'static str, RegValue)> {
    vec![
        (
            "SendVolume",
            RegValue::Str(send.to_string_lossy().into_owned()),
        ),
        (
            "ReceiveVolume",
            RegValue::Str(recv.to_string_lossy().into_owned()),
        ),
        ("BlockSize", RegValue::Int(block_size)),
        ("NodeId", RegValue::Int(node)),
        ("FlushDelayMs", RegValue::Int(0)),
        ("PollIntervalUs", RegValue::Int(500)),
        ("PeerTimeoutMs", RegValue::Int(10_000)),
        ("SendQueueKb", RegValue::Int(256)),
    ]
}

/// Two adapters of the driver, node 1 and node 2, initialized, restarted,
/// with a directed+broadcast+multicast packet filter set, link up.
pub struct Pair {
    pub host: SimHost,
    pub a: AdapterId,
    pub b: AdapterId,
    pub files: LinkFiles,
    pub mac_a: [u8; 6],
    pub mac_b: [u8; 6],
}

pub fn set_filter(host: &mut SimHost, id: AdapterId) {
    let filter = u32_constant("NDIS_PACKET_TYPE_DIRECTED")
        | u32_constant("NDIS_PACKET_TYPE_BROADCAST")
        | u32_constant("NDIS_PACKET_TYPE_MULTICAST");
    let reply = host.set(
        id,
        oid("OID_GEN_CURRENT_PACKET_FILTER"),
        &filter.to_le_bytes(),
    );
    assert_eq!(reply.status, status("NDIS_STATUS_SUCCESS"));
}

pub fn mac_of(host: &mut SimHost, id: AdapterId) -> [u8; 6] {
    let reply = host.query(id, oid("OID_802_3_CURRENT_ADDRESS"), 6);
    assert_eq!(reply.status, status("NDIS_STATUS_SUCCESS"));
    reply.data.try_into().unwrap()
}

impl Pair {
    pub fn start(dir: &Path, block_size: u32, ring_blocks: u32) -> Pair {
        let files = make_link(dir, block_size, ring_blocks);
        let mut host = SimHost::load();
        let a = host
            .initialize(
                "node1",
                &registry(&files.a_send, &files.a_recv, 1, block_size),
            )
            .expect("node 1 initializes");
        let b = host
            .initialize(
                "node2",
                &registry(&files.b_send, &files.b_recv, 2, block_size),
            )
            .expect("node 2 initializes");
        host.restart(a);
        host.restart(b);
        set_filter(&mut host, a);
        set_filter(&mut host, b);
        let mac_a = mac_of(&mut host, a);
        let mac_b = mac_of(&mut host, b);
        assert!(host.wait_link(a, true, WAIT), "node 1 link never came up");
        assert!(host.wait_link(b, true, WAIT), "node 2 link never came up");
        Pair {
            host,
            a,
            b,
            files,
            mac_a,
            mac_b,
        }
    }
}

/// An Ethernet frame `dest ← src`, EtherType 0x88B5 (local experimental),
/// carrying `id` and a pattern derived from it; `len` bytes in all.
pub fn frame(dest: [u8; 6], src: [u8; 6], id: u64, len: usize) -> Vec<u8> {
    let len = len.max(22);
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dest);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..22].copy_from_slice(&id.to_le_bytes());
    for (i, b) in f[22..].iter_mut().enumerate() {
        *b = (id as usize).wrapping_mul(131).wrapping_add(i * 7) as u8;
    }
    f
}

/// One NBL per frame, cycling through MDL layouts: flat, and chains like a
/// TCP/IP stack builds (consumed header MDL, offsets, trailing filler).
pub fn nbls(frames: &[Vec<u8>]) -> Vec<Vec<SendFrame>> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let layout = match i % 4 {
                0 => MdlLayout::flat(),
                1 => MdlLayout::chained(&[14, 20]),
                2 => MdlLayout::chained(&[1, 1, 12, 100]),
                _ => MdlLayout::chained(&[f.len() / 2]),
            };
            vec![SendFrame {
                bytes: f.clone(),
                layout,
            }]
        })
        .collect()
}
