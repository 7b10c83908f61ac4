//! A two-host laboratory on one Linux machine: two network namespaces, each
//! running a `volnic up` endpoint on file-backed volumes, the volumes joined
//! by two `volnic mirror` processes. Used by `volnic demo --netns` and by the
//! end-to-end tests.
//!
//! Everything it creates (namespaces, processes and with them their TAP
//! devices, the temporary volumes) is removed when the [`Lab`] is dropped,
//! whether the caller finished or failed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cli::format::{format, FormatArgs};
use crate::tap::ip;

/// TAP device name inside each namespace.
pub const TAP: &str = "vn0";

/// Why the laboratory cannot be built on this machine (not root, no TUN
/// driver, no `ip netns`), or `None` when it can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces and TAP devices)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (load the tun module)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run `ip` ({e}): install iproute2")),
    }
}

/// Settings of a laboratory.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The `volnic` program to run (this executable for the demo, the
    /// test package's build of it for tests).
    pub exe: PathBuf,
    /// Short tag in namespace names, so concurrent labs do not collide.
    pub tag: String,
    pub block_size: u32,
    pub ring_blocks: u32,
    pub peer_timeout_ms: u64,
    /// Prefix length of the endpoints' addresses (169.254.77.N/len).
    pub prefix_len: u8,
    /// Extra options for both `volnic up` endpoints.
    pub up_args: Vec<String>,
}

impl LabConfig {
    pub fn new(exe: PathBuf, tag: &str) -> Self {
        Self {
            exe,
            tag: tag.into(),
            block_size: 4096,
            ring_blocks: 1024,
            peer_timeout_ms: 3000,
            prefix_len: 16,
            up_args: Vec::new(),
        }
    }
}

/// Two namespaces with a volnic endpoint each.
pub struct Lab {
    cfg: LabConfig,
    dir: TempDir,
    namespaces: [String; 2],
    mirrors: Vec<Child>,
    nodes: [Option<Child>; 2],
    starts: [u32; 2],
}

impl Lab {
    /// Formats the volumes, starts the mirrors and creates the namespaces
    /// (endpoints are started with [`Lab::start_node`]).
    pub fn create(cfg: LabConfig) -> Result<Lab, String> {
        let dir = tempfile::Builder::new()
            .prefix("volnic-lab-")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let pid = std::process::id();
        let namespaces = [1, 2].map(|n| format!("vnl-{}-{pid}-{n}", cfg.tag));
        let mut lab = Lab {
            cfg,
            dir,
            namespaces,
            mirrors: Vec::new(),
            nodes: [None, None],
            starts: [0, 0],
        };
        for (name, writer, reader) in [("a", 1, 2), ("b", 2, 1)] {
            let path = lab.dir.path().join(format!("{name}.vol"));
            format(&FormatArgs {
                path: path.clone(),
                block_size: lab.cfg.block_size,
                blocks: lab.cfg.ring_blocks,
                writer_node: writer,
                reader_node: reader,
                force: false,
                authenticated: false,
            })?;
            let copy = lab.dir.path().join(format!("{name}.mirror.vol"));
            // The initial synchronisation an array makes when a mirror is
            // set up.
            std::fs::copy(&path, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
            let log = lab.log_file(&format!("mirror-{name}"))?;
            let child = Command::new(&lab.cfg.exe)
                .arg("mirror")
                .arg(&path)
                .arg(&copy)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", lab.cfg.exe.display()))?;
            lab.mirrors.push(child);
        }
        for ns in &lab.namespaces {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn namespace(&self, node: usize) -> &str {
        &self.namespaces[node]
    }

    /// The link-local address of `node` (0 or 1).
    pub fn addr(&self, node: usize) -> String {
        format!("169.254.77.{}", node + 1)
    }

    fn log_file(&self, name: &str) -> Result<File, String> {
        let path = self.dir.path().join(format!("{name}.log"));
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The log of `node`'s endpoint (all its runs).
    pub fn node_log(&self, node: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{}.log", node + 1)))
            .unwrap_or_default()
    }

    /// Starts (or restarts) `node`'s `volnic up` in its namespace.
    pub fn start_node(&mut self, node: usize) -> Result<u32, String> {
        let (send, recv) = match node {
            0 => ("a.vol", "b.mirror.vol"),
            _ => ("b.vol", "a.mirror.vol"),
        };
        let log = self.log_file(&format!("node{}", node + 1))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.namespaces[node]])
            .arg(&self.cfg.exe)
            .args(["--log", "info", "up", "--tap", TAP])
            .arg("--send")
            .arg(self.dir.path().join(send))
            .arg("--recv")
            .arg(self.dir.path().join(recv))
            .arg("--addr")
            .arg(format!("{}/{}", self.addr(node), self.cfg.prefix_len))
            .arg("--peer-timeout-ms")
            .arg(self.cfg.peer_timeout_ms.to_string())
            .args(&self.cfg.up_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start node {}: {e}", node + 1))?;
        let pid = child.id();
        self.nodes[node] = Some(child);
        self.starts[node] += 1;
        Ok(pid)
    }

    /// The process id of `node`'s endpoint, if it runs.
    pub fn node_pid(&self, node: usize) -> Option<u32> {
        self.nodes[node].as_ref().map(Child::id)
    }

    /// Sends `signal` to `node`'s endpoint and waits for it to exit.
    pub fn stop_node(&mut self, node: usize, signal: i32) -> Result<ExitStatus, String> {
        let mut child = self.nodes[node]
            .take()
            .ok_or(format!("node {} is not running", node + 1))?;
        // SAFETY: kill has no memory preconditions; the pid is our own
        // child, not yet reaped, so it cannot name another process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("node {} did not exit within 20 s", node + 1));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs a command inside `node`'s namespace.
    pub fn exec(&self, node: usize, program: &str, args: &[&str]) -> Result<Output, String> {
        Command::new("ip")
            .args(["netns", "exec", &self.namespaces[node], program])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))
    }

    /// Starts a command inside `node`'s namespace.
    pub fn spawn(&self, node: usize, program: &str, args: &[&str]) -> Result<Child, String> {
        Command::new("ip")
            .args(["netns", "exec", &self.namespaces[node], program])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))
    }

