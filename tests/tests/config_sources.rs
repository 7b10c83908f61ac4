//! Property tests of every reader of configuration input: the driver's
//! registry reader, the Linux endpoint's TOML settings file and its key
//! file. None may panic on any input; what they accept is exactly what the
//! settings table allows, with the value given (or the table's default when
//! absent); what they refuse gets one line naming the value.
//!
//! (The cargo-fuzz target `registry_config` in `fuzz/` explores the registry
//! reader further, coverage-guided.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use volnic::config::{AdapterConfig, ConfigError, SettingSource};
use volnic_core::settings::{self, Kind, Setting};
use volnic_tools::cli::up::{read_key_file, UpArgs};

/// The integer settings the driver reads, each with its value in the config.
fn driver_integer(cfg: &AdapterConfig, name: &str) -> u64 {
    match name {
        "BlockSize" => cfg.block_size.into(),
        "FlushDelayMs" => cfg.flush_delay_us / 1_000,
        "PollIntervalUs" => cfg.poll_interval_us,
        "PeerTimeoutMs" => cfg.peer_timeout_us / 1_000,
        "NodeId" => cfg.node_id.into(),
        "SendQueueKb" => (cfg.send_queue_bytes / 1024) as u64,
        "MTU" => cfg.mtu.into(),
        "LinkSpeedMbps" => cfg.link_speed_mbps.into(),
        other => panic!("integer setting {other} has no field here"),
    }
}

fn integer_settings() -> impl Iterator<Item = &'static Setting> {
    settings::ALL
        .iter()
        .filter(|s| matches!(s.kind, Kind::Integer(_)))
}

#[derive(Clone, Debug)]
enum RegValue {
    Text(String),
    Number(u32),
}

/// A registry: names looked up case-insensitively as the registry does;
/// a value of the wrong type reads as absent, as `NdisReadConfiguration`
/// reports it.
#[derive(Debug, Default)]
struct Registry(BTreeMap<String, RegValue>);

impl Registry {
    fn get(&self, name: &str) -> Option<&RegValue> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl SettingSource for Registry {
    fn string(&mut self, name: &str) -> Option<String> {
        match self.get(name)? {
            RegValue::Text(s) => Some(s.clone()),
            RegValue::Number(_) => None,
        }
    }
    fn integer(&mut self, name: &str) -> Option<u32> {
        match self.get(name)? {
            RegValue::Number(n) => Some(*n),
            RegValue::Text(_) => None,
        }
    }
}

/// Integers near each setting's bounds and anywhere.
fn number() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..=2_000_000,
        any::<u32>(),
        Just(0),
        Just(u32::MAX),
        (0u32..2048).prop_map(|k| k * 512),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just("   ".to_string()),
        "[A-Za-z]:\\\\[a-z]{1,8}\\\\[a-z]{1,8}\\.vol",
        "\\\\\\\\\\.\\\\PhysicalDrive[0-9]{1,2}",
        "[0-9A-Fa-f]{12}",
        "([0-9A-Fa-f]{2}[-:]){5}[0-9A-Fa-f]{2}",
    ]
}

fn reg_value() -> impl Strategy<Value = RegValue> {
    prop_oneof![
        text().prop_map(RegValue::Text),
        number().prop_map(RegValue::Number)
    ]
}

/// A registry entry: a setting of the table (by its name, or its name in
/// lower case) with a value that is often valid for it, or any other name.
fn reg_entry() -> impl Strategy<Value = (String, RegValue)> {
    let known = (0..settings::ALL.len(), any::<bool>()).prop_flat_map(|(i, lower)| {
        let setting = &settings::ALL[i];
        let name = if lower {
            setting.name.to_ascii_lowercase()
        } else {
            setting.name.to_string()
        };
        let value = match setting.kind {
            Kind::Integer(range) => {
                let steps = (range.min / range.step)..=(range.max / range.step);
                prop_oneof![
                    3 => steps.prop_map(move |k| RegValue::Number(k * range.step)),
                    1 => reg_value(),
                ]
                .boxed()
            }
            Kind::Text(_) => reg_value().boxed(),
        };
        (Just(name), value)
    });
    prop_oneof![5 => known, 1 => ("[A-Za-z*]{1,12}", reg_value())]
}

