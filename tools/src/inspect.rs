//! Reading a volume: its superblock and state record ([`read_records`], which
//! `volnic up` and `volnic status` use too) and the most recent data blocks of
//! its ring ([`inspect`], what `volnic inspect` prints). Reads only; never
//! panics on what it reads.

use std::path::Path;

use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{
    BlockCheck, DataHeader, FormatError, Geometry, StateRecord, Superblock, FRAME_PREFIX_LEN,
    NO_FRAME_START, STATE_LEN, SUPERBLOCK_LEN,
};
use volnic_core::segment::{AckTable, RegionSuperblock, SegmentHeader, SegmentLayout};
use volnic_core::Volume;

use crate::filevol::{FileVolume, OpenMode};

/// Rings larger than this many bytes are scanned only around the state
/// record's next sequence number.
const FULL_SCAN_BYTES: u64 = 64 << 20;
/// Slots scanned around next_seq for large rings.
const WINDOW_SLOTS: u64 = 4096;

/// One decoded data block.
#[derive(Debug, Clone)]
pub struct BlockView {
    pub slot: u64,
    pub header: DataHeader,
    /// Frames that start in this block.
    pub frames_starting: u32,
}

/// Everything `inspect` learned about a volume.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub superblock: Superblock,
    pub bytes: u64,
    /// The storage's logical sector size, as direct I/O found it.
    pub sector_size: u32,
    pub state: Result<StateRecord, FormatError>,
    /// Valid data blocks of the state record's epoch found in the ring.
    pub current_blocks: u64,
    pub stale_blocks: u64,
    pub bad_blocks: u64,
    pub empty_slots: u64,
    pub scanned_slots: u64,
    pub last_blocks: Vec<BlockView>,
}

/// Opens and decodes a volume; every failure is a one-line message.
pub fn inspect(path: &Path, last: usize) -> Result<Inspection, String> {
    let mut vol = FileVolume::open(path, OpenMode::ReadOnly).map_err(|e| e.to_string())?;
    let (superblock, state) = read_records(&mut vol, path)?;
    let bytes = vol.len_bytes();
    let geo = superblock.geometry();
    let mut found = Inspection {
        superblock,
        bytes,
        sector_size: vol.sector_size(),
        state,
        current_blocks: 0,
        stale_blocks: 0,
        bad_blocks: 0,
        empty_slots: 0,
        scanned_slots: 0,
        last_blocks: Vec::new(),
    };
    scan_ring(&mut vol, &geo, &mut found, last).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(found)
}

fn scan_ring(
    vol: &mut FileVolume,
    geo: &Geometry,
    found: &mut Inspection,
    last: usize,
) -> Result<(), volnic_core::VolumeError> {
    let ring = u64::from(geo.ring_blocks);
    let epoch = found.state.as_ref().map_or(0, |s| s.epoch);
    let slots: Vec<u64> = if ring * u64::from(geo.block_size) <= FULL_SCAN_BYTES {
        (0..ring).collect()
    } else {
        let next = found.state.as_ref().map_or(0, |s| s.next_seq);
        (0..WINDOW_SLOTS.min(ring))
            .map(|i| (next + ring - WINDOW_SLOTS.min(ring) / 2 + i) % ring)
            .collect()
    };
    let payload_cap = geo.payload_capacity(found.superblock.authenticated());
    let mut block = AlignedBuf::new(geo.block_size as usize);
    let mut views = Vec::new();
    for slot in slots {
        vol.read_at(geo.slot_index_offset(slot), block.as_mut_slice())?;
        found.scanned_slots += 1;
        match DataHeader::check(block.as_slice(), payload_cap) {
            BlockCheck::Empty => found.empty_slots += 1,
            BlockCheck::BadChecksum(_) | BlockCheck::BadHeader => found.bad_blocks += 1,
            BlockCheck::Valid(h) => {
                if h.epoch == epoch || found.state.is_err() {
                    found.current_blocks += 1;
                } else {
                    found.stale_blocks += 1;
                }
                let payload = &block.as_slice()[volnic_core::format::DATA_HEADER_LEN..];
                views.push(BlockView {
                    slot,
                    header: h,
                    frames_starting: count_frames(payload, &h),
                });
            }
        }
    }
    views.sort_by_key(|v| (v.header.epoch, v.header.seq));
    let keep = views.len().saturating_sub(last);
    found.last_blocks = views.split_off(keep);
    Ok(())
}

/// Counts frames that start in a block, without trusting any length beyond
/// the valid bytes.
fn count_frames(payload: &[u8], h: &DataHeader) -> u32 {
    if h.first_frame == NO_FRAME_START {
        return 0;
    }
    let valid = (h.valid_bytes as usize).min(payload.len());
    let mut pos = h.first_frame as usize;
    let mut frames = 0;
    while pos + FRAME_PREFIX_LEN <= valid {
        let len = usize::from(u16::from_le_bytes([payload[pos], payload[pos + 1]]));
        if len == 0 {
            break;
        }
        frames += 1;
        pos += FRAME_PREFIX_LEN + len;
    }
    frames
}

