//! `volnic inspect`: parses its options, reads the volume
//! ([`crate::inspect`]) and prints the superblock, state record and most
//! recent data blocks as text or JSON.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};
use volnic_core::format::{FormatError, StateRecord, NO_FRAME_START};

use crate::format::hex;
use crate::inspect::{inspect, inspect_segment, Inspection, RegionView, SegmentInspection};

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
    if let Some(seg) = inspect_segment(&args.path)? {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&segment_json(&seg)).unwrap_or_default()
            );
        } else {
            print_segment(&args.path, &seg);
        }
        return Ok(());
    }
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

/// The storage line: its logical sector, and whether the blocks fit it.
fn print_storage(sector_size: u32, block_size: u32) {
    println!(
        "storage       {sector_size}-byte logical sectors{}",
        if block_size.is_multiple_of(sector_size) {
            ""
        } else {
            ": the blocks are not a multiple of them, reformat with a larger --block-size"
        }
    );
}

fn print_text(path: &Path, found: &Inspection) {
    let sb = &found.superblock;
    println!("volume        {}", path.display());
    println!(
        "format        volnic v1, {} blocks of {} bytes + 2 header blocks ({} bytes on the volume)",
        sb.ring_blocks, sb.block_size, found.bytes
    );
    print_storage(found.sector_size, sb.block_size);
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

fn print_segment(path: &Path, seg: &SegmentInspection) {
    let l = &seg.layout;
    println!("segment       {}", path.display());
    if seg.together {
        println!(
            "format        volnic v1 segment, together form: {} members, each a region of {} ring blocks of {} bytes ({} bytes on the volume)",
            l.members, l.ring_blocks, l.block_size, seg.bytes
        );
    } else {
        println!(
            "format        volnic v1 segment, apart form: member {} of {}'s volume, a region of {} ring blocks of {} bytes ({} bytes on the volume)",
            seg.regions.first().map_or(0, |r| r.member),
            l.members,
            l.ring_blocks,
            l.block_size,
            seg.bytes
        );
    }
    print_storage(seg.sector_size, l.block_size);
    println!(
        "segment id    {}{}",
        hex(&seg.segment_id),
        if seg.authenticated {
            ", authenticated"
        } else {
            ""
        }
    );
    for r in &seg.regions {
        println!("member {:>2}     {}", r.member, region_line(r));
    }
}

/// One member's region in a line: its stream and its writer's state.
fn region_line(r: &RegionView) -> String {
    let sb = match &r.superblock {
        Ok(sb) => format!("region at byte {}, link id {}", r.offset, hex(&sb.link_id)),
        Err(e) => {
            return format!(
                "region at byte {}: superblock unreadable ({e}): reformat the segment",
                r.offset
            )
        }
    };
    let state = match &r.state {
        Ok(st) => format!(
            "{} (host '{}', epoch {}, next seq {}, update {})",
            st.state.name(),
            st.host_name_str(),
            st.epoch,
            st.next_seq,
            st.update_count
        ),
        Err(FormatError::BadMagic) => "never started".to_string(),
        Err(e) => format!("state unreadable: {e}"),
    };
    format!("{sb}: {state}")
}

/// A segment as JSON (`volnic inspect --json` of a segment).
pub fn segment_json(seg: &SegmentInspection) -> Value {
    let l = &seg.layout;
    let members: Vec<Value> = seg
        .regions
        .iter()
        .map(|r| {
            let acks = match &r.acks {
                Ok(t) => Value::Array(
                    (1..=l.members)
                        .filter_map(|peer| {
                            t.entry(peer).map(|e| {
                                json!({ "peer": peer, "ack_epoch": e.ack_epoch, "ack_seq": e.ack_seq })
                            })
                        })
                        .collect(),
                ),
                Err(_) => Value::Null,
            };
            json!({
                "member": r.member,
                "offset": r.offset,
                "link_id": r.superblock.as_ref().ok().map(|sb| hex(&sb.link_id)),
                "superblock_error": r.superblock.as_ref().err().map(|e| e.to_string()),
                "state": r.state.as_ref().ok().map(state_json),
                "state_error": r.state.as_ref().err().map(|e| e.to_string()),
                "acks": acks,
            })
        })
        .collect();
    json!({
        "segment": {
            "form": if seg.together { "together" } else { "apart" },
            "members": l.members,
            "block_size": l.block_size,
            "ring_blocks": l.ring_blocks,
            "authenticated": seg.authenticated,
            "segment_id": hex(&seg.segment_id),
            "bytes": seg.bytes,
            "sector_size": seg.sector_size,
        },
        "members": members,
    })
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
