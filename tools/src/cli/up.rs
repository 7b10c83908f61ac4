//! `volnic up`: the Linux endpoint. A TAP device stands where the NDIS
//! miniport's upper edge stands on Windows; the same engine carries its
//! frames over the send and receive volumes.
//!
//! Threads: the datapath thread (endpoint.rs: pack → write → poll → deliver to
//! the TAP device), a reader thread (TAP → send queue) and the main thread,
//! which follows the link (carrier on while the peer is fresh, off
//! otherwise) and waits for SIGINT/SIGTERM.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use tracing::{info, warn};
use volnic_core::auth::AuthKey;
use volnic_core::host_config::{HostConfig, SettingError, SettingSource};
use volnic_core::settings::{self, Setting};

use crate::endpoint::{Endpoint, EndpointConfig};
use crate::filevol::{wait_for_volume, FileVolume, OpenMode};
use crate::inspect::read_records;
use crate::tap::{write_frame, Tap};

#[derive(Args, Debug, Clone, Default)]
pub struct UpArgs {
    /// Settings file (TOML, keys as the long options: `send`, `recv`, `tap`,
    /// `addr`, `mac`, `mtu`, `flush-delay-ms`, `poll-us`, `peer-timeout-ms`,
    /// `node-id`, `key-file`, `queue-kb`). Options given on the command line
    /// override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// This node's send volume (formatted with `volnic format`).
    #[arg(long)]
    pub send: Option<PathBuf>,
    /// The peer's send volume as it reaches this node (mirror target or
    /// shared LUN); opened read-only.
    #[arg(long)]
    pub recv: Option<PathBuf>,
    /// TAP device to create or attach to [default: volnic0].
    #[arg(long)]
    pub tap: Option<String>,
    /// Address to give the TAP device, e.g. 169.254.77.1/16.
    #[arg(long)]
    pub addr: Option<String>,
    /// MAC of the TAP device [default: stable, derived from the send volume].
    #[arg(long)]
    pub mac: Option<String>,
    /// IP MTU [default: 1500; 576..=9000].
    #[arg(long)]
    pub mtu: Option<u32>,
    /// How long a partly filled block waits for more frames [default: 0; 0..=1000].
    #[arg(long)]
    pub flush_delay_ms: Option<u32>,
    /// Longest wait between receive-volume polls when idle [default: 1000; 50..=1000000].
    #[arg(long)]
    pub poll_us: Option<u32>,
    /// The link goes down when the peer's record is this old [default: 3000; 200..=60000].
    #[arg(long)]
    pub peer_timeout_ms: Option<u32>,
    /// This node's id [default: the send volume's writer].
    #[arg(long)]
    pub node_id: Option<u32>,
    /// Shared secret of authenticated mode (same file on both nodes).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Send queue size in KiB [default: 1024; 64..=65536].
    #[arg(long)]
    pub queue_kb: Option<u32>,
}

/// The settings file: the same keys as the command line.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    send: Option<PathBuf>,
    recv: Option<PathBuf>,
    tap: Option<String>,
    addr: Option<String>,
    mac: Option<String>,
    mtu: Option<u32>,
    flush_delay_ms: Option<u32>,
    poll_us: Option<u32>,
    peer_timeout_ms: Option<u32>,
    node_id: Option<u32>,
    key_file: Option<PathBuf>,
    queue_kb: Option<u32>,
}

/// Validated settings of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpSettings {
    pub send: PathBuf,
    pub recv: PathBuf,
    pub tap: String,
    pub addr: Option<String>,
    /// The numbers and the MAC, by the rule the miniport applies to its
    /// registry values too (`volnic_core::host_config`).
    pub host: HostConfig,
    pub key_file: Option<PathBuf>,
}

/// The command line over the settings file, as the raw values of the
/// settings table (registry names), for the rule both hosts share.
struct Given<'a> {
    args: &'a UpArgs,
    file: &'a FileSettings,
}

