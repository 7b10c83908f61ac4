//! A two-host laboratory on one Linux machine: two network namespaces, each
//! running a `volnic up` endpoint on file-backed volumes, the volumes joined
//! by two `volnic mirror` processes. Used by `volnic demo --netns` and by the
//! end-to-end tests.
//!
//! Everything it creates (namespaces, processes and with them their TAP
//! devices, the temporary volumes) is removed when the [`Lab`] is dropped,
//! whether the caller finished or failed. Beyond volnic it needs only
//! iproute2's `ip`: pings, latency and throughput are measured by volnic
//! itself ([`crate::probe`]).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::format::{format, FormatArgs};
pub use crate::probe::{OneWay, PingResult, Spread, Throughput};
use crate::tap::ip;

/// TAP device name inside each namespace.
pub const TAP: &str = "vn0";

/// A program outside volnic, and the Debian package that installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: &'static str,
    pub package: &'static str,
}

/// iproute2's `ip`: namespaces, and the TAP device's address.
pub const IP: Program = Program {
    name: "ip",
    package: "iproute2",
};

impl Program {
    /// Where `PATH` finds this program, if anywhere.
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(self.name))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    }

    /// `None` when installed; otherwise one line naming the package.
    pub fn missing(&self) -> Option<String> {
        self.find().is_none().then(|| {
            format!(
                "`{}` is not installed (Debian package {}: apt-get install {})",
                self.name, self.package, self.package
            )
        })
    }
}

/// Why the laboratory cannot be built on this machine (not root, no TUN
/// driver, no iproute2, `ip netns` refused), as one line saying what to do,
/// or `None` when it can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces and TAP devices)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (load the tun module)".into());
    }
    if let Some(why) = IP.missing() {
        return Some(why);
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!(
            "cannot run `ip` ({e}): apt-get install {}",
            IP.package
        )),
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
                members: None,
                member: None,
                segment_id: None,
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
        self.ipv4(node).to_string()
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

    /// Runs a command inside `node`'s namespace, for at most
    /// [`EXEC_LIMIT`]: one that takes longer is killed and reported, so a
    /// test fails saying what hung instead of hanging itself.
    pub fn exec(&self, node: usize, program: &str, args: &[&str]) -> Result<Output, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespaces[node], program])
            .args(args);
        output_within(cmd, program, EXEC_LIMIT)
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

    /// `node`'s address as an [`Ipv4Addr`].
    fn ipv4(&self, node: usize) -> Ipv4Addr {
        Ipv4Addr::new(169, 254, 77, node as u8 + 1)
    }

    /// Pings the other node from `node`: `count` ICMP echo requests, one
    /// every `interval` seconds (e.g. "0.01"), replies awaited up to 2 s
    /// after the last, as `ping -c count -i interval -W 2` would; sent by
    /// volnic itself on a raw socket in `node`'s namespace.
    pub fn ping(&self, node: usize, count: u32, interval: &str) -> Result<PingResult, String> {
        let interval: f64 = interval
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or(format!(
                "ping interval {interval:?} is not a number of seconds"
            ))?;
        crate::probe::ping(
            &self.namespaces[node],
            self.ipv4(1 - node),
            count,
            Duration::from_secs_f64(interval),
            Duration::from_secs(2),
        )
    }

    /// One-way latency from `node` to the other and back: `count` UDP
    /// probes, one every `interval`, measured on the clock both ends share.
    pub fn one_way_latency(
        &self,
        node: usize,
        count: u32,
        interval: Duration,
    ) -> Result<OneWay, String> {
        crate::probe::one_way_latency(
            [&self.namespaces[node], &self.namespaces[1 - node]],
            self.ipv4(node),
            self.ipv4(1 - node),
            count,
            interval,
        )
    }

    /// TCP throughput from `node` to the other, one connection for
    /// `duration`, every byte checked on arrival.
    pub fn tcp_throughput(&self, node: usize, duration: Duration) -> Result<Throughput, String> {
        crate::probe::tcp_throughput(
            [&self.namespaces[node], &self.namespaces[1 - node]],
            self.ipv4(node),
            self.ipv4(1 - node),
            duration,
        )
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

/// Longest a command [`Lab::exec`] runs may take (the TCP transfer's
/// sender bounds itself well within it).
pub const EXEC_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` as [`Command::output`] does, but kills it after `limit`
/// and says so: an `ip` that blocks on the kernel (a network device it
/// is still waiting to free), or a program that stalls, fails the caller
/// with that line instead of hanging it.
fn output_within(mut cmd: Command, what: &str, limit: Duration) -> Result<Output, String> {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    // Drained on threads, so a child that writes much never blocks on a
    // full pipe while it is waited for.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{what} did not finish within {} s and was killed (an `ip` that hangs waits on the kernel, often for a network device to be freed: see dmesg)",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
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
    use super::*;

    #[test]
    fn a_command_that_outlives_its_limit_is_killed_and_named() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let start = Instant::now();
        let err = output_within(sleeper, "sleep", Duration::from_millis(300)).unwrap_err();
        assert!(err.starts_with("sleep did not finish within 0 s"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(20));
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(echo, "sh", Duration::from_secs(30)).unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }
}
