//! Adapters and their registry keys.

#[allow(unused_imports)]
use super::*;

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
