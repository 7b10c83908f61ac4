//! File-backed volumes for simulated nodes: each node's send volume is a
//! file whose writes a synchronous mirror copies to the peer's receive
//! volume file, like array mirroring between two sites.

use std::path::{Path, PathBuf};

use volnic_core::format::Superblock;
use volnic_core::testkit::format_with;
use volnic_core::Volume;
use volnic_tools::filevol::FileVolume;
use volnic_tools::mirror::SyncMirror;

use crate::os::register_mirror;

/// The four volume files of a two-node link.
#[derive(Clone, Debug)]
pub struct LinkFiles {
    /// Node 1 sends here; mirrored to `b_recv`.
    pub a_send: PathBuf,
    /// Node 2 receives here.
    pub b_recv: PathBuf,
    /// Node 2 sends here; mirrored to `a_recv`.
    pub b_send: PathBuf,
    pub a_recv: PathBuf,
    pub block_size: u32,
}

const LINK_ID: [u8; 16] = *b"volnic-sim-link!";

fn superblock(
    block_size: u32,
    ring_blocks: u32,
    writer: u32,
    reader: u32,
    flags: u32,
) -> Superblock {
    Superblock {
        block_size,
        ring_blocks,
        flags,
        link_id: LINK_ID,
        writer_node: writer,
        reader_node: reader,
        formatted_at_ms: 0,
    }
}

/// Creates and formats one direction: `send` (primary) mirrored to `recv`.
pub fn make_direction(
    send: &Path,
    recv: &Path,
    block_size: u32,
    ring_blocks: u32,
    writer: u32,
    reader: u32,
    flags: u32,
) {
    let sb = superblock(block_size, ring_blocks, writer, reader, flags);
    let len = sb.geometry().volume_bytes();
    let primary = FileVolume::create(send, len, true).expect("create send volume file");
    let secondary = FileVolume::create(recv, len, true).expect("create receive volume file");
    let mut mirror = SyncMirror::new(primary, secondary).expect("mirror");
    format_with(&mut mirror, &sb).expect("format through the mirror");
    assert!(mirror.len_bytes() >= len);
    register_mirror(&send.to_string_lossy(), &recv.to_string_lossy());
}

/// Two mirrored directions in `dir` for nodes 1 and 2.
pub fn make_link(dir: &Path, block_size: u32, ring_blocks: u32) -> LinkFiles {
    make_link_with(dir, block_size, ring_blocks, 0)
}

/// As [`make_link`], with superblock `flags` (e.g.
/// `SB_FLAG_AUTHENTICATED`) on both directions.
pub fn make_link_with(dir: &Path, block_size: u32, ring_blocks: u32, flags: u32) -> LinkFiles {
    let files = LinkFiles {
        a_send: dir.join("a-send.vol"),
        b_recv: dir.join("b-recv.vol"),
        b_send: dir.join("b-send.vol"),
        a_recv: dir.join("a-recv.vol"),
        block_size,
    };
    make_direction(
        &files.a_send,
        &files.b_recv,
        block_size,
        ring_blocks,
        1,
        2,
        flags,
    );
    make_direction(
        &files.b_send,
        &files.a_recv,
        block_size,
        ring_blocks,
        2,
        1,
        flags,
    );
    files
}
