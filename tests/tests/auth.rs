//! Authenticated mode: forged, altered and replayed blocks are never
//! delivered and are counted; mismatched keys keep the link down.

use volnic_core::auth::AuthKey;
use volnic_core::format::{DataHeader, SB_FLAG_AUTHENTICATED};
use volnic_core::{LinkConfig, LinkError, PeerProblem};
use volnic_tests::memrig::{config, volume, volume_flags, Rig};
use volnic_tests::node::{frame_id, numbered_frame, Node};

const SECRET: &[u8] = b"correct horse battery staple, 32b";

fn keyed(cfg: &mut LinkConfig) {
    cfg.auth_key = Some(AuthKey::from_secret(SECRET).unwrap());
}

fn ids(frames: &[Vec<u8>]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| frame_id(f).expect("intact frame"))
        .collect()
}

fn authenticated_rig() -> Rig {
    let rig = Rig::with(512, 16, 0, SB_FLAG_AUTHENTICATED, keyed);
    assert!(rig.a.link.link_up() && rig.b.link.link_up());
    rig
}

#[test]
fn authenticated_link_carries_frames() {
    let mut rig = authenticated_rig();
    for id in 0..20 {
        rig.a
            .send_frame(&numbered_frame(id, 300 + id as usize * 40))
            .unwrap();
    }
    rig.run(40, 1_000);
    assert_eq!(ids(&rig.b.delivered), (0..20).collect::<Vec<_>>());
    assert_eq!(rig.b.link.counters().rejects_auth, 0);
}

#[test]
fn forged_block_with_a_valid_crc_is_rejected_and_counted() {
    let mut rig = authenticated_rig();
    let (_, expected) = rig.b.link.peer_position();
    // An attacker who can write the storage but lacks the key builds a
    // perfect-looking block for the next sequence number: right magic,
    // nodes, link tag, epoch, sequence and CRC, and a frame of its own.
    let slot = rig.geo.slot_offset(expected) as usize;
    let mut forged = vec![0u8; 512];
    let frame = numbered_frame(666, 100);
    forged[64..66].copy_from_slice(&(frame.len() as u16).to_le_bytes());
    forged[66..66 + frame.len()].copy_from_slice(&frame);
    DataHeader {
        writer_node: 1,
        reader_node: 2,
        epoch: rig.b.link.peer_position().0,
        seq: expected,
        valid_bytes: (frame.len() + 2) as u32,
        first_frame: 0,
        ack_epoch: 0,
        ack_seq: 0,
        link_tag: u32::from_le_bytes([0xa1; 4]),
    }
    .emit(&mut forged);
    forged[480..].fill(0x55); // a made-up MAC
    DataHeader::seal(&mut forged);
    rig.b_recv.0.borrow_mut().bytes[slot..slot + 512].copy_from_slice(&forged);
    for _ in 0..5 {
        rig.b.step(rig.now).unwrap();
        rig.now += 1_000;
    }
    assert!(rig.b.delivered.is_empty(), "forged frame delivered");
    assert_eq!(rig.b.link.counters().rejects_auth, 1);
    // The genuine writer's block for that sequence replaces it and flows.
    rig.a.send_frame(&numbered_frame(1, 100)).unwrap();
    rig.run(5, 1_000);
    assert_eq!(ids(&rig.b.delivered), vec![1]);
}

#[test]
fn altered_block_is_rejected_even_with_its_crc_recomputed() {
    let mut rig = authenticated_rig();
    rig.a.send_frame(&numbered_frame(1, 100)).unwrap();
    rig.a.step(rig.now).unwrap();
    rig.mirror();
    let slot = rig.geo.slot_offset(rig.a.link.next_seq() - 1) as usize;
    {
        let mut vol = rig.b_recv.0.borrow_mut();
        let block = &mut vol.bytes[slot..slot + 512];
        block[100] ^= 0x01; // change a frame byte
        DataHeader::seal(block); // and fix the CRC, as an attacker would
    }
    for _ in 0..5 {
        rig.b.step(rig.now).unwrap();
        rig.now += 1_000;
    }
    assert!(rig.b.delivered.is_empty());
    assert_eq!(rig.b.link.counters().rejects_auth, 1);
}

