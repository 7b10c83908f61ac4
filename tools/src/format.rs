//! Formatting a volume: writes an empty volnic volume (superblock, empty
//! state record, zeroed ring), refusing to overwrite anything without
//! `force`. `volnic format` (`cli::format`) and the labs call it.

use std::path::PathBuf;

use clap::Args;
use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{Geometry, Superblock, MAX_RING_BLOCKS, MIN_RING_BLOCKS, SUPERBLOCK_LEN};
use volnic_core::segment::{
    RegionSuperblock, SegmentHeader, SegmentLayout, MAX_MEMBERS, MIN_MEMBERS, SEGMENT_HEADER_LEN,
};
use volnic_core::Volume;

use crate::filevol::{Access, FileVolume};

/// Largest number of existing bytes inspected for foreign data.
const PROBE_BYTES: u64 = 1 << 20;

// What to format and how. These are also `volnic format`'s options (the
// CLI flattens them into its command), so their docs are the help text.
#[derive(Args, Debug, Clone)]
pub struct FormatArgs {
    /// Volume to format: a file (created if missing) or a block device.
    pub path: PathBuf,
    /// Block size in bytes (multiple of 512, 512..=1048576). Both peers of a
    /// link must use the same.
    #[arg(long, default_value_t = 4096)]
    pub block_size: u32,
    /// Ring slots (data blocks) on the volume.
    #[arg(long, default_value_t = 1024)]
    pub blocks: u32,
    /// Node number (1..=32) of the node that writes this volume.
    #[arg(long, default_value_t = 1)]
    pub writer_node: u32,
    /// Node number (1..=32) of the node that reads it.
    #[arg(long, default_value_t = 2)]
    pub reader_node: u32,
    /// Overwrite a volume that already holds a volnic format or other data.
    #[arg(long)]
    pub force: bool,
    /// Authenticated mode: every block will carry a keyed MAC; both nodes
    /// then need the same key file.
    #[arg(long)]
    pub authenticated: bool,
    /// Format a segment of N members (2..=32) instead of a link volume:
    /// one shared LUN or file holding a region for every member (the
    /// together form of docs/FORMAT.md, "Segments"); --blocks is then each
    /// region's ring.
    #[arg(long, value_name = "N", conflicts_with_all = ["writer_node", "reader_node"])]
    pub members: Option<u32>,
    /// With --members: format member K's volume of an apart-form segment
    /// (one volume per member, carried to the others by the storage)
    /// instead of the whole segment on one volume.
    #[arg(long, value_name = "K", requires = "members")]
    pub member: Option<u32>,
    /// With --member: the segment's id (32 hex digits), as `volnic format`
    /// printed it for the first member's volume; every member's volume of
    /// one segment carries the same. Without it a new segment id is drawn.
    #[arg(long, value_name = "HEX", requires = "member")]
    pub segment_id: Option<String>,
}

/// What `format` did, for the caller to print.
#[derive(Debug)]
pub struct Formatted {
    pub superblock: Superblock,
    pub bytes: u64,
    pub direct_io: bool,
}

/// `bytes` as lowercase hexadecimal (link ids, MACs).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The block size of a format, bench, demo or pair: the format's rule, or
/// the one-line error naming `flag`.
pub fn check_block_size_option(flag: &str, block_size: u32) -> Result<u32, String> {
    volnic_core::format::check_block_size(block_size).map_err(|_| {
        format!(
            "{flag} {block_size} is not a multiple of 512 between 512 and 1048576: use e.g. 4096"
        )
    })?;
    Ok(block_size)
}

/// The range checks of every numeric option of `volnic format`.
pub fn check_args(args: &FormatArgs) -> Result<Geometry, String> {
    check_block_size_option("--block-size", args.block_size)?;
    if !(MIN_RING_BLOCKS..=MAX_RING_BLOCKS).contains(&args.blocks) {
        return Err(format!(
            "--blocks {} is out of range: use {MIN_RING_BLOCKS}..={MAX_RING_BLOCKS}",
            args.blocks
        ));
    }
    for (name, node) in [
        ("--writer-node", args.writer_node),
        ("--reader-node", args.reader_node),
    ] {
        if !(1..=32).contains(&node) {
            return Err(format!("{name} {node} is out of range: use 1..=32"));
        }
    }
    if args.writer_node == args.reader_node {
        return Err(format!(
            "--writer-node and --reader-node are both {}: a volume carries traffic from one node to another",
            args.writer_node
        ));
    }
    Ok(Geometry::new(args.block_size, args.blocks))
}

/// Formats the volume named by `args`; a volume file gets mode 0600.
pub fn format(args: &FormatArgs) -> Result<Formatted, String> {
    format_with_access(args, Access::default())
}

