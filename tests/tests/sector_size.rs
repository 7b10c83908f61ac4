//! Storage with 4096-byte logical sectors (4K-native disks), on Linux loop
//! devices made with `losetup --sector-size 4096` (as root): the logical
//! sector is asked of the device, `volnic format` refuses a block size that
//! is not a multiple of it, naming both sizes, before it writes anything;
//! `inspect` shows it; and a link of 4096-byte blocks on such devices
//! carries frames.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volnic_core::Volume;
use volnic_tests::unprivileged::is_root;
use volnic_tools::endpoint::{Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_volnic-test-cli"))
}

/// A loop device with 4096-byte logical sectors over a file; detached on
/// drop.
struct Loop4k(PathBuf);

impl Loop4k {
    fn over(file: &Path) -> Option<Loop4k> {
        let out = Command::new("losetup")
            .args(["-f", "--show", "--sector-size", "4096"])
            .arg(file)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| Loop4k(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())))
    }
}

impl Drop for Loop4k {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// Two 4096-byte-sector loop devices, or why not (printed as a skip).
fn devices(dir: &Path) -> Result<(Loop4k, Loop4k), String> {
    if !is_root() {
        return Err("needs root for loop devices".into());
    }
    let mut made = Vec::new();
    for name in ["a.img", "b.img"] {
        let file = dir.join(name);
        std::fs::write(&file, vec![0u8; 1 << 20]).unwrap();
        made.push(Loop4k::over(&file).ok_or(
            "losetup cannot attach a loop device with 4096-byte sectors here (package util-linux)",
        )?);
    }
    let b = made.pop().unwrap();
    let a = made.pop().unwrap();
    Ok((a, b))
}

fn head(dev: &Path) -> Vec<u8> {
    let mut v = FileVolume::open(dev, OpenMode::ReadOnly).unwrap();
    let mut buf = volnic_core::aligned::AlignedBuf::new(8192);
    v.read_at(0, buf.as_mut_slice()).unwrap();
    buf.as_slice().to_vec()
}

#[test]
fn four_k_native_devices_are_asked_their_sector_and_carry_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = match devices(dir.path()) {
        Ok(d) => d,
        Err(why) => {
            println!("SKIPPED sector_size::four_k_native_devices_are_asked_their_sector_and_carry_a_link: {why}");
            return;
        }
    };
    let vol = FileVolume::open(&a.0, OpenMode::ReadOnly).unwrap();
    assert_eq!(vol.sector_size(), 4096, "BLKSSZGET of {}", a.0.display());
    drop(vol);

    // 512-byte blocks: refused, naming both sizes, nothing written.
    let before = head(&a.0);
    let out = Command::new(cli())
        .arg("format")
        .arg(&a.0)
        .args([
            "--block-size",
            "512",
            "--blocks",
            "16",
            "--writer-node",
            "1",
            "--reader-node",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "512-byte blocks accepted on 4Kn: {err}"
    );
    assert!(
        err.contains("--block-size 512") && err.contains("4096-byte logical sectors"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(head(&a.0), before, "the refused format wrote to the device");

    // 4096-byte blocks: formatted, and inspect shows the sector.
    for (dev, writer, reader) in [(&a.0, "1", "2"), (&b.0, "2", "1")] {
        let out = Command::new(cli())
            .arg("format")
            .arg(dev)
            .args([
                "--block-size",
                "4096",
                "--blocks",
                "32",
                "--writer-node",
                writer,
            ])
            .args(["--reader-node", reader, "--force"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let out = Command::new(cli())
        .arg("inspect")
        .arg(&a.0)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("4096-byte logical sectors"), "{text}");

    // A link over the two devices, as a shared LUN: node 1 sends on a,
    // node 2 receives it from a.
    let mut cfg = EndpointConfig::new(dir.path(), 4096);
    cfg.poll_us = 1000;
    cfg.flush_delay_us = 0;
    let got = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let sink = {
        let got = Arc::clone(&got);
        Box::new(move |f: &[u8]| got.lock().unwrap().push(f.to_vec()))
    };
    let one = Endpoint::start(&cfg, 1, &a.0, &b.0, Box::new(|_: &[u8]| {})).unwrap();
    let two = Endpoint::start(&cfg, 2, &b.0, &a.0, sink).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(one.link_up() && two.link_up()) {
        assert!(
            Instant::now() < deadline,
            "the link never came up on 4Kn devices"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let frames: Vec<Vec<u8>> = (0..50u8)
        .map(|i| vec![i; 64 + usize::from(i) * 20])
        .collect();
    for f in &frames {
        one.send(f).unwrap();
    }
    while got.lock().unwrap().len() < frames.len() {
        assert!(
            Instant::now() < deadline,
            "frames never arrived over 4Kn devices"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(*got.lock().unwrap(), frames);
    one.stop();
    two.stop();
}
