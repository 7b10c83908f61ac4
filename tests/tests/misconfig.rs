//! The misconfiguration matrix of `docs/TROUBLESHOOTING.md`, one test per
//! row (`m01_…` for row M1, …): each mistake made for real on file volumes
//! (or in the registry values the Windows driver reads), the one line it
//! produces compared with the row's message, and then:
//!
//! - the endpoint refuses to start with that line, or runs with its link
//!   down and that line as the reason (never a panic, never a link up);
//! - nothing on any volume is destroyed: bytes are compared before and
//!   after (for a node that legitimately runs, the volume it writes is
//!   compared outside its state record and ring).
//!
//! Endpoints are `volnic_tools::endpoint::Endpoint`, the host `volnic up` runs,
//! minus the TAP device. A last test checks that the table has no row
//! without a test here and no test without a row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volnic::config::{AdapterConfig, ConfigError, SettingSource};
use volnic_core::auth::AuthKey;
use volnic_core::format::{block_crc, sb_field};
use volnic_core::{PeerProblem, Volume, VolumeError, VolumeErrorKind};
use volnic_tests::memrig::MirroredPair;
use volnic_tests::node::numbered_frame;
use volnic_tests::unprivileged::{self, is_root, Program};
use volnic_tools::cli::up::{read_key_file, UpArgs};
use volnic_tools::endpoint::{BoxedVolume, Endpoint, EndpointConfig};
use volnic_tools::filevol::{FileVolume, OpenMode};
use volnic_tools::format::{format, FormatArgs};

const BLOCK: u32 = 4096;
const RING: u32 = 16;
const SECRET: &[u8] = b"0123456789abcdef-the-shared-secret";

// ---------------------------------------------------------------------------
// The table

use volnic_tests::troubleshooting::{check_row, matches_template, row_template};

// ---------------------------------------------------------------------------
// Volumes and endpoints

fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("volnic-misconfig-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    // Readable by other users: the permission test runs a child as nobody.
    set_mode(dir.path(), 0o755);
    dir
}

/// Cuts a volume file to half its length (a file cut short, a smaller LUN).
fn cut_to_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn fmt(path: &Path, block_size: u32, writer: u32, reader: u32, authenticated: bool) {
    format(&FormatArgs {
        path: path.to_path_buf(),
        block_size,
        blocks: RING,
        writer_node: writer,
        reader_node: reader,
        force: true,
        authenticated,
        members: None,
        member: None,
        segment_id: None,
    })
    .expect("format");
}

/// A formatted pair in `dir`: node 1 sends on a.vol, node 2 on b.vol.
fn pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("a.vol"), dir.join("b.vol"));
    fmt(&a, BLOCK, 1, 2, false);
    fmt(&b, BLOCK, 2, 1, false);
    (a, b)
}

fn config(dir: &Path, key: bool) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(dir, BLOCK);
    cfg.ring_blocks = RING;
    cfg.poll_us = 1_000;
    cfg.peer_timeout_us = 1_000_000;
    cfg.auth_key = key.then(|| AuthKey::from_secret(SECRET).unwrap());
    cfg
}

fn start(dir: &Path, node: u32, send: &Path, recv: &Path) -> Result<Endpoint, String> {
    Endpoint::start(
        &config(dir, false),
        node,
        send,
        recv,
        Box::new(|_: &[u8]| {}),
    )
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read volume")
}

/// The superblock (block 0) of a volume file.
fn superblock_bytes(path: &Path) -> Vec<u8> {
    bytes(path)[..BLOCK as usize].to_vec()
}

/// Waits (at most 10 s) for the endpoint to name a reason for its link
/// being down, and checks that the link is down and the datapath alive.
fn reason(endpoint: &Endpoint) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(problem) = endpoint.problem() {
            assert!(!endpoint.link_up(), "link up despite: {problem}");
            assert_eq!(endpoint.error(), None, "the datapath stopped");
            return problem;
        }
        assert!(Instant::now() < deadline, "no reason given for the link");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rewrites the format version in a volume's superblock (CRC made right),
