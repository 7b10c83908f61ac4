//! The driver's registry reader (`AdapterConfig::from_source`) takes any
//! set of registry values — any names, strings and integers, absent or of
//! the wrong type — without panicking, and what it accepts keeps every
//! promise of the settings table: integers in range, the block size a
//! multiple of 512, send and receive volumes different, a unicast MAC.
//! The path and MAC helpers it uses are fuzzed on the same strings.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use volnic::config::{AdapterConfig, SettingSource};
use volnic_core::settings::{self, Kind};

#[derive(Arbitrary, Debug, Clone)]
enum Value {
    Text(String),
    Number(u32),
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// One of the table's settings, by index.
    Known(u8),
    /// Any other name.
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    values: Vec<(Name, Value)>,
    /// Reads of the same name answer differently (a value changed under us).
    fickle: bool,
}

struct Registry {
    values: Vec<(String, Value)>,
    fickle: bool,
    reads: usize,
}

impl Registry {
    fn lookup(&mut self, name: &str) -> Option<Value> {
        self.reads += 1;
        let mut hits = self
            .values
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        if self.fickle {
            hits.nth(self.reads % 2)
        } else {
            hits.next()
        }
    }
}

impl SettingSource for Registry {
    fn string(&mut self, name: &str) -> Option<String> {
        match self.lookup(name)? {
            Value::Text(s) => Some(s),
            Value::Number(_) => None,
        }
    }
    fn integer(&mut self, name: &str) -> Option<u32> {
        match self.lookup(name)? {
            Value::Number(n) => Some(n),
            Value::Text(_) => None,
        }
    }
}

fuzz_target!(|input: Input| {
    let values: Vec<(String, Value)> = input
        .values
        .into_iter()
        .map(|(name, value)| {
            let name = match name {
                Name::Known(i) => settings::ALL[usize::from(i) % settings::ALL.len()]
                    .name
                    .to_string(),
                Name::Other(s) => s,
            };
            (name, value)
        })
        .collect();
    for (_, value) in &values {
        if let Value::Text(s) = value {
            let nt = settings::nt_volume_path(s);
            let lower = nt.to_ascii_lowercase();
            assert!(
                lower.starts_with(r"\??\") || lower.starts_with(r"\device\"),
                "{nt:?}"
            );
            assert!(settings::same_volume_path(s, s));
            if let Some(mac) = settings::parse_network_address(s) {
                assert_eq!(mac[0] & 1, 0, "multicast MAC accepted from {s:?}");
            }
        }
    }
    let mut registry = Registry {
        values,
        fickle: input.fickle,
        reads: 0,
    };
    let Ok(cfg) = AdapterConfig::from_source(&mut registry) else {
        return;
    };
    assert!(!cfg.send_volume.is_empty() && !cfg.receive_volume.is_empty());
    assert!(!settings::same_volume_path(
        &cfg.send_volume,
        &cfg.receive_volume
    ));
    assert_eq!(cfg.block_size % 512, 0);
    for setting in settings::ALL.iter() {
        let Kind::Integer(range) = setting.kind else {
            continue;
        };
        let value = match setting.name {
            "BlockSize" => cfg.block_size,
            "NodeId" => cfg.node_id,
            "MTU" => cfg.mtu,
            "LinkSpeedMbps" => cfg.link_speed_mbps,
            "PollIntervalUs" => cfg.poll_interval_us as u32,
            "FlushDelayMs" => (cfg.flush_delay_us / 1_000) as u32,
            "PeerTimeoutMs" => (cfg.peer_timeout_us / 1_000) as u32,
            "SendQueueKb" => (cfg.send_queue_bytes / 1024) as u32,
            _ => continue,
        };
        assert!(range.contains(value), "{} = {value}", setting.name);
    }
    if let Some(mac) = cfg.network_address {
        assert_eq!(mac[0] & 1, 0, "multicast NetworkAddress accepted");
    }
    assert!(cfg.max_frame_len() > cfg.mtu as usize);
});
