//! `volnic format`: parses its options, formats the volume
//! ([`crate::format`]) and prints what it wrote.

use clap::Args;

use crate::filevol::{resolve_group, Access};
use crate::format::{
    check_args, check_segment_args, format_segment, format_with_access, hex, FormatArgs,
};

/// `volnic format` as the command line gives it: [`FormatArgs`] and who may
/// use the volume file.
#[derive(Args, Debug, Clone)]
pub struct FormatCommand {
    #[command(flatten)]
    pub args: FormatArgs,
    /// Service group allowed to read and write the volume file (mode 0660
    /// instead of 0600); a group name or number. Ignored for block devices,
    /// whose owner and mode are udev's.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

impl FormatCommand {
    /// The checks made before anything is opened: geometry, nodes, group.
    pub fn check(&self) -> Result<Access, String> {
        match self.args.members {
            Some(members) => check_segment_args(&self.args, members).map(|_| ())?,
            None => check_args(&self.args).map(|_| ())?,
        }
        Ok(Access {
            group: match &self.group {
                Some(name) => Some(resolve_group(name)?),
                None => None,
            },
        })
    }
}

pub fn run(command: FormatCommand) -> Result<(), String> {
    let access = command.check()?;
    let args = command.args;
    if let Some(members) = args.members {
        let done = format_segment(&args, members, access)?;
        let r = done.regions[0];
        let auth = if r.flags & volnic_core::format::SB_FLAG_AUTHENTICATED != 0 {
            ", authenticated"
        } else {
            ""
        };
        let direct = if done.direct_io {
            ""
        } else {
            " (no O_DIRECT on this filesystem)"
        };
        match done.header {
            Some(h) => println!(
                "formatted segment {}: {} members, each a region of {} ring blocks of {} bytes ({} bytes in all), segment id {}{auth}{direct}",
                args.path.display(),
                h.members,
                h.ring_blocks,
                h.block_size,
                done.bytes,
                hex(&h.segment_id),
            ),
            None => println!(
                "formatted member {} of {} of segment {} on {}: {} ring blocks of {} bytes ({} bytes), link id {}{auth}{direct}{}",
                r.member,
                r.members,
                hex(&done.segment_id),
                args.path.display(),
                r.ring_blocks,
                r.block_size,
                done.bytes,
                hex(&r.link_id),
                if args.segment_id.is_none() {
                    format!("; format the other members' volumes with --segment-id {}", hex(&done.segment_id))
                } else {
                    String::new()
                }
            ),
        }
        return Ok(());
    }
    let done = format_with_access(&args, access)?;
    let sb = done.superblock;
    println!(
        "formatted {}: {} ring blocks of {} bytes ({} bytes), writer node {}, reader node {}, link id {}{}{}",
        args.path.display(),
        sb.ring_blocks,
        sb.block_size,
        done.bytes,
        sb.writer_node,
        sb.reader_node,
        hex(&sb.link_id),
        if sb.authenticated() { ", authenticated" } else { "" },
        if done.direct_io { "" } else { " (no O_DIRECT on this filesystem)" }
    );
    Ok(())
}