/// as a volnic speaking another version would have formatted it.
fn set_format_version(path: &Path, version: u16) {
    let mut all = bytes(path);
    let sb = &mut all[..128];
    sb[sb_field::VERSION..sb_field::VERSION + 2].copy_from_slice(&version.to_le_bytes());
    let crc = block_crc(sb, sb_field::CRC);
    sb[sb_field::CRC..sb_field::CRC + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, all).expect("rewrite superblock");
}

// ---------------------------------------------------------------------------
// Same volume

/// M1: `volnic up --send X --recv X` (or the same file under two paths
/// through a symbolic link) is refused before anything is opened.
#[test]
fn m01_send_and_receive_the_same_file() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let link = dir.path().join("alias.vol");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let before = bytes(&a);
    for recv in [&a, &link] {
        let args = UpArgs {
            send: Some(a.clone()),
            recv: Some(recv.clone()),
            ..UpArgs::default()
        };
        let message = args.settings().expect_err("refused");
        check_row("M1", &message);
    }
    assert_eq!(bytes(&a), before);
}

/// A registry of values for the driver's configuration reader.
struct Registry(BTreeMap<&'static str, String>);

impl SettingSource for Registry {
    fn string(&mut self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn integer(&mut self, name: &str) -> Option<u32> {
        self.0.get(name).and_then(|v| v.parse().ok())
    }
}

fn registry(values: &[(&'static str, &str)]) -> Registry {
    Registry(values.iter().map(|(k, v)| (*k, v.to_string())).collect())
}

/// M2: on Windows, SendVolume and ReceiveVolume naming one volume (in any
/// spelling: case, trailing separator, `\\.\` or `\??\`) fail the
/// adapter's initialization.
#[test]
fn m02_registry_send_and_receive_the_same_volume() {
    for (send, recv) in [
        (r"D:\volnic\a.vol", r"d:\VOLNIC\a.vol\"),
        (r"\\.\PhysicalDrive2", r"\??\PhysicalDrive2"),
    ] {
        let err = AdapterConfig::from_source(&mut registry(&[
            ("SendVolume", send),
            ("ReceiveVolume", recv),
        ]))
        .expect_err("refused");
        assert_eq!(err, ConfigError::SameVolume);
        check_row("M2", &err.to_string());
    }
}

/// M3: the receive volume is this node's own send volume under a name the
/// path check cannot see through (a hard link here; on real storage the
/// mirror running the wrong way): the endpoint runs with its link down.
#[test]
fn m03_receive_volume_is_this_nodes_own_send_volume() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let twin = dir.path().join("twin.vol");
    std::fs::hard_link(&a, &twin).unwrap();
    let before = superblock_bytes(&a);
    let endpoint = start(dir.path(), 1, &a, &twin).expect("starts");
    let message = reason(&endpoint);
    check_row("M3", &message);
    endpoint.stop();
    assert_eq!(superblock_bytes(&a), before);
}

// ---------------------------------------------------------------------------
// Two nodes on one send volume

/// M4: node 2 is configured with node 1's send volume: refused at start,
/// naming the node the volume belongs to and the host that last wrote it;
/// the volume is left exactly as it was.
#[test]
fn m04_node_configured_onto_another_nodes_send_volume() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    // Node 1 has run on a.vol: its state record names its host.
    start(dir.path(), 1, &a, &b).expect("node 1 starts").stop();
    let before = bytes(&a);
    let message = start(dir.path(), 2, &a, &b).err().expect("node 2 refused");
    check_row("M4", &message);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(message.contains(host.trim()), "{message}");
    assert_eq!(bytes(&a), before);
}

/// M5: two nodes both configured as node 1 on the same send volume. The
/// second watches the volume's state record before writing anything,
/// sees the first one alive and gives up, naming it (host, run epoch); its
/// link never comes up, and the first node's traffic goes on untouched.
#[test]
fn m05_two_live_writers_on_one_send_volume() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    let first = start(dir.path(), 1, &a, &b).expect("first starts");
    let peer = Endpoint::start(
        &config(dir.path(), false),
        2,
        &b,
        &a,
        Box::new(move |f: &[u8]| sink_got.lock().unwrap().push(f.to_vec())),
    )
    .expect("peer starts");
    assert!(first.wait_up(Duration::from_secs(10)));
    let record_before = bytes(&a)[BLOCK as usize..BLOCK as usize + 256].to_vec();
    let epoch = u64::from_le_bytes(record_before[24..32].try_into().unwrap());

    // The second node is another host on the same LUN: no local lock
    // stands between them (on one host, the lock refuses it at once, see
    // tests/tests/ownership.rs); the claim on the volume does.
    let second = Endpoint::start_on(
        &config(dir.path(), false),
        1,
        Box::new(FileVolume::open(&a, OpenMode::ReadWrite).unwrap()),
        Box::new(FileVolume::open(&b, OpenMode::ReadOnly).unwrap()),
        Box::new(|_: &[u8]| {}),
    )
    .expect("opens, then claims");
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        if let Some(e) = second.error() {
            break e;
        }
        assert!(!second.link_up());
        assert!(Instant::now() < deadline, "second writer not refused");
        std::thread::sleep(Duration::from_millis(10));
    };
    check_row("M5", &message);
    assert!(message.contains(&format!("epoch {epoch}")), "{message}");
    drop(second);
    // The volume still carries the first writer's run, and its frames.
    let record_after = bytes(&a)[BLOCK as usize..BLOCK as usize + 256].to_vec();
    assert_eq!(
        record_after[24..32],
        record_before[24..32],
        "epoch taken over"
    );
    for id in 0..20 {
        first.send(&numbered_frame(id, 200)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = got.lock().unwrap();
    let ids: Vec<u64> = got
        .iter()
        .filter_map(|f| volnic_tests::node::frame_id(f))
        .collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    drop(peer);
    drop(first);
}

// ---------------------------------------------------------------------------
// Volumes that do not match

/// M6: the receive volume is formatted for another reader (node 3).
#[test]
fn m06_receive_volume_meant_for_another_node() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let c = dir.path().join("c.vol");
    fmt(&c, BLOCK, 2, 3, false);
    let before = bytes(&c);
    let endpoint = start(dir.path(), 1, &a, &c).expect("starts");
    check_row("M6", &reason(&endpoint));
    endpoint.stop();
    assert_eq!(bytes(&c), before);
}

/// M7: the peers' send volumes were formatted with different block sizes.
#[test]
fn m07_peers_with_different_block_sizes() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    fmt(&b, 512, 2, 1, false);
    let before = bytes(&b);
    let endpoint = start(dir.path(), 1, &a, &b).expect("starts");
    let message = reason(&endpoint);
    check_row("M7", &message);
    assert!(
        message.contains("512") && message.contains("4096"),
        "{message}"
    );
    endpoint.stop();
    assert_eq!(bytes(&b), before);
}

/// M8: the receive volume was formatted by a volnic speaking another format
/// version.
#[test]
fn m08_receive_volume_of_another_format_version() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    set_format_version(&b, 2);
    let before = bytes(&b);
    let endpoint = start(dir.path(), 1, &a, &b).expect("starts");
    check_row("M8", &reason(&endpoint));
    endpoint.stop();
    assert_eq!(bytes(&b), before);
}

