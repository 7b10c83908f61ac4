//! `KEY=VALUE` arguments, checked against the settings table.

#[allow(unused_imports)]
use super::*;

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
