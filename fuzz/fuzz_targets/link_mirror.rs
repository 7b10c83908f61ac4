//! Two genuine link ends, node 1 streaming numbered frames to node 2, joined
//! by a storage mirror whose every step the fuzzer chooses: which blocks of
//! the sender's volume reach the receiver and when, torn at any sector,
//! with bit flips, the state record early or late or never, the whole
//! volume at once, and the sender or the receiver crashing and restarting.
//!
//! Whatever the mirror does, the receiver delivers only intact frames, each
//! at most once and in the order sent, and nothing of an old run of the
//! sender after anything of a newer one (numbers only grow, across sender
//! restarts too). A restarted receiver has no memory, so the order is
//! checked per receiver run.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use volnic_core::format::Geometry;
use volnic_core::testkit::{format_volume, SharedVolume};
use volnic_core::{Link, LinkConfig, SendQueue};

const BS: u32 = 512;
const RING: u32 = 8;
const SECTOR: usize = 512;

#[derive(Arbitrary, Debug)]
enum Op {
    Send { count: u8, len: u16 },
    StepSender { dt_ms: u8 },
    StepReceiver { dt_ms: u8 },
    CopySlot { slot: u8 },
    TearSlot { slot: u8, sectors: u8 },
    CopyState,
    CopyVolume,
    CopyAcks,
    FlipBit { block: u8, bit: u16 },
    RestoreSuperblock,
    CrashSender,
    StopSender,
    CrashReceiver,
}

fn frame(id: u32, len: usize) -> Vec<u8> {
    let len = len.max(8);
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(&id.to_le_bytes());
    f[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    for (i, b) in f[8..].iter_mut().enumerate() {
        *b = (id as usize).wrapping_mul(131).wrapping_add(i * 7) as u8;
    }
    f
}

fn check_frame(f: &[u8]) -> u32 {
    assert!(f.len() >= 8, "short frame delivered: {f:?}");
    let id = u32::from_le_bytes(f[..4].try_into().unwrap());
    assert_eq!(frame(id, f.len()), f, "corrupted frame delivered");
    id
}

struct End {
    link: Link,
    send: SharedVolume,
    recv: SharedVolume,
    queue: SendQueue,
}

fn open(node: u32, send: &SharedVolume, recv: &SharedVolume, now: u64) -> Option<End> {
    let mut cfg = LinkConfig::new(node);
    cfg.set_peer_timeout_us(200_000);
    let (mut s, mut r) = (send.clone(), recv.clone());
    let link = Link::open(cfg, &mut s, &mut r, now, now).ok()?;
    let queue = SendQueue::new(8 * 1024, link.block_payload());
    Some(End {
        link,
        send: s,
        recv: r,
        queue,
    })
}

fn copy(from: &SharedVolume, to: &SharedVolume, start: usize, len: usize) {
    let bytes = from.0.borrow().bytes[start..start + len].to_vec();
    to.0.borrow_mut().bytes[start..start + len].copy_from_slice(&bytes);
}

fuzz_target!(|ops: Vec<Op>| {
    let geo = Geometry::new(BS, RING);
    let len = geo.volume_bytes() as usize;
    let bs = BS as usize;
    let mut a_send = SharedVolume::new(len);
    format_volume(&mut a_send, BS, RING, 1, 2, [1; 16]).unwrap();
    let mut b_send = SharedVolume::new(len);
    format_volume(&mut b_send, BS, RING, 2, 1, [2; 16]).unwrap();
    let b_recv = SharedVolume::new(len);
    let a_recv = SharedVolume::new(len);
    copy(&a_send, &b_recv, 0, len);
    copy(&b_send, &a_recv, 0, len);
    let genuine_sb = a_send.0.borrow().bytes[..bs].to_vec();

    let mut now = 1_000u64;
    let mut sender = open(1, &a_send, &a_recv, now);
    let mut receiver = open(2, &b_send, &b_recv, now);
    let mut next_id = 0u32;
    let mut last_delivered: Option<u32> = None;
    // Bits flipped in each receive-volume block since it was last copied:
    // CRC-32C finds every error of up to 5 bits in a block this size, so
    // flips stop at 3 per block and a corrupt block is always caught.
    let mut flips: HashMap<usize, u32> = HashMap::new();

    for op in ops.into_iter().take(300) {
        match op {
            Op::Send { count, len } => {
                if let Some(end) = sender.as_mut() {
                    for _ in 0..count % 8 {
                        if end
                            .queue
                            .push(&frame(next_id, usize::from(len % 1200)))
                            .is_ok()
                        {
                            next_id += 1;
                        }
                    }
                }
            }
            Op::StepSender { dt_ms } => {
                now += u64::from(dt_ms) * 1_000 + 1;
                if let Some(end) = sender.as_mut() {
                    end.link.pack(&mut end.queue, now);
                    if end
                        .link
                        .poll(now, &mut end.send, &mut end.recv, &mut |_: &[u8]| {})
                        .is_err()
                    {
                        sender = None;
                    }
                }
            }
            Op::StepReceiver { dt_ms } => {
                now += u64::from(dt_ms) * 1_000 + 1;
                if let Some(end) = receiver.as_mut() {
                    let _ = end
                        .link
                        .poll(now, &mut end.send, &mut end.recv, &mut |f: &[u8]| {
                            let id = check_frame(f);
                            if let Some(last) = last_delivered {
                                assert!(id > last, "frame {id} delivered after frame {last}");
                            }
                            last_delivered = Some(id);
                        });
                }
            }
            Op::CopySlot { slot } => {
                let at = geo.slot_offset(u64::from(slot)) as usize;
                copy(&a_send, &b_recv, at, bs);
                flips.remove(&at);
            }
            Op::TearSlot { slot, sectors } => {
                let at = geo.slot_offset(u64::from(slot)) as usize;
                let n = usize::from(sectors) % (bs / SECTOR);
                copy(&a_send, &b_recv, at, n * SECTOR);
                if n > 0 {
                    flips.remove(&at);
                }
            }
            Op::CopyState => {
                copy(&a_send, &b_recv, bs, bs);
                flips.remove(&bs);
            }
            Op::CopyVolume => {
                copy(&a_send, &b_recv, 0, len);
                flips.clear();
            }
            Op::CopyAcks => copy(&b_send, &a_recv, 0, len),
            Op::FlipBit { block, bit } => {
                let at = usize::from(block) % (2 + RING as usize) * bs;
                let n = flips.entry(at).or_default();
                if *n < 3 {
                    *n += 1;
                    let bit = usize::from(bit) % (bs * 8);
                    b_recv.0.borrow_mut().bytes[at + bit / 8] ^= 1 << (bit % 8);
                }
            }
            Op::RestoreSuperblock => {
                b_recv.0.borrow_mut().bytes[..bs].copy_from_slice(&genuine_sb);
                flips.remove(&0);
            }
            Op::CrashSender => {
                now += 1;
                sender = open(1, &a_send, &a_recv, now);
            }
            Op::StopSender => {
                if let Some(end) = sender.as_mut() {
                    let _ = end.link.shutdown(now, &mut end.send);
                }
            }
            Op::CrashReceiver => {
                now += 1;
                receiver = open(2, &b_send, &b_recv, now);
                last_delivered = None;
            }
        }
    }
});
