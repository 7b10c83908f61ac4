//! Two link ends on in-memory volumes with a hand-driven mirror, so each
//! storage event (a block copied, a sector torn, a bit flipped, a restart)
//! happens exactly when the test says.

use volnic_core::format::{Geometry, Superblock};
use volnic_core::testkit::{format_with, SharedVolume};
use volnic_core::LinkConfig;

use crate::node::{numbered_frame, Node};

pub type MemNode = Node<SharedVolume, SharedVolume>;

/// Node 1's send volume is copied to node 2's receive volume by the test
/// (and the other way), like a storage mirror whose every step we control.
pub struct MirroredPair {
    pub a: MemNode,
    pub b: MemNode,
    pub a_send: SharedVolume,
    pub b_recv: SharedVolume,
    pub b_send: SharedVolume,
    pub a_recv: SharedVolume,
    pub geo: Geometry,
    pub now: u64,
}

/// A formatted in-memory volume for `writer → reader`.
pub fn volume(geo: Geometry, writer: u32, reader: u32, id: u8) -> SharedVolume {
    volume_flags(geo, writer, reader, id, 0)
}

/// A formatted in-memory volume with superblock `flags`.
pub fn volume_flags(geo: Geometry, writer: u32, reader: u32, id: u8, flags: u32) -> SharedVolume {
    let mut v = SharedVolume::new(geo.volume_bytes() as usize);
    let sb = Superblock {
        block_size: geo.block_size,
        ring_blocks: geo.ring_blocks,
        flags,
        link_id: [id; 16],
        writer_node: writer,
        reader_node: reader,
        formatted_at_ms: 0,
    };
    format_with(&mut v, &sb).expect("in-memory format");
    v
}

pub fn copy_all(from: &SharedVolume, to: &SharedVolume) {
    let bytes = from.0.borrow().bytes.clone();
    to.0.borrow_mut().bytes.copy_from_slice(&bytes);
}

pub fn copy_range(from: &SharedVolume, to: &SharedVolume, start: u64, len: usize) {
    let start = start as usize;
    let bytes = from.0.borrow().bytes[start..start + len].to_vec();
    to.0.borrow_mut().bytes[start..start + len].copy_from_slice(&bytes);
}

pub fn config(node: u32, flush_delay_us: u64) -> LinkConfig {
    let mut cfg = LinkConfig::new(node);
    cfg.flush_delay_us = flush_delay_us;
    cfg.set_host_name(if node == 1 { "node-a" } else { "node-b" });
    // The rig's tests are about traffic: each end reads its claim back at
    // once (the claim itself is tested in volnic-core and ownership.rs).
    cfg.claim_settle_us = 0;
    cfg
}

impl MirroredPair {
    pub fn new(block_size: u32, ring: u32, flush_delay_us: u64) -> MirroredPair {
        Self::with(block_size, ring, flush_delay_us, 0, |_| {})
    }

    /// A rig whose volumes carry superblock `flags` and whose link
    /// configurations pass through `tune` before opening.
    pub fn with(
        block_size: u32,
        ring: u32,
        flush_delay_us: u64,
        flags: u32,
        tune: impl Fn(&mut LinkConfig),
    ) -> MirroredPair {
        let geo = Geometry::new(block_size, ring);
        let a_send = volume_flags(geo, 1, 2, 0xa1, flags);
        let b_send = volume_flags(geo, 2, 1, 0xb2, flags);
        let b_recv = SharedVolume::new(geo.volume_bytes() as usize);
        let a_recv = SharedVolume::new(geo.volume_bytes() as usize);
        copy_all(&a_send, &b_recv);
        copy_all(&b_send, &a_recv);
        let (mut cfg_a, mut cfg_b) = (config(1, flush_delay_us), config(2, flush_delay_us));
        tune(&mut cfg_a);
        tune(&mut cfg_b);
        let a = Node::open(cfg_a, a_send.clone(), a_recv.clone(), 0, 1 << 20).unwrap();
        let b = Node::open(cfg_b, b_send.clone(), b_recv.clone(), 0, 1 << 20).unwrap();
        let mut rig = MirroredPair {
            a,
            b,
            a_send,
            b_recv,
            b_send,
            a_recv,
            geo,
            now: 1,
        };
        rig.mirror();
        rig.run(20, 1_000);
        // Each end sees the other's running record (after the claims) at
        // its next state read: run on until both links are up, or for as
        // long as two state reads take when they cannot come up.
        for _ in 0..250 {
            if rig.a.link.link_up() && rig.b.link.link_up() {
                break;
            }
            rig.run(1, 1_000);
        }
        rig
    }

    /// Synchronous mirror step: both directions copied whole.
    pub fn mirror(&self) {
        copy_all(&self.a_send, &self.b_recv);
        copy_all(&self.b_send, &self.a_recv);
    }

    /// `ticks` steps of `dt_us`, mirroring after every write.
    pub fn run(&mut self, ticks: usize, dt_us: u64) {
        for _ in 0..ticks {
            self.a.step(self.now).unwrap();
            self.mirror();
            self.b.step(self.now).unwrap();
            self.mirror();
            self.now += dt_us;
        }
    }

    /// Another link's writer (same nodes, another link id) writes a block of
    /// the sequence B expects next, and that block lands in B's receive ring
    /// (two links' mirrors crossed), where B then reads it.
    pub fn inject_foreign_block(&mut self) {
        let stranger = volume(self.geo, 1, 2, 0x77);
        let mut intruder = Node::open(
            config(1, 0),
            stranger.clone(),
            SharedVolume::new(self.geo.volume_bytes() as usize),
            0,
            4096,
        )
        .unwrap();
        let (_, expected) = self.b.link.peer_position();
        for id in 0..=expected {
            intruder
                .send_frame(&numbered_frame(1000 + id, 300))
                .unwrap();
            intruder.step(self.now).unwrap();
        }
        let slot = self.geo.slot_offset(expected);
        copy_range(&stranger, &self.b_recv, slot, self.geo.block_size as usize);
        self.b.step(self.now).unwrap();
    }
}
