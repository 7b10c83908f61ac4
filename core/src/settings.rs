//! The adapter's settings as data: every value the Windows miniport reads
//! from its registry key, with its kind, default, range, the name Device
//! Manager shows and a line of help.
//!
//! This table is the single source of those facts. The driver
//! (`driver/config.rs`) validates registry values against it; the INF
//! (`inf/volnic.inx`) carries one `Ndi\params` entry per row and the
//! README its configuration table, both generated from this table
//! (`cargo run -p volnic-tools --example generate-settings`); a test
//! (`tests/tests/inf_agreement.rs`) holds the generated text current and
//! the driver to the table; `volnic config` validates what it writes
//! against it.
//!
//! Registry value names are case-insensitive, as Windows treats them:
//! [`find`] matches them that way.

use alloc::string::String;

/// One registry value the adapter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The registry value name (and `Ndi\params` subkey).
    pub name: &'static str,
    pub kind: Kind,
    /// The label Device Manager shows on the Advanced tab (`ParamDesc`).
    pub display: &'static str,
    /// One line: what the value does and what to set it to.
    pub help: &'static str,
}

/// How a setting is stored and edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text (REG_SZ), edited in a text box (`Ndi\params` type `edit`).
    Text(TextRule),
    /// A number. Device Manager stores it as a decimal REG_SZ (`Ndi\params`
    /// type `int`) and `NdisReadConfiguration` converts it; an absent value
    /// takes the default.
    Integer(IntRange),
}

/// The rules of a text setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextRule {
    /// The adapter does not start without it. An optional one shows Device
    /// Manager's "Not Present" choice (`optional` = 1), which deletes it.
    pub required: bool,
    /// Longest text Device Manager accepts (`LimitText`), if limited.
    pub limit_text: Option<u16>,
    /// Device Manager upper-cases what is typed (`UpperCase` = 1).
    pub upper_case: bool,
}

/// Default and range of an integer setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    pub default: u32,
    pub min: u32,
    pub max: u32,
    /// The value must be a multiple of this (1: any value in range).
    pub step: u32,
}

impl IntRange {
    /// Is `value` inside `min..=max`?
    pub const fn contains(&self, value: u32) -> bool {
        value >= self.min && value <= self.max
    }

    /// Is `value` a multiple of `step`?
    pub const fn on_step(&self, value: u32) -> bool {
        value.is_multiple_of(self.step)
    }
}

impl Setting {
    /// The default and range of an integer setting.
    ///
    /// # Panics
    /// On a text setting (at compile time when used in a `const`).
    pub const fn range(&self) -> IntRange {
        match self.kind {
            Kind::Integer(range) => range,
            Kind::Text(_) => panic!("not an integer setting"),
        }
    }

    /// May the value be absent? Integers always may (the default applies);
    /// text only when it is not required.
    pub const fn optional(&self) -> bool {
        match self.kind {
            Kind::Integer(_) => true,
            Kind::Text(rule) => !rule.required,
        }
    }
}

const fn integer(default: u32, min: u32, max: u32, step: u32) -> Kind {
    Kind::Integer(IntRange {
        default,
        min,
        max,
        step,
    })
}

const PATH: Kind = Kind::Text(TextRule {
    required: true,
    limit_text: None,
    upper_case: false,
});

pub const SEND_VOLUME: Setting = Setting {
    name: "SendVolume",
    kind: PATH,
    display: "Send volume (path)",
    help: "Volume this node writes: a drive-letter path, \\\\?\\Volume{GUID}\\..., \\\\.\\PhysicalDriveN or an NT path; required.",
};

pub const RECEIVE_VOLUME: Setting = Setting {
    name: "ReceiveVolume",
    kind: PATH,
    display: "Receive volume (path)",
    help: "Volume this node reads: the peer's send volume as the storage mirrors it; required, and never the send volume.",
};

