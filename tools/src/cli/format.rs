//! `volnic format`: parses its options, formats the volume
//! ([`crate::format`]) and prints what it wrote.

use clap::Args;

use crate::filevol::{resolve_group, Access};
use crate::format::{check_args, format_with_access, hex, FormatArgs};

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
        check_args(&self.args)?;
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
