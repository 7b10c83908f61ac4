//! One host's configuration from its raw values: the rule both hosts apply
//! to what the administrator gave, the Windows adapter's registry key or
//! the Linux endpoint's command line over its settings file.
//!
//! [`HostConfig::read`] takes the table's defaults for absent values,
//! holds each value to its range and step (`crate::settings`), converts
//! units (milliseconds and kilobytes into the microseconds and bytes the
//! engine counts in) and parses a configured MAC; [`default_mac`] is the
//! one rule for the MAC of an adapter that has none configured. What is
//! the host's alone stays with it: volume paths (NT paths are not POSIX
//! paths, so "the same volume" is each host's question), where a key file
//! may live, the TAP device.
//!
//! A host reports a [`SettingError`] under its own name for the setting
//! (`registry value MTU`, `mtu`), so each host's messages name what its
//! administrator types.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::settings::{self, Setting};

/// Where a host's raw values come from, by the settings table's names
/// (registry value names). A value that is absent, or of the other type
/// (as `NdisReadConfiguration` reports a text value asked for as a number),
/// is `None`.
pub trait SettingSource {
    fn string(&mut self, name: &str) -> Option<String>;
    fn integer(&mut self, name: &str) -> Option<u32>;
}

/// A raw value that stops a host from starting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    /// Outside the setting's `min..=max`.
    OutOfRange {
        setting: &'static Setting,
        value: u32,
    },
    /// Not a multiple of the setting's step (a block size that is not a
    /// multiple of 512).
    OffStep {
        setting: &'static Setting,
        value: u32,
    },
    /// A configured MAC that is not 12 hex digits of a unicast address.
    BadMac(String),
}

impl SettingError {
    /// The setting the error is about.
    pub fn setting(&self) -> &'static Setting {
        match self {
            SettingError::OutOfRange { setting, .. } | SettingError::OffStep { setting, .. } => {
                setting
            }
            SettingError::BadMac(_) => &settings::NETWORK_ADDRESS,
        }
    }
}

impl fmt::Display for SettingError {
    /// In the table's (registry) names; hosts with other names word it
    /// themselves from the variant.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::OutOfRange { setting, value } => {
                let range = setting.range();
                write!(
                    f,
                    "{} = {value} is outside {}..={}",
                    setting.name, range.min, range.max
                )
            }
            SettingError::OffStep { setting, value } => write!(
                f,
                "{} = {value} is not a multiple of {}",
                setting.name,
                setting.range().step
            ),
            SettingError::BadMac(text) => write!(
                f,
                "{} {text:?} is not 12 hex digits of a unicast MAC",
                settings::NETWORK_ADDRESS.name
            ),
        }
    }
}

/// A host's configuration of the link, checked and in the engine's units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The block size the host expects its volumes to be formatted with.
    /// (The Linux endpoint takes the volume's, so it never sets one and
    /// this is the default.)
    pub block_size: u32,
    pub flush_delay_us: u64,
    /// Longest wait between two polls of the receive volume.
    pub poll_interval_us: u64,
    pub peer_timeout_us: u64,
    /// The node number, when configured. A host without one takes it from
    /// where it can: the Linux endpoint from its send volume's superblock,
    /// the miniport (which must answer before its storage may exist) the
    /// table's default.
    pub node_id: Option<u32>,
    pub send_queue_bytes: usize,
    /// IP MTU: the largest frame is [`settings::frame_len`] of it.
    pub mtu: u32,
    /// The link speed reported to the stack (Windows only reports one).
    pub link_speed_mbps: u32,
    /// The configured MAC, if any.
    pub network_address: Option<[u8; 6]>,
}

impl HostConfig {
    /// Reads every setting of the table that is a number or the MAC from
    /// `src`: absent values take the table's default, present ones must be
    /// inside their range and on their step.
    pub fn read(src: &mut dyn SettingSource) -> Result<Self, SettingError> {
        let block_size = ranged(src, &settings::BLOCK_SIZE)?;
        let flush_delay_ms = ranged(src, &settings::FLUSH_DELAY_MS)?;
        let poll_interval_us = ranged(src, &settings::POLL_INTERVAL_US)?;
        let peer_timeout_ms = ranged(src, &settings::PEER_TIMEOUT_MS)?;
        let node_id = match src.integer(settings::NODE_ID.name) {
            Some(id) => Some(checked(&settings::NODE_ID, id)?),
            None => None,
        };
        let send_queue_kb = ranged(src, &settings::SEND_QUEUE_KB)?;
        let mtu = ranged(src, &settings::MTU)?;
        let link_speed_mbps = ranged(src, &settings::LINK_SPEED_MBPS)?;
        let network_address = match trimmed(src, settings::NETWORK_ADDRESS.name) {
            None => None,
            Some(text) => match settings::parse_network_address(&text) {
                Some(mac) => Some(mac),
                None => return Err(SettingError::BadMac(text)),
            },
        };
        Ok(Self {
            block_size,
            flush_delay_us: u64::from(flush_delay_ms) * 1_000,
            poll_interval_us: poll_interval_us.into(),
            peer_timeout_us: u64::from(peer_timeout_ms) * 1_000,
            node_id,
            send_queue_bytes: send_queue_kb as usize * 1024,
            mtu,
            link_speed_mbps,
            network_address,
        })
    }