pub const BLOCK_SIZE: Setting = Setting {
    name: "BlockSize",
    kind: integer(
        4096,
        crate::format::MIN_BLOCK_SIZE,
        crate::format::MAX_BLOCK_SIZE,
        512,
    ),
    display: "Block size (bytes)",
    help: "Bytes per block: the block size both volumes were formatted with (volnic format --block-size).",
};

pub const FLUSH_DELAY_MS: Setting = Setting {
    name: "FlushDelayMs",
    kind: integer(0, 0, 1_000, 1),
    display: "Partial block delay (ms)",
    help: "How long a partly filled block waits for more frames before it is written; 0 writes it at once.",
};

pub const POLL_INTERVAL_US: Setting = Setting {
    name: "PollIntervalUs",
    kind: integer(1_000, 50, 1_000_000, 1),
    display: "Receive poll interval (microseconds)",
    help: "Longest wait between two reads of the receive volume when no frames arrive.",
};

pub const PEER_TIMEOUT_MS: Setting = Setting {
    name: "PeerTimeoutMs",
    kind: integer(3_000, 200, 60_000, 1),
    display: "Peer timeout (ms)",
    help: "The link goes down when the peer's records stop changing for this long.",
};

pub const NODE_ID: Setting = Setting {
    name: "NodeId",
    kind: integer(1, 1, 32, 1),
    display: "Node number",
    help: "This node's number, as given to volnic format --writer-node for its send volume.",
};

pub const SEND_QUEUE_KB: Setting = Setting {
    name: "SendQueueKb",
    kind: integer(1_024, 64, 65_536, 1),
    display: "Send queue (KB)",
    help: "Memory for frames waiting to be written to the send volume; a full queue drops frames like a busy NIC.",
};

/// Ethernet header in front of an IP packet (destination, source, EtherType).
pub const ETH_HEADER_LEN: u32 = 14;
/// Largest MTU offered: jumbo frames. Whatever the volume format could
/// carry beyond that no Windows stack asks for.
const MAX_MTU: u32 = 9_000;
const _: () = assert!((MAX_MTU + ETH_HEADER_LEN) as usize <= crate::format::MAX_FRAME_LEN);

pub const MTU: Setting = Setting {
    name: "MTU",
    kind: integer(1_500, 576, MAX_MTU, 1),
    display: "MTU (bytes)",
    help: "Largest IP packet; the largest frame is 14 bytes more. Give both nodes the same MTU.",
};

pub const LINK_SPEED_MBPS: Setting = Setting {
    name: "LinkSpeedMbps",
    kind: integer(1_000, 1, 100_000, 1),
    display: "Reported link speed (Mbps)",
    help: "The speed the adapter reports to Windows; it does not limit traffic.",
};

pub const NETWORK_ADDRESS: Setting = Setting {
    name: "NetworkAddress",
    kind: Kind::Text(TextRule {
        required: false,
        limit_text: Some(12),
        upper_case: true,
    }),
    display: "Network Address",
    help: "MAC address: 12 hex digits of a unicast address; when absent, a stable locally administered one.",
};

pub const AUTH_KEY_FILE: Setting = Setting {
    name: "AuthKeyFile",
    kind: Kind::Text(TextRule {
        required: false,
        limit_text: None,
        upper_case: false,
    }),
    display: "Authentication key file",
    help: "Key file of authenticated volumes: the shared secret (at least 16 bytes) both nodes use; leave it absent for plain volumes.",
};

/// Every setting the adapter reads, in the order the driver reads them.
pub const ALL: [Setting; 12] = [
    SEND_VOLUME,
    RECEIVE_VOLUME,
    BLOCK_SIZE,
    FLUSH_DELAY_MS,
    POLL_INTERVAL_US,
    PEER_TIMEOUT_MS,
    NODE_ID,
    SEND_QUEUE_KB,
    MTU,
    LINK_SPEED_MBPS,
    NETWORK_ADDRESS,
    AUTH_KEY_FILE,
];