/// A registry of random entries; with `volumes`, two distinct volume paths
/// are added where the entries lack them.
fn registry() -> impl Strategy<Value = BTreeMap<String, RegValue>> {
    (proptest::collection::vec(reg_entry(), 0..16), any::<bool>()).prop_map(|(entries, volumes)| {
        let mut map: BTreeMap<String, RegValue> = entries.into_iter().collect();
        if volumes {
            for (name, path) in [
                ("SendVolume", r"D:\volnic\a.vol"),
                ("ReceiveVolume", r"E:\volnic\b.vol"),
            ] {
                if !map.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                    map.insert(name.to_string(), RegValue::Text(path.to_string()));
                }
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any registry: no panic; an accepted configuration holds, for every
    /// integer setting, the registry's number when one is stored and the
    /// default when none is, always inside the range and on the step; the
    /// volumes are the stored strings, trimmed, and differ.
    #[test]
    fn registry_reader_accepts_exactly_the_table(
        values in registry(),
    ) {
        let mut registry = Registry(values);
        let result = AdapterConfig::from_source(&mut registry);
        let Ok(cfg) = result else {
            let message = result.unwrap_err().to_string();
            prop_assert!(!message.contains('\n'), "{message}");
            return Ok(());
        };
        for setting in integer_settings() {
            let range = setting.range();
            let expected = match registry.get(setting.name) {
                Some(RegValue::Number(n)) => *n,
                _ => range.default,
            };
            let value = driver_integer(&cfg, setting.name);
            prop_assert_eq!(value, u64::from(expected), "{}", setting.name);
            prop_assert!(range.contains(expected) && range.on_step(expected), "{}", setting.name);
        }
        for (name, field) in [("SendVolume", &cfg.send_volume), ("ReceiveVolume", &cfg.receive_volume)] {
            let Some(RegValue::Text(stored)) = registry.get(name) else {
                panic!("{name} accepted without a stored string");
            };
            prop_assert_eq!(field.as_str(), stored.trim());
        }
        prop_assert!(!settings::same_volume_path(&cfg.send_volume, &cfg.receive_volume));
        if let Some(mac) = cfg.network_address {
            prop_assert_eq!(mac[0] & 1, 0, "multicast MAC accepted");
        }
    }

    /// From a valid registry, one integer setting set outside its range (or
    /// off its step) is refused with an error naming that setting.
    #[test]
    fn one_bad_number_is_refused_by_name(index in 0usize..8, value in number()) {
        let setting = integer_settings().nth(index % integer_settings().count()).unwrap();
        let range = setting.range();
        prop_assume!(!(range.contains(value) && range.on_step(value)));
        let mut registry = Registry::default();
        registry.0.insert("SendVolume".into(), RegValue::Text(r"D:\volnic\a.vol".into()));
        registry.0.insert("ReceiveVolume".into(), RegValue::Text(r"E:\volnic\b.vol".into()));
        registry.0.insert(setting.name.into(), RegValue::Number(value));
        let err = AdapterConfig::from_source(&mut registry).unwrap_err();
        let named = match err {
            ConfigError::OutOfRange { name, .. } => name == setting.name,
            ConfigError::BlockSizeNotSectorMultiple(v) => setting.name == "BlockSize" && v == value,
            _ => false,
        };
        prop_assert!(named, "{} = {value}: {err}", setting.name);
    }
}

/// The settings file's integer keys and the table's setting of each.
const FILE_INTEGERS: [(&str, &Setting); 6] = [
    ("mtu", &settings::MTU),
    ("flush-delay-ms", &settings::FLUSH_DELAY_MS),
    ("poll-us", &settings::POLL_INTERVAL_US),
    ("peer-timeout-ms", &settings::PEER_TIMEOUT_MS),
    ("node-id", &settings::NODE_ID),
    ("queue-kb", &settings::SEND_QUEUE_KB),
];

fn file_value(settings: &volnic_tools::cli::up::UpSettings, key: &str) -> Option<u32> {
    let host = &settings.host;
    let ms = |us: u64| u32::try_from(us / 1_000).unwrap();
    match key {
        "mtu" => Some(host.mtu),
        "flush-delay-ms" => Some(ms(host.flush_delay_us)),
        "poll-us" => Some(u32::try_from(host.poll_interval_us).unwrap()),
        "peer-timeout-ms" => Some(ms(host.peer_timeout_us)),
        "node-id" => host.node_id,
        "queue-kb" => Some(u32::try_from(host.send_queue_bytes / 1024).unwrap()),
        other => panic!("no field for {other}"),
    }
}

fn settings_from(dir: &Path, text: &str) -> Result<volnic_tools::cli::up::UpSettings, String> {
    let path = dir.join("volnic.toml");
    std::fs::write(&path, text).unwrap();
    UpArgs {
        config: Some(path),
        ..UpArgs::default()
    }
    .settings()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any bytes as a settings file: no panic, and a refusal is one line
    /// naming the file.
    #[test]
    fn settings_file_of_any_text_is_read_or_refused_in_one_line(text in any::<String>()) {
        let dir = tempfile::tempdir().unwrap();
        if let Err(message) = settings_from(dir.path(), &text) {
            prop_assert!(!message.contains('\n'), "{message}");
            prop_assert!(message.contains("volnic.toml") || message.starts_with("no "), "{message}");
        }
    }

    /// A settings file with the integer keys set to any integer (TOML
    /// integers are 64-bit and signed): accepted exactly when every value
    /// is inside its setting's range, with the values given; otherwise
    /// refused in one line.
    #[test]
    fn settings_file_integers_are_held_to_the_table(
        values in proptest::collection::vec(
            proptest::option::of(prop_oneof![any::<i64>(), -10i64..100_000, 0i64..2_000_000]),
            FILE_INTEGERS.len(),
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("send = \"/srv/volnic/a.vol\"\nrecv = \"/srv/volnic/b.vol\"\n");
        for ((key, _), value) in FILE_INTEGERS.iter().zip(&values) {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {v}\n"));
            }
        }
        let acceptable = FILE_INTEGERS.iter().zip(&values).all(|((_, setting), value)| match value {
            None => true,
            Some(v) => u32::try_from(*v).is_ok_and(|v| setting.range().contains(v)),
        });
        match settings_from(dir.path(), &text) {
            Ok(read) => {
                prop_assert!(acceptable, "accepted {text}");
                prop_assert_eq!(&read.send, &PathBuf::from("/srv/volnic/a.vol"));
                for ((key, setting), value) in FILE_INTEGERS.iter().zip(&values) {
                    let expected = match value {
                        Some(v) => Some(*v as u32),
                        None if *key == "node-id" => None,
                        None => Some(setting.range().default),
                    };
                    prop_assert_eq!(file_value(&read, key), expected, "{}", key);
                }
            }
            Err(message) => {
                prop_assert!(!acceptable, "refused {text}: {message}");
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }
    }

    /// Any key file: no panic; accepted exactly when it has at least 16
    /// bytes (the secret is the file's exact bytes, nothing trimmed).
    #[test]
    fn key_file_of_any_bytes(secret in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volnic.key");
        std::fs::write(&path, &secret).unwrap();
        // Key files must be private, or they are refused; the property here is the secret.
        std::fs::set_permissions(&path, <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600)).unwrap();
        let long_enough = secret.len() >= 16;
        match read_key_file(&path) {
            Ok(_) => prop_assert!(long_enough),
            Err(message) => {
                prop_assert!(!long_enough, "{message}");
                prop_assert!(!message.contains('\n') && message.contains("volnic.key"), "{message}");
            }
        }
    }
}