    /// Largest Ethernet frame (header included, no FCS) the MTU allows.
    pub fn max_frame_len(&self) -> usize {
        settings::frame_len(self.mtu)
    }

    /// The adapter's MAC and its permanent (default) one, for a node
    /// `node_id` sending on `send_volume`: the configured address if any,
    /// else [`default_mac`].
    pub fn macs(&self, send_volume: &[u8], node_id: u32) -> ([u8; 6], [u8; 6]) {
        let permanent = default_mac(send_volume, node_id);
        (self.network_address.unwrap_or(permanent), permanent)
    }
}

/// The MAC of an adapter with none configured: locally administered,
/// unicast, and the same for as long as the node sends on the same volume
/// (`send_volume`: its path as configured, bytes as given) as the same node
/// number. Both are known before the volume is opened, as the miniport
/// must choose its address at initialize, when its storage may not be
/// there yet. FNV-1a of the path's bytes and the node number's four
/// little-endian bytes (`crate::mac::stable_mac`).
pub fn default_mac(send_volume: &[u8], node_id: u32) -> [u8; 6] {
    let mut seed = Vec::with_capacity(send_volume.len() + 4);
    seed.extend_from_slice(send_volume);
    seed.extend_from_slice(&node_id.to_le_bytes());
    crate::mac::stable_mac(&seed)
}

/// An integer setting: its default when absent, else checked.
fn ranged(src: &mut dyn SettingSource, setting: &'static Setting) -> Result<u32, SettingError> {
    match src.integer(setting.name) {
        None => Ok(setting.range().default),
        Some(value) => checked(setting, value),
    }
}

fn checked(setting: &'static Setting, value: u32) -> Result<u32, SettingError> {
    let range = setting.range();
    if !range.contains(value) {
        return Err(SettingError::OutOfRange { setting, value });
    }
    if !range.on_step(value) {
        return Err(SettingError::OffStep { setting, value });
    }
    Ok(value)
}

/// The value of text setting `name` without blanks around it (trimmed in
/// place: the value's length is the host's input), if any is left.
pub fn trimmed(src: &mut dyn SettingSource, name: &str) -> Option<String> {
    let mut value = src.string(name)?;
    let end = value.trim_end().len();
    value.truncate(end);
    let start = value.len() - value.trim_start().len();
    value.drain(..start);
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SettingMap;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<HostConfig, SettingError> {
        HostConfig::read(&mut SettingMap::of(pairs))
    }

    #[test]
    fn absent_values_take_the_tables_defaults_in_the_engines_units() {
        let c = read(&[]).unwrap();
        assert_eq!(c.block_size, settings::BLOCK_SIZE.range().default);
        assert_eq!(
            c.flush_delay_us,
            u64::from(settings::FLUSH_DELAY_MS.range().default) * 1000
        );
        assert_eq!(
            c.peer_timeout_us,
            u64::from(settings::PEER_TIMEOUT_MS.range().default) * 1000
        );
        assert_eq!(
            c.send_queue_bytes,
            settings::SEND_QUEUE_KB.range().default as usize * 1024
        );
        assert_eq!(c.node_id, None);
        assert_eq!(c.network_address, None);
    }

    #[test]
    fn given_values_are_converted_and_held_to_range_and_step() {
        let c = read(&[
            ("FlushDelayMs", "7"),
            ("PeerTimeoutMs", "1500"),
            ("SendQueueKb", "64"),
            ("NodeId", "3"),
            ("NetworkAddress", "  02:00:00:00:00:07 "),
        ])
        .unwrap();
        assert_eq!(c.flush_delay_us, 7_000);
        assert_eq!(c.peer_timeout_us, 1_500_000);
        assert_eq!(c.send_queue_bytes, 65_536);
        assert_eq!(c.node_id, Some(3));
        assert_eq!(c.network_address, Some([2, 0, 0, 0, 0, 7]));
        assert_eq!(
            read(&[("MTU", "100")]),
            Err(SettingError::OutOfRange {
                setting: &settings::MTU,
                value: 100
            })
        );
        assert_eq!(
            read(&[("BlockSize", "1000")]),
            Err(SettingError::OffStep {
                setting: &settings::BLOCK_SIZE,
                value: 1000
            })
        );
        assert_eq!(
            read(&[("NetworkAddress", "01:00:5e:00:00:01")]),
            Err(SettingError::BadMac("01:00:5e:00:00:01".into()))
        );
    }

    #[test]
    fn the_default_mac_follows_the_send_volume_and_node() {
        let a = default_mac(b"/dev/sdb", 1);
        assert_eq!(a, default_mac(b"/dev/sdb", 1));
        assert_ne!(a, default_mac(b"/dev/sdc", 1));
        assert_ne!(a, default_mac(b"/dev/sdb", 2));
        assert_eq!(a[0] & 0x03, 0x02, "locally administered unicast");
        // FNV-1a of the path and the node number's little-endian bytes,
        // worked out by hand for a one-byte path: the rule FORMAT.md states.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in [b'x', 1, 0, 0, 0] {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let b = h.to_le_bytes();
        assert_eq!(
            default_mac(b"x", 1),
            [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
        );
        let c = read(&[("NetworkAddress", "020000000009")]).unwrap();
        assert_eq!(c.macs(b"x", 1), ([2, 0, 0, 0, 0, 9], default_mac(b"x", 1)));
    }
}