#[test]
fn block_replayed_from_another_link_is_rejected() {
    let mut rig = authenticated_rig();
    // The same key on another link (other link id): its blocks, copied
    // whole into this ring, fail the MAC because the MAC binds the link id.
    let other_send = volume_flags(rig.geo, 1, 2, 0xa1, SB_FLAG_AUTHENTICATED);
    {
        // Same superblock identity except the link id's tail.
        let mut v = other_send.0.borrow_mut();
        v.bytes[24 + 8] ^= 0xff;
        let crc = volnic_core::format::block_crc(&v.bytes[..128], 124);
        v.bytes[124..128].copy_from_slice(&crc.to_le_bytes());
    }
    let mut cfg = config(1, 0);
    keyed(&mut cfg);
    let mut other = Node::open(
        cfg,
        other_send.clone(),
        volume(rig.geo, 2, 1, 9),
        0,
        1 << 16,
    )
    .unwrap();
    let (epoch, expected) = rig.b.link.peer_position();
    for id in 0..=expected {
        other.send_frame(&numbered_frame(500 + id, 100)).unwrap();
        other.step(1).unwrap();
    }
    let slot = rig.geo.slot_offset(expected) as usize;
    let mut block = other_send.0.borrow().bytes[slot..slot + 512].to_vec();
    // Make epoch and sequence match what B expects, then fix the CRC: only
    // the MAC can tell.
    block[16..24].copy_from_slice(&epoch.to_le_bytes());
    DataHeader::seal(&mut block);
    rig.b_recv.0.borrow_mut().bytes[slot..slot + 512].copy_from_slice(&block);
    rig.b.step(rig.now).unwrap();
    assert!(rig.b.delivered.is_empty());
    assert_eq!(rig.b.link.counters().rejects_auth, 1);
}

#[test]
fn mismatched_keys_keep_the_link_down_with_a_clear_reason() {
    let rig = Rig::with(512, 16, 0, SB_FLAG_AUTHENTICATED, |cfg| {
        let secret: &[u8] = if cfg.node_id == 1 {
            b"the first node's secret value!!"
        } else {
            b"the second node's other secret!"
        };
        cfg.auth_key = Some(AuthKey::from_secret(secret).unwrap());
    });
    assert!(!rig.a.link.link_up() && !rig.b.link.link_up());
    assert_eq!(rig.b.link.peer_problem(), Some(PeerProblem::AuthFailed));
    let text = PeerProblem::AuthFailed.to_string();
    assert!(text.contains("same key"), "{text}");
    assert!(rig.b.link.counters().rejects_auth > 0);
}

#[test]
fn key_and_volume_mode_must_agree() {
    let geo = volnic_core::format::Geometry {
        block_size: 512,
        ring_blocks: 16,
    };
    let mut cfg = config(1, 0);
    keyed(&mut cfg);
    let err = Node::open(cfg, volume(geo, 1, 2, 1), volume(geo, 2, 1, 2), 0, 4096)
        .err()
        .expect("plain volume with a key");
    assert_eq!(err, LinkError::VolumeNotAuthenticated);
    let err = Node::open(
        config(1, 0),
        volume_flags(geo, 1, 2, 1, SB_FLAG_AUTHENTICATED),
        volume(geo, 2, 1, 2),
        0,
        4096,
    )
    .err()
    .expect("authenticated volume without a key");
    assert_eq!(err, LinkError::AuthNotConfigured);
    // A keyed node whose peer volume is plain: down, with the reason.
    let mut cfg = config(1, 0);
    keyed(&mut cfg);
    let mut node = Node::open(
        cfg,
        volume_flags(geo, 1, 2, 1, SB_FLAG_AUTHENTICATED),
        volume(geo, 2, 1, 2),
        0,
        4096,
    )
    .unwrap();
    node.step(1).unwrap();
    assert_eq!(
        node.link.peer_problem(),
        Some(PeerProblem::AuthModeMismatch { ours: true })
    );
}
