//! The Windows installer and configurator's decisions, on any platform:
//! every validation rule of volume paths and KEY=VALUE arguments, the
//! mapping from `config set` arguments to registry writes, the order of the
//! install / uninstall / config steps (run against the recording fake), and
//! the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use volnic_core::settings::{self, Kind};
use volnic_tools::cli::wincfg::{
    run_with, ConfigAction, ConfigArgs, InstallArgs, ListArgs, UninstallArgs, WinCli, WinCommand,
};
use volnic_tools::wincfg::*;

const KEY: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e972-e325-11ce-bfc1-08002be10318}\\0007";
const GUID: &str = "26a21bda-a627-11d7-9931-806e6f6e6963";

fn err_of<T: std::fmt::Debug>(r: Result<T, String>) -> String {
    let e = r.expect_err("expected an error");
    assert!(!e.contains('\n'), "errors are one line: {e}");
    e
}

// ---------------------------------------------------------------------------
// Volume paths
// ---------------------------------------------------------------------------

#[test]
fn accepted_volume_path_forms() {
    let ok = |p: &str| parse_volume_path("SendVolume", p).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        ok("D:\\volnic\\a.vol"),
        VolumePath::DriveLetter("D:\\volnic\\a.vol".into())
    );
    assert_eq!(
        ok("  e:\\a.vol  "),
        VolumePath::DriveLetter("e:\\a.vol".into())
    );
    let guid_file = format!("\\\\?\\Volume{{{GUID}}}\\volnic\\a.vol");
    assert_eq!(ok(&guid_file), VolumePath::VolumeGuid(guid_file.clone()));
    let guid_raw = format!("\\\\?\\Volume{{{}}}", GUID.to_uppercase());
    assert_eq!(ok(&guid_raw), VolumePath::VolumeGuid(guid_raw.clone()));
    assert_eq!(ok("\\\\.\\PhysicalDrive2"), VolumePath::PhysicalDrive(2));
    assert_eq!(ok("\\\\.\\physicaldrive12"), VolumePath::PhysicalDrive(12));
    let interface = "\\\\?\\scsi#disk&ven_msft&prod_virtual_disk#2&1f4adffe&0&000001#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}";
    assert_eq!(
        ok(interface),
        VolumePath::DeviceInterface(interface.to_string())
    );
    assert_eq!(
        ok("\\??\\D:\\volnic\\a.vol"),
        VolumePath::Nt("\\??\\D:\\volnic\\a.vol".into())
    );
    assert_eq!(
        ok("\\Device\\HarddiskVolume3\\a.vol"),
        VolumePath::Nt("\\Device\\HarddiskVolume3\\a.vol".into())
    );
    assert_eq!(
        ok("\\Device\\Harddisk1\\Partition0"),
        VolumePath::Nt("\\Device\\Harddisk1\\Partition0".into())
    );
}

#[test]
fn volume_paths_map_to_the_nt_paths_the_driver_opens() {
    let nt = |p: &str| parse_volume_path("SendVolume", p).unwrap().nt_path();
    assert_eq!(nt("D:\\volnic\\a.vol"), "\\??\\D:\\volnic\\a.vol");
    assert_eq!(nt("\\\\.\\PhysicalDrive2"), "\\??\\PhysicalDrive2");
    assert_eq!(
        nt("\\\\?\\mpio#disk&ven_3par&prod_vv#1&7f6ac24&0&000002#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"),
        "\\??\\mpio#disk&ven_3par&prod_vv#1&7f6ac24&0&000002#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
    );
    assert_eq!(
        nt(&format!("\\\\?\\Volume{{{GUID}}}\\a.vol")),
        format!("\\??\\Volume{{{GUID}}}\\a.vol")
    );
    assert_eq!(
        nt("\\Device\\HarddiskVolume3\\a.vol"),
        "\\Device\\HarddiskVolume3\\a.vol"
    );
}

