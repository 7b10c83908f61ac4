//! Formatting a volume: writes an empty volnic volume (superblock, empty
//! state record, zeroed ring), refusing to overwrite anything without
//! `force`. `volnic format` (`cli::format`) and the labs call it.

use std::path::PathBuf;

use clap::Args;
use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{Geometry, Superblock, MAX_RING_BLOCKS, MIN_RING_BLOCKS, SUPERBLOCK_LEN};
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
    let mut vol = if path.exists() {
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
    if !geo.block_size.is_multiple_of(sector) {
        return Err(format!(
            "{}: --block-size {} is not a multiple of the storage's {sector}-byte logical sectors: use --block-size {}",
            path.display(),
            geo.block_size,
            geo.block_size.next_multiple_of(sector)
        ));
    }
    let direct_io = vol.direct_io();
    let io_err = |e: volnic_core::VolumeError| format!("{}: {e}", path.display());

    // Zero the state record and the ring first, the superblock last: a
    // format cut short leaves no valid superblock behind.
    let bs = u64::from(geo.block_size);
    let chunk_blocks = ((1u64 << 20) / bs).max(1);
    let mut zero = AlignedBuf::new((chunk_blocks * bs) as usize);
    let mut at = bs;
    while at < need {
        let len = (need - at).min(chunk_blocks * bs) as usize;
        vol.write_at(at, &zero.as_mut_slice()[..len])
            .map_err(io_err)?;
        at += len as u64;
    }
    let superblock = Superblock {
        block_size: geo.block_size,
        ring_blocks: geo.ring_blocks,
        flags: if args.authenticated {
            volnic_core::format::SB_FLAG_AUTHENTICATED
        } else {
            0
        },
        link_id: rand::random(),
        writer_node: args.writer_node,
        reader_node: args.reader_node,
        formatted_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
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
    let Some(geo) = read_superblock(vol).map(|sb| sb.geometry()) else {
        return Ok(());
    };
    let mut buf = AlignedBuf::new(geo.block_size as usize);
    let mut read = |vol: &mut FileVolume| -> Option<(StateRecord, StateExt)> {
        vol.read_at(geo.state_offset(), buf.as_mut_slice()).ok()?;
        let rec = StateRecord::parse(buf.as_slice()).ok()?;
        Some((rec, StateExt::read(buf.as_slice())))
    };
    let Some((first, ext)) = read(vol) else {
        return Ok(());
    };
    if first.state == WriterState::ShuttingDown {
        return Ok(());
    }
    let interval = match u64::from(ext.state_interval_ms) {
        0 => DEFAULT_INTERVAL_MS,
        ms => ms,
    };
    let watch = std::time::Duration::from_millis((interval * 3 / 2 + 100).min(MAX_WATCH_MS));
    let step = std::time::Duration::from_millis((interval / 4).clamp(10, 100));
    let start = std::time::Instant::now();
    while start.elapsed() < watch {
        std::thread::sleep(step);
        if let Some((now, _)) = read(vol) {
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
    Ok(())
}

fn read_superblock(vol: &mut FileVolume) -> Option<Superblock> {
    if vol.len_bytes() < 512 {
        return None;
    }
    let mut first = AlignedBuf::new(4096);
    let n = if vol.len_bytes() >= 4096 { 4096 } else { 512 };
    vol.read_at(0, &mut first.as_mut_slice()[..n]).ok()?;
    Superblock::parse(first.as_slice()).ok()
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