/// The setting named `name`, compared case-insensitively as the registry
/// compares value names.
pub fn find(name: &str) -> Option<&'static Setting> {
    ALL.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The NT object path the driver opens for a configured volume path
/// (`ZwCreateFile` takes NT paths, not Win32 ones): `C:\v\a.vol` becomes
/// `\??\C:\v\a.vol`; the Win32 device and long-path prefixes `\\.\` and
/// `\\?\` become `\??\` (`\\.\PhysicalDrive3` → `\??\PhysicalDrive3`,
/// `\\?\Volume{…}\a.vol` → `\??\Volume{…}\a.vol`); NT paths (`\??\…`,
/// `\Device\…`) pass unchanged. Blanks around the path are dropped.
pub fn nt_volume_path(path: &str) -> String {
    let path = path.trim();
    let has_prefix = |prefix: &str| {
        path.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if has_prefix(r"\??\") || has_prefix(r"\Device\") {
        return String::from(path);
    }
    let body = if has_prefix(r"\\.\") || has_prefix(r"\\?\") {
        &path[4..]
    } else {
        path
    };
    let mut nt = String::from(r"\??\");
    nt.push_str(body);
    nt
}

/// Do two volume paths name the same volume? Compared as Windows compares
/// paths: in their NT form ([`nt_volume_path`], so `\\.\PhysicalDrive1` and
/// `\??\PhysicalDrive1` are one), case-insensitively, ignoring surrounding
/// blanks and trailing separators. (Two different names of one volume, say
/// a drive letter and its `\\?\Volume{GUID}`, are not caught here.)
pub fn same_volume_path(a: &str, b: &str) -> bool {
    let (a, b) = (nt_volume_path(a), nt_volume_path(b));
    let a = a.trim_end_matches(['\\', '/']);
    let b = b.trim_end_matches(['\\', '/']);
    a.len() == b.len()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| x.eq_ignore_ascii_case(&y))
}

/// A `NetworkAddress` value as a unicast MAC (12 hex digits, optionally
/// separated by `:` or `-`); the same parser the Linux endpoint uses.
pub use crate::mac::parse_mac as parse_network_address;

/// Largest Ethernet frame (header included, no FCS) an adapter with IP
/// MTU `mtu` sends.
pub const fn frame_len(mtu: u32) -> usize {
    (mtu + ETH_HEADER_LEN) as usize
}

/// The MTU needs larger frames than the link's blocks carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtuTooLarge {
    pub mtu: u32,
    pub max_frame_len: usize,
    pub block_size: u32,
}

impl core::fmt::Display for MtuTooLarge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "MTU {} needs {}-byte frames but the link's {}-byte blocks carry at most {}: lower the MTU (mtu, MTU on Windows) or format the volumes with a larger block size",
            self.mtu,
            frame_len(self.mtu),
            self.block_size,
            self.max_frame_len
        )
    }
}

