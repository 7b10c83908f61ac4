//! The adapter's configuration: registry values read through NDIS
//! (`NdisReadConfiguration` in registry.rs), validated here in safe code.
//!
//! Names, defaults and ranges come from the settings table
//! (`volnic_core::settings`), which the INF and `volnic config` share.
//! Every bad value becomes a [`ConfigError`] whose message names the value
//! and what to do; nothing here panics on registry input.

use alloc::string::String;
use core::fmt;

use volnic_core::host_config::{trimmed, HostConfig, SettingError};
use volnic_core::settings;

/// Where registry values come from (NDIS configuration on Windows, a map in
/// tests). Absent and wrong-typed values read as `None`.
pub use volnic_core::host_config::SettingSource;
pub use volnic_core::settings::parse_network_address as parse_mac;

/// Validated settings of one adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterConfig {
    pub send_volume: String,
    pub receive_volume: String,
    /// Must equal the block size the send volume was formatted with.
    pub block_size: u32,
    pub flush_delay_us: u64,
    /// Longest sleep of the datapath thread between receive-volume polls.
    pub poll_interval_us: u64,
    pub peer_timeout_us: u64,
    pub node_id: u32,
    pub send_queue_bytes: usize,
    /// IP MTU: the largest frame is 14 bytes more (`settings::frame_len`).
    pub mtu: u32,
    /// Configured MAC (NetworkAddress), if any.
    pub network_address: Option<[u8; 6]>,
    pub link_speed_mbps: u32,
    pub auth_key_file: Option<String>,
}

/// A registry value that stops the adapter from starting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    OutOfRange {
        name: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    BlockSizeNotSectorMultiple(u32),
    NotOnStep {
        name: &'static str,
        value: u32,
        step: u32,
    },
    SameVolume,
    BadNetworkAddress,
    /// AuthKeyFile names no file on a mounted volume (a device, a pipe, a
    /// relative path): reading it could block or read a disk.
    KeyFileNotAFile(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "registry value {name} is missing: set it in the adapter's Advanced properties"),
            ConfigError::OutOfRange { name, value, min, max } => write!(f, "registry value {name} = {value} is outside {min}..={max}"),
            ConfigError::NotOnStep { name, value, step } => write!(f, "registry value {name} = {value} is not a multiple of {step}"),
            ConfigError::BlockSizeNotSectorMultiple(v) => write!(f, "registry value BlockSize = {v} is not a multiple of 512: use the block size the volumes were formatted with"),
            ConfigError::SameVolume => f.write_str("SendVolume and ReceiveVolume name the same volume: each node sends on its own volume and receives on the peer's"),
            ConfigError::BadNetworkAddress => f.write_str("registry value NetworkAddress is not 12 hex digits of a unicast MAC: fix or remove it"),
            ConfigError::KeyFileNotAFile(path) => write!(f, "registry value AuthKeyFile '{path}' names no file on a volume: give an absolute file path such as C:\\ProgramData\\volnic\\link.key"),
        }
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::OutOfRange { setting, value } => {
                let range = setting.range();
                ConfigError::OutOfRange {
                    name: setting.name,
                    value: value.into(),
                    min: range.min.into(),
                    max: range.max.into(),
                }
            }
            SettingError::OffStep { setting, value } if *setting == settings::BLOCK_SIZE => {
                ConfigError::BlockSizeNotSectorMultiple(value)
            }
            SettingError::OffStep { setting, value } => ConfigError::NotOnStep {
                name: setting.name,
                value,
                step: setting.range().step,
            },
            SettingError::BadMac(_) => ConfigError::BadNetworkAddress,
        }
    }
}