#[test]
fn refused_volume_paths_say_why() {
    for (path, why) in [
        ("", "is empty"),
        ("   ", "is empty"),
        ("a.vol", "relative path"),
        ("volnic\\a.vol", "relative path"),
        (".\\a.vol", "relative path"),
        ("..\\a.vol", "relative path"),
        ("\\volnic\\a.vol", "relative path"),
        ("D:a.vol", "relative to the current directory of drive D"),
        ("D:\\", "names no file"),
        ("D:\\volnic\\", "names a directory"),
        ("D:\\vol|nic\\a.vol", "contains '|'"),
        ("D:\\a?.vol", "contains '?'"),
        ("D:\\a*.vol", "contains '*'"),
        ("D:\\a:b.vol", "contains ':'"),
        ("D:/volnic/a.vol", "contains '/'"),
        ("\\\\server\\share\\a.vol", "UNC or device path"),
        ("\\\\.\\C:", "UNC or device path"),
        ("\\\\.\\PhysicalDrive", "PhysicalDriveN"),
        ("\\\\.\\PhysicalDriveX", "PhysicalDriveN"),
        ("\\\\.\\PhysicalDrive+1", "PhysicalDriveN"),
        ("\\\\?\\Volume{not-a-guid}\\a.vol", "is not a volume GUID"),
        (
            "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963",
            "no closing",
        ),
        (
            "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}x",
            "expected '\\' after the volume GUID",
        ),
        (
            "\\\\?\\scsi#disk&ven_x#1&2&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b",
            "ends with #{GUID}",
        ),
        (
            "\\\\?\\scsi#disk&ven_x#1&2&0#{not-a-guid}",
            "is not a device interface path",
        ),
        (
            "\\\\?\\scsi#disk#1#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}\\a.vol",
            "ends with #{GUID}",
        ),
        ("\\??\\", "incomplete NT path"),
        ("\\Device\\", "incomplete NT path"),
    ] {
        let e = err_of(parse_volume_path("ReceiveVolume", path));
        assert!(e.contains(why), "{path:?}: {e}");
        assert!(e.starts_with("ReceiveVolume"), "names the setting: {e}");
    }
}

// ---------------------------------------------------------------------------
// KEY=VALUE
// ---------------------------------------------------------------------------

fn value_of(arg: &str) -> Option<String> {
    parse_assignment(arg)
        .unwrap_or_else(|e| panic!("{arg}: {e}"))
        .value
}

#[test]
fn assignments_need_a_known_key_and_an_equals_sign() {
    assert!(err_of(parse_assignment("BlockSize")).contains("is not KEY=VALUE"));
    let e = err_of(parse_assignment("Bogus=1"));
    assert!(e.contains("unknown setting 'Bogus'"), "{e}");
    for s in settings::ALL.iter() {
        assert!(e.contains(s.name), "the error lists {}: {e}", s.name);
    }
    let a = parse_assignment("blocksize=8192").unwrap();
    assert_eq!(a.setting.name, "BlockSize");
    assert_eq!(a.value.as_deref(), Some("8192"));
    assert_eq!(
        parse_assignment(" PeerTimeoutMs = 5000 ")
            .unwrap()
            .value
            .as_deref(),
        Some("5000")
    );
}

#[test]
fn numbers_are_checked_against_the_settings_table() {
    assert_eq!(
        err_of(parse_assignment("BlockSize=256")),
        "BlockSize = 256 is outside 512..=1048576"
    );
    assert_eq!(
        err_of(parse_assignment("BlockSize=1000")),
        "BlockSize = 1000 is not a multiple of 512"
    );
    for bad in ["abc", "-1", "4096B", "4k", "1e3", "0x1000", "99999999999"] {
        let e = err_of(parse_assignment(&format!("MTU={bad}")));
        assert!(e.contains("is not a whole number"), "{bad}: {e}");
    }
    for s in settings::ALL.iter() {
        let Kind::Integer(r) = s.kind else { continue };
        assert_eq!(
            value_of(&format!("{}={}", s.name, r.min)),
            Some(r.min.to_string())
        );
        assert_eq!(
            value_of(&format!("{}={}", s.name, r.max)),
            Some(r.max.to_string())
        );
        assert_eq!(
            value_of(&format!("{}={}", s.name, r.default)),
            Some(r.default.to_string())
        );
        let e = err_of(parse_assignment(&format!("{}={}", s.name, r.max + 1)));
        assert!(e.contains("is outside"), "{e}");
        if r.min > 0 {
            let e = err_of(parse_assignment(&format!("{}={}", s.name, r.min - 1)));
            assert!(e.contains("is outside"), "{e}");
        }
        // Empty: the value is removed and the driver's default applies.
        assert_eq!(value_of(&format!("{}=", s.name)), None);
    }
}