/// M9: the send volume was formatted by a volnic speaking another format
/// version: refused at start, the volume untouched.
#[test]
fn m09_send_volume_of_another_format_version() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    set_format_version(&a, 2);
    let before = bytes(&a);
    let message = start(dir.path(), 1, &a, &b).err().expect("refused");
    check_row("M9", &message);
    assert_eq!(bytes(&a), before);
}

/// M10: the send volume is shorter than its superblock says (a file cut
/// short, a smaller LUN): refused at start, the volume untouched.
#[test]
fn m10_send_volume_too_small() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    cut_to_half(&a);
    let before = bytes(&a);
    let message = start(dir.path(), 1, &a, &b).err().expect("refused");
    check_row("M10", &message);
    assert_eq!(bytes(&a), before);
}

/// M11: the receive volume is shorter than its superblock says (a mirror
/// target smaller than its source).
#[test]
fn m11_receive_volume_too_small() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    cut_to_half(&b);
    let before = bytes(&b);
    let endpoint = start(dir.path(), 1, &a, &b).expect("starts");
    check_row("M11", &reason(&endpoint));
    endpoint.stop();
    assert_eq!(bytes(&b), before);
}

// ---------------------------------------------------------------------------
// Read-only, missing, forbidden

/// Unmounts a scratch filesystem when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn run(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