impl AdapterConfig {
    /// Reads and validates every setting: the volumes and the key file
    /// here, the rest by the rule both hosts share
    /// (`volnic_core::host_config`); defaults apply to absent optional
    /// values.
    pub fn from_source(src: &mut dyn SettingSource) -> Result<Self, ConfigError> {
        let send_volume = trimmed(src, settings::SEND_VOLUME.name)
            .ok_or(ConfigError::Missing(settings::SEND_VOLUME.name))?;
        let receive_volume = trimmed(src, settings::RECEIVE_VOLUME.name)
            .ok_or(ConfigError::Missing(settings::RECEIVE_VOLUME.name))?;
        if settings::same_volume_path(&send_volume, &receive_volume) {
            return Err(ConfigError::SameVolume);
        }
        let host = HostConfig::read(src)?;
        let auth_key_file = match trimmed(src, settings::AUTH_KEY_FILE.name) {
            Some(path) if !is_file_path(&path) => return Err(ConfigError::KeyFileNotAFile(path)),
            other => other,
        };
        Ok(Self {
            send_volume,
            receive_volume,
            block_size: host.block_size,
            flush_delay_us: host.flush_delay_us,
            poll_interval_us: host.poll_interval_us,
            peer_timeout_us: host.peer_timeout_us,
            // The miniport answers NDIS before its storage may exist, so it
            // cannot take the number from the volume as Linux does.
            node_id: host.node_id.unwrap_or(settings::NODE_ID.range().default),
            send_queue_bytes: host.send_queue_bytes,
            mtu: host.mtu,
            network_address: host.network_address,
            link_speed_mbps: host.link_speed_mbps,
            auth_key_file,
        })
    }

    /// Largest Ethernet frame (header included, no FCS) this adapter carries.
    pub fn max_frame_len(&self) -> usize {
        settings::frame_len(self.mtu)
    }

    /// The adapter's MAC and its permanent one: NetworkAddress if set, and
    /// the default of its send volume and node number
    /// (`volnic_core::host_config::default_mac`, the rule Linux applies too).
    pub fn macs(&self) -> ([u8; 6], [u8; 6]) {
        let permanent = default_mac(self.send_volume.as_bytes(), self.node_id);
        (self.network_address.unwrap_or(permanent), permanent)
    }
}

/// Whether `path` may name the key file: anything but the forms that reach
/// a device rather than a file on a mounted volume (`\\.\…`, a disk; `\\?\…`
/// but `\\?\Volume{GUID}\…`; `\??\…` but a drive-letter path; `\Device\…`
/// but `\Device\HarddiskVolumeN\…`; UNC paths). A key file read from a pipe
/// or a device could block the datapath thread or read a disk; any other
/// wrong path only fails to open, with its reason.
pub fn is_file_path(path: &str) -> bool {
    fn strip_ci<'a>(p: &'a str, prefix: &str) -> Option<&'a str> {
        p.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &p[prefix.len()..])
    }
    let drive_path = |p: &str| {
        let b = p.as_bytes();
        b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\'
    };
    let path = path.replace('/', "\\");
    let path = path.as_str();
    if let Some(rest) = strip_ci(path, "\\\\?\\") {
        return strip_ci(rest, "Volume{").is_some_and(|r| r.contains("}\\"));
    }
    if path.starts_with("\\\\") {
        return false; // \\.\ devices and UNC paths
    }
    if let Some(rest) = strip_ci(path, "\\??\\") {
        return drive_path(rest);
    }
    if let Some(rest) = strip_ci(path, "\\Device\\") {
        return strip_ci(rest, "HarddiskVolume").is_some_and(|r| r.contains('\\'));
    }
    true
}

/// The MAC of an adapter with none configured, from its send volume path
/// and node number.
pub use volnic_core::host_config::default_mac;

#[cfg(test)]
mod tests {
    use super::*;
    use volnic_core::testkit::SettingMap as Map;

    fn base() -> Map {
        let mut m = Map::default();
        m.0.insert("SendVolume", "C:\\v\\a.vol");
        m.0.insert("ReceiveVolume", "C:\\v\\b.vol");
        m
    }

