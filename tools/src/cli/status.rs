//! `volnic status`: is each volume's writer alive? Reads every volume's
//! state record twice, `--watch-ms` apart: a live writer rewrites it at
//! least every fifth of its peer timeout, so a record that does not change
//! over the watch belongs to a writer that stopped (or whose storage path
//! stalled). A segment (either form) is reported member by member, each
//! region's writer judged the same way. Reads only.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::{json, Value};
use volnic_core::aligned::AlignedBuf;
use volnic_core::format::{FormatError, StateExt, StateRecord, Superblock, WriterState};
use volnic_core::Volume;

use crate::cli::inspect::state_json;
use crate::filevol::{FileVolume, OpenMode};
use crate::format::hex;
use crate::inspect::{inspect_segment, read_records, SegmentInspection};

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Volumes to report on (send volumes, receive volumes, or both).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How long to watch the state records for updates. A live writer
    /// updates its record every fifth of its peer timeout (600 ms at the
    /// default 3 s), so watch longer than that.
    #[arg(long, default_value_t = 1500)]
    pub watch_ms: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the watch concluded about a volume's writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// No writer ever started on this volume.
    NeverStarted,
    /// The record changed during the watch.
    Alive,
    /// The record says starting or running but did not change.
    Stale,
    /// The writer shut down cleanly.
    ShutDown,
    /// The record cannot be decoded.
    Unreadable,
}

impl Liveness {
    pub fn describe(self) -> &'static str {
        match self {
            Liveness::NeverStarted => "never started (no state record written yet)",
            Liveness::Alive => "alive (its state record is being updated)",
            Liveness::Stale => "not updating its state record: stopped without shutting down (crash, power loss) or its storage path is stalled",
            Liveness::ShutDown => "shut down cleanly",
            Liveness::Unreadable => "state record unreadable (damaged or mid-write): inspect the volume",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Liveness::NeverStarted => "never-started",
            Liveness::Alive => "alive",
            Liveness::Stale => "stale",
            Liveness::ShutDown => "shut-down",
            Liveness::Unreadable => "unreadable",
        }
    }
}

/// One volume's status.
#[derive(Clone, Debug)]
pub struct VolumeStatus {
    pub path: PathBuf,
    pub superblock: Superblock,
    pub state: Result<StateRecord, FormatError>,
    /// Record updates seen during the watch.
    pub updates: u64,
    pub liveness: Liveness,
    /// Seconds since the file was last modified (regular files only).
    pub modified_ago_s: Option<f64>,
    /// The liveness clock the writer declares in its record (zero: none,
    /// an older writer).
    pub declared: StateExt,
    /// The volume's storage: (logical sector size, length in bytes).
    pub storage: (usize, u64),
}

/// Why this volume's reader would not read it, in the engine's words
/// (`volnic_core::link::receive_volume_problem`, the check its reader half
/// makes): judged against the reader's own send volume, when that is among
/// the volumes listed.
pub fn reader_problem(s: &VolumeStatus, all: &[VolumeStatus]) -> Option<String> {
    let own = all
        .iter()
        .find(|o| o.superblock.writer_node == s.superblock.reader_node)?;
    let (sector, len) = s.storage;
    volnic_core::link::receive_volume_problem(&own.superblock, &s.superblock, sector, len)
        .map(|p| p.to_string())
}

/// Decides liveness from the records read at the start and end of a watch.
pub fn judge(
    first: &Result<StateRecord, FormatError>,
    last: &Result<StateRecord, FormatError>,
) -> Liveness {
    match (first, last) {
        (_, Err(FormatError::BadMagic)) => Liveness::NeverStarted,
        (_, Err(_)) => Liveness::Unreadable,
        (Ok(a), Ok(b)) if b.update_count != a.update_count || b.epoch != a.epoch => Liveness::Alive,
        // A record that appeared during the watch: a writer just started.
        (Err(_), Ok(b)) if b.state != WriterState::ShuttingDown => Liveness::Alive,
        (_, Ok(b)) if b.state == WriterState::ShuttingDown => Liveness::ShutDown,
        (_, Ok(_)) => Liveness::Stale,
    }
}

fn read_state(path: &Path) -> Result<(Superblock, Result<StateRecord, FormatError>), String> {
    Ok(read_state_ext(path)?.0)
}

type Records = (Superblock, Result<StateRecord, FormatError>);

fn read_state_ext(path: &Path) -> Result<(Records, StateExt), String> {
    let mut vol = FileVolume::open(path, OpenMode::ReadOnly).map_err(|e| e.to_string())?;
    let (sb, state) = read_records(&mut vol, path)?;
    let geo = sb.geometry();
    let mut block = AlignedBuf::new(geo.block_size as usize);
    let declared = match (
        &state,
        vol.read_at(geo.state_offset(), block.as_mut_slice()),
    ) {
        (Ok(_), Ok(())) => StateExt::read(block.as_slice()),
        _ => StateExt::default(),
    };
    Ok(((sb, state), declared))
}

