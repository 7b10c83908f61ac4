//! Installing and configuring volnic adapters on Windows: every decision,
//! on every platform.
//!
//! What `volnic install`, `uninstall`, `list` and `config` do is decided
//! here, in plain Rust that the Linux tests run: which INF, which hardware
//! ID, the order of the steps, how a `KEY=VALUE` argument is checked against
//! the settings table (`volnic_core::settings`, the same table the driver
//! and the INF follow), which volume paths are accepted, and which registry
//! values a `config set` writes under which key. The Win32 side (SetupAPI,
//! newdev, the registry) sits behind the [`WinSystem`] trait: [`win32`] on
//! Windows, a thin layer of calls and nothing else, and [`FakeSystem`] in
//! tests, which records every call.
//!
//! Where the adapter keeps its settings: the driver key of its device node,
//! `HKLM\SYSTEM\CurrentControlSet\Control\Class\{4d36e972-…}\NNNN`, the same
//! key Device Manager's Advanced tab edits and `NdisOpenConfigurationEx`
//! reads. Every value is stored as REG_SZ, numbers as decimal text, as
//! Device Manager stores them; NDIS converts numbers when the driver reads
//! them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use volnic_core::settings::{self, Kind, Setting};

#[cfg(windows)]
pub mod win32;

/// The hardware ID in `inf/volnic.inx`; `install` creates a root-enumerated
/// device with it.
pub const HARDWARE_ID: &str = "root\\volnic";
/// The network adapter setup class.
pub const NET_CLASS_NAME: &str = "Net";
pub const NET_CLASS_GUID: &str = "{4d36e972-e325-11ce-bfc1-08002be10318}";
/// The stamped INF of the driver package (`cargo make` output).
pub const INF_FILE_NAME: &str = "volnic.inf";
/// Driver keys of network adapters, under HKLM.
pub const CLASS_KEY: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e972-e325-11ce-bfc1-08002be10318}";
/// Per-interface network configuration (the connection name), under HKLM.
pub const NETWORK_KEY: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Network\\{4d36e972-e325-11ce-bfc1-08002be10318}";

// ---------------------------------------------------------------------------
// Volume paths
// ---------------------------------------------------------------------------

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

fn is_guid(text: &str) -> bool {
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

// ---------------------------------------------------------------------------
// KEY=VALUE
// ---------------------------------------------------------------------------

/// One checked `KEY=VALUE` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub setting: &'static Setting,
    /// The text to store, or `None` to delete the value (an empty value of
    /// an optional setting, like Device Manager's "Not Present"; the
    /// driver's default applies to an absent number).
    pub value: Option<String>,
}

fn known_names() -> String {
    settings::ALL
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The setting called `key` (case-insensitive), or a one-line error listing
/// the known ones.
pub fn find_setting(key: &str) -> Result<&'static Setting, String> {
    settings::find(key.trim()).ok_or_else(|| {
        format!(
            "unknown setting '{}': the adapter reads {}",
            key.trim(),
            known_names()
        )
    })
}