/// M12: the send volume sits on read-only storage (a read-only mount; a
/// write-protected device refuses the same way): refused at start. The
/// test mounts a small tmpfs, formats a volume on it and remounts it
/// read-only, so it needs root; as another user it says so and checks the
/// same message from a volume whose file mode forbids writing instead.
#[test]
fn m12_send_volume_on_read_only_storage() {
    let dir = temp_dir();
    let (_, b) = pair(dir.path());
    let mnt = dir.path().join("ro");
    std::fs::create_dir(&mnt).unwrap();
    let a = mnt.join("a.vol");
    if is_root() {
        assert!(
            run(Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=4m", "volnic-ro"])
                .arg(&mnt)),
            "mount a tmpfs"
        );
        let _mounted = Mounted(mnt.clone());
        fmt(&a, BLOCK, 1, 2, false);
        assert!(run(Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&mnt)));
        let before = bytes(&a);
        let message = start(dir.path(), 1, &a, &b).err().expect("refused");
        check_row("M12", &message);
        assert_eq!(bytes(&a), before);
    } else {
        volnic_tests::report!(
            "M12: not root, so no read-only mount: checking a mode 0444 volume instead"
        );
        fmt(&a, BLOCK, 1, 2, false);
        set_mode(&a, 0o444);
        let message = start(dir.path(), 1, &a, &b).err().expect("refused");
        assert!(message.contains("permission denied"), "{message}");
    }
}

/// A volume handle that refuses every write, as a write-disabled device
/// opened for writing does (an SRDF R2, a DRBD secondary).
struct WriteProtected(FileVolume);

impl Volume for WriteProtected {
    fn len_bytes(&self) -> u64 {
        self.0.len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.0.read_at(offset, buf)
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), VolumeError> {
        Err(VolumeError::new(
            VolumeErrorKind::ReadOnly,
            i64::from(libc::EROFS),
        ))
    }
}

/// M13: the send volume opens but refuses writes (a write-disabled mirror
/// target used as a send volume): the start fails at the first write, the
/// initialization record, and nothing is written.
#[test]
fn m13_send_volume_refusing_writes() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    let before = bytes(&a);
    let send = WriteProtected(FileVolume::open(&a, OpenMode::ReadWrite).unwrap());
    let recv = FileVolume::open(&b, OpenMode::ReadOnly).unwrap();
    let message = Endpoint::start_on(
        &config(dir.path(), false),
        1,
        Box::new(send),
        Box::new(recv),
        Box::new(|_: &[u8]| {}),
    )
    .err()
    .expect("refused");
    check_row("M13", &message);
    assert_eq!(bytes(&a), before);
}

/// M14: the send volume's path does not exist: refused at start, and
/// nothing is created there.
#[test]
fn m14_send_volume_missing() {
    let dir = temp_dir();
    let (_, b) = pair(dir.path());
    let a = dir.path().join("no-such.vol");
    let message = start(dir.path(), 1, &a, &b).err().expect("refused");
    check_row("M14", &message);
    assert!(!a.exists(), "a file was created");
}

/// M15: the receive volume's path does not exist (the mirror target not
/// attached, a typing error): refused at start; the send volume untouched.
#[test]
fn m15_receive_volume_missing() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let b = dir.path().join("no-such.vol");
    let before = bytes(&a);
    let message = start(dir.path(), 1, &a, &b).err().expect("refused");
    check_row("M15", &message);
    assert!(!b.exists(), "a file was created");
    assert_eq!(bytes(&a), before);
}