#[test]
fn volumes_must_be_set_and_valid() {
    assert_eq!(
        err_of(parse_assignment("SendVolume=")),
        "SendVolume cannot be empty: the adapter does not start without it"
    );
    assert!(err_of(parse_assignment("ReceiveVolume=   ")).contains("cannot be empty"));
    assert!(err_of(parse_assignment("SendVolume=a.vol")).contains("relative path"));
    assert!(err_of(parse_assignment("ReceiveVolume=D:a.vol")).contains("relative to the current"));
    assert_eq!(
        value_of("SendVolume=\\\\.\\PhysicalDrive3"),
        Some("\\\\.\\PhysicalDrive3".into())
    );
}

#[test]
fn network_address_is_stored_as_device_manager_stores_it() {
    assert_eq!(
        value_of("NetworkAddress=02-11-22-33-44-5a"),
        Some("02112233445A".into())
    );
    assert_eq!(
        value_of("NetworkAddress=02:11:22:33:44:55"),
        Some("021122334455".into())
    );
    assert_eq!(
        value_of("NetworkAddress=021122334455"),
        Some("021122334455".into())
    );
    assert_eq!(value_of("NetworkAddress="), None);
    for bad in [
        "01-00-5e-00-00-01",
        "ff-ff-ff-ff-ff-ff",
        "000000000000",
        "0211223344",
        "zz1122334455",
    ] {
        let e = err_of(parse_assignment(&format!("NetworkAddress={bad}")));
        assert!(e.contains("unicast MAC"), "{bad}: {e}");
    }
}

#[test]
fn auth_key_file_is_an_absolute_file_path() {
    assert_eq!(
        value_of("AuthKeyFile=C:\\volnic\\link.key"),
        Some("C:\\volnic\\link.key".into())
    );
    assert_eq!(value_of("AuthKeyFile="), None, "absent: plain volumes");
    assert!(err_of(parse_assignment("AuthKeyFile=link.key")).contains("relative path"));
    let e = err_of(parse_assignment("AuthKeyFile=\\\\.\\PhysicalDrive1"));
    assert!(e.contains("is a disk, not a key file"), "{e}");
}