/// The MTU-versus-frame rule both hosts apply once the link is open:
/// every frame the MTU allows must fit what the link carries
/// (`Link::max_frame_len`, set by the block size).
pub fn check_mtu(mtu: u32, max_frame_len: usize, block_size: u32) -> Result<(), MtuTooLarge> {
    if frame_len(mtu) > max_frame_len {
        return Err(MtuTooLarge {
            mtu,
            max_frame_len,
            block_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_case_insensitively() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{} twice", a.name);
            }
            assert_eq!(find(&a.name.to_ascii_lowercase()), Some(a));
        }
        assert_eq!(find("Bogus"), None);
    }

    #[test]
    fn every_integer_default_is_in_range_and_on_step() {
        for s in ALL.iter() {
            if let Kind::Integer(r) = s.kind {
                assert!(r.step >= 1, "{}", s.name);
                assert!(r.min <= r.max, "{}", s.name);
                assert!(r.contains(r.default), "{}", s.name);
                assert!(r.on_step(r.default), "{}", s.name);
                assert!(r.on_step(r.min) && r.on_step(r.max), "{}", s.name);
                assert!(
                    r.max <= i32::MAX as u32,
                    "{}: Device Manager's int is signed",
                    s.name
                );
            }
            assert!(s.display.is_ascii() && s.help.is_ascii(), "{}", s.name);
            assert!(!s.help.contains('\n'), "{}: help is one line", s.name);
        }
    }

    #[test]
    fn only_the_volumes_are_required() {
        let required: alloc::vec::Vec<_> = ALL
            .iter()
            .filter(|s| !s.optional())
            .map(|s| s.name)
            .collect();
        assert_eq!(required, ["SendVolume", "ReceiveVolume"]);
    }

    #[test]
    fn block_size_range_is_the_formats() {
        let r = BLOCK_SIZE.range();
        assert_eq!((r.min, r.max, r.step), (512, 1 << 20, 512));
        assert!(!r.on_step(1000));
    }

    #[test]
    fn same_volume_path_ignores_case_and_trailing_separator() {
        assert!(same_volume_path("C:\\v\\a.vol", "c:\\V\\A.VOL\\"));
        assert!(same_volume_path(
            " \\\\.\\PhysicalDrive2 ",
            "\\\\.\\physicaldrive2"
        ));
        assert!(!same_volume_path("C:\\v\\a.vol", "C:\\v\\b.vol"));
        assert!(same_volume_path(
            r"\\.\PhysicalDrive1",
            r"\??\physicaldrive1"
        ));
        assert!(same_volume_path(r"\\?\Volume{1}\a", r"\\.\VOLUME{1}\A"));
    }

    #[test]
    fn nt_volume_paths() {
        for (win32, nt) in [
            (r"C:\v\a.vol", r"\??\C:\v\a.vol"),
            (r"\\.\PhysicalDrive3", r"\??\PhysicalDrive3"),
            (
                r"\\?\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\v\a.vol",
                r"\??\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\v\a.vol",
            ),
            (r"\??\D:\a.vol", r"\??\D:\a.vol"),
            (
                r"\Device\HarddiskVolume4\a.vol",
                r"\Device\HarddiskVolume4\a.vol",
            ),
            (
                r"\device\Harddisk2\Partition0",
                r"\device\Harddisk2\Partition0",
            ),
            (" E:\\b.vol ", r"\??\E:\b.vol"),
        ] {
            assert_eq!(nt_volume_path(win32), nt, "{win32}");
        }
    }

    #[test]
    fn network_address_parsing() {
        assert_eq!(
            parse_network_address("02-11-22-33-44-55"),
            Some([2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(
            parse_network_address("021122334455"),
            Some([2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(parse_network_address("0211223344"), None);
        assert_eq!(parse_network_address("02112233445566"), None);
        assert_eq!(parse_network_address("zz1122334455"), None);
        assert_eq!(parse_network_address("010000000000"), None);
        assert_eq!(parse_network_address("000000000000"), None);
    }

    #[test]
    fn the_mtu_must_fit_the_links_frames() {
        // 1500-byte IP packets are 1514-byte frames.
        assert_eq!(frame_len(1500), 1514);
        assert_eq!(check_mtu(1500, 1514, 4096), Ok(()));
        let err = check_mtu(1500, 1513, 512).unwrap_err();
        assert_eq!(
            err,
            MtuTooLarge {
                mtu: 1500,
                max_frame_len: 1513,
                block_size: 512
            }
        );
        let line = alloc::string::ToString::to_string(&err);
        assert!(
            line.starts_with("MTU 1500 needs 1514-byte frames but the link's 512-byte blocks carry at most 1513: "),
            "{line}"
        );
        // The table's largest MTU fits the format's largest frame.
        assert!(frame_len(MTU.range().max) <= crate::format::MAX_FRAME_LEN);
    }
}
