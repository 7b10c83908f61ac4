//! Helpers for tests of the engine: shared in-memory volumes and formatting.

use alloc::rc::Rc;
use alloc::vec;
use core::cell::RefCell;

use crate::format::{Superblock, STATE_INDEX};
use crate::volume::{MemVolume, Volume, VolumeError};

/// An in-memory volume shared by handles: the writer's send volume and the
/// reader's receive volume can be the same storage (a shared LUN).
#[derive(Clone, Debug, Default)]
pub struct SharedVolume(pub Rc<RefCell<MemVolume>>);

impl SharedVolume {
    pub fn new(len: usize) -> Self {
        Self(Rc::new(RefCell::new(MemVolume::new(len))))
    }
}

impl Volume for SharedVolume {
    fn len_bytes(&self) -> u64 {
        self.0.borrow().len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.0.borrow_mut().read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        self.0.borrow_mut().write_at(offset, data)
    }
    fn current_len(&mut self) -> Result<u64, VolumeError> {
        self.0.borrow_mut().current_len()
    }
}

/// Writes a superblock (and a zeroed state record) for `writer → reader`.
pub fn format_volume<V: Volume>(
    vol: &mut V,
    block_size: u32,
    ring_blocks: u32,
    writer_node: u32,
    reader_node: u32,
    link_id: [u8; 16],
) -> Result<(), VolumeError> {
    format_with(
        vol,
        &Superblock {
            block_size,
            ring_blocks,
            flags: 0,
            link_id,
            writer_node,
            reader_node,
            formatted_at_ms: 0,
        },
    )
}

/// Writes `sb`, a zeroed state record and a zeroed ring.
pub fn format_with<V: Volume>(vol: &mut V, sb: &Superblock) -> Result<(), VolumeError> {
    let (block_size, ring_blocks) = (sb.block_size, sb.ring_blocks);
    let mut block = vec![0u8; block_size as usize];
    sb.emit(&mut block);
    vol.write_at(0, &block)?;
    block.fill(0);
    vol.write_at(STATE_INDEX * u64::from(block_size), &block)?;
    let mut slot = 0u64;
    while slot < u64::from(ring_blocks) {
        vol.write_at(sb.geometry().slot_index_offset(slot), &block)?;
        slot += 1;
    }
    Ok(())
}

/// Raw setting values from a map of registry names to text, as a host's
/// [`SettingSource`](crate::host_config::SettingSource): text as given,
/// numbers parsed from it (a value that is not a number reads as absent,
/// as the registry reports a wrong-typed value).
#[derive(Clone, Debug, Default)]
pub struct SettingMap(pub alloc::collections::BTreeMap<&'static str, &'static str>);

impl SettingMap {
    pub fn of(pairs: &[(&'static str, &'static str)]) -> Self {
        Self(pairs.iter().copied().collect())
    }
}

impl crate::host_config::SettingSource for SettingMap {
    fn string(&mut self, name: &str) -> Option<alloc::string::String> {
        self.0.get(name).map(|v| alloc::string::String::from(*v))
    }
    fn integer(&mut self, name: &str) -> Option<u32> {
        self.0.get(name).and_then(|v| v.parse().ok())
    }
}

/// A together-form segment of `layout` in memory, formatted: the segment
/// header, zeroed head blocks, and for each member `k` a region
/// superblock with link id `[k; 16]` and a zeroed state area and ring.
pub fn together_segment(
    layout: crate::segment::SegmentLayout,
    segment_id: [u8; 16],
) -> Result<SharedVolume, VolumeError> {
    use crate::segment::SegmentHeader;
    let mut vol = SharedVolume::new(layout.together_bytes() as usize);
    for member in 1..=layout.members {
        let mut region = region_window(&vol, layout, member);
        format_region(&mut region, layout, member, segment_id)?;
    }
    let mut block = vec![0u8; layout.block_size as usize];
    SegmentHeader {
        block_size: layout.block_size,
        ring_blocks: layout.ring_blocks,
        flags: 0,
        segment_id,
        members: layout.members,
        formatted_at_ms: 0,
    }
    .emit(&mut block);
    vol.write_at(0, &block)?;
    Ok(vol)
}

/// Member `member`'s region of the together-form segment on `vol`.
pub fn region_window(
    vol: &SharedVolume,
    layout: crate::segment::SegmentLayout,
    member: u32,
) -> crate::volume::Window<SharedVolume> {
    crate::volume::Window {
        inner: vol.clone(),
        offset: layout.region_offset(member),
        len: layout.region_bytes(),
    }
}

/// Writes member `member`'s region (superblock with link id `[member;
/// 16]`, zeroed state area and ring) at the start of `vol`: an apart-form
/// member volume, or a together-form region seen through its window.
pub fn format_region<V: Volume>(
    vol: &mut V,
    layout: crate::segment::SegmentLayout,
    member: u32,
    segment_id: [u8; 16],
) -> Result<(), VolumeError> {
    use crate::segment::RegionSuperblock;
    let bs = layout.block_size as usize;
    let zero = vec![0u8; layout.region_bytes() as usize];
    vol.write_at(0, &zero)?;
    let mut block = vec![0u8; bs];
    RegionSuperblock {
        block_size: layout.block_size,
        ring_blocks: layout.ring_blocks,
        flags: 0,
        link_id: [member as u8; 16],
        member,
        members: layout.members,
        segment_id,
        formatted_at_ms: 0,
    }
    .emit(&mut block);
    vol.write_at(0, &block)
}