/// M16: the user running the endpoint may not read the send volume. The
/// tests run as root, whom file modes do not stop, so `volnic up` (the
/// test build of the same command line) runs as user `nobody` (uid 65534)
/// against a volume of mode 0600 owned by root; run by another user, the
/// test runs it as itself against a volume of mode 0000. The command stops
/// with the row's message before creating any device, the volume untouched.
#[test]
fn m16_permission_denied() {
    // As root (CI), the program runs as nobody from a copy any user may run,
    // on volumes in a directory any user may enter: the refusal is the
    // volume file's mode, not the path to it.
    let binary = Path::new(env!("CARGO_BIN_EXE_volnic-test-cli"));
    let root = is_root();
    let program = root.then(|| Program::copy_of(binary));
    let dir = if root {
        unprivileged::shared_dir("volnic-misconfig-")
    } else {
        temp_dir()
    };
    let (a, b) = pair(dir.path());
    let mut cmd = match &program {
        Some(program) => program.as_nobody(),
        None => Command::new(binary),
    };
    cmd.arg("up")
        .arg("--send")
        .arg(&a)
        .arg("--recv")
        .arg(&b)
        .arg("--tap")
        .arg("volnic-perm");
    let before = bytes(&a);
    set_mode(&a, if root { 0o600 } else { 0o000 });
    let out = cmd.output().expect("run volnic up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    let message = line.strip_prefix("volnic: ").unwrap_or(line);
    check_row("M16", message);
    set_mode(&a, 0o644);
    assert_eq!(bytes(&a), before);
}

// ---------------------------------------------------------------------------
// Not volnic volumes

/// M17: the receive volume holds something that is not a volnic volume
/// (the wrong disk, a mirror not yet synchronised): the endpoint runs with
/// its link down, and never writes that volume.
#[test]
fn m17_receive_volume_not_volnic() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let other = dir.path().join("data.img");
    let noise: Vec<u8> = (0..(2 + RING) * BLOCK).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&other, &noise).unwrap();
    let endpoint = start(dir.path(), 1, &a, &other).expect("starts");
    check_row("M17", &reason(&endpoint));
    endpoint.stop();
    assert_eq!(bytes(&other), noise);
}

/// M18: the send volume is not a volnic volume (never formatted, or the
/// wrong disk): refused at start, and its data left as it was.
#[test]
fn m18_send_volume_not_volnic() {
    let dir = temp_dir();
    let (_, b) = pair(dir.path());
    let other = dir.path().join("data.img");
    let noise: Vec<u8> = (0..(2 + RING) * BLOCK).map(|i| (i * 5 + 1) as u8).collect();
    std::fs::write(&other, &noise).unwrap();
    let message = start(dir.path(), 1, &other, &b).err().expect("refused");
    check_row("M18", &message);
    assert_eq!(bytes(&other), noise);
}

/// M19: blocks of another link turn up in the receive ring (two links'
/// mirrors crossed): never delivered, counted, and the link is down with
/// the reason while they are there.
#[test]
fn m19_blocks_of_another_link_in_the_ring() {
    let mut rig = MirroredPair::new(512, 16, 0);
    rig.inject_foreign_block();
    assert!(rig.b.delivered.is_empty());
    assert!(!rig.b.link.link_up());
    let problem = rig.b.link.peer_problem().expect("a reason");
    assert!(matches!(problem, PeerProblem::Foreign { writer_node: 1 }));
    check_row("M19", &problem.to_string());
}

// ---------------------------------------------------------------------------
// Authenticated mode

fn key_file(dir: &Path, name: &str, secret: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, secret).unwrap();
    // Key files must be private to their owner, or volnic refuses them.
    set_mode(&path, 0o600);
    path
}

/// M20: a key is configured but the send volume was formatted without
/// authentication: refused at start.
#[test]
fn m20_key_but_plain_send_volume() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    let before = bytes(&a);
    let message = Endpoint::start(
        &config(dir.path(), true),
        1,
        &a,
        &b,
        Box::new(|_: &[u8]| {}),
    )
    .err()
    .expect("refused");
    check_row("M20", &message);
    assert_eq!(bytes(&a), before);
}

/// M21: the send volume was formatted for authentication but no key is
/// configured: refused at start.
#[test]
fn m21_authenticated_send_volume_without_key() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    fmt(&a, BLOCK, 1, 2, true);
    let before = bytes(&a);
    let message = start(dir.path(), 1, &a, &b).err().expect("refused");
    check_row("M21", &message);
    assert_eq!(bytes(&a), before);
}