/// Checks `KEY=VALUE` against the settings table: a known key, a number in
/// range and on step, a volume path in an accepted form, a unicast MAC.
/// `KEY=` (empty) deletes an optional value; numbers then take their
/// default. The value is normalised as Device Manager would store it
/// (decimal numbers, a MAC as 12 upper-case hex digits).
pub fn parse_assignment(arg: &str) -> Result<Assignment, String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(format!(
            "'{arg}' is not KEY=VALUE: write e.g. BlockSize=4096 or SendVolume=D:\\volnic\\a.vol"
        ));
    };
    let setting = find_setting(key)?;
    let name = setting.name;
    let value = value.trim();
    if value.is_empty() {
        return if setting.optional() {
            Ok(Assignment {
                setting,
                value: None,
            })
        } else {
            Err(format!(
                "{name} cannot be empty: the adapter does not start without it"
            ))
        };
    }
    let stored = match setting.kind {
        Kind::Integer(range) => {
            let number: u32 = value.parse().map_err(|_| {
                format!("{name} = '{value}' is not a whole number (decimal, no unit)")
            })?;
            if !range.contains(number) {
                return Err(format!(
                    "{name} = {number} is outside {}..={}",
                    range.min, range.max
                ));
            }
            if !range.on_step(number) {
                return Err(format!(
                    "{name} = {number} is not a multiple of {}",
                    range.step
                ));
            }
            number.to_string()
        }
        Kind::Text(_)
            if *setting == settings::SEND_VOLUME || *setting == settings::RECEIVE_VOLUME =>
        {
            parse_volume_path(name, value)?;
            value.to_string()
        }
        Kind::Text(_) if *setting == settings::NETWORK_ADDRESS => {
            let mac = settings::parse_network_address(value).ok_or_else(|| {
                format!(
                    "{name} = '{value}' is not 12 hex digits of a unicast MAC (e.g. 02-76-6E-00-00-01): fix it, or give {name}= to use the stable default"
                )
            })?;
            mac.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02X}");
                s
            })
        }
        Kind::Text(_) if *setting == settings::AUTH_KEY_FILE => {
            // A file the driver reads through the same NT-path conversion
            // as the volumes; a whole disk is no key file.
            if let VolumePath::PhysicalDrive(_) = parse_volume_path(name, value)? {
                return Err(format!(
                    "{name} '{value}' is a disk, not a key file: give the key file's path, e.g. C:\\volnic\\link.key"
                ));
            }
            value.to_string()
        }
        Kind::Text(_) => value.to_string(),
    };
    Ok(Assignment {
        setting,
        value: Some(stored),
    })
}

// ---------------------------------------------------------------------------
// Adapters and their registry keys
// ---------------------------------------------------------------------------

/// A volnic device node, as the Win32 layer finds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adapter {
    /// Device instance ID, e.g. `ROOT\NET\0001`.
    pub instance_id: String,
    /// The device's `Driver` property: `{4d36e972-…}\NNNN`, naming its
    /// driver key; empty while no driver is installed on it.
    pub driver: String,
    /// The interface's connection name (`Ethernet 3`), as Get-NetAdapter
    /// and ncpa.cpl show it, if it has one yet.
    pub name: Option<String>,
    /// The driver package it was installed from (`oem12.inf`).
    pub inf_path: Option<String>,
    /// Is the device present (not a leftover of a removed one)?
    pub present: bool,
}

/// The driver key (under HKLM) named by a device's `Driver` property
/// `{4d36e972-e325-11ce-bfc1-08002be10318}\NNNN`.
pub fn driver_key(driver: &str) -> Result<String, String> {
    let Some((class, index)) = driver.split_once('\\') else {
        return Err(format!(
            "the device's driver property '{driver}' is not {{class}}\\NNNN: is the driver installed on it?"
        ));
    };
    if !class.eq_ignore_ascii_case(NET_CLASS_GUID) {
        return Err(format!(
            "the device's driver key is in class {class}, not the network class {NET_CLASS_GUID}"
        ));
    }
    if index.len() != 4 || !index.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "the device's driver property '{driver}' does not end in a 4-digit index"
        ));
    }
    Ok(format!("{CLASS_KEY}\\{index}"))
}

/// The key (under HKLM) holding an interface's connection name (value
/// `Name`), from the `NetCfgInstanceId` value of its driver key.
pub fn connection_key(net_cfg_instance_id: &str) -> Result<String, String> {
    let id = net_cfg_instance_id.trim();
    let inner = id
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .filter(|g| is_guid(g))
        .ok_or_else(|| format!("NetCfgInstanceId '{id}' is not a {{GUID}}"))?;
    Ok(format!("{NETWORK_KEY}\\{{{inner}}}\\Connection"))
}

/// The adapter `name` designates: its connection name or its device
/// instance ID, case-insensitively.
pub fn select_adapter<'a>(adapters: &'a [Adapter], name: &str) -> Result<&'a Adapter, String> {
    if adapters.is_empty() {
        return Err("no volnic adapter is installed: run volnic install first".into());
    }
    let name = name.trim();
    let matches: Vec<&Adapter> = adapters
        .iter()
        .filter(|a| {
            a.instance_id.eq_ignore_ascii_case(name)
                || a.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no volnic adapter is called '{name}': volnic list shows them ({})",
            adapters
                .iter()
                .map(|a| a.name.clone().unwrap_or_else(|| a.instance_id.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!(
            "'{name}' names {} adapters: give the device instance ID instead (volnic list shows it)",
            matches.len()
        )),
    }
}

// ---------------------------------------------------------------------------
// Registry writes and the steps of each command
// ---------------------------------------------------------------------------

/// What a registry write stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegData {
    /// REG_SZ: text, or a number as decimal text (as Device Manager stores
    /// `int` parameters and NdisReadConfiguration reads them).
    Sz(String),
    /// Delete the value (an absent optional setting).
    Delete,
}

