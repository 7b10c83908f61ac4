//! `volnic inspect`: decodes a volume's superblock, state record and most
//! recent data blocks. Reads only; never panics on what it reads.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};
use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{
    BlockCheck, DataHeader, FormatError, Geometry, StateRecord, Superblock, FRAME_PREFIX_LEN,
    NO_FRAME_START, SUPERBLOCK_LEN,
};
use volnic_core::Volume;

use crate::filevol::{FileVolume, OpenMode};
use crate::format::hex;

/// Rings larger than this many bytes are scanned only around the state
/// record's next sequence number.
const FULL_SCAN_BYTES: u64 = 64 << 20;
/// Slots scanned around next_seq for large rings.
const WINDOW_SLOTS: u64 = 4096;

#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Volume to inspect (file or block device).
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many of the most recent data blocks to decode.
    #[arg(long, default_value_t = 5)]
    pub last: usize,
}

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

/// Most recent blocks `--last` may ask for.
pub const MAX_LAST: usize = 4096;

impl InspectArgs {
    /// The range checks of every numeric option.
    pub fn check(&self) -> Result<(), String> {
        crate::cli::bench::in_range("--last", self.last, 0..=MAX_LAST)?;
        Ok(())
    }
}

pub fn run(args: InspectArgs) -> Result<(), String> {
    args.check()?;
    let found = inspect(&args.path, args.last)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&found)).unwrap_or_default()
        );
    } else {
        print_text(&args.path, &found);
    }
    Ok(())
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

fn print_text(path: &Path, found: &Inspection) {
    let sb = &found.superblock;
    println!("volume        {}", path.display());
    println!(
        "format        volnic v1, {} blocks of {} bytes + 2 header blocks ({} bytes on the volume)",
        sb.ring_blocks, sb.block_size, found.bytes
    );
    println!(
        "storage       {}-byte logical sectors{}",
        found.sector_size,
        if sb.block_size.is_multiple_of(found.sector_size) {
            ""
        } else {
            ": the blocks are not a multiple of them, reformat with a larger --block-size"
        }
    );
    println!(
        "link          writer node {} -> reader node {}, link id {}{}",
        sb.writer_node,
        sb.reader_node,
        hex(&sb.link_id),
        if sb.authenticated() {
            ", authenticated"
        } else {
            ""
        }
    );
    match &found.state {
        Ok(st) => {
            println!(
                "state         {} (host '{}', epoch {}, update {})",
                st.state.name(),
                st.host_name_str(),
                st.epoch,
                st.update_count
            );
            println!(
                "sequence      next {} (last written {})",
                st.next_seq,
                st.next_seq
                    .checked_sub(1)
                    .map_or("none".to_string(), |s| s.to_string())
            );
            println!(
                "peer ack      epoch {} up to seq {}",
                st.ack_epoch, st.ack_seq
            );
            let c = &st.counters;
            println!(
                "counters      sent {} frames / {} bytes, received {} frames / {} bytes, drops {}, rejects {}",
                c.frames_sent, c.bytes_sent, c.frames_received, c.bytes_received, c.drops, c.rejects
            );
        }
        Err(FormatError::BadMagic) => {
            println!("state         never written (no writer has started)")
        }
        Err(e) => println!("state         unreadable: {e}"),
    }
    println!(
        "ring          {} of {} slots scanned: {} current, {} stale, {} bad, {} empty",
        found.scanned_slots,
        sb.ring_blocks,
        found.current_blocks,
        found.stale_blocks,
        found.bad_blocks,
        found.empty_slots
    );
    for v in &found.last_blocks {
        let h = &v.header;
        println!(
            "  slot {:>6}  epoch {} seq {:>8}  {:>6} valid bytes  {} frame(s) start{}  ack {}:{}",
            v.slot,
            h.epoch,
            h.seq,
            h.valid_bytes,
            v.frames_starting,
            if h.first_frame == NO_FRAME_START || h.first_frame > 0 {
                ", continues a frame"
            } else {
                ""
            },
            h.ack_epoch,
            h.ack_seq
        );
    }
}

/// A state record as JSON (`volnic inspect --json`, `volnic status --json`).
pub fn state_json(st: &StateRecord) -> Value {
    json!({
        "state": st.state.name(),
        "host": st.host_name_str(),
        "epoch": st.epoch,
        "next_seq": st.next_seq,
        "ack_epoch": st.ack_epoch,
        "ack_seq": st.ack_seq,
        "update_count": st.update_count,
        "writer_time_us": st.writer_time_us,
        "counters": {
            "frames_sent": st.counters.frames_sent,
            "bytes_sent": st.counters.bytes_sent,
            "frames_received": st.counters.frames_received,
            "bytes_received": st.counters.bytes_received,
            "drops": st.counters.drops,
            "rejects": st.counters.rejects,
        },
    })
}

fn to_json(found: &Inspection) -> Value {
    let sb = &found.superblock;
    let state = match &found.state {
        Ok(st) => state_json(st),
        Err(FormatError::BadMagic) => Value::Null,
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({
        "superblock": {
            "version": volnic_core::format::FORMAT_VERSION,
            "block_size": sb.block_size,
            "ring_blocks": sb.ring_blocks,
            "authenticated": sb.authenticated(),
            "link_id": hex(&sb.link_id),
            "writer_node": sb.writer_node,
            "reader_node": sb.reader_node,
            "formatted_at_ms": sb.formatted_at_ms,
        },
        "bytes": found.bytes,
        "sector_size": found.sector_size,
        "state": state,
        "ring": {
            "scanned": found.scanned_slots,
            "current": found.current_blocks,
            "stale": found.stale_blocks,
            "bad": found.bad_blocks,
            "empty": found.empty_slots,
        },
        "last_blocks": found.last_blocks.iter().map(|v| json!({
            "slot": v.slot,
            "epoch": v.header.epoch,
            "seq": v.header.seq,
            "valid_bytes": v.header.valid_bytes,
            "first_frame": v.header.first_frame,
            "frames_starting": v.frames_starting,
            "ack_epoch": v.header.ack_epoch,
            "ack_seq": v.header.ack_seq,
        })).collect::<Vec<_>>(),
    })
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