/// M22 and M23: one node uses authenticated mode, the other does not: each
/// runs with its link down and says which side lacks what.
#[test]
fn m22_m23_one_node_authenticated_the_other_not() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    fmt(&b, BLOCK, 2, 1, true);
    let before = bytes(&b);
    // Node 1 plain, its peer's volume authenticated.
    let plain = start(dir.path(), 1, &a, &b).expect("starts");
    check_row("M22", &reason(&plain));
    plain.stop();
    assert_eq!(bytes(&b), before);
    // Node 2 keyed, its peer's volume (a.vol) plain.
    let before = bytes(&a);
    let keyed = Endpoint::start(
        &config(dir.path(), true),
        2,
        &b,
        &a,
        Box::new(|_: &[u8]| {}),
    )
    .expect("starts");
    check_row("M23", &reason(&keyed));
    keyed.stop();
    assert_eq!(bytes(&a), before);
}

/// M24: both nodes are authenticated, with different key files: each
/// rejects the other's records (counted) and keeps the link down.
#[test]
fn m24_different_keys() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    fmt(&a, BLOCK, 1, 2, true);
    fmt(&b, BLOCK, 2, 1, true);
    let one = Endpoint::start(
        &config(dir.path(), true),
        1,
        &a,
        &b,
        Box::new(|_: &[u8]| {}),
    )
    .expect("starts");
    let mut other_cfg = config(dir.path(), false);
    other_cfg.auth_key = Some(AuthKey::from_secret(b"another secret, not the same one").unwrap());
    let two = Endpoint::start(&other_cfg, 2, &b, &a, Box::new(|_: &[u8]| {})).expect("starts");
    check_row("M24", &reason(&one));
    check_row("M24", &reason(&two));
    let counters = one.stop();
    assert!(counters.rejects_auth > 0, "{counters:?}");
    two.stop();
}

/// M25: the key file holds fewer than 16 bytes: `volnic up` refuses it.
#[test]
fn m25_key_file_too_short() {
    let dir = temp_dir();
    let path = key_file(dir.path(), "short.key", b"secret\n");
    let message = read_key_file(&path).expect_err("refused");
    check_row("M25", &message);
}

// ---------------------------------------------------------------------------
// A full disk

/// A file volume on a filesystem that has run out of space: ring writes
/// fail with ENOSPC once `fail` is set (a sparse volume file whose blocks
/// were never allocated), while the state record, allocated already, can
/// still be written.
struct FillingUp {
    inner: FileVolume,
    full: Arc<std::sync::atomic::AtomicBool>,
    ring_start: u64,
}

impl Volume for FillingUp {
    fn len_bytes(&self) -> u64 {
        self.inner.len_bytes()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        if offset >= self.ring_start && self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(volnic_tests::faulty::ENOSPC);
        }
        self.inner.write_at(offset, data)
    }
}

/// M26: the send volume's filesystem is full (ENOSPC on a sparse volume
/// file): the link goes down with the reason while frames wait; once space
/// is freed, they are delivered and the link comes back.
#[test]
fn m26_send_volume_disk_full() {
    let dir = temp_dir();
    let (a, b) = pair(dir.path());
    let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let send: BoxedVolume = Box::new(FillingUp {
        inner: FileVolume::open(&a, OpenMode::ReadWrite).unwrap(),
        full: Arc::clone(&full),
        ring_start: 2 * u64::from(BLOCK),
    });
    let recv: BoxedVolume = Box::new(FileVolume::open(&b, OpenMode::ReadOnly).unwrap());
    let got = Arc::new(Mutex::new(0usize));
    let sink_got = Arc::clone(&got);
    let one = Endpoint::start_on(
        &config(dir.path(), false),
        1,
        send,
        recv,
        Box::new(|_: &[u8]| {}),
    )
    .expect("starts");
    let two = Endpoint::start(
        &config(dir.path(), false),
        2,
        &b,
        &a,
        Box::new(move |_: &[u8]| *sink_got.lock().unwrap() += 1),
    )
    .expect("starts");
    assert!(one.wait_up(Duration::from_secs(10)));
    full.store(true, std::sync::atomic::Ordering::Relaxed);
    for id in 0..10 {
        one.send(&numbered_frame(id, 300)).unwrap();
    }
    check_row("M26", &reason(&one));
    full.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(
        one.wait_up(Duration::from_secs(10)),
        "link back once space is freed"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while *got.lock().unwrap() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *got.lock().unwrap(),
        10,
        "frames queued meanwhile delivered"
    );
    assert!(one.stop().write_errors > 0);
    two.stop();
}