// ---------------------------------------------------------------------------
// config set → registry writes
// ---------------------------------------------------------------------------

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stored(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn config_set_maps_arguments_to_reg_sz_writes_under_the_driver_key() {
    let plan = plan_config_set(
        KEY,
        &BTreeMap::new(),
        &args(&[
            "SendVolume=D:\\volnic\\a.vol",
            "receivevolume=D:\\volnic\\b.vol",
            "BlockSize=4096",
            "NodeId=2",
            "NetworkAddress=02-76-6e-00-00-02",
            "FlushDelayMs=",
        ]),
    )
    .unwrap();
    let w = |name: &'static str, data: RegData| RegWrite {
        key: KEY.into(),
        name,
        data,
    };
    assert_eq!(
        plan.writes,
        vec![
            w("SendVolume", RegData::Sz("D:\\volnic\\a.vol".into())),
            w("ReceiveVolume", RegData::Sz("D:\\volnic\\b.vol".into())),
            w("BlockSize", RegData::Sz("4096".into())),
            w("NodeId", RegData::Sz("2".into())),
            w("NetworkAddress", RegData::Sz("02766E000002".into())),
            w("FlushDelayMs", RegData::Delete),
        ]
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn config_set_refuses_duplicates_and_empty_argument_lists() {
    assert!(err_of(plan_config_set(KEY, &BTreeMap::new(), &[])).contains("nothing to set"));
    let e = err_of(plan_config_set(
        KEY,
        &BTreeMap::new(),
        &args(&["MTU=1500", "mtu=9000"]),
    ));
    assert_eq!(e, "MTU is given twice");
    // One bad argument refuses the whole command: nothing is written.
    let e = err_of(plan_config_set(
        KEY,
        &BTreeMap::new(),
        &args(&["MTU=1500", "BlockSize=3"]),
    ));
    assert!(e.contains("BlockSize = 3"), "{e}");
}

#[test]
fn send_and_receive_volume_must_differ_counting_stored_values() {
    let same = "SendVolume and ReceiveVolume would both be";
    // In one command, spelled differently.
    let e = err_of(plan_config_set(
        KEY,
        &BTreeMap::new(),
        &args(&[
            "SendVolume=D:\\volnic\\a.vol",
            "ReceiveVolume=d:\\VOLNIC\\A.VOL",
        ]),
    ));
    assert!(e.contains(same), "{e}");
    // Against the value already stored (value names are case-insensitive).
    let current = stored(&[("receivevolume", "\\??\\PhysicalDrive1")]);
    let e = err_of(plan_config_set(
        KEY,
        &current,
        &args(&["SendVolume=\\\\.\\PhysicalDrive1"]),
    ));
    assert!(e.contains(same), "{e}");
    // Swapping both in one command is fine.
    let current = stored(&[("SendVolume", "D:\\b.vol"), ("ReceiveVolume", "D:\\a.vol")]);
    plan_config_set(
        KEY,
        &current,
        &args(&["SendVolume=D:\\a.vol", "ReceiveVolume=D:\\b.vol"]),
    )
    .unwrap();
}

#[test]
fn config_set_notes_a_volume_still_missing() {
    let plan = plan_config_set(KEY, &BTreeMap::new(), &args(&["SendVolume=D:\\a.vol"])).unwrap();
    assert_eq!(
        plan.notes,
        vec!["ReceiveVolume is not set yet: the adapter stays disabled until it is".to_string()]
    );
    let current = stored(&[("ReceiveVolume", "D:\\b.vol")]);
    let plan = plan_config_set(KEY, &current, &args(&["SendVolume=D:\\a.vol"])).unwrap();
    assert!(plan.notes.is_empty());
}

// ---------------------------------------------------------------------------
// Keys and adapters
// ---------------------------------------------------------------------------

#[test]
fn driver_and_connection_keys() {
    assert_eq!(
        driver_key("{4d36e972-e325-11ce-bfc1-08002be10318}\\0007").unwrap(),
        KEY
    );
    assert_eq!(
        driver_key("{4D36E972-E325-11CE-BFC1-08002BE10318}\\0012").unwrap(),
        format!("{CLASS_KEY}\\0012")
    );
    assert!(err_of(driver_key("")).contains("is the driver installed"));
    assert!(
        err_of(driver_key("{4d36e96c-e325-11ce-bfc1-08002be10318}\\0007"))
            .contains("not the network class")
    );
    assert!(err_of(driver_key("{4d36e972-e325-11ce-bfc1-08002be10318}\\7")).contains("4-digit"));
    assert_eq!(
        connection_key(&format!("{{{GUID}}}")).unwrap(),
        format!("{NETWORK_KEY}\\{{{GUID}}}\\Connection")
    );
    assert!(err_of(connection_key("not-a-guid")).contains("is not a {GUID}"));
}

fn adapter(id: &str, name: Option<&str>, index: u32) -> Adapter {
    Adapter {
        instance_id: id.into(),
        driver: format!("{NET_CLASS_GUID}\\{index:04}"),
        name: name.map(String::from),
        inf_path: Some("oem7.inf".into()),
        present: true,
    }
}

#[test]
fn adapters_are_selected_by_interface_name_or_instance_id() {
    let list = vec![
        adapter("ROOT\\NET\\0000", Some("Ethernet 3"), 7),
        adapter("ROOT\\NET\\0001", Some("heartbeat"), 8),
        adapter("ROOT\\NET\\0002", None, 9),
    ];
    assert_eq!(
        select_adapter(&list, "ethernet 3").unwrap().instance_id,
        "ROOT\\NET\\0000"
    );
    assert_eq!(
        select_adapter(&list, "HEARTBEAT").unwrap().instance_id,
        "ROOT\\NET\\0001"
    );
    assert_eq!(
        select_adapter(&list, "root\\net\\0002")
            .unwrap()
            .instance_id,
        "ROOT\\NET\\0002"
    );
    let e = err_of(select_adapter(&list, "Ethernet 9"));
    assert!(
        e.contains("no volnic adapter is called 'Ethernet 9'"),
        "{e}"
    );
    assert!(e.contains("Ethernet 3, heartbeat, ROOT\\NET\\0002"), "{e}");
    assert!(err_of(select_adapter(&[], "x")).contains("run volnic install first"));
    let twins = vec![adapter("A", Some("x"), 1), adapter("B", Some("X"), 2)];
    assert!(err_of(select_adapter(&twins, "x")).contains("names 2 adapters"));
}

// ---------------------------------------------------------------------------
// Steps, run against the recording fake
// ---------------------------------------------------------------------------

#[test]
fn install_checks_the_inf_creates_the_device_then_installs_the_driver() {
    let inf = Path::new("C:\\pkg\\volnic.inf");
    assert_eq!(
        install_steps(inf),
        vec![
            Step::CheckInf { inf: inf.into() },
            Step::CreateDevice,
            Step::InstallDriver { inf: inf.into() },
        ]
    );
    let mut fake = FakeSystem::default();
    let outcome = run_steps(&mut fake, &install_steps(inf)).unwrap();
    assert_eq!(
        fake.calls,
        vec![
            "inf_class C:\\pkg\\volnic.inf",
            "create_root_device root\\volnic",
            "update_driver C:\\pkg\\volnic.inf root\\volnic",
        ]
    );
    assert_eq!(outcome.created.as_deref(), Some("ROOT\\NET\\0000"));
    assert_eq!(fake.adapters.len(), 1);
}

#[test]
fn install_refuses_an_inf_of_another_class_before_creating_anything() {
    let mut fake = FakeSystem {
        inf_class: Some((
            "System".into(),
            "{4d36e97d-e325-11ce-bfc1-08002be10318}".into(),
        )),
        ..FakeSystem::default()
    };
    let e = err_of(run_steps(&mut fake, &install_steps(Path::new("x.inf"))));
    assert!(e.contains("not a network adapter"), "{e}");
    assert_eq!(fake.calls, vec!["inf_class x.inf"]);
    assert!(fake.adapters.is_empty());
}

#[test]
fn a_failed_driver_install_removes_the_new_device_again() {
    let mut fake = FakeSystem {
        fail: Some("update_driver".into()),
        ..FakeSystem::default()
    };
    let e = err_of(run_steps(&mut fake, &install_steps(Path::new("v.inf"))));
    assert!(e.contains("was removed again"), "{e}");
    assert_eq!(
        fake.calls,
        vec![
            "inf_class v.inf",
            "create_root_device root\\volnic",
            "update_driver v.inf root\\volnic",
            "remove_device ROOT\\NET\\0000",
        ]
    );
    assert!(fake.adapters.is_empty(), "no driverless adapter is left");
}

#[test]
fn uninstall_removes_every_device_then_each_package_once() {
    let mut leftover = adapter("ROOT\\NET\\0002", None, 9);
    leftover.present = false;
    leftover.inf_path = Some("OEM7.INF".into());
    let list = vec![
        adapter("ROOT\\NET\\0000", Some("Ethernet 3"), 7),
        {
            let mut a = adapter("ROOT\\NET\\0001", None, 8);
            a.inf_path = Some("oem12.inf".into());
            a
        },
        leftover,
        {
            let mut a = adapter("ROOT\\NET\\0003", None, 10);
            // Not a driver-store name (never deleted) or no driver at all.
            a.inf_path = Some("volnic.inf".into());
            a
        },
        {
            let mut a = adapter("ROOT\\NET\\0004", None, 11);
            a.inf_path = None;
            a
        },
    ];
    let steps = uninstall_steps(&list);
    let expected: Vec<Step> = (0..5)
        .map(|i| Step::RemoveDevice {
            instance_id: format!("ROOT\\NET\\{i:04}"),
        })
        .chain([
            Step::DeleteDriverPackage {
                oem_inf: "oem7.inf".into(),
            },
            Step::DeleteDriverPackage {
                oem_inf: "oem12.inf".into(),
            },
        ])
        .collect();
    assert_eq!(steps, expected);
}

#[test]
fn config_set_writes_then_restarts_once() {
    let a = adapter("ROOT\\NET\\0000", Some("Ethernet 3"), 7);
    let plan = plan_config_set(KEY, &BTreeMap::new(), &args(&["MTU=9000", "NodeId=2"])).unwrap();
    let steps = config_set_steps(&a, &plan);
    assert_eq!(steps.len(), 3);
    assert!(matches!(&steps[0], Step::Write(w) if w.name == "MTU"));
    assert!(matches!(&steps[1], Step::Write(w) if w.name == "NodeId"));
    assert_eq!(
        steps[2],
        Step::RestartDevice {
            instance_id: "ROOT\\NET\\0000".into()
        }
    );
}

#[test]
fn a_failed_write_stops_before_the_restart() {
    let a = adapter("ROOT\\NET\\0000", None, 7);
    let plan = plan_config_set(KEY, &BTreeMap::new(), &args(&["MTU=9000", "NodeId=2"])).unwrap();
    let mut fake = FakeSystem {
        fail: Some(format!("write_value {KEY}\\NodeId")),
        ..FakeSystem::default()
    };
    err_of(run_steps(&mut fake, &config_set_steps(&a, &plan)));
    assert_eq!(
        fake.calls,
        vec![
            format!("write_value {KEY}\\MTU = REG_SZ 9000"),
            format!("write_value {KEY}\\NodeId = REG_SZ 2"),
        ]
    );
}

// ---------------------------------------------------------------------------
// The subcommands end to end, against the fake
// ---------------------------------------------------------------------------

fn fake_with_adapter() -> FakeSystem {
    let mut fake = FakeSystem::default();
    fake.adapters
        .push(adapter("ROOT\\NET\\0000", Some("Ethernet 3"), 7));
    fake.registry.insert(
        KEY.into(),
        stored(&[
            ("SendVolume", "D:\\volnic\\a.vol"),
            ("BlockSize", "8192"),
            ("NetCfgInstanceId", "{26a21bda-a627-11d7-9931-806e6f6e6963}"),
        ]),
    );
    fake
}

fn run_text(command: WinCommand, fake: &mut FakeSystem) -> Result<String, String> {
    let mut out = Vec::new();
    run_with(command, fake, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn config_set_end_to_end() {
    let mut fake = fake_with_adapter();
    let text = run_text(
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Set {
                name: "ethernet 3".into(),
                assignments: args(&["ReceiveVolume=D:\\volnic\\b.vol", "BlockSize=4096"]),
            },
        }),
        &mut fake,
    )
    .unwrap();
    assert_eq!(
        fake.calls,
        vec![
            "adapters".to_string(),
            format!("read_values {KEY}"),
            format!("write_value {KEY}\\ReceiveVolume = REG_SZ D:\\volnic\\b.vol"),
            format!("write_value {KEY}\\BlockSize = REG_SZ 4096"),
            "restart_device ROOT\\NET\\0000".to_string(),
        ]
    );
    assert_eq!(fake.registry[KEY]["BlockSize"], "4096");
    assert_eq!(fake.registry[KEY]["ReceiveVolume"], "D:\\volnic\\b.vol");
    assert!(text.contains("set BlockSize = 4096"), "{text}");
    assert!(text.contains("restarted ROOT\\NET\\0000"), "{text}");
}

#[test]
fn config_set_refusal_writes_nothing() {
    let mut fake = fake_with_adapter();
    let e = err_of(run_text(
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Set {
                name: "Ethernet 3".into(),
                assignments: args(&["ReceiveVolume=d:\\volnic\\A.VOL"]),
            },
        }),
        &mut fake,
    ));
    assert!(
        e.contains("SendVolume and ReceiveVolume would both be"),
        "{e}"
    );
    assert!(!fake.calls.iter().any(|c| c.starts_with("write_value")));
    assert!(!fake.calls.iter().any(|c| c.starts_with("restart_device")));
}

