//! Authenticated mode: forged, altered and replayed blocks are never
//! delivered and are counted; mismatched keys keep the link down.

use volnic_core::auth::AuthKey;
use volnic_core::format::{DataHeader, SB_FLAG_AUTHENTICATED};
use volnic_core::{LinkConfig, LinkError, PeerProblem};
use volnic_tests::memrig::{config, volume, volume_flags, MirroredPair};
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

fn authenticated_rig() -> MirroredPair {
    let rig = MirroredPair::with(512, 16, 0, SB_FLAG_AUTHENTICATED, keyed);
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
    let rig = MirroredPair::with(512, 16, 0, SB_FLAG_AUTHENTICATED, |cfg| {
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
    let geo = volnic_core::format::Geometry::new(512, 16);
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

/// Blocks of this very link, genuinely signed, written back by someone who
/// recorded them (an attacker with write access to the storage but no key):
/// a block put back into the slot the reader expects next, after the ring
/// has come round to that slot again; the same block with its epoch and
/// sequence edited to the expected ones and its CRC recomputed; and, after
/// the writer restarted, a block of its previous run. None is delivered;
/// the edited one fails the MAC (it binds epoch and sequence) and is
/// counted in `rejects_auth`, the old run's in `rejects_stale`; the genuine
/// frames after them all arrive.
#[test]
fn blocks_of_this_link_replayed_are_never_delivered() {
    let mut rig = authenticated_rig();
    let bs = rig.geo.block_size as usize;
    let ring = u64::from(rig.geo.ring_blocks);
    let slot_bytes = |rig: &MirroredPair, seq: u64| {
        let at = rig.geo.slot_offset(seq) as usize;
        rig.a_send.0.borrow().bytes[at..at + bs].to_vec()
    };
    // One frame per block; record the genuine block of the sequence B
    // expects first.
    let (_, first) = rig.b.link.peer_position();
    rig.a.send_frame(&numbered_frame(0, 300)).unwrap();
    rig.run(5, 1_000);
    let recorded = slot_bytes(&rig, first);
    assert_eq!(ids(&rig.b.delivered), vec![0]);

    // Go round the ring until B expects the recorded block's slot again.
    let mut next_id = 1;
    while rig.b.link.peer_position().1 < first + ring {
        rig.a.send_frame(&numbered_frame(next_id, 300)).unwrap();
        next_id += 1;
        rig.run(3, 1_000);
    }
    let (epoch, expected) = rig.b.link.peer_position();
    assert_eq!(expected % ring, first % ring);
    let delivered = rig.b.delivered.len();
    let slot = rig.geo.slot_offset(expected) as usize;
    let put = |rig: &mut MirroredPair, block: &[u8]| {
        rig.b_recv.0.borrow_mut().bytes[slot..slot + bs].copy_from_slice(block);
        rig.b.step(rig.now).unwrap();
        rig.now += 1_000;
    };

    // 1. The recorded block as it was: a lap old, so not yet written.
    put(&mut rig, &recorded);
    assert_eq!(
        rig.b.delivered.len(),
        delivered,
        "a replayed block was delivered"
    );

    // 2. The recorded block re-labelled as the expected one.
    let mut relabelled = recorded.clone();
    relabelled[16..24].copy_from_slice(&epoch.to_le_bytes());
    relabelled[24..32].copy_from_slice(&expected.to_le_bytes());
    DataHeader::seal(&mut relabelled);
    let auth_before = rig.b.link.counters().rejects_auth;
    put(&mut rig, &relabelled);
    assert_eq!(
        rig.b.delivered.len(),
        delivered,
        "a re-labelled block was delivered"
    );
    assert_eq!(rig.b.link.counters().rejects_auth, auth_before + 1);

    // The genuine block of that sequence arrives and is delivered.
    rig.a.send_frame(&numbered_frame(next_id, 300)).unwrap();
    rig.run(5, 1_000);
    assert_eq!(ids(&rig.b.delivered).last(), Some(&next_id));
    next_id += 1;

    // 3. The writer restarts (a new epoch); the block its previous run left
    // in the slot where B expects the new run's next block is put back there
    // once the new run has written that slot over.
    let old_ring = rig.a_send.0.borrow().bytes.clone();
    let mut cfg = config(1, 0);
    keyed(&mut cfg);
    let mut restarted = Node::open(
        cfg,
        rig.a_send.clone(),
        rig.a_recv.clone(),
        rig.now,
        1 << 20,
    )
    .unwrap();
    while restarted.link.claiming() {
        restarted.step(rig.now).unwrap();
        rig.now += 50_000;
    }
    rig.a = restarted;
    rig.a.send_frame(&numbered_frame(next_id, 300)).unwrap();
    rig.run(20, 1_000);
    assert_eq!(ids(&rig.b.delivered).last(), Some(&next_id));
    let (new_epoch, expected) = rig.b.link.peer_position();
    assert!(new_epoch > epoch);
    let delivered = rig.b.delivered.len();
    let slot = rig.geo.slot_offset(expected) as usize;
    let old = &old_ring[slot..slot + bs];
    assert_eq!(u64::from_le_bytes(old[16..24].try_into().unwrap()), epoch);
    rig.b_recv.0.borrow_mut().bytes[slot..slot + bs].copy_from_slice(old);
    rig.b.step(rig.now).unwrap();
    assert_eq!(
        rig.b.delivered.len(),
        delivered,
        "the old run's block was delivered"
    );
    // Counted once per block (B met this very block in that slot before
    // the new run wrote it over), and B stays where it was.
    assert!(rig.b.link.counters().rejects_stale > 0);
    assert_eq!(rig.b.link.peer_position(), (new_epoch, expected));
    // And the new run goes on.
    rig.a.send_frame(&numbered_frame(next_id + 1, 300)).unwrap();
    rig.run(5, 1_000);
    assert_eq!(ids(&rig.b.delivered).last(), Some(&(next_id + 1)));
    volnic_tests::report!(
        "replays of this link's own signed blocks: 3 kinds, delivered: 0 (rejects_auth {}, rejects_stale {})",
        rig.b.link.counters().rejects_auth,
        rig.b.link.counters().rejects_stale
    );
}

/// The key-file rule (docs/SECURITY.md): the secret is the file's exact
/// bytes. The Linux endpoint's reader (`volnic_tools::keyfile`) gives the
/// key the engine's rule gives for the same bytes (the driver calls that
/// rule too), a key file with a newline at the end is another key than
/// the same text without one, and two nodes whose files differ so stay
/// down naming the key.
#[test]
fn key_file_rule_is_the_exact_bytes_on_every_host() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = b"4f1c0e5d9a7b3c2e8f6a1d0b9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";
    let mut keys = Vec::new();
    for (name, tail) in [
        ("plain", &b""[..]),
        ("lf", b"\n"),
        ("crlf", b"\r\n"),
        ("space", b" "),
    ] {
        let path = dir.path().join(name);
        let mut bytes = text.to_vec();
        bytes.extend_from_slice(tail);
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let read = volnic_tools::keyfile::read_key_file(&path).unwrap();
        assert_eq!(read, AuthKey::from_key_file(&bytes).unwrap(), "{name}");
        assert!(
            !keys.contains(&read),
            "{name}: the same key as another file"
        );
        keys.push(read);
    }
    let (with_newline, without) = (keys[1].clone(), keys[0].clone());
    let rig = MirroredPair::with(512, 16, 0, SB_FLAG_AUTHENTICATED, |cfg| {
        cfg.auth_key = Some(if cfg.node_id == 1 {
            with_newline.clone()
        } else {
            without.clone()
        });
    });
    assert!(!rig.a.link.link_up() && !rig.b.link.link_up());
    assert_eq!(rig.b.link.peer_problem(), Some(PeerProblem::AuthFailed));
}