// ---------------------------------------------------------------------------
// Windows registry values

/// M27–M30: registry values the driver refuses at initialization.
#[test]
fn m27_to_m30_registry_values() {
    let base = [("SendVolume", r"D:\a.vol"), ("ReceiveVolume", r"E:\b.vol")];
    let cases: [(&str, &[(&'static str, &str)]); 4] = [
        ("M27", &[("ReceiveVolume", r"E:\b.vol")]),
        ("M28", &[("BlockSize", "1000")]),
        ("M29", &[("PeerTimeoutMs", "50")]),
        ("M30", &[("NetworkAddress", "01-00-5e-00-00-01")]),
    ];
    for (id, values) in cases {
        let mut all: Vec<(&'static str, &str)> = if id == "M27" {
            Vec::new()
        } else {
            base.to_vec()
        };
        all.extend_from_slice(values);
        let err = AdapterConfig::from_source(&mut registry(&all)).expect_err(id);
        check_row(id, &err.to_string());
    }
}

// ---------------------------------------------------------------------------

/// Every row of the table has a test above, and every test a row.
/// M31: a segment given to `volnic up`: refused before anything opens it,
/// the segment unchanged.
#[test]
fn m31_up_given_a_segment() {
    let dir = temp_dir();
    let (a, _) = pair(dir.path());
    let seg = dir.path().join("segment.vol");
    let args = FormatArgs {
        path: seg.clone(),
        block_size: BLOCK,
        blocks: RING,
        writer_node: 1,
        reader_node: 2,
        force: false,
        authenticated: false,
        members: Some(3),
        member: None,
        segment_id: None,
    };
    volnic_tools::format::format_segment(&args, 3, Default::default()).unwrap();
    let before = bytes(&seg);
    for (send, recv) in [(&seg, &a), (&a, &seg)] {
        let up = UpArgs {
            send: Some(send.clone()),
            recv: Some(recv.clone()),
            ..UpArgs::default()
        };
        let message = up.settings().expect_err("refused");
        check_row("M31", &message);
    }
    assert_eq!(bytes(&seg), before);
}

/// M32: a member number outside the segment: refused, nothing created.
#[test]
fn m32_member_outside_the_segment() {
    let dir = temp_dir();
    let path = dir.path().join("member.vol");
    for member in [0, 4] {
        let args = FormatArgs {
            path: path.clone(),
            block_size: BLOCK,
            blocks: RING,
            writer_node: 1,
            reader_node: 2,
            force: false,
            authenticated: false,
            members: Some(3),
            member: Some(member),
            segment_id: None,
        };
        let message = volnic_tools::format::format_segment(&args, 3, Default::default())
            .expect_err("refused");
        check_row("M32", &message);
    }
    assert!(!path.exists());
}

#[test]
fn every_row_of_the_troubleshooting_table_is_tested() {
    let doc = include_str!("../../docs/TROUBLESHOOTING.md");
    let rows: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| M"))
        .map(|l| format!("M{}", l.split(' ').next().unwrap()))
        .collect();
    let tested: Vec<String> = (1..=32).map(|i| format!("M{i}")).collect();
    assert_eq!(
        rows, tested,
        "rows of docs/TROUBLESHOOTING.md and tests here"
    );
    for id in &rows {
        let template = row_template(id);
        assert!(!template.is_empty() && !template.contains('\n'));
    }
}

#[test]
fn template_matching_is_what_the_table_relies_on() {
    assert!(matches_template("a x b y c", "a <1> b <2> c"));
    assert!(matches_template(
        "send volume /p: not found",
        "send volume <path>: not found"
    ));
    assert!(!matches_template(
        "send volume /p: found",
        "send volume <path>: not found"
    ));
    assert!(!matches_template("xx send", "send"));
    assert!(!matches_template("send volume extra", "send volume"));
    assert!(matches_template("ends with anything", "ends with <x>"));
}
