//! The engine on storage with 4096-byte logical sectors (4K-native disks),
//! where an unbuffered I/O of any other size or offset fails: the host may
//! say so (`Volume::sector_size`), or not (it reports 512, as the Windows
//! driver does), in which case the engine learns the sector from the 512-byte
//! read the storage refuses.

use alloc::vec;
use alloc::vec::Vec;

use crate::format::Geometry;
use crate::link::{Link, LinkConfig, LinkError, PeerProblem};
use crate::queue::SendQueue;
use crate::testkit::{format_volume, SharedVolume};
use crate::volume::{Volume, VolumeError, VolumeErrorKind};

const SECTOR: u64 = 4096;

/// A shared in-memory volume that refuses I/O not aligned to 4096 bytes, and
/// reports `reported` as its sector size.
#[derive(Clone)]
struct FourK {
    inner: SharedVolume,
    reported: u32,
}

impl FourK {
    fn check(offset: u64, len: usize) -> Result<(), VolumeError> {
        if !(offset.is_multiple_of(SECTOR) && (len as u64).is_multiple_of(SECTOR)) {
            return Err(VolumeError::new(VolumeErrorKind::Misaligned, 0));
        }
        Ok(())
    }
}

impl Volume for FourK {
    fn len_bytes(&self) -> u64 {
        self.inner.len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        Self::check(offset, buf.len())?;
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        Self::check(offset, data.len())?;
        self.inner.write_at(offset, data)
    }
    fn sector_size(&self) -> u32 {
        self.reported
    }
}

/// Two directions formatted with `block_size` on unaligned-refusing storage.
fn volumes(block_size: u32, reported: u32) -> (FourK, FourK) {
    let geo = Geometry::new(block_size, 8);
    let len = geo.volume_bytes() as usize;
    let (mut ab, mut ba) = (SharedVolume::new(len), SharedVolume::new(len));
    // Formatted by a host that can write any size (as `volnic format` on
    // another machine, or before the disk moved).
    format_volume(&mut ab, block_size, 8, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, block_size, 8, 2, 1, [2; 16]).unwrap();
    (
        FourK {
            inner: ab,
            reported,
        },
        FourK {
            inner: ba,
            reported,
        },
    )
}

fn config(node: u32) -> LinkConfig {
    let mut cfg = LinkConfig::new(node);
    cfg.flush_delay_us = 0;
    cfg.claim_settle_us = 0;
    cfg
}

#[test]
fn a_4096_byte_block_link_runs_whether_or_not_the_host_knows_the_sector() {
    for reported in [4096, 512] {
        let (ab, ba) = volumes(4096, reported);
        let (mut a_send, mut a_recv) = (ab.clone(), ba.clone());
        let (mut b_send, mut b_recv) = (ba, ab);
        let mut a = Link::open(config(1), &mut a_send, &mut a_recv, 0, 100).unwrap();
        let mut b = Link::open(config(2), &mut b_send, &mut b_recv, 0, 200).unwrap();
        let mut queue = SendQueue::new(1 << 16, 4096);
        let frames: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        for f in &frames {
            queue.push(f).unwrap();
        }
        let mut got = Vec::new();
        for step in 0..200u64 {
            let now = step * 1_000;
            a.pack(&mut queue, now);
            a.poll(now, &mut a_send, &mut a_recv, &mut |_| {}).unwrap();
            b.poll(now, &mut b_send, &mut b_recv, &mut |f: &[u8]| {
                got.push(f.to_vec())
            })
            .unwrap();
            if got.len() == frames.len() {
                break;
            }
        }
        assert_eq!(got, frames, "host reports {reported}-byte sectors");
        assert!(b.link_up(), "host reports {reported}-byte sectors");
    }
}

#[test]
fn blocks_smaller_than_the_sector_are_refused_naming_both_sizes() {
    for reported in [4096, 512] {
        // 512-byte blocks on a 4096-byte-sector volume, formatted elsewhere.
        let (ab, ba) = volumes(512, reported);
        let (mut send, mut recv) = (ab, ba);
        let err = Link::open(config(1), &mut send, &mut recv, 0, 100).unwrap_err();
        assert_eq!(
            err,
            LinkError::BlockSizeBelowSector {
                block_size: 512,
                sector_size: 4096
            },
            "host reports {reported}-byte sectors"
        );
        let message = alloc::format!("{err}");
        assert!(message.contains("512-byte blocks"), "{message}");
        assert!(message.contains("4096-byte logical sectors"), "{message}");
    }
}

#[test]
fn a_receive_volume_with_sectors_larger_than_its_blocks_is_named() {
    // This node's send volume is fine (plain memory); the peer's, as this
    // node receives it, sits on 4096-byte sectors with 512-byte blocks.
    let geo = Geometry::new(512, 8);
    let len = geo.volume_bytes() as usize;
    let mut send = SharedVolume::new(len.max(8192));
    format_volume(&mut send, 512, 8, 1, 2, [1; 16]).unwrap();
    let mut peer = SharedVolume::new(len.max(8192));
    format_volume(&mut peer, 512, 8, 2, 1, [2; 16]).unwrap();
    let mut recv = FourK {
        inner: peer,
        reported: 512,
    };
    let link = Link::open(config(1), &mut send, &mut recv, 0, 100).unwrap();
    assert_eq!(
        link.peer_problem(),
        Some(PeerProblem::SectorSize {
            block_size: 512,
            sector_size: 4096
        })
    );
    assert!(!link.link_up());
}