/// Reads and checks a volume's superblock and reads its state record (which
/// may be unwritten or damaged: that is the caller's to judge). Every
/// failure is a one-line message naming the volume.
pub fn read_records(
    vol: &mut FileVolume,
    path: &Path,
) -> Result<(Superblock, Result<StateRecord, FormatError>), String> {
    let shown = path.display();
    let bytes = vol.len_bytes();
    if bytes == 0 {
        return Err(format!(
            "{shown} is empty (0 bytes): not a volnic volume; create one with `volnic format {shown}`"
        ));
    }
    if bytes < 512 {
        return Err(format!(
            "{shown} holds only {bytes} bytes, too few for a volnic superblock: not a volnic volume"
        ));
    }
    let mut first = AlignedBuf::new(512);
    vol.read_at(0, first.as_mut_slice())
        .map_err(|e| format!("{shown}: {e}"))?;
    let superblock = Superblock::parse(&first.as_slice()[..SUPERBLOCK_LEN]).map_err(|e| {
        format!("{shown} is not a volnic volume ({e}): format it with `volnic format`")
    })?;
    let geo = superblock.geometry();
    if bytes < geo.volume_bytes() {
        return Err(format!(
            "{shown} is truncated: it holds {bytes} bytes but its format needs {}; restore it or reformat it",
            geo.volume_bytes()
        ));
    }
    let mut block = AlignedBuf::new(geo.block_size as usize);
    vol.read_at(geo.state_offset(), block.as_mut_slice())
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok((superblock, StateRecord::parse(block.as_slice())))
}

/// One member's region of a segment, as `inspect` found it.
#[derive(Debug, Clone)]
pub struct RegionView {
    pub member: u32,
    /// Byte offset of the region in the segment.
    pub offset: u64,
    pub superblock: Result<RegionSuperblock, FormatError>,
    pub state: Result<StateRecord, FormatError>,
    /// The member's acknowledgement table (how far it has read each peer).
    pub acks: Result<AckTable, FormatError>,
}

/// Everything `inspect` learned about a segment, or one member's volume
/// of one.
#[derive(Debug, Clone)]
pub struct SegmentInspection {
    /// The together form (a segment header at block 0, every region);
    /// `false`: one member's volume of the apart form (its region alone).
    pub together: bool,
    pub layout: SegmentLayout,
    pub segment_id: [u8; 16],
    pub authenticated: bool,
    pub bytes: u64,
    pub sector_size: u32,
    pub regions: Vec<RegionView>,
}

/// Reads a segment of either form: `Ok(None)` when block 0 holds neither
/// a segment header nor a region superblock (a link volume, or no volnic
/// format); every failure a one-line message. A region that does not
/// decode is shown as such, not an error: one damaged member region must
/// not hide the others.
pub fn inspect_segment(path: &Path) -> Result<Option<SegmentInspection>, String> {
    let shown = path.display();
    let mut vol = FileVolume::open(path, OpenMode::ReadOnly).map_err(|e| e.to_string())?;
    let bytes = vol.len_bytes();
    if bytes < 512 {
        return Ok(None);
    }
    let mut first = AlignedBuf::new(512);
    vol.read_at(0, first.as_mut_slice())
        .map_err(|e| format!("{shown}: {e}"))?;
    let (together, layout, segment_id, flags, members, need) =
        if let Ok(h) = SegmentHeader::parse(first.as_slice()) {
            let layout = h.layout();
            let members: Vec<u32> = (1..=h.members).collect();
            (
                true,
                layout,
                h.segment_id,
                h.flags,
                members,
                layout.together_bytes(),
            )
        } else if let Ok(r) = RegionSuperblock::parse(first.as_slice()) {
            let layout = r.layout();
            (
                false,
                layout,
                r.segment_id,
                r.flags,
                vec![r.member],
                layout.region_bytes(),
            )
        } else {
            return Ok(None);
        };
    if bytes < need {
        return Err(format!(
            "{shown} is truncated: it holds {bytes} bytes but its format ({} members, {} blocks of {} bytes a region) needs {need}; restore it or reformat it",
            layout.members, layout.ring_blocks, layout.block_size
        ));
    }
    let geo = layout.geometry();
    let bs = geo.block_size as usize;
    let mut block = AlignedBuf::new(bs);
    let mut area = AlignedBuf::new(bs * geo.state_blocks as usize);
    let mut regions = Vec::new();
    for member in members {
        let offset = if together {
            layout.region_offset(member)
        } else {
            0
        };
        vol.read_at(offset, block.as_mut_slice())
            .map_err(|e| format!("{shown}: {e}"))?;
        let superblock = RegionSuperblock::parse(block.as_slice()).and_then(|r| {
            if r.member != member || r.segment_id != segment_id || r.layout() != layout {
                Err(FormatError::BadField("region of another member or segment"))
            } else {
                Ok(r)
            }
        });
        vol.read_at(offset + geo.state_offset(), area.as_mut_slice())
            .map_err(|e| format!("{shown}: {e}"))?;
        let state = StateRecord::parse(area.as_slice());
        let acks = AckTable::parse(&area.as_slice()[STATE_LEN..]);
        regions.push(RegionView {
            member,
            offset,
            superblock,
            state,
            acks,
        });
    }
    Ok(Some(SegmentInspection {
        together,
        layout,
        segment_id,
        authenticated: flags & volnic_core::format::SB_FLAG_AUTHENTICATED != 0,
        bytes,
        sector_size: vol.sector_size(),
        regions,
    }))
}
