//! Registry writes and the steps of each command (install, uninstall,
//! config set), and finding the INF.

#[allow(unused_imports)]
use super::*;

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