/// The line naming two nodes of one link whose writers declare different
/// peer timeouts, if `s` and another listed volume are such a pair.
pub fn timeout_mismatch(s: &VolumeStatus, all: &[VolumeStatus]) -> Option<String> {
    let peer = all.iter().find(|o| {
        o.superblock.writer_node == s.superblock.reader_node
            && o.superblock.reader_node == s.superblock.writer_node
    })?;
    let (ours, theirs) = (s.declared.peer_timeout_ms, peer.declared.peer_timeout_ms);
    (ours != 0 && theirs != 0 && ours != theirs).then(|| {
        format!(
            "node {} declares a peer timeout of {ours} ms, node {} {theirs} ms: each judges the other by the larger ({} ms); set the same peer-timeout-ms on both nodes",
            s.superblock.writer_node,
            peer.superblock.writer_node,
            ours.max(theirs)
        )
    })
}

/// Watches `paths` for `watch` and reports on each.
pub fn status(paths: &[PathBuf], watch: Duration) -> Result<Vec<VolumeStatus>, String> {
    let first = paths
        .iter()
        .map(|p| read_state(p))
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(watch);
    let mut out = Vec::new();
    for (path, (_, before)) in paths.iter().zip(first) {
        let ((superblock, state), declared) = read_state_ext(path)?;
        let storage = FileVolume::open(path, OpenMode::ReadOnly)
            .map(|v| (v.sector_size() as usize, v.len_bytes()))
            .map_err(|e| e.to_string())?;
        let updates = match (&before, &state) {
            (Ok(a), Ok(b)) if a.epoch == b.epoch => b.update_count.saturating_sub(a.update_count),
            (Ok(_), Ok(_)) => 1,
            _ => 0,
        };
        let modified_ago_s = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(|d| d.as_secs_f64());
        out.push(VolumeStatus {
            path: path.clone(),
            superblock,
            liveness: judge(&before, &state),
            state,
            updates,
            modified_ago_s,
            declared,
            storage,
        });
    }
    Ok(out)
}

/// Longest watch accepted (10 minutes).
pub const MAX_WATCH_MS: u64 = 600_000;

impl StatusArgs {
    /// The range checks of every numeric option.
    pub fn check(&self) -> Result<(), String> {
        crate::cli::bench::in_range("--watch-ms", self.watch_ms, 1..=MAX_WATCH_MS)?;
        Ok(())
    }
}

/// One member region of a segment, as the watch found it.
#[derive(Clone, Debug)]
pub struct MemberStatus {
    pub member: u32,
    pub state: Result<StateRecord, FormatError>,
    pub updates: u64,
    pub liveness: Liveness,
}

/// A segment's status: every member region's writer, judged as a
/// volume's is.
#[derive(Clone, Debug)]
pub struct SegmentStatus {
    pub path: PathBuf,
    pub segment: SegmentInspection,
    pub members: Vec<MemberStatus>,
}

/// Judges each member region of `before` by its record then and now.
pub fn judge_segment(
    path: &Path,
    before: &SegmentInspection,
    now: SegmentInspection,
) -> SegmentStatus {
    let members = before
        .regions
        .iter()
        .zip(&now.regions)
        .map(|(a, b)| MemberStatus {
            member: b.member,
            liveness: judge(&a.state, &b.state),
            updates: match (&a.state, &b.state) {
                (Ok(x), Ok(y)) if x.epoch == y.epoch => {
                    y.update_count.saturating_sub(x.update_count)
                }
                (Ok(_), Ok(_)) => 1,
                _ => 0,
            },
            state: b.state,
        })
        .collect();
    SegmentStatus {
        path: path.to_path_buf(),
        segment: now,
        members,
    }
}

fn segment_of(path: &Path) -> Result<SegmentInspection, String> {
    inspect_segment(path)?.ok_or_else(|| {
        format!(
            "{} stopped being a volnic segment during the watch: check what writes it",
            path.display()
        )
    })
}

pub fn run(args: StatusArgs) -> Result<(), String> {
    args.check()?;
    // Segments (either form) are watched beside the volumes, in the same
    // watch.
    let (segments, volumes): (Vec<PathBuf>, Vec<PathBuf>) = args
        .paths
        .iter()
        .cloned()
        .partition(|p| matches!(inspect_segment(p), Ok(Some(_))));
    let before = segments
        .iter()
        .map(|p| segment_of(p))
        .collect::<Result<Vec<_>, _>>()?;
    let found = status(&volumes, Duration::from_millis(args.watch_ms))?;
    let mut seen = Vec::new();
    for (path, first) in segments.iter().zip(&before) {
        seen.push(judge_segment(path, first, segment_of(path)?));
    }
    if args.json {
        let mut list: Vec<Value> = found.iter().map(|s| to_json(s, &found)).collect();
        list.extend(seen.iter().map(segment_json));
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default()
        );
        return Ok(());
    }
    for (i, s) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_text(s, &found, args.watch_ms);
    }
    for (i, s) in seen.iter().enumerate() {
        if i > 0 || !found.is_empty() {
            println!();
        }
        print_segment(s, args.watch_ms);
    }
    Ok(())
}

