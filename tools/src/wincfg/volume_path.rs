//! Volume paths: which paths `config set` accepts for a send or receive
//! volume, and how they are written.

#[allow(unused_imports)]
use super::*;

/// A volume path in one of the forms the driver opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumePath {
    /// `D:\volnic\a.vol`: a file on a mounted volume.
    DriveLetter(String),
    /// `\\?\Volume{GUID}\volnic\a.vol`: a file on a volume named by its
    /// GUID (no drive letter needed), or `\\?\Volume{GUID}` itself.
    VolumeGuid(String),
    /// `\\.\PhysicalDriveN`: a whole disk, raw.
    PhysicalDrive(u32),
    /// `\\?\scsi#disk&ven_…#{GUID}`: a whole disk, raw, named by its
    /// device interface (`(Get-Disk -Number N).Path`), a name that stays
    /// the same when disks are renumbered.
    DeviceInterface(String),
    /// `\??\…` or `\Device\…`: an NT path, passed to the driver unchanged.
    Nt(String),
}

impl VolumePath {
    /// The NT path the driver opens (see `settings::nt_volume_path`).
    pub fn nt_path(&self) -> String {
        match self {
            VolumePath::DriveLetter(p)
            | VolumePath::VolumeGuid(p)
            | VolumePath::DeviceInterface(p)
            | VolumePath::Nt(p) => settings::nt_volume_path(p),
            VolumePath::PhysicalDrive(n) => format!("\\??\\PhysicalDrive{n}"),
        }
    }
}

/// Characters Windows forbids in a path component.
const FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*'];

fn check_components(name: &str, path: &str, rest: &str) -> Result<(), String> {
    if rest.is_empty() {
        return Err(format!(
            "{name} '{path}' names no file: give the volume file, e.g. D:\\volnic\\a.vol"
        ));
    }
    if rest.ends_with('\\') {
        return Err(format!(
            "{name} '{path}' ends with a separator, so it names a directory: give the volume file"
        ));
    }
    if let Some(c) = rest
        .chars()
        .find(|c| FORBIDDEN.contains(c) || c.is_control())
    {
        return Err(format!(
            "{name} '{path}' contains '{}', which Windows does not allow in a path",
            c.escape_default()
        ));
    }
    Ok(())
}

pub(super) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

/// Checks a volume path for the setting `name` (SendVolume or
/// ReceiveVolume). Accepted: drive-letter paths (`D:\volnic\a.vol`),
/// `\\?\Volume{GUID}\…`, `\\.\PhysicalDriveN`, disk device interface
/// paths (`\\?\scsi#disk&…#{GUID}`) and NT paths (`\??\…`,
/// `\Device\…`). Relative paths, drive-relative paths (`D:a.vol`), rooted
/// paths without a drive (`\volnic\a.vol`), UNC paths and other devices are
/// refused with a one-line reason.
pub fn parse_volume_path(name: &str, text: &str) -> Result<VolumePath, String> {
    let path = text.trim();
    if path.is_empty() {
        return Err(format!(
            "{name} is empty: give the volume's path, e.g. D:\\volnic\\a.vol"
        ));
    }
    if path.contains('/') {
        return Err(format!(
            "{name} '{path}' contains '/': write the path with backslashes (the driver hands it to the kernel, which does not read '/' as a separator)"
        ));
    }
    if let Some(rest) =
        strip_prefix_ci(path, "\\??\\").or_else(|| strip_prefix_ci(path, "\\Device\\"))
    {
        if rest.is_empty() || rest.ends_with('\\') {
            return Err(format!("{name} '{path}' is an incomplete NT path"));
        }
        return Ok(VolumePath::Nt(path.to_string()));
    }
    if let Some(rest) = strip_prefix_ci(path, "\\\\?\\Volume{") {
        let Some((guid, tail)) = rest.split_once('}') else {
            return Err(format!(
                "{name} '{path}': \\\\?\\Volume{{ has no closing '}}'"
            ));
        };
        if !is_guid(guid) {
            return Err(format!(
                "{name} '{path}': '{guid}' is not a volume GUID (mountvol lists them)"
            ));
        }
        if !tail.is_empty() {
            let Some(file) = tail.strip_prefix('\\') else {
                return Err(format!(
                    "{name} '{path}': expected '\\' after the volume GUID"
                ));
            };
            if !file.is_empty() {
                check_components(name, path, file)?;
            }
        }
        return Ok(VolumePath::VolumeGuid(path.to_string()));
    }
    if let Some(rest) = strip_prefix_ci(path, "\\\\?\\") {
        // A device interface path: `<enumerator>#<device id>#<instance>#{class}`
        // as Get-Disk's Path gives it (no file part: the disk, raw).
        if let Some((interface, class)) = rest.rsplit_once("#{") {
            let Some(guid) = class.strip_suffix('}') else {
                return Err(format!(
                    "{name} '{path}': a device interface path ends with #{{GUID}}; copy it whole from (Get-Disk -Number N).Path"
                ));
            };
            if !is_guid(guid) || interface.is_empty() || rest.contains('\\') {
                return Err(format!(
                    "{name} '{path}' is not a device interface path; copy it whole from (Get-Disk -Number N).Path"
                ));
            }
            return Ok(VolumePath::DeviceInterface(path.to_string()));
        }
    }
    if let Some(rest) = strip_prefix_ci(path, "\\\\.\\PhysicalDrive") {
        return match rest.parse::<u32>() {
            Ok(n) if !rest.starts_with('+') => Ok(VolumePath::PhysicalDrive(n)),
            _ => Err(format!(
                "{name} '{path}': expected \\\\.\\PhysicalDriveN with N the disk number (Get-Disk lists them)"
            )),
        };
    }
    if path.starts_with("\\\\") {
        return Err(format!(
            "{name} '{path}' is a UNC or device path the driver does not open: use a drive-letter path, \\\\?\\Volume{{GUID}}\\..., \\\\.\\PhysicalDriveN, a disk's device interface path ((Get-Disk -Number N).Path) or an NT path"
        ));
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        let Some(rest) = path[2..].strip_prefix('\\') else {
            return Err(format!(
                "{name} '{path}' is relative to the current directory of drive {}: give an absolute path such as {}:\\volnic\\a.vol",
                &path[..1],
                &path[..1]
            ));
        };
        check_components(name, path, rest)?;
        return Ok(VolumePath::DriveLetter(path.to_string()));
    }
    Err(format!(
        "{name} '{path}' is a relative path: give an absolute one such as D:\\volnic\\a.vol (the driver has no current directory)"
    ))
}