/// One value written under HKLM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegWrite {
    pub key: String,
    pub name: &'static str,
    pub data: RegData,
}

/// What `config set` will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigPlan {
    pub writes: Vec<RegWrite>,
    /// Things that are not errors but that the user should know, one line
    /// each (e.g. the adapter still lacks a required value).
    pub notes: Vec<String>,
}

/// Turns `config set` arguments into registry writes under `driver_key`,
/// given the values there now (`current`, names as stored). Refuses
/// duplicate keys and a SendVolume equal to ReceiveVolume, counting the
/// value already stored for the one not being set.
pub fn plan_config_set(
    driver_key: &str,
    current: &BTreeMap<String, String>,
    args: &[String],
) -> Result<ConfigPlan, String> {
    if args.is_empty() {
        return Err("nothing to set: give KEY=VALUE arguments, e.g. BlockSize=4096".into());
    }
    let mut assignments: Vec<Assignment> = Vec::new();
    for arg in args {
        let a = parse_assignment(arg)?;
        if assignments.iter().any(|b| b.setting == a.setting) {
            return Err(format!("{} is given twice", a.setting.name));
        }
        assignments.push(a);
    }
    let stored = |name: &str| -> Option<String> {
        current
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let after = |setting: &Setting| -> Option<String> {
        match assignments.iter().find(|a| a.setting == setting) {
            Some(a) => a.value.clone(),
            None => stored(setting.name),
        }
    };
    let send = after(&settings::SEND_VOLUME);
    let receive = after(&settings::RECEIVE_VOLUME);
    if let (Some(s), Some(r)) = (&send, &receive) {
        if settings::same_volume_path(s, r) {
            return Err(format!(
                "SendVolume and ReceiveVolume would both be '{s}': each node sends on its own volume and receives on the peer's"
            ));
        }
    }
    let mut notes = Vec::new();
    for (setting, value) in [
        (&settings::SEND_VOLUME, &send),
        (&settings::RECEIVE_VOLUME, &receive),
    ] {
        if value.is_none() {
            notes.push(format!(
                "{} is not set yet: the adapter stays disabled until it is",
                setting.name
            ));
        }
    }
    let writes = assignments
        .into_iter()
        .map(|a| RegWrite {
            key: driver_key.to_string(),
            name: a.setting.name,
            data: a.value.map_or(RegData::Delete, RegData::Sz),
        })
        .collect();
    Ok(ConfigPlan { writes, notes })
}

/// One thing the Win32 layer does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read the INF's class (SetupDiGetINFClassW): it must be Net, with the
    /// network class GUID.
    CheckInf { inf: PathBuf },
    /// Create a root-enumerated Net device node with [`HARDWARE_ID`]
    /// (SetupDiCreateDeviceInfoW, SPDRP_HARDWAREID, DIF_REGISTERDEVICE), as
    /// devcon and tapctl do.
    CreateDevice,
    /// Add the package to the driver store and install it on the device
    /// (UpdateDriverForPlugAndPlayDevicesW). On failure the device created
    /// before is removed again.
    InstallDriver { inf: PathBuf },
    /// Remove a device node (DiUninstallDevice).
    RemoveDevice { instance_id: String },
    /// Remove a package from the driver store (SetupUninstallOEMInfW).
    DeleteDriverPackage { oem_inf: String },
    /// Write or delete one value of the adapter's driver key.
    Write(RegWrite),
    /// Restart the device so the driver reads its settings again
    /// (DIF_PROPERTYCHANGE, DICS_PROPCHANGE).
    RestartDevice { instance_id: String },
}

/// The steps of `volnic install`, in order.
pub fn install_steps(inf: &Path) -> Vec<Step> {
    vec![
        Step::CheckInf {
            inf: inf.to_path_buf(),
        },
        Step::CreateDevice,
        Step::InstallDriver {
            inf: inf.to_path_buf(),
        },
    ]
}