/// Formats the volume named by `args`; a volume file (new or reformatted)
/// gets exactly the mode `access` says, whatever the umask.
pub fn format_with_access(args: &FormatArgs, access: Access) -> Result<Formatted, String> {
    let geo = check_args(args)?;
    let path = &args.path;
    let need = geo.volume_bytes();
    let mut vol = open_to_format(args, need, geo.block_size, access)?;
    let direct_io = vol.direct_io();
    let io_err = |e: volnic_core::VolumeError| format!("{}: {e}", path.display());
    // Zero the state record and the ring first, the superblock last: a
    // format cut short leaves no valid superblock behind.
    zero(&mut vol, u64::from(geo.block_size), need).map_err(io_err)?;
    let superblock = Superblock {
        block_size: geo.block_size,
        ring_blocks: geo.ring_blocks,
        flags: flags(args),
        link_id: rand::random(),
        writer_node: args.writer_node,
        reader_node: args.reader_node,
        formatted_at_ms: now_ms(),
    };
    let mut block = AlignedBuf::new(geo.block_size as usize);
    superblock.emit(&mut block.as_mut_slice()[..SUPERBLOCK_LEN]);
    vol.write_at(0, block.as_slice()).map_err(io_err)?;
    Ok(Formatted {
        superblock,
        bytes: need,
        direct_io,
    })
}

/// What [`format_segment`] wrote, for the caller to print.
#[derive(Debug)]
pub struct FormattedSegment {
    /// The segment header (the together form; `None`: one member's volume
    /// of the apart form).
    pub header: Option<SegmentHeader>,
    /// The regions written, in member order.
    pub regions: Vec<RegionSuperblock>,
    pub segment_id: [u8; 16],
    pub bytes: u64,
    pub direct_io: bool,
}

/// The range checks of `volnic format --members`: the block size and
/// ring of every region, and the member count.
pub fn check_segment_args(args: &FormatArgs, members: u32) -> Result<SegmentLayout, String> {
    check_block_size_option("--block-size", args.block_size)?;
    if !(MIN_RING_BLOCKS..=MAX_RING_BLOCKS).contains(&args.blocks) {
        return Err(format!(
            "--blocks {} is out of range: use {MIN_RING_BLOCKS}..={MAX_RING_BLOCKS}",
            args.blocks
        ));
    }
    if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&members) {
        return Err(format!(
            "--members {members} is out of range: a segment has {MIN_MEMBERS}..={MAX_MEMBERS} members"
        ));
    }
    if let Some(member) = args.member {
        if !(1..=members).contains(&member) {
            return Err(format!(
                "--member {member} is outside the segment: use 1..={members} (--members {members})"
            ));
        }
    }
    if let Some(text) = &args.segment_id {
        parse_segment_id(text)?;
    }
    Ok(SegmentLayout {
        block_size: args.block_size,
        ring_blocks: args.blocks,
        members,
    })
}