    #[test]
    fn defaults_and_errors() {
        let cfg = AdapterConfig::from_source(&mut base()).unwrap();
        assert_eq!(cfg.block_size, 4096);
        assert_eq!(cfg.max_frame_len(), 1514);
        let mut m = base();
        m.0.remove("SendVolume");
        assert_eq!(
            AdapterConfig::from_source(&mut m),
            Err(ConfigError::Missing("SendVolume"))
        );
        let mut m = base();
        m.0.insert("ReceiveVolume", "c:\\V\\A.vol\\");
        assert_eq!(
            AdapterConfig::from_source(&mut m),
            Err(ConfigError::SameVolume)
        );
        let mut m = base();
        m.0.insert("BlockSize", "1000");
        assert_eq!(
            AdapterConfig::from_source(&mut m),
            Err(ConfigError::BlockSizeNotSectorMultiple(1000))
        );
        let mut m = base();
        m.0.insert("BlockSize", "256");
        assert!(matches!(
            AdapterConfig::from_source(&mut m),
            Err(ConfigError::OutOfRange {
                name: "BlockSize",
                ..
            })
        ));
        let mut m = base();
        m.0.insert("NetworkAddress", "01-00-5e-00-00-01");
        assert_eq!(
            AdapterConfig::from_source(&mut m),
            Err(ConfigError::BadNetworkAddress)
        );
    }

    #[test]
    fn absent_values_take_the_tables_defaults() {
        let cfg = AdapterConfig::from_source(&mut base()).unwrap();
        assert_eq!(cfg.block_size, settings::BLOCK_SIZE.range().default);
        assert_eq!(cfg.flush_delay_us, 0);
        assert_eq!(cfg.poll_interval_us, 1_000);
        assert_eq!(cfg.peer_timeout_us, 3_000_000);
        assert_eq!(cfg.node_id, 1);
        assert_eq!(cfg.send_queue_bytes, 1024 * 1024);
        assert_eq!(cfg.mtu, 1_500);
        assert_eq!(cfg.link_speed_mbps, 1_000);
        assert_eq!(cfg.network_address, None);
        assert_eq!(cfg.auth_key_file, None);
    }

    #[test]
    fn every_integer_setting_is_range_checked_at_both_ends() {
        for setting in settings::ALL.iter() {
            let settings::Kind::Integer(range) = setting.kind else {
                continue;
            };
            let below = range.min.checked_sub(1).map(|v| (v, false));
            let cases = [(range.min, true), (range.max, true), (range.max + 1, false)];
            for (value, ok) in cases.into_iter().chain(below) {
                let mut m = base();
                let text: &'static str =
                    alloc::boxed::Box::leak(value.to_string().into_boxed_str());
                m.0.insert(setting.name, text);
                let result = AdapterConfig::from_source(&mut m);
                assert_eq!(result.is_ok(), ok, "{} = {value}: {result:?}", setting.name);
            }
        }
    }

    #[test]
    fn mac_parsing_and_default() {
        assert_eq!(
            parse_mac("02-11-22-33-44-55"),
            Some([2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(
            parse_mac("021122334455"),
            Some([2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(parse_mac("0211223344"), None);
        assert_eq!(parse_mac("02112233445566"), None);
        assert_eq!(parse_mac("zz1122334455"), None);
    }

    #[test]
    fn key_files_must_be_files_on_a_volume() {
        for ok in [
            "C:\\ProgramData\\volnic\\link.key",
            "d:\\a.key",
            "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\keys\\a.key",
            "\\??\\C:\\keys\\a.key",
            "\\Device\\HarddiskVolume3\\keys\\a.key",
            // A host path (the simulation's); on Windows it fails to open.
            "/var/lib/volnic/link.key",
        ] {
            assert!(is_file_path(ok), "{ok}");
        }
        for bad in [
            "\\\\.\\PhysicalDrive1",
            "\\\\.\\pipe\\volnic",
            "\\??\\pipe\\volnic",
            "\\Device\\NamedPipe\\volnic",
            "\\\\server\\share\\a.key",
            "//./pipe/volnic",
            "\\\\?\\GLOBALROOT\\Device\\Harddisk0\\Partition0",
            "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}",
        ] {
            assert!(!is_file_path(bad), "{bad}");
        }
        let mut m = base();
        m.0.insert("AuthKeyFile", "\\\\.\\pipe\\volnic");
        let err = AdapterConfig::from_source(&mut m).unwrap_err();
        assert!(matches!(err, ConfigError::KeyFileNotAFile(_)), "{err:?}");
        assert!(
            err.to_string().contains("names no file on a volume"),
            "{err}"
        );
    }
}