#[test]
fn config_get_and_list_show_stored_values_and_defaults() {
    let mut fake = fake_with_adapter();
    let text = run_text(
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Get {
                name: "Ethernet 3".into(),
                keys: vec![],
            },
        }),
        &mut fake,
    )
    .unwrap();
    assert!(text.contains("SendVolume      D:\\volnic\\a.vol"), "{text}");
    assert!(
        text.contains("ReceiveVolume   (not set: required)"),
        "{text}"
    );
    assert!(text.contains("BlockSize       8192\n"), "{text}");
    assert!(text.contains("MTU             1500 (default)"), "{text}");
    assert!(text.contains("NetworkAddress  (not set)"), "{text}");
    assert_eq!(text.lines().count(), settings::ALL.len());

    let text = run_text(
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Get {
                name: "Ethernet 3".into(),
                keys: args(&["mtu", "BlockSize"]),
            },
        }),
        &mut fake,
    )
    .unwrap();
    assert_eq!(
        text,
        "MTU             1500 (default)\nBlockSize       8192\n"
    );
    let e = err_of(run_text(
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Get {
                name: "Ethernet 3".into(),
                keys: args(&["Nope"]),
            },
        }),
        &mut fake,
    ));
    assert!(e.contains("unknown setting 'Nope'"));

    let text = run_text(WinCommand::List(ListArgs {}), &mut fake).unwrap();
    assert!(
        text.starts_with("Ethernet 3  (ROOT\\NET\\0000)\n"),
        "{text}"
    );
    assert!(text.contains("  BlockSize       8192"), "{text}");
    let text = run_text(WinCommand::List(ListArgs {}), &mut FakeSystem::default()).unwrap();
    assert!(text.contains("no volnic adapter is installed"));
}