/// A segment id as `--segment-id` gives it: 32 hexadecimal digits.
pub fn parse_segment_id(text: &str) -> Result<[u8; 16], String> {
    let bad = || {
        format!(
            "--segment-id {text:?} is not 32 hexadecimal digits: copy the segment id `volnic format` or `volnic inspect` printed for the segment's first member volume"
        )
    };
    if text.len() != 32 || !text.is_ascii() {
        return Err(bad());
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(id)
}

/// Formats a together-form segment of `members` at `args.path` (with
/// `args.member`, that member's volume of the apart form: its region
/// alone, from block 0): block 0
/// the segment header, blocks 1..=members the (empty) head blocks, then
/// one region per member, each a region superblock with its own link id,
/// an empty state area and a zeroed ring. Refuses what
/// [`format_with_access`] refuses.
pub fn format_segment(
    args: &FormatArgs,
    members: u32,
    access: Access,
) -> Result<FormattedSegment, String> {
    let layout = check_segment_args(args, members)?;
    let path = &args.path;
    let need = match args.member {
        Some(_) => layout.region_bytes(),
        None => layout.together_bytes(),
    };
    let mut vol = open_to_format(args, need, layout.block_size, access)?;
    let direct_io = vol.direct_io();
    let io_err = |e: volnic_core::VolumeError| format!("{}: {e}", path.display());
    // Everything zeroed first, the regions' superblocks next, the segment
    // header last: a format cut short leaves no valid header behind.
    zero(&mut vol, u64::from(layout.block_size), need).map_err(io_err)?;
    let segment_id: [u8; 16] = match &args.segment_id {
        Some(text) => parse_segment_id(text)?,
        None => rand::random(),
    };
    let formatted_at_ms = now_ms();
    let mut block = AlignedBuf::new(layout.block_size as usize);
    let mut regions = Vec::new();
    // The apart form: this member's region alone, at block 0.
    let (first, last, base) = match args.member {
        Some(k) => (k, k, Some(k)),
        None => (1, members, None),
    };
    for member in first..=last {
        let region = RegionSuperblock {
            block_size: layout.block_size,
            ring_blocks: layout.ring_blocks,
            flags: flags(args),
            link_id: rand::random(),
            member,
            members,
            segment_id,
            formatted_at_ms,
        };
        block.as_mut_slice().fill(0);
        region.emit(&mut block.as_mut_slice()[..SUPERBLOCK_LEN]);
        let at = match base {
            Some(_) => 0,
            None => layout.region_offset(member),
        };
        vol.write_at(at, block.as_slice()).map_err(io_err)?;
        regions.push(region);
    }
    if base.is_some() {
        return Ok(FormattedSegment {
            header: None,
            regions,
            segment_id,
            bytes: need,
            direct_io,
        });
    }
    let header = SegmentHeader {
        block_size: layout.block_size,
        ring_blocks: layout.ring_blocks,
        flags: flags(args),
        segment_id,
        members,
        formatted_at_ms,
    };
    block.as_mut_slice().fill(0);
    header.emit(&mut block.as_mut_slice()[..SEGMENT_HEADER_LEN]);
    vol.write_at(0, block.as_slice()).map_err(io_err)?;
    Ok(FormattedSegment {
        header: Some(header),
        regions,
        segment_id,
        bytes: need,
        direct_io,
    })
}

fn flags(args: &FormatArgs) -> u32 {
    if args.authenticated {
        volnic_core::format::SB_FLAG_AUTHENTICATED
    } else {
        0
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes zeroes from byte `at` to `need`, a megabyte at a time.
fn zero(vol: &mut FileVolume, mut at: u64, need: u64) -> Result<(), volnic_core::VolumeError> {
    let chunk = 1u64 << 20;
    let mut zero = AlignedBuf::new(chunk as usize);
    while at < need {
        let len = (need - at).min(chunk) as usize;
        vol.write_at(at, &zero.as_mut_slice()[..len])?;
        at += len as u64;
    }
    Ok(())
}

/// Opens (or creates) the volume `args` names for formatting, `need` bytes
/// of blocks of `block_size`: refuses a volume a running writer holds, a
/// volnic volume or other data without --force, and blocks the storage's
/// sectors cannot carry whole; grows a file that is too short.
fn open_to_format(
    args: &FormatArgs,
    need: u64,
    block_size: u32,
    access: Access,
) -> Result<FileVolume, String> {
    let path = &args.path;
    let vol = if path.exists() {
        // A running writer on this host holds the volume's lock: refused
        // at once, --force or not (it overrides data, not a running link).
        if FileVolume::lock_held_elsewhere(path) {
            return Err(in_use_here(path));
        }
        let mut vol = FileVolume::open_exclusive(path).map_err(|e| match e.problem() {
            crate::filevol::OpenProblem::Locked => in_use_here(path),
            _ => e.to_string(),
        })?;
        refuse_if_writer_alive(&mut vol, path)?;
        if !args.force {
            refuse_if_in_use(&mut vol, path)?;
        }
        if !vol.is_block_device() {
            access
                .apply(vol.file())
                .map_err(|e| format!("{}: cannot set its mode: {e}", path.display()))?;
        }
        if vol.len_bytes() < need {
            vol.grow(need).map_err(|e| {
                format!(
                    "{}: holds {} bytes but {need} are needed ({e}): use a larger device or fewer --blocks",
                    path.display(),
                    vol.len_bytes()
                )
            })?;
        }
        vol
    } else {
        FileVolume::create_with_access(path, need, false, access).map_err(|e| e.to_string())?
    };
    // Refused before anything is written: a block smaller than the
    // storage's logical sector could never be written whole.
    let sector = vol.sector_size();
    if !block_size.is_multiple_of(sector) {
        return Err(format!(
            "{}: --block-size {} is not a multiple of the storage's {sector}-byte logical sectors: use --block-size {}",
            path.display(),
            block_size,
            block_size.next_multiple_of(sector)
        ));
    }
    Ok(vol)
}

fn in_use_here(path: &std::path::Path) -> String {
    format!(
        "{} is being written by a running volnic endpoint on this host (it holds the volume's lock): stop it first — --force overrides data on a volume, not a running link",
        path.display()
    )
}

/// Longest watch of a live writer's record (a writer declaring a longer
/// state interval is watched this long).
const MAX_WATCH_MS: u64 = 15_000;
/// State interval assumed for a writer that does not declare one (an older
/// volnic at the default 3 s peer timeout).
const DEFAULT_INTERVAL_MS: u64 = 600;

/// Refuses to format a volnic volume whose writer is alive, on any host:
/// when its state record says starting or running, the record is watched
/// for one state interval (the one the writer declares, with a margin) and
/// any update means a live writer, named in the refusal.
fn refuse_if_writer_alive(vol: &mut FileVolume, path: &std::path::Path) -> Result<(), String> {
    use volnic_core::format::{StateExt, StateRecord, WriterState};
    // Where the writers' records are: one on a link volume, one per
    // member region on a segment.
    let (block_size, records): (u32, Vec<u64>) = match read_head(vol) {
        Some(Head::Volume(sb)) => (sb.block_size, vec![sb.geometry().state_offset()]),
        Some(Head::Segment(h)) => {
            let layout = h.layout();
            let state = layout.geometry().state_offset();
            let offsets = (1..=h.members)
                .map(|m| layout.region_offset(m) + state)
                .collect();
            (h.block_size, offsets)
        }
        None => return Ok(()),
    };
    let mut buf = AlignedBuf::new(block_size as usize);
    let mut read = |vol: &mut FileVolume, at: u64| -> Option<(StateRecord, StateExt)> {
        vol.read_at(at, buf.as_mut_slice()).ok()?;
        let rec = StateRecord::parse(buf.as_slice()).ok()?;
        Some((rec, StateExt::read(buf.as_slice())))
    };
    // The records that say a writer runs, watched together for the
    // longest interval any of them declares.
    let mut watched = Vec::new();
    let mut interval = 0;
    for at in records {
        let Some((first, ext)) = read(vol, at) else {
            continue;
        };
        if first.state == WriterState::ShuttingDown {
            continue;
        }
        interval = interval.max(match u64::from(ext.state_interval_ms) {
            0 => DEFAULT_INTERVAL_MS,
            ms => ms,
        });
        watched.push((at, first));
    }
    if watched.is_empty() {
        return Ok(());
    }
    let watch = std::time::Duration::from_millis((interval * 3 / 2 + 100).min(MAX_WATCH_MS));
    let step = std::time::Duration::from_millis((interval / 4).clamp(10, 100));
    let start = std::time::Instant::now();
    while start.elapsed() < watch {
        std::thread::sleep(step);
        for (at, first) in &watched {
            if let Some((now, _)) = read(vol, *at) {
                if now.update_count != first.update_count || now.epoch != first.epoch {
                    return Err(format!(
                        "{} is being written by a live volnic writer '{}' (node {}, epoch {}): stop it first — --force overrides data on a volume, not a running link",
                        path.display(),
                        now.host_name_str(),
                        now.writer_node,
                        now.epoch
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What block 0 of a volume holds.
enum Head {
    Volume(Superblock),
    Segment(SegmentHeader),
}

fn read_head(vol: &mut FileVolume) -> Option<Head> {
    if vol.len_bytes() < 512 {
        return None;
    }
    let mut first = AlignedBuf::new(4096);
    let n = if vol.len_bytes() >= 4096 { 4096 } else { 512 };
    vol.read_at(0, &mut first.as_mut_slice()[..n]).ok()?;
    if let Ok(h) = SegmentHeader::parse(first.as_slice()) {
        return Some(Head::Segment(h));
    }
    Superblock::parse(first.as_slice()).ok().map(Head::Volume)
}

/// Refuses to format over a volnic volume or any other non-zero data.
fn refuse_if_in_use(vol: &mut FileVolume, path: &std::path::Path) -> Result<(), String> {
    let len = vol.len_bytes().min(PROBE_BYTES);
    let len = len - len % 512;
    if len == 0 {
        return Ok(());
    }
    let mut probe = AlignedBuf::new(len as usize);
    vol.read_at(0, probe.as_mut_slice())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Ok(h) = SegmentHeader::parse(probe.as_slice()) {
        return Err(format!(
            "{} is already a volnic segment ({} members, {} blocks of {} bytes each): add --force to overwrite it",
            path.display(),
            h.members,
            h.ring_blocks,
            h.block_size
        ));
    }
    if let Ok(sb) = Superblock::parse(probe.as_slice()) {
        return Err(format!(
            "{} is already a volnic volume (writer node {}, reader node {}, {} blocks of {} bytes): add --force to overwrite it",
            path.display(),
            sb.writer_node,
            sb.reader_node,
            sb.ring_blocks,
            sb.block_size
        ));
    }
    if probe.as_slice().iter().any(|&b| b != 0) {
        return Err(format!(
            "{} holds data that is not a volnic volume: add --force to overwrite it",
            path.display()
        ));
    }
    Ok(())
}