/// The steps of `volnic uninstall`: remove every volnic device (present or
/// left over), then each driver package they were installed from, once.
pub fn uninstall_steps(adapters: &[Adapter]) -> Vec<Step> {
    let mut steps: Vec<Step> = adapters
        .iter()
        .map(|a| Step::RemoveDevice {
            instance_id: a.instance_id.clone(),
        })
        .collect();
    let mut packages: Vec<String> = Vec::new();
    for inf in adapters.iter().filter_map(|a| a.inf_path.as_deref()) {
        let is_oem = inf.len() > 7
            && inf[..3].eq_ignore_ascii_case("oem")
            && inf[inf.len() - 4..].eq_ignore_ascii_case(".inf")
            && inf[3..inf.len() - 4].chars().all(|c| c.is_ascii_digit());
        if is_oem && !packages.iter().any(|p| p.eq_ignore_ascii_case(inf)) {
            packages.push(inf.to_string());
        }
    }
    steps.extend(
        packages
            .into_iter()
            .map(|oem_inf| Step::DeleteDriverPackage { oem_inf }),
    );
    steps
}

/// The steps of `volnic config set`: the writes, then one restart.
pub fn config_set_steps(adapter: &Adapter, plan: &ConfigPlan) -> Vec<Step> {
    let mut steps: Vec<Step> = plan.writes.iter().cloned().map(Step::Write).collect();
    steps.push(Step::RestartDevice {
        instance_id: adapter.instance_id.clone(),
    });
    steps
}

/// The INF `install` uses: `--inf PATH` if given, else `volnic.inf` beside
/// the volnic executable, else in the current directory.
pub fn find_inf(
    given: Option<&Path>,
    exe_dir: Option<&Path>,
    cwd: &Path,
) -> Result<PathBuf, String> {
    let check = |path: &Path| -> Result<PathBuf, String> {
        let is_inf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("inf"));
        if !is_inf {
            return Err(format!(
                "{} is not an .inf file: give the volnic.inf of the driver package (not volnic.inx)",
                path.display()
            ));
        }
        // SetupAPI needs a full path.
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            cwd.join(path)
        };
        if !full.is_file() {
            return Err(format!("{}: no such file", full.display()));
        }
        Ok(full)
    };
    if let Some(path) = given {
        return check(path);
    }
    for dir in exe_dir.into_iter().chain([cwd]) {
        let candidate = dir.join(INF_FILE_NAME);
        if candidate.is_file() {
            return check(&candidate);
        }
    }
    Err(format!(
        "no {INF_FILE_NAME} beside volnic.exe or in the current directory: give --inf PATH (the driver package's volnic.inf, next to volnic.sys and volnic.cat)"
    ))
}

// ---------------------------------------------------------------------------
// The Win32 side
// ---------------------------------------------------------------------------

/// The Windows services the installer uses. Each error is one line saying
/// what failed (the Win32 layer includes the system's error text).
pub trait WinSystem {
    /// The class name and class GUID an INF declares.
    fn inf_class(&mut self, inf: &Path) -> Result<(String, String), String>;
    /// Creates a root-enumerated Net device node with `hardware_id`;
    /// returns its instance ID.
    fn create_root_device(&mut self, hardware_id: &str) -> Result<String, String>;
    /// Installs the INF's driver on the devices with `hardware_id`, adding
    /// the package to the driver store. Returns whether Windows asks for a
    /// reboot.
    fn update_driver(&mut self, inf: &Path, hardware_id: &str) -> Result<bool, String>;
    /// Every device node with [`HARDWARE_ID`], present or not, with its
    /// driver property, connection name and INF.
    fn adapters(&mut self) -> Result<Vec<Adapter>, String>;
    /// Removes a device node. Returns whether Windows asks for a reboot.
    fn remove_device(&mut self, instance_id: &str) -> Result<bool, String>;
    /// Removes a package (`oemNN.inf`) from the driver store.
    fn delete_driver_package(&mut self, oem_inf: &str) -> Result<(), String>;
    /// The REG_SZ values of `HKLM\key` (others are skipped).
    fn read_values(&mut self, key: &str) -> Result<BTreeMap<String, String>, String>;
    /// Writes (REG_SZ) or deletes one value under HKLM.
    fn write_value(&mut self, write: &RegWrite) -> Result<(), String>;
    /// Restarts a device so its driver starts again. Returns whether
    /// Windows asks for a reboot.
    fn restart_device(&mut self, instance_id: &str) -> Result<bool, String>;
}