#[test]
fn uninstall_end_to_end() {
    let mut fake = fake_with_adapter();
    let text = run_text(WinCommand::Uninstall(UninstallArgs {}), &mut fake).unwrap();
    assert_eq!(
        fake.calls,
        vec![
            "adapters",
            "remove_device ROOT\\NET\\0000",
            "delete_driver_package oem7.inf"
        ]
    );
    assert!(text.contains("deleted driver package oem7.inf"));
    let mut empty = FakeSystem::default();
    let text = run_text(WinCommand::Uninstall(UninstallArgs {}), &mut empty).unwrap();
    assert!(text.contains("nothing to do"));
}

#[test]
fn install_end_to_end_with_an_explicit_inf() {
    let dir = tempfile::tempdir().unwrap();
    let inf = dir.path().join("volnic.inf");
    std::fs::write(&inf, "[Version]\n").unwrap();
    let mut fake = FakeSystem::default();
    let text = run_text(
        WinCommand::Install(InstallArgs {
            inf: Some(inf.clone()),
        }),
        &mut fake,
    )
    .unwrap();
    assert_eq!(fake.calls[0], format!("inf_class {}", inf.display()));
    assert!(
        text.contains("volnic adapter ROOT\\NET\\0000 installed"),
        "{text}"
    );
    assert!(
        text.contains("volnic config set ROOT\\NET\\0000 SendVolume="),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Where install finds the INF
// ---------------------------------------------------------------------------

#[test]
fn the_inf_is_given_or_found_beside_the_executable_or_in_the_current_directory() {
    let exe = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let none = err_of(find_inf(None, Some(exe.path()), cwd.path()));
    assert!(none.contains("give --inf PATH"), "{none}");

    std::fs::write(cwd.path().join("volnic.inf"), "").unwrap();
    assert_eq!(
        find_inf(None, Some(exe.path()), cwd.path()).unwrap(),
        cwd.path().join("volnic.inf")
    );
    std::fs::write(exe.path().join("volnic.inf"), "").unwrap();
    assert_eq!(
        find_inf(None, Some(exe.path()), cwd.path()).unwrap(),
        exe.path().join("volnic.inf")
    );

    // Given: must be an existing .inf; a relative one is made absolute.
    std::fs::write(cwd.path().join("other.INF"), "").unwrap();
    assert_eq!(
        find_inf(Some(Path::new("other.INF")), None, cwd.path()).unwrap(),
        PathBuf::from(cwd.path()).join("other.INF")
    );
    let e = err_of(find_inf(
        Some(&cwd.path().join("volnic.inx")),
        None,
        cwd.path(),
    ));
    assert!(e.contains("is not an .inf file"), "{e}");
    let e = err_of(find_inf(
        Some(&cwd.path().join("missing.inf")),
        None,
        cwd.path(),
    ));
    assert!(e.contains("no such file"), "{e}");
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

#[test]
fn the_windows_command_line_parses() {
    let parse = |argv: &[&str]| WinCli::try_parse_from(argv).map(|c| c.command);
    assert_eq!(
        parse(&["volnic", "install"]).unwrap(),
        WinCommand::Install(InstallArgs { inf: None })
    );
    assert_eq!(
        parse(&["volnic", "install", "--inf", "C:\\pkg\\volnic.inf"]).unwrap(),
        WinCommand::Install(InstallArgs {
            inf: Some("C:\\pkg\\volnic.inf".into())
        })
    );
    assert_eq!(
        parse(&[
            "volnic",
            "config",
            "set",
            "Ethernet 3",
            "MTU=9000",
            "NodeId=2"
        ])
        .unwrap(),
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Set {
                name: "Ethernet 3".into(),
                assignments: args(&["MTU=9000", "NodeId=2"])
            }
        })
    );
    assert!(
        parse(&["volnic", "config", "set", "Ethernet 3"]).is_err(),
        "KEY=VALUE required"
    );
    assert_eq!(
        parse(&["volnic", "config", "get", "Ethernet 3"]).unwrap(),
        WinCommand::Config(ConfigArgs {
            action: ConfigAction::Get {
                name: "Ethernet 3".into(),
                keys: vec![]
            }
        })
    );
    assert_eq!(
        parse(&["volnic", "list"]).unwrap(),
        WinCommand::List(ListArgs {})
    );
    assert_eq!(
        parse(&["volnic", "uninstall"]).unwrap(),
        WinCommand::Uninstall(UninstallArgs {})
    );
}

/// The wiring proposed for the main `volnic` command line: the Windows
/// subcommands flattened beside the others.
#[test]
fn the_windows_subcommands_flatten_into_a_larger_command_line() {
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }
    #[derive(Subcommand, Debug)]
    enum Command {
        Format {
            path: String,
        },
        #[command(flatten)]
        Windows(WinCommand),
    }
    let cli = Cli::try_parse_from(["volnic", "config", "get", "x", "MTU"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Windows(WinCommand::Config(_))
    ));
    let cli = Cli::try_parse_from(["volnic", "format", "a.vol"]).unwrap();
    assert!(matches!(cli.command, Command::Format { .. }));
}

#[cfg(not(windows))]
#[test]
fn elsewhere_the_windows_subcommands_say_they_run_on_windows_only() {
    let e = err_of(volnic_tools::cli::wincfg::run(WinCommand::List(
        ListArgs {},
    )));
    assert!(e.contains("run on Windows only"), "{e}");
}