fn print_segment(s: &SegmentStatus, watch_ms: u64) {
    let l = &s.segment.layout;
    println!("segment   {}", s.path.display());
    println!(
        "format    {} form, {} members, segment id {}",
        if s.segment.together {
            "together"
        } else {
            "apart"
        },
        l.members,
        hex(&s.segment.segment_id)
    );
    for m in &s.members {
        let who = match &m.state {
            Ok(st) => format!(
                " (host '{}', epoch {}, next seq {}, {} update(s) in {watch_ms} ms)",
                st.host_name_str(),
                st.epoch,
                st.next_seq,
                m.updates
            ),
            Err(_) => String::new(),
        };
        println!("member {:>2} {}{who}", m.member, m.liveness.describe());
    }
}

fn segment_json(s: &SegmentStatus) -> Value {
    let l = &s.segment.layout;
    json!({
        "path": s.path.display().to_string(),
        "segment": {
            "form": if s.segment.together { "together" } else { "apart" },
            "members": l.members,
            "segment_id": hex(&s.segment.segment_id),
        },
        "members": s.members.iter().map(|m| json!({
            "member": m.member,
            "liveness": m.liveness.key(),
            "updates": m.updates,
            "state": m.state.as_ref().ok().map(state_json),
        })).collect::<Vec<_>>(),
    })
}

/// Where another of the listed volumes is written by this volume's reader,
/// that volume's record holds the reader's acknowledgement of this one.
fn acknowledged_by<'a>(s: &VolumeStatus, all: &'a [VolumeStatus]) -> Option<&'a StateRecord> {
    all.iter()
        .filter(|o| {
            o.superblock.writer_node == s.superblock.reader_node
                && o.superblock.reader_node == s.superblock.writer_node
        })
        .find_map(|o| o.state.as_ref().ok())
}

fn print_text(s: &VolumeStatus, all: &[VolumeStatus], watch_ms: u64) {
    let sb = &s.superblock;
    println!("volume      {}", s.path.display());
    println!(
        "link        writer node {} -> reader node {}",
        sb.writer_node, sb.reader_node
    );
    let mut writer = format!("writer      {}", s.liveness.describe());
    if let Ok(st) = &s.state {
        writer.push_str(&format!(
            "; record says {} on host '{}', {} update(s) in {watch_ms} ms",
            st.state.name(),
            st.host_name_str(),
            s.updates
        ));
    }
    println!("{writer}");
    if s.state.is_ok() {
        match (s.declared.state_interval_ms, s.declared.peer_timeout_ms) {
            (0, 0) => println!("clock       declares no liveness clock (an older volnic)"),
            (i, t) => {
                println!("clock       rewrites its record every {i} ms; its peer timeout is {t} ms")
            }
        }
    }
    if let Some(line) = timeout_mismatch(s, all) {
        println!("mismatch    {line}");
    }
    if let Some(problem) = reader_problem(s, all) {
        println!(
            "reader      node {} would not read it: {problem}",
            sb.reader_node
        );
    }
    if let Some(ago) = s.modified_ago_s {
        println!("last write  {ago:.1} s ago (file modification time)");
    }
    if let Ok(st) = &s.state {
        println!(
            "epoch       {} (blocks written this epoch: {})",
            st.epoch, st.next_seq
        );
        println!(
            "reads peer  has read the peer's blocks before seq {} of epoch {}",
            st.ack_seq, st.ack_epoch
        );
        if let Some(peer) = acknowledged_by(s, all) {
            if peer.ack_epoch == st.epoch {
                println!(
                    "peer ack    node {} has read this volume's blocks before seq {} ({} block(s) not yet read)",
                    sb.reader_node,
                    peer.ack_seq,
                    st.next_seq.saturating_sub(peer.ack_seq)
                );
            } else {
                println!(
                    "peer ack    node {} has acknowledged nothing of epoch {} yet",
                    sb.reader_node, st.epoch
                );
            }
        }
    }
}

fn to_json(s: &VolumeStatus, all: &[VolumeStatus]) -> Value {
    let sb = &s.superblock;
    let state = s.state.as_ref().ok().map(state_json);
    let peer_ack = acknowledged_by(s, all).map(|p| json!({"epoch": p.ack_epoch, "seq": p.ack_seq}));
    json!({
        "path": s.path.display().to_string(),
        "writer_node": sb.writer_node,
        "reader_node": sb.reader_node,
        "writer": s.liveness.key(),
        "updates_during_watch": s.updates,
        "modified_ago_s": s.modified_ago_s,
        "record": state,
        "peer_ack": peer_ack,
        "declared": {
            "state_interval_ms": s.declared.state_interval_ms,
            "peer_timeout_ms": s.declared.peer_timeout_ms,
        },
        "peer_timeout_mismatch": timeout_mismatch(s, all),
        "reader_problem": reader_problem(s, all),
    })
}