impl SettingSource for Given<'_> {
    fn string(&mut self, name: &str) -> Option<String> {
        (name == settings::NETWORK_ADDRESS.name)
            .then(|| self.args.mac.clone().or(self.file.mac.clone()))
            .flatten()
    }

    fn integer(&mut self, name: &str) -> Option<u32> {
        let (args, file) = (self.args, self.file);
        let pick = |a: Option<u32>, f: Option<u32>| a.or(f);
        match name {
            n if n == settings::MTU.name => pick(args.mtu, file.mtu),
            n if n == settings::FLUSH_DELAY_MS.name => {
                pick(args.flush_delay_ms, file.flush_delay_ms)
            }
            n if n == settings::POLL_INTERVAL_US.name => pick(args.poll_us, file.poll_us),
            n if n == settings::PEER_TIMEOUT_MS.name => {
                pick(args.peer_timeout_ms, file.peer_timeout_ms)
            }
            n if n == settings::NODE_ID.name => pick(args.node_id, file.node_id),
            n if n == settings::SEND_QUEUE_KB.name => pick(args.queue_kb, file.queue_kb),
            // No option: the block size is the volume's, the link speed
            // only Windows reports.
            _ => None,
        }
    }
}

/// The option (and settings-file key) of a setting of the table.
fn option_of(setting: &Setting) -> &'static str {
    match setting.name {
        n if n == settings::MTU.name => "mtu",
        n if n == settings::FLUSH_DELAY_MS.name => "flush-delay-ms",
        n if n == settings::POLL_INTERVAL_US.name => "poll-us",
        n if n == settings::PEER_TIMEOUT_MS.name => "peer-timeout-ms",
        n if n == settings::NODE_ID.name => "node-id",
        n if n == settings::SEND_QUEUE_KB.name => "queue-kb",
        n if n == settings::NETWORK_ADDRESS.name => "mac",
        _ => setting.name,
    }
}

/// A value the shared rule refused, worded with the option's name (and the
/// registry value's, for an administrator of both kinds of node).
fn refused(e: SettingError) -> String {
    match e {
        SettingError::OutOfRange { setting, value } => {
            let range = setting.range();
            format!(
                "{} = {value} is outside {}..={} (registry value {} on Windows)",
                option_of(setting),
                range.min,
                range.max,
                setting.name
            )
        }
        SettingError::OffStep { setting, value } => format!(
            "{} = {value} is not a multiple of {} (registry value {} on Windows)",
            option_of(setting),
            setting.range().step,
            setting.name
        ),
        SettingError::BadMac(text) => {
            format!("mac {text:?} is not a unicast MAC such as 02:76:6e:00:00:01")
        }
    }
}