/// What running a list of steps did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Instance ID of the device `CreateDevice` made.
    pub created: Option<String>,
    /// Windows asked for a reboot to finish.
    pub reboot: bool,
    /// One line per step done, for the user.
    pub done: Vec<String>,
}

/// Runs `steps` in order and stops at the first failure. If installing the
/// driver fails after the device was created, the device is removed again,
/// so a failed install leaves no driverless adapter behind.
pub fn run_steps(system: &mut dyn WinSystem, steps: &[Step]) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    for step in steps {
        let result = run_step(system, step, &mut outcome);
        if let Err(error) = result {
            if let (Step::InstallDriver { .. }, Some(created)) = (step, &outcome.created) {
                return Err(match system.remove_device(created) {
                    Ok(_) => format!("{error} (the new device {created} was removed again)"),
                    Err(e) => format!(
                        "{error}; removing the new device {created} failed too ({e}): remove it in Device Manager"
                    ),
                });
            }
            return Err(error);
        }
    }
    Ok(outcome)
}

fn run_step(system: &mut dyn WinSystem, step: &Step, outcome: &mut Outcome) -> Result<(), String> {
    match step {
        Step::CheckInf { inf } => {
            let (class, guid) = system.inf_class(inf)?;
            if !class.eq_ignore_ascii_case(NET_CLASS_NAME)
                || !guid.eq_ignore_ascii_case(NET_CLASS_GUID)
            {
                return Err(format!(
                    "{} installs class {class} {guid}, not a network adapter: give the volnic.inf of the driver package",
                    inf.display()
                ));
            }
            outcome.done.push(format!("checked {}", inf.display()));
        }
        Step::CreateDevice => {
            let id = system.create_root_device(HARDWARE_ID)?;
            outcome.done.push(format!("created device {id}"));
            outcome.created = Some(id);
        }
        Step::InstallDriver { inf } => {
            outcome.reboot |= system.update_driver(inf, HARDWARE_ID)?;
            outcome
                .done
                .push(format!("installed the driver from {}", inf.display()));
        }
        Step::RemoveDevice { instance_id } => {
            outcome.reboot |= system.remove_device(instance_id)?;
            outcome.done.push(format!("removed device {instance_id}"));
        }
        Step::DeleteDriverPackage { oem_inf } => {
            system.delete_driver_package(oem_inf)?;
            outcome
                .done
                .push(format!("deleted driver package {oem_inf}"));
        }
        Step::Write(write) => {
            system.write_value(write)?;
            outcome.done.push(match &write.data {
                RegData::Sz(v) => format!("set {} = {v}", write.name),
                RegData::Delete => format!("removed {}", write.name),
            });
        }
        Step::RestartDevice { instance_id } => {
            outcome.reboot |= system.restart_device(instance_id)?;
            outcome.done.push(format!("restarted {instance_id}"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// What list and config get show
// ---------------------------------------------------------------------------

/// Every setting of one adapter: the stored value, or the default (marked)
/// when absent. `only` limits it to some names (checked against the table).
pub fn describe_settings(
    values: &BTreeMap<String, String>,
    only: &[String],
) -> Result<Vec<(&'static str, String)>, String> {
    let selected: Vec<&'static Setting> = if only.is_empty() {
        settings::ALL.iter().collect()
    } else {
        only.iter()
            .map(|k| find_setting(k))
            .collect::<Result<_, _>>()?
    };
    Ok(selected
        .into_iter()
        .map(|s| {
            let stored = values
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(s.name))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty());
            let shown = match (stored, s.kind) {
                (Some(v), _) => v,
                (None, Kind::Integer(r)) => format!("{} (default)", r.default),
                (None, Kind::Text(rule)) if rule.required => "(not set: required)".into(),
                (None, Kind::Text(_)) => "(not set)".into(),
            };
            (s.name, shown)
        })
        .collect())
}

/// `volnic list`'s text for one adapter.
pub fn describe_adapter(adapter: &Adapter, values: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({}{})",
        adapter.name.as_deref().unwrap_or("(no interface yet)"),
        adapter.instance_id,
        if adapter.present { "" } else { ", not present" }
    );
    match values {
        Some(values) => {
            for (name, shown) in describe_settings(values, &[]).unwrap_or_default() {
                let _ = writeln!(out, "  {name:<15} {shown}");
            }
        }
        None => {
            let _ = writeln!(out, "  (no driver installed on this device)");
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A recording fake for tests
// ---------------------------------------------------------------------------

/// A [`WinSystem`] in memory that records every call, for tests on any
/// platform. Set `fail` to make the call whose name starts with it fail.
#[derive(Clone, Debug, Default)]
pub struct FakeSystem {
    pub calls: Vec<String>,
    pub adapters: Vec<Adapter>,
    /// HKLM as key → (value name → text).
    pub registry: BTreeMap<String, BTreeMap<String, String>>,
    /// The INF's class as (name, GUID); the Net class if `None`.
    pub inf_class: Option<(String, String)>,
    pub fail: Option<String>,
    /// Index of the next device `create_root_device` makes.
    pub next_index: u32,
}

impl FakeSystem {
    fn call(&mut self, text: String) -> Result<(), String> {
        let failing = self.fail.as_deref().is_some_and(|f| text.starts_with(f));
        self.calls.push(text.clone());
        if failing {
            Err(format!("{text}: failed (fake)"))
        } else {
            Ok(())
        }
    }
}

impl WinSystem for FakeSystem {
    fn inf_class(&mut self, inf: &Path) -> Result<(String, String), String> {
        self.call(format!("inf_class {}", inf.display()))?;
        Ok(self
            .inf_class
            .clone()
            .unwrap_or_else(|| (NET_CLASS_NAME.into(), NET_CLASS_GUID.into())))
    }

    fn create_root_device(&mut self, hardware_id: &str) -> Result<String, String> {
        self.call(format!("create_root_device {hardware_id}"))?;
        let id = format!("ROOT\\NET\\{:04}", self.next_index);
        self.adapters.push(Adapter {
            instance_id: id.clone(),
            present: true,
            ..Adapter::default()
        });
        self.next_index += 1;
        Ok(id)
    }

    fn update_driver(&mut self, inf: &Path, hardware_id: &str) -> Result<bool, String> {
        self.call(format!("update_driver {} {hardware_id}", inf.display()))?;
        for (i, a) in self.adapters.iter_mut().enumerate() {
            if a.driver.is_empty() {
                a.driver = format!("{NET_CLASS_GUID}\\{:04}", 10 + i);
                a.inf_path = Some("oem7.inf".into());
            }
        }
        Ok(false)
    }

    fn adapters(&mut self) -> Result<Vec<Adapter>, String> {
        self.call("adapters".into())?;
        Ok(self.adapters.clone())
    }

    fn remove_device(&mut self, instance_id: &str) -> Result<bool, String> {
        self.call(format!("remove_device {instance_id}"))?;
        self.adapters.retain(|a| a.instance_id != instance_id);
        Ok(false)
    }

    fn delete_driver_package(&mut self, oem_inf: &str) -> Result<(), String> {
        self.call(format!("delete_driver_package {oem_inf}"))
    }

    fn read_values(&mut self, key: &str) -> Result<BTreeMap<String, String>, String> {
        self.call(format!("read_values {key}"))?;
        Ok(self.registry.get(key).cloned().unwrap_or_default())
    }

    fn write_value(&mut self, write: &RegWrite) -> Result<(), String> {
        let text = match &write.data {
            RegData::Sz(v) => format!("write_value {}\\{} = REG_SZ {v}", write.key, write.name),
            RegData::Delete => format!("write_value {}\\{} deleted", write.key, write.name),
        };
        self.call(text)?;
        let key = self.registry.entry(write.key.clone()).or_default();
        key.retain(|k, _| !k.eq_ignore_ascii_case(write.name));
        if let RegData::Sz(v) = &write.data {
            key.insert(write.name.to_string(), v.clone());
        }
        Ok(())
    }

    fn restart_device(&mut self, instance_id: &str) -> Result<bool, String> {
        self.call(format!("restart_device {instance_id}"))?;
        Ok(false)
    }
}