    /// `ip link` flags of `node`'s TAP device, e.g.
    /// `NO-CARRIER,BROADCAST,MULTICAST,UP`; `None` when it does not exist.
    pub fn tap_flags(&self, node: usize) -> Option<String> {
        let out = self.exec(node, "ip", &["-o", "link", "show", TAP]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text.find('<')?;
        let end = text[start..].find('>')? + start;
        Some(text[start + 1..end].to_string())
    }

    /// Whether `node`'s TAP device has its carrier (LOWER_UP).
    pub fn carrier(&self, node: usize) -> bool {
        self.tap_flags(node)
            .is_some_and(|f| f.split(',').any(|x| x == "LOWER_UP"))
    }

    /// Waits until `node`'s carrier is `on`; returns how long that took.
    pub fn wait_carrier(&self, node: usize, on: bool, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.carrier(node) == on {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// MAC of `node`'s TAP device.
    pub fn mac(&self, node: usize) -> Option<String> {
        let out = self.exec(node, "ip", &["-o", "link", "show", TAP]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut words = text.split_whitespace();
        words.find(|w| *w == "link/ether")?;
        words.next().map(str::to_string)
    }

    /// Pings the other node from `node`; returns (transmitted, received)
    /// and the summary lines.
    pub fn ping(&self, node: usize, count: u32, interval: &str) -> Result<PingResult, String> {
        let peer = self.addr(1 - node);
        let count = count.to_string();
        let out = self.exec(
            node,
            "ping",
            &["-n", "-q", "-c", &count, "-i", interval, "-W", "2", &peer],
        )?;
        PingResult::parse(&String::from_utf8_lossy(&out.stdout)).ok_or(format!(
            "ping printed no summary: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The summary of one `ping` run.
#[derive(Clone, Debug, PartialEq)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    /// min / avg / max round trip in ms, when any reply came.
    pub rtt_ms: Option<(f64, f64, f64)>,
}

impl PingResult {
    /// Parses iputils ping's summary.
    pub fn parse(text: &str) -> Option<PingResult> {
        let stats = text.lines().find(|l| l.contains("packets transmitted"))?;
        let mut nums = stats
            .split(',')
            .filter_map(|part| part.split_whitespace().next()?.parse::<u32>().ok());
        let transmitted = nums.next()?;
        let received = nums.next()?;
        let rtt_ms = text
            .lines()
            .find(|l| l.starts_with("rtt") || l.starts_with("round-trip"))
            .and_then(|l| {
                let values = l.split('=').nth(1)?.trim();
                let mut v = values
                    .split(['/', ' '])
                    .filter_map(|x| x.parse::<f64>().ok());
                Some((v.next()?, v.next()?, v.next()?))
            });
        Some(PingResult {
            transmitted,
            received,
            rtt_ms,
        })
    }

    pub fn loss_percent(&self) -> f64 {
        f64::from(self.transmitted - self.received.min(self.transmitted)) * 100.0
            / f64::from(self.transmitted.max(1))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().filter_map(Option::take) {
            stop_child(child);
        }
        for child in self.mirrors.drain(..) {
            stop_child(child);
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// SIGTERM, a moment to exit cleanly, then SIGKILL.
fn stop_child(mut child: Child) {
    // SAFETY: as in stop_node: our own unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    for _ in 0..300 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::PingResult;

    #[test]
    fn parses_ping_summaries() {
        let text = "PING 169.254.77.2 (169.254.77.2) 56(84) bytes of data.\n\n--- 169.254.77.2 ping statistics ---\n200 packets transmitted, 198 received, 1% packet loss, time 2301ms\nrtt min/avg/max/mdev = 0.950/1.234/5.001/0.300 ms\n";
        let r = PingResult::parse(text).unwrap();
        assert_eq!((r.transmitted, r.received), (200, 198));
        assert_eq!(r.rtt_ms, Some((0.95, 1.234, 5.001)));
        assert!((r.loss_percent() - 1.0).abs() < 1e-9);
        let none = "--- x ping statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2001ms\n";
        let r = PingResult::parse(none).unwrap();
        assert_eq!((r.received, r.rtt_ms), (0, None));
        assert!(PingResult::parse("ping: unknown host").is_none());
    }
}
