//! The link engine fed a receive volume of arbitrary bytes: raw bytes
//! anywhere, data blocks and state records whose magic, CRC (and, in
//! authenticated mode, MAC) are right but whose every other field is
//! anything, a superblock corrupted, restored, zeroed or replaced, and I/O
//! errors on either volume, interleaved with polls and sends.
//!
//! It must never panic or hang, never write its receive volume, deliver only
//! non-empty frames, and never move backwards in the peer's stream (epoch,
//! then sequence) while the receive volume keeps its superblock: moving
//! back would deliver a block twice.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use volnic_core::auth::AuthKey;
use volnic_core::format::{
    DataHeader, Geometry, StateRecord, Superblock, WriterState, DATA_HEADER_LEN, NO_FRAME_START,
    SB_FLAG_AUTHENTICATED,
};
use volnic_core::testkit::{format_with, SharedVolume};
use volnic_core::{Link, LinkConfig, SendQueue, Volume, VolumeError, VolumeErrorKind};

const BS: u32 = 512;
const RING: u32 = 8;
/// The link's state poll interval with the 200 ms peer timeout used here.
const STATE_POLL_US: u64 = 20_000;
const SECRET: &[u8] = b"volnic fuzzing secret, 32 bytes!";

#[derive(Arbitrary, Debug)]
enum SuperblockOp {
    Corrupt {
        at: u8,
        xor: u8,
    },
    Zero,
    Restore,
    Replace {
        block_size_sectors: u8,
        ring: u8,
        writer: u8,
        reader: u8,
        authenticated: bool,
        link_id: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Poll {
        dt_ms: u8,
    },
    Send {
        len: u16,
    },
    /// Arbitrary bytes anywhere past the superblock.
    Raw {
        at: u16,
        bytes: Vec<u8>,
    },
    /// A data block with a right magic and CRC.
    Block {
        slot: u8,
        epoch: u8,
        seq: u16,
        valid: u16,
        first_frame: Option<u16>,
        ack_epoch: u8,
        ack_seq: u16,
        other_link: bool,
        sign: bool,
        payload: Vec<u8>,
        /// Only the first bytes reach the volume.
        torn_at: Option<u16>,
    },
    /// A state record with a right magic and CRC.
    State {
        state: u8,
        epoch: u8,
        next_seq: u16,
        ack_epoch: u8,
        ack_seq: u16,
        update_count: u8,
        other_nodes: bool,
        sign: bool,
    },
    Superblock(SuperblockOp),
    Faults {
        send_write: bool,
        recv_read: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    authenticated: bool,
    ops: Vec<Op>,
}

/// A volume whose I/O can be made to fail, and that panics if written when
/// it must not be.
struct Faulty {
    inner: SharedVolume,
    fail_reads: bool,
    fail_writes: bool,
    read_only: bool,
}

impl Volume for Faulty {
    fn len_bytes(&self) -> u64 {
        self.inner.len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        if self.fail_reads {
            return Err(VolumeError::new(VolumeErrorKind::Io, 5));
        }
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        assert!(!self.read_only, "the link wrote its receive volume");
        if self.fail_writes {
            return Err(VolumeError::new(VolumeErrorKind::NoSpace, 28));
        }
        self.inner.write_at(offset, data)
    }
}

fn superblock(writer: u32, reader: u32, link: u8, authenticated: bool) -> Superblock {
    Superblock {
        block_size: BS,
        ring_blocks: RING,
        flags: if authenticated {
            SB_FLAG_AUTHENTICATED
        } else {
            0
        },
        link_id: [link; 16],
        writer_node: writer,
        reader_node: reader,
        formatted_at_ms: 0,
    }
}

fuzz_target!(|input: Input| {
    let geo = Geometry::new(BS, RING);
    let key = AuthKey::from_secret(SECRET).unwrap();
    let auth = input.authenticated;
    let mut send = Faulty {
        inner: SharedVolume::new(geo.volume_bytes() as usize),
        fail_reads: false,
        fail_writes: false,
        read_only: false,
    };
    format_with(&mut send.inner, &superblock(1, 2, 1, auth)).unwrap();
    let mut recv = Faulty {
        inner: SharedVolume::new(geo.volume_bytes() as usize),
        fail_reads: false,
        fail_writes: false,
        read_only: true,
    };
    let peer_sb = superblock(2, 1, 2, auth);
    format_with(&mut recv.inner, &peer_sb).unwrap();
    let mut sb_block = vec![0u8; BS as usize];
    recv.inner.read_at(0, &mut sb_block).unwrap();
    let genuine_sb = sb_block.clone();

    let mut cfg = LinkConfig::new(1);
    cfg.set_peer_timeout_us(200_000);
    if auth {
        cfg.auth_key = Some(key.clone());
    }
    let mut now = 1u64;
    let Ok(mut link) = Link::open(cfg, &mut send, &mut recv, now, 1) else {
        return;
    };
    let mut queue = SendQueue::new(16 * 1024, link.block_payload());
    let mut position = link.peer_position();
    let mut replaced = false;
    let mut replaced_at = 0u64;
    let mut followed_sb = Some(peer_sb);
    let mut frame_id = 0u8;

    for op in input.ops.into_iter().take(200) {
        match op {
            Op::Poll { dt_ms } => {
                now += u64::from(dt_ms) * 1_000 + 1;
                link.pack(&mut queue, now);
                let _ = link.poll(now, &mut send, &mut recv, &mut |frame: &[u8]| {
                    assert!(!frame.is_empty());
                });
                let (epoch, expected) = link.peer_position();
                // The link re-reads the superblock at its next state poll
                // (every 20 ms here) that can read the volume: until then it
                // may still restart on a replaced volume.
                let replacement_seen =
                    replaced && now >= replaced_at + STATE_POLL_US && !recv.fail_reads;
                if !replaced {
                    assert!(
                        (epoch, expected) >= position,
                        "moved back from {position:?} to {:?}",
                        (epoch, expected)
                    );
                }
                position = (epoch, expected);
                if replacement_seen {
                    replaced = false;
                }
            }
            Op::Send { len } => {
                frame_id = frame_id.wrapping_add(1);
                let len = usize::from(len % 1600).max(1);
                let _ = queue.push(&vec![frame_id; len]);
            }
            Op::Raw { at, bytes } => {
                let mut v = recv.inner.0.borrow_mut();
                let len = v.bytes.len() - BS as usize;
                let start = BS as usize + usize::from(at) % len;
                for (i, b) in bytes.iter().take(len).enumerate() {
                    let at = BS as usize + (start - BS as usize + i) % len;
                    v.bytes[at] = *b;
                }
            }
            Op::Block {
                slot,
                epoch,
                seq,
                valid,
                first_frame,
                ack_epoch,
                ack_seq,
                other_link,
                sign,
                payload,
                torn_at,
            } => {
                let mut block = vec![0u8; BS as usize];
                let cap = geo.payload_capacity(auth);
                let n = payload.len().min(cap);
                block[DATA_HEADER_LEN..DATA_HEADER_LEN + n].copy_from_slice(&payload[..n]);
                let link_id = if other_link {
                    [9u8; 16]
                } else {
                    peer_sb.link_id
                };
                DataHeader {
                    writer_node: 2,
                    reader_node: 1,
                    epoch: u64::from(epoch),
                    seq: u64::from(seq),
                    valid_bytes: u32::from(valid),
                    first_frame: first_frame.map_or(NO_FRAME_START, u32::from),
                    ack_epoch: u64::from(ack_epoch),
                    ack_seq: u64::from(ack_seq),
                    link_tag: u32::from_le_bytes(link_id[..4].try_into().unwrap()),
                }
                .emit(&mut block);
                if sign && auth {
                    key.sign_block(&link_id, &mut block);
                }
                DataHeader::seal(&mut block);
                let keep = torn_at.map_or(block.len(), |t| usize::from(t) % block.len());
                let at = geo.slot_offset(u64::from(slot)) as usize;
                recv.inner.0.borrow_mut().bytes[at..at + keep].copy_from_slice(&block[..keep]);
            }
            Op::State {
                state,
                epoch,
                next_seq,
                ack_epoch,
                ack_seq,
                update_count,
                other_nodes,
                sign,
            } => {
                let mut rec = StateRecord {
                    state: WriterState::from_u32(u32::from(state % 3) + 1).unwrap(),
                    writer_node: if other_nodes { 3 } else { 2 },
                    reader_node: 1,
                    epoch: u64::from(epoch),
                    next_seq: u64::from(next_seq),
                    ack_epoch: u64::from(ack_epoch),
                    ack_seq: u64::from(ack_seq),
                    update_count: u64::from(update_count),
                    writer_time_us: now,
                    host_name: [b'x'; 32],
                    counters: Default::default(),
                    mac: [0; 32],
                };
                let mut block = vec![0u8; BS as usize];
                rec.emit(&mut block);
                if sign && auth {
                    rec.mac = key.state_mac(&peer_sb.link_id, &block);
                    rec.emit(&mut block);
                }
                let at = geo.state_offset() as usize;
                recv.inner.0.borrow_mut().bytes[at..at + BS as usize].copy_from_slice(&block);
            }
            Op::Superblock(sb_op) => {
                let mut v = recv.inner.0.borrow_mut();
                match sb_op {
                    SuperblockOp::Corrupt { at, xor } => v.bytes[usize::from(at) % 128] ^= xor,
                    SuperblockOp::Zero => v.bytes[..BS as usize].fill(0),
                    SuperblockOp::Restore => v.bytes[..BS as usize].copy_from_slice(&genuine_sb),
                    SuperblockOp::Replace {
                        block_size_sectors,
                        ring,
                        writer,
                        reader,
                        authenticated,
                        link_id,
                    } => {
                        let sb = Superblock {
                            block_size: 512 * u32::from(block_size_sectors % 4 + 1),
                            ring_blocks: u32::from(ring % 12) + 4,
                            flags: if authenticated {
                                SB_FLAG_AUTHENTICATED
                            } else {
                                0
                            },
                            link_id: [link_id; 16],
                            writer_node: u32::from(writer % 4),
                            reader_node: u32::from(reader % 4),
                            formatted_at_ms: 0,
                        };
                        v.bytes[..BS as usize].fill(0);
                        sb.emit(&mut v.bytes[..BS as usize]);
                    }
                }
                // A different valid superblock is another volume: the link
                // follows it from scratch.
                if let Ok(sb) = Superblock::parse(&v.bytes[..BS as usize]) {
                    if Some(sb) != followed_sb {
                        replaced = true;
                        replaced_at = now;
                        followed_sb = Some(sb);
                    }
                }
            }
            Op::Faults {
                send_write,
                recv_read,
            } => {
                send.fail_writes = send_write;
                recv.fail_reads = recv_read;
            }
        }
    }
    let _ = link.shutdown(now, &mut send);
});
