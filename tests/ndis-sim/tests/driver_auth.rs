//! Authenticated mode in the miniport: `AuthKeyFile` names the shared
//! secret; with the same key on both nodes frames cross, with another key
//! the link stays down, and a missing, short or absent key stops
//! initialization with a named reason.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use volnic_core::format::SB_FLAG_AUTHENTICATED;
use volnic_ndis_sim::facts::status;
use volnic_ndis_sim::storage::{make_link_with, LinkFiles};
use volnic_ndis_sim::{AdapterId, RegValue, SimHost};

fn with_key(files: &LinkFiles, node: u32, key: Option<&Path>) -> Vec<(&'static str, RegValue)> {
    let (send, recv) = match node {
        1 => (&files.a_send, &files.a_recv),
        _ => (&files.b_send, &files.b_recv),
    };
    let mut reg = registry(send, recv, node, 4096);
    if let Some(key) = key {
        reg.push((
            "AuthKeyFile",
            RegValue::Str(key.to_string_lossy().into_owned()),
        ));
    }
    reg
}

fn start(host: &mut SimHost, name: &str, reg: &[(&'static str, RegValue)]) -> AdapterId {
    let id = host.initialize(name, reg).expect("initializes");
    host.restart(id);
    set_filter(host, id);
    id
}

#[test]
fn same_key_carries_frames_other_key_keeps_the_link_down() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link_with(dir.path(), 4096, 32, SB_FLAG_AUTHENTICATED);
    let key = dir.path().join("link.key");
    std::fs::write(&key, b"0123456789abcdef0123456789abcdef\n").unwrap();
    let other = dir.path().join("other.key");
    std::fs::write(&other, b"fedcba9876543210fedcba9876543210").unwrap();

    let mut host = SimHost::load();
    let a = start(&mut host, "node1", &with_key(&files, 1, Some(&key)));
    let b = start(&mut host, "node2", &with_key(&files, 2, Some(&key)));
    assert!(host.wait_link(a, true, WAIT) && host.wait_link(b, true, WAIT));
    let (mac_a, mac_b) = (mac_of(&mut host, a), mac_of(&mut host, b));
    let sent: Vec<Vec<u8>> = (0..10).map(|i| frame(mac_b, mac_a, i, 300)).collect();
    let statuses = host.send(a, &nbls(&sent));
    assert!(statuses.iter().all(|&s| s == status("NDIS_STATUS_SUCCESS")));
    assert_eq!(host.wait_received(b, sent.len(), WAIT), sent);
    host.pause(b);
    host.halt(b);

    // Node 2 comes back with another key: node 1 rejects its records, so
    // the link stays down on both sides.
    let b = start(&mut host, "node2", &with_key(&files, 2, Some(&other)));
    assert!(host.wait_link(a, false, WAIT), "node 1 kept its link up");
    assert!(
        !host.wait_link(b, true, Duration::from_secs(3)),
        "node 2's link came up with the wrong key"
    );
    assert!(!host.wait_link(a, true, Duration::from_millis(500)));
    host.finish();
}

#[test]
fn a_missing_short_or_absent_key_fails_initialization_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_link_with(dir.path(), 4096, 16, SB_FLAG_AUTHENTICATED);
    let short = dir.path().join("short.key");
    std::fs::write(&short, b"too short").unwrap();
    let missing = dir.path().join("nowhere.key");
    let mut host = SimHost::load();
    for (key, want) in [
        (Some(missing.as_path()), "AuthKeyFile"),
        (Some(short.as_path()), "at least 16"),
        (None, "no key is configured"),
    ] {
        let reason = host
            .initialize("node1", &with_key(&files, 1, key))
            .expect_err("initialization must fail");
        assert!(reason.contains(want), "{want:?} not in {reason:?}");
    }
    host.finish();
}