impl UpArgs {
    /// Merges the settings file (if any) under the command line and checks
    /// every value.
    pub fn settings(&self) -> Result<UpSettings, String> {
        let file = match &self.config {
            Some(path) => {
                let text = read_settings_text(path)?;
                parse_settings_file(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let send = self.send.clone().or(file.send.clone()).ok_or(
            "no send volume: give --send PATH (or `send` in the settings file)".to_string(),
        )?;
        let recv = self.recv.clone().or(file.recv.clone()).ok_or(
            "no receive volume: give --recv PATH (or `recv` in the settings file)".to_string(),
        )?;
        if same_file(&send, &recv) {
            return Err(format!(
                "send and receive volume are the same ({}): each node sends on its own volume and receives the peer's",
                send.display()
            ));
        }
        for path in [&send, &recv] {
            if let Ok(Some(seg)) = crate::inspect::inspect_segment(path) {
                return Err(format!(
                    "{} is a volnic segment ({} members): this volnic formats and inspects segments but cannot join one yet; give a link's send and receive volumes (`volnic format` without --members)",
                    path.display(),
                    seg.layout.members
                ));
            }
        }
        let host = HostConfig::read(&mut Given {
            args: self,
            file: &file,
        })
        .map_err(refused)?;
        Ok(UpSettings {
            send,
            recv,
            tap: self
                .tap
                .clone()
                .or(file.tap)
                .unwrap_or_else(|| "volnic0".into()),
            addr: self.addr.clone().or(file.addr),
            host,
            key_file: self.key_file.clone().or(file.key_file),
        })
    }
}

/// Largest settings file read.
const MAX_SETTINGS_FILE: u64 = 1 << 20;

/// Reads a settings file: a regular file of at most 1 MiB, opened without
/// blocking and read with a bound (a FIFO or `/dev/zero` given as the
/// settings file is refused, not waited on or read forever).
fn read_settings_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let p = path.display();
    let fail = |e: std::io::Error| format!("{p}: {e}");
    let meta = std::fs::metadata(path).map_err(fail)?;
    if !meta.is_file() {
        return Err(format!(
            "{p}: not a regular file — give the path of a TOML settings file"
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(format!(
            "{p}: not a regular file — give the path of a TOML settings file"
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SETTINGS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_SETTINGS_FILE {
        return Err(format!(
            "{p}: larger than {MAX_SETTINGS_FILE} bytes — is it the settings file?"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{p}: not UTF-8 text"))
}

fn parse_settings_file(text: &str) -> Result<FileSettings, String> {
    toml::from_str(text).map_err(|e| {
        // toml's messages span several lines (a source excerpt); keep the
        // first, which names the problem.
        let msg = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        match e.span() {
            Some(span) => {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                format!("line {line}: {msg}")
            }
            None => msg,
        }
    })
}

/// True when both paths name the same file (or the same path when either
/// does not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Reads the shared secret of authenticated mode (the guarded read of
/// [`crate::keyfile`]: a private regular file of at most 4 KiB).
pub fn read_key_file(path: &Path) -> Result<AuthKey, String> {
    crate::keyfile::read_key_file(path)
}

/// What the permission bits of the two volumes mean for this link: the
/// warnings to log (a send volume other users may read or write), or the
/// refusal of a receive volume any user may write while the link is not
/// authenticated (whoever can write it can inject frames the peer's blocks
/// would carry). A path that cannot be looked at is left to the open,
/// which names the problem.
pub fn check_volume_modes(
    send: &Path,
    recv: &Path,
    authenticated: bool,
) -> Result<Vec<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let mut warnings = Vec::new();
    if let Ok(meta) = std::fs::metadata(send) {
        let (r, w) = (
            crate::filevol::others_may_read(&meta),
            crate::filevol::others_may_write(&meta),
        );
        if r || w {
            warnings.push(format!(
                "send volume {p}: mode {m:04o} lets every user {what} — restrict it with `chmod 600 {p}` (or 660 and a service group)",
                p = send.display(),
                m = meta.mode() & 0o7777,
                what = match (r, w) {
                    (true, true) => "read the frames on it and write it",
                    (true, false) => "read the frames on it",
                    _ => "write it",
                },
            ));
        }
    }
    if let Ok(meta) = std::fs::metadata(recv) {
        let mode = meta.mode() & 0o7777;
        if crate::filevol::others_may_write(&meta) {
            if !authenticated {
                return Err(format!(
                    "receive volume {p}: mode {mode:04o} lets every user write it, and so inject frames into this link — restrict it (`chmod o-w {p}`, or the mirror target's permissions) or use authenticated mode (--key-file)",
                    p = recv.display()
                ));
            }
            warnings.push(format!(
                "receive volume {p}: mode {mode:04o} lets every user write it; authenticated mode rejects forged blocks, but anyone can still take the link down — `chmod o-w {p}`",
                p = recv.display()
            ));
        } else if crate::filevol::others_may_read(&meta) {
            warnings.push(format!(
                "receive volume {p}: mode {mode:04o} lets every user read the frames on it — `chmod o-r {p}`",
                p = recv.display()
            ));
        }
    }
    Ok(warnings)
}

pub fn run(args: UpArgs) -> Result<(), String> {
    let settings = args.settings()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    up(&settings, &stop)
}

/// Runs the endpoint until `stop` is set; then flushes, writes the
/// shutting-down record and returns.
pub fn up(settings: &UpSettings, stop: &AtomicBool) -> Result<(), String> {
    // The send volume's superblock names the writer node and the link; the
    // default node id and MAC come from it.
    let mut probe = FileVolume::open(&settings.send, OpenMode::ReadOnly)
        .map_err(|e| e.with_role("send volume").to_string())?;
    let (superblock, _) = read_records(&mut probe, &settings.send)?;
    drop(probe);
    let host = &settings.host;
    let node_id = host.node_id.unwrap_or(superblock.writer_node);
    let (mac, _) = host.macs(settings.send.as_os_str().as_bytes(), node_id);

    let mut cfg = EndpointConfig::new(Path::new("."), superblock.block_size);
    cfg.poll_us = host.poll_interval_us;
    cfg.flush_delay_us = host.flush_delay_us;
    cfg.peer_timeout_us = host.peer_timeout_us;
    cfg.queue_bytes = host.send_queue_bytes;
    cfg.auth_key = match &settings.key_file {
        Some(path) => Some(read_key_file(path)?),
        None => None,
    };

    // A receive volume that is not there yet (a LUN not attached, a mirror
    // target not mounted) is waited for, as the miniport waits for its
    // storage: the reason logged once and again when it changes.
    let (mut waited_for, mut ready) = (false, false);
    let arrived = wait_for_volume(
        &settings.recv,
        "receive volume",
        stop,
        &mut |reason, new, waited| {
            if new {
                warn!("waiting for the receive volume, retrying: {reason}");
            }
            waited_for = true;
            if !ready && waited >= READY_WAIT {
                // A missing peer volume must not hold up the boot either.
                let _ = crate::notify::notify(
                    "READY=1\nSTATUS=link down: waiting for the receive volume",
                );
                ready = true;
            }
        },
    )?;
    if !arrived {
        return Ok(());
    }
    if waited_for {
        info!("receive volume {} is there", settings.recv.display());
    }

    for warning in check_volume_modes(&settings.send, &settings.recv, cfg.auth_key.is_some())? {
        warn!("{warning}");
    }

    let mut tap = Tap::open(&settings.tap)?;
    let mut tap_out: File = tap.writer()?;
    let delivered_errors = Arc::new(AtomicU64::new(0));
    let sink_errors = Arc::clone(&delivered_errors);
    let sink = Box::new(move |frame: &[u8]| {
        if write_frame(&mut tap_out, frame).is_err() {
            sink_errors.fetch_add(1, Ordering::Relaxed);
        }
    });
    let endpoint = Endpoint::start(&cfg, node_id, &settings.send, &settings.recv, sink)?;
    let max_frame = endpoint.max_frame_len();
    settings::check_mtu(host.mtu, max_frame, superblock.block_size).map_err(|e| e.to_string())?;
    tap.configure(host.mtu, mac, settings.addr.as_deref())?;
    info!(
        tap = %settings.tap,
        node = node_id,
        send = %settings.send.display(),
        recv = %settings.recv.display(),
        "endpoint started; waiting for the peer"
    );

    let control = tap.try_clone()?;
    let sender = endpoint.sender();
    let frame_cap = host.max_frame_len() + 4;
    std::thread::Builder::new()
        .name("volnic-tap-rx".into())
        .spawn(move || {
            let mut buf = vec![0u8; frame_cap.max(max_frame)];
            loop {
                match tap.read_frame(&mut buf) {
                    Ok(0) => continue,
                    Ok(n) => {
                        if sender.stopping() {
                            return;
                        }
                        // A full queue or an oversized frame is a drop, as
                        // on any NIC; the endpoint counts it.
                        let _ = sender.send(&buf[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        warn!("reading the TAP device failed: {e}");
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the TAP reader: {e}"))?;

    let result = follow_link(&endpoint, &control, stop);
    let _ = crate::notify::notify("STOPPING=1");
    let _ = control.set_carrier(false);
    let counters = endpoint.stop();
    info!(
        frames_sent = counters.frames_sent,
        frames_received = counters.frames_received,
        tap_write_errors = delivered_errors.load(Ordering::Relaxed),
        "endpoint stopped; shutting-down record written"
    );
    result
}

/// Longest wait for the link before telling systemd the service is ready
/// anyway (`Type=notify`): a peer that is down must not hold up the boot.
pub const READY_WAIT: Duration = Duration::from_secs(10);

/// What to tell systemd, if anything, at `elapsed` since start with the
/// link `up`: `READY=1` once, when the link first comes up or when
/// [`READY_WAIT`] has passed without it.
pub fn ready_message(already: bool, up: bool, elapsed: Duration) -> Option<&'static str> {
    match (already, up) {
        (true, _) => None,
        (false, true) => Some("READY=1\nSTATUS=link up: the peer is running"),
        (false, false) if elapsed >= READY_WAIT => Some(
            "READY=1\nSTATUS=link down: the peer is not running yet (the carrier comes on when it is)",
        ),
        _ => None,
    }
}

/// The systemd status line of a running endpoint (`systemctl status`
/// shows it): the link up, or down with the engine's reason for it
/// (`volnic_core::datapath::DownReason`, the miniport traces the same).
pub fn status_line(up: bool, problem: Option<&str>) -> String {
    match (up, problem) {
        (true, _) => String::from("STATUS=link up: the peer is running"),
        (false, Some(reason)) => format!("STATUS=link down: {reason}"),
        (false, None) => String::from(
            "STATUS=link down: the peer is not running (starting, shut down or silent)",
        ),
    }
}

/// The one line naming a peer-timeout mismatch (`ours`, `theirs` in µs):
/// the engine's, which the miniport traces too.
pub fn timeout_mismatch_line(ours: u64, theirs: u64) -> String {
    volnic_core::datapath::TimeoutMismatch {
        ours_us: ours,
        theirs_us: theirs,
    }
    .to_string()
}

/// Sets the carrier from the link state until `stop` is set or the
/// datapath ends with an error.
fn follow_link(endpoint: &Endpoint, tap: &Tap, stop: &AtomicBool) -> Result<(), String> {
    let mut carrier: Option<bool> = None;
    let mut last_problem: Option<String> = None;
    let started = std::time::Instant::now();
    let mut ready = false;
    let mut last_mismatch: Option<(u64, u64)> = None;
    let mut last_status: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(e) = endpoint.error() {
            return Err(e);
        }
        let up = endpoint.link_up();
        if let Some(message) = ready_message(ready, up, started.elapsed()) {
            if let Err(e) = crate::notify::notify(message) {
                warn!("cannot notify systemd ($NOTIFY_SOCKET): {e}");
            }
            ready = true;
            last_status = message
                .lines()
                .find(|l| l.starts_with("STATUS="))
                .map(String::from);
        }
        if carrier != Some(up) {
            tap.set_carrier(up)?;
            if up {
                info!("peer is running: carrier on");
            } else if carrier.is_some() {
                warn!("peer is not running (starting, shut down or silent): carrier off");
            }
            carrier = Some(up);
        }
        let mismatch = endpoint.peer_timeout_mismatch();
        if mismatch.is_some() && mismatch != last_mismatch {
            if let Some((ours, theirs)) = mismatch {
                warn!("{}", timeout_mismatch_line(ours, theirs));
            }
        }
        last_mismatch = mismatch;
        let problem = endpoint.problem();
        if problem != last_problem {
            if let Some(p) = &problem {
                warn!("link down: {p}");
            }
            last_problem = problem;
        }
        if ready {
            // After READY=1, each change of the link or its reason.
            let status = status_line(up, last_problem.as_deref());
            if last_status.as_ref() != Some(&status) {
                let _ = crate::notify::notify(&status);
                last_status = Some(status);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(send: &str, recv: &str) -> UpArgs {
        UpArgs {
            send: Some(send.into()),
            recv: Some(recv.into()),
            ..UpArgs::default()
        }
    }

    #[test]
    fn defaults_and_command_line_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("n1.toml");
        std::fs::write(
            &conf,
            "send = \"/v/a\"\nrecv = \"/v/b\"\nmtu = 9000\npoll-us = 500\naddr = \"169.254.1.1/16\"\n",
        )
        .unwrap();
        let mut a = UpArgs {
            config: Some(conf),
            ..UpArgs::default()
        };
        let s = a.settings().unwrap();
        assert_eq!(s.send, PathBuf::from("/v/a"));
        assert_eq!(
            (s.host.mtu, s.host.poll_interval_us, s.host.peer_timeout_us),
            (9000, 500, 3_000_000)
        );
        assert_eq!(s.tap, "volnic0");
        a.mtu = Some(1500);
        a.recv = Some("/v/c".into());
        let s = a.settings().unwrap();
        assert_eq!((s.host.mtu, s.recv), (1500, PathBuf::from("/v/c")));
    }

    #[test]
    fn bad_settings_are_one_line_errors() {
        let mut a = args("/v/a", "/v/a");
        assert!(a.settings().unwrap_err().contains("same"));
        a.recv = Some("/v/b".into());
        a.mtu = Some(100);
        assert_eq!(
            a.settings().unwrap_err(),
            "mtu = 100 is outside 576..=9000 (registry value MTU on Windows)"
        );
        a.mtu = None;
        a.mac = Some("01:00:5e:00:00:01".into());
        assert!(a.settings().unwrap_err().contains("not a unicast MAC"));
        a.mac = None;
        a.send = None;
        assert!(a.settings().unwrap_err().starts_with("no send volume"));

        let err = parse_settings_file("send = \"/a\"\nbogus = 1\n").unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("bogus"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = parse_settings_file("mtu = \"big\"\n").unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn the_status_line_names_the_down_reason() {
        assert_eq!(
            status_line(true, Some("stale")),
            "STATUS=link up: the peer is running"
        );
        assert_eq!(
            status_line(
                false,
                Some("the send volume refuses writes: No space left on device")
            ),
            "STATUS=link down: the send volume refuses writes: No space left on device"
        );
        assert!(status_line(false, None).starts_with("STATUS=link down: the peer is not running"));
    }

    #[test]
    fn ready_is_sent_once_when_up_or_after_the_bounded_wait() {
        let short = Duration::from_millis(10);
        assert!(ready_message(false, true, short)
            .unwrap()
            .starts_with("READY=1\n"));
        assert_eq!(ready_message(false, false, short), None);
        assert!(ready_message(false, false, READY_WAIT)
            .unwrap()
            .contains("link down"));
        assert_eq!(ready_message(true, true, READY_WAIT), None);
    }

    #[test]
    fn the_unit_is_sandboxed_notify_and_minimal() {
        let unit = include_str!("../../systemd/volnic@.service");
        let lines: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
        for needed in [
            "Type=notify",
            "NotifyAccess=main",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "DevicePolicy=closed",
            "DeviceAllow=/dev/net/tun rw",
            "AmbientCapabilities=CAP_NET_ADMIN",
            "CapabilityBoundingSet=CAP_NET_ADMIN",
            "ReadWritePaths=-/var/lib/volnic",
            "UMask=0077",
        ] {
            assert!(lines.contains(&needed), "unit lacks {needed}");
        }
        assert!(!unit.contains("Type=simple"));
        let config: String = lines.join("\n");
        assert!(!config.contains("CAP_DAC_OVERRIDE") && !config.contains("CAP_SYS_RAWIO"));
    }

    #[test]
    fn the_shipped_example_settings_file_is_valid() {
        let file = parse_settings_file(include_str!("../../systemd/example.toml")).unwrap();
        assert_eq!(file.tap.as_deref(), Some("volnic0"));
        assert_eq!(file.peer_timeout_ms, Some(3000));
        let unit = include_str!("../../systemd/volnic@.service");
        assert!(unit.contains("up --config /etc/volnic/%i.toml"));
    }
}
