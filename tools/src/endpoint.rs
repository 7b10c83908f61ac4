//! The Linux endpoint: one volnic node on its own datapath thread, its send
//! queue fed by any thread and each delivered frame handed to a sink (the
//! TAP device under `volnic up`; a counter or a channel under `volnic bench`
//! and the tests, which also run two endpoints in one process over
//! file-backed volumes: [`open_pair`], [`format_pair`]).
//!
//! Each endpoint's datapath thread loops pack → poll → wait. The wait is
//! adaptive: right after traffic it polls again within [`HOT_POLL_US`] for
//! [`HOT_WINDOW_US`], then backs off to the configured poll interval; a
//! frame queued by the sender wakes it at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use volnic_core::datapath::{Event, Host, TimeoutMismatch};
use volnic_core::{Counters, Link, LinkConfig, PollReport, QueueError, SendQueue, Volume};

use crate::filevol::{FileVolume, OpenMode};
use crate::format::{format, FormatArgs};
use crate::mirror::SyncMirror;

pub use volnic_core::pacer::{HOT_POLL_US, HOT_WINDOW_US};

/// Settings of an endpoint (and, in `dir`, of the bench's pair of volumes).
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    pub dir: PathBuf,
    pub block_size: u32,
    pub ring_blocks: u32,
    pub poll_us: u64,
    pub flush_delay_us: u64,
    pub peer_timeout_us: u64,
    pub queue_bytes: usize,
    /// Join the endpoints through the in-process synchronous storage-mirror
    /// emulator (each send volume copied to a separate receive volume)
    /// instead of one state file per direction.
    pub mirror: bool,
    /// Key of authenticated mode.
    pub auth_key: Option<volnic_core::auth::AuthKey>,
}

impl EndpointConfig {
    pub fn new(dir: &Path, block_size: u32) -> Self {
        Self {
            dir: dir.to_path_buf(),
            block_size,
            ring_blocks: 1024,
            poll_us: 1000,
            flush_delay_us: 0,
            peer_timeout_us: 3_000_000,
            queue_bytes: 4 << 20,
            mirror: false,
            auth_key: None,
        }
    }
}

/// Monotonic microseconds since a process-wide origin.
pub fn now_us() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// CPU time of the calling thread in nanoseconds, from
/// `/proc/thread-self/schedstat` (0 where unavailable).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What the sending side of an endpoint shares with its datapath thread.
struct EndpointState {
    queue: Mutex<SendQueue>,
    wake: Condvar,
    stop: AtomicBool,
    link_up: AtomicBool,
    cpu_ns: AtomicU64,
    /// The link's counters as of the last publish.
    counters: Mutex<Counters>,
    /// Frames refused at the queue (full / bad length), counted by senders.
    refused_full: AtomicU64,
    refused_length: AtomicU64,
    error: Mutex<Option<String>>,
    /// Why the link is down on the receive side, if it is.
    problem: Mutex<Option<String>>,
    /// This node's and the peer's declared peer timeouts, when they differ.
    timeout_mismatch: Mutex<Option<TimeoutMismatch>>,
}

/// Receives each delivered frame on the datapath thread.
pub type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// A volume the datapath thread owns.
pub type BoxedVolume = Box<dyn Volume + Send>;

/// One endpoint: its send queue and its datapath thread.
pub struct Endpoint {
    state: Arc<EndpointState>,
    thread: Option<JoinHandle<()>>,
    max_frame: usize,
}

impl Endpoint {
    /// Opens the link (initialization record, receive volume check) and
    /// starts the datapath thread.
    pub fn start(
        cfg: &EndpointConfig,
        node_id: u32,
        send_path: &Path,
        recv_path: &Path,
        sink: Sink,
    ) -> Result<Endpoint, String> {
        // One writer per volume: on this host the lock refuses a second
        // one at once; across hosts, the claim on the volume does.
        let send = FileVolume::open_exclusive(send_path)
            .map_err(|e| e.with_role("send volume").to_string())?;
        let recv = FileVolume::open(recv_path, OpenMode::ReadOnly)
            .map_err(|e| e.with_role("receive volume").to_string())?;
        Self::start_on(cfg, node_id, Box::new(send), Box::new(recv), sink)
    }

    /// As [`Endpoint::start`], on volumes already opened (a mirror wrapper,
    /// say).
    pub fn start_on(
        cfg: &EndpointConfig,
        node_id: u32,
        mut send: BoxedVolume,
        mut recv: BoxedVolume,
        mut sink: Sink,
    ) -> Result<Endpoint, String> {
        let mut link_cfg = LinkConfig::new(node_id);
        link_cfg.flush_delay_us = cfg.flush_delay_us;
        link_cfg.set_peer_timeout_us(cfg.peer_timeout_us);
        link_cfg.set_host_name(&host_name(node_id));
        link_cfg.auth_key = cfg.auth_key.clone();
        link_cfg.claim_nonce = rand::random::<u64>().max(1);
        let epoch_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut link = Link::open(link_cfg, &mut send, &mut recv, now_us(), epoch_seed)
            .map_err(|e| e.to_string())?;
        let max_frame = link.max_frame_len();
        let state = Arc::new(EndpointState {
            queue: Mutex::new(SendQueue::new(cfg.queue_bytes, link.block_payload())),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            link_up: AtomicBool::new(false),
            cpu_ns: AtomicU64::new(0),
            counters: Mutex::new(Counters::default()),
            refused_full: AtomicU64::new(0),
            refused_length: AtomicU64::new(0),
            error: Mutex::new(None),
            problem: Mutex::new(None),
            timeout_mismatch: Mutex::new(None),
        });
        let poll_us = cfg.poll_us;
        let thread_shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("volnic-dp{node_id}"))
            .spawn(move || {
                datapath(
                    &mut link,
                    &mut send,
                    &mut recv,
                    &thread_shared,
                    poll_us,
                    &mut sink,
                )
            })
            .map_err(|e| format!("cannot start the datapath thread: {e}"))?;
        Ok(Endpoint {
            state,
            thread: Some(thread),
            max_frame,
        })
    }

    /// Queues a frame and wakes the datapath.
    pub fn send(&self, frame: &[u8]) -> Result<(), QueueError> {
        self.sender().send(frame)
    }

    /// A handle that queues frames from another thread.
    pub fn sender(&self) -> FrameSender {
        FrameSender {
            state: Arc::clone(&self.state),
            max_frame: self.max_frame,
        }
    }

    /// Largest frame the link carries (set by the block size).
    pub fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    /// Why the link is down, if this end can tell: its send volume refusing
    /// writes, or a problem of the receive side (peer problem, I/O error).
    pub fn problem(&self) -> Option<String> {
        self.state.problem.lock().ok().and_then(|p| p.clone())
    }

    pub fn link_up(&self) -> bool {
        self.state.link_up.load(Ordering::Relaxed)
    }

    /// This node's and the peer's declared peer timeouts (µs), when they
    /// differ (the peer's freshness then follows the larger).
    pub fn peer_timeout_mismatch(&self) -> Option<(u64, u64)> {
        self.state
            .timeout_mismatch
            .lock()
            .ok()
            .and_then(|m| *m)
            .map(|m| (m.ours_us, m.theirs_us))
    }

    /// CPU time of the datapath thread so far (refreshed every 100 ms).
    pub fn cpu_ns(&self) -> u64 {
        self.state.cpu_ns.load(Ordering::Relaxed)
    }

    /// The engine's counters (refreshed every 100 ms and at stop), with
    /// the frames refused at the send queue.
    pub fn counters(&self) -> Counters {
        let mut c = self.state.counters.lock().map(|c| *c).unwrap_or_default();
        c.drops_queue_full += self.state.refused_full.load(Ordering::Relaxed);
        c.drops_bad_length += self.state.refused_length.load(Ordering::Relaxed);
        c
    }

    /// Why the datapath stopped on its own, if it did.
    pub fn error(&self) -> Option<String> {
        self.state.error.lock().ok().and_then(|e| e.clone())
    }

    /// Waits until the link is up or `timeout` passes.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.link_up() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.link_up()
    }

    /// Flushes what is queued, writes the shutting-down record, ends the
    /// thread; returns the final counters.
    pub fn stop(mut self) -> Counters {
        self.shutdown();
        self.counters()
    }

    fn shutdown(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        self.state.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Queues frames for an [`Endpoint`] from any thread.
#[derive(Clone)]
pub struct FrameSender {
    state: Arc<EndpointState>,
    max_frame: usize,
}

impl FrameSender {
    /// Queues a frame and wakes the datapath; a full queue is counted as a
    /// drop, as a NIC whose ring is full drops.
    pub fn send(&self, frame: &[u8]) -> Result<(), QueueError> {
        if frame.is_empty() || frame.len() > self.max_frame {
            self.state.refused_length.fetch_add(1, Ordering::Relaxed);
            return Err(QueueError::BadLength);
        }
        let (pushed, was_empty) = {
            let mut q = self.state.queue.lock().map_err(|_| QueueError::Full)?;
            let was_empty = q.is_empty();
            (q.push(frame), was_empty)
        };
        match pushed {
            Ok(_) => {
                // The datapath waits only with an empty queue (or a closed
                // window, which a new frame does not open): the first frame
                // into an empty queue is the only one that must wake it. A
                // wake per frame costs a futex call per frame under load.
                if was_empty {
                    self.state.wake.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                if e == QueueError::Full {
                    self.state.refused_full.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    /// True once the endpoint is stopping: stop offering frames.
    pub fn stopping(&self) -> bool {
        self.state.stop.load(Ordering::Relaxed)
    }
}

/// The name published in the state record: this host's name.
fn host_name(node_id: u32) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("node-{node_id}"))
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The Linux endpoint's side of the datapath loop (`volnic_core::datapath`):
/// frames go to the sink (the TAP device), the link state and why it is
/// down to what `volnic status` and the log read.
struct EndpointHost<'a> {
    state: &'a EndpointState,
    sink: &'a mut Sink,
    last_publish: u64,
}

impl Host for EndpointHost<'_> {
    fn now_us(&self) -> u64 {
        now_us()
    }

    fn stop_requested(&self) -> bool {
        self.state.stop.load(Ordering::Relaxed)
    }

    fn pack(&mut self, link: &mut Link, now_us: u64) -> bool {
        match self.state.queue.lock() {
            Ok(mut q) => {
                link.pack(&mut q, now_us);
                !q.is_empty()
            }
            Err(_) => false,
        }
    }

    fn deliver(&mut self, frame: &[u8]) {
        (self.sink)(frame);
    }

    fn link_changed(&mut self, up: bool) {
        self.state.link_up.store(up, Ordering::Relaxed);
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            // Counted by the engine; shown as the down reason while it lasts.
            Event::WriteFailed(_) => {}
            Event::DownReasonChanged(reason) => {
                if let Ok(mut p) = self.state.problem.lock() {
                    *p = reason.map(|r| r.to_string());
                }
            }
            Event::TimeoutMismatchChanged(mismatch) => {
                if let Ok(mut m) = self.state.timeout_mismatch.lock() {
                    *m = mismatch;
                }
            }
            Event::Stopped(e) | Event::ShutdownFailed(e) => record_error(self.state, e.to_string()),
        }
    }

    fn polled(&mut self, link: &Link, _report: &PollReport) {
        let now = now_us();
        if now.saturating_sub(self.last_publish) >= 100_000 {
            self.last_publish = now;
            publish(link, self.state);
        }
    }

    fn wait(&mut self, wait_us: u64, report: &PollReport) {
        let Ok(q) = self.state.queue.lock() else {
            return;
        };
        // The condition variable does not remember a wake-up: frames
        // already queued are packed at once, unless the peer's window is
        // closed; then wait like an idle poll.
        if (q.is_empty() || report.flow_blocked) && !self.state.stop.load(Ordering::Relaxed) {
            let _ = self
                .state
                .wake
                .wait_timeout(q, Duration::from_micros(wait_us));
        }
    }
}

/// The endpoint's datapath thread: the engine's loop until stopped (then
/// the queue is drained and the shutting-down record written) or until the
/// link stops by itself (its send volume lost), which ends the endpoint.
fn datapath(
    link: &mut Link,
    send: &mut BoxedVolume,
    recv: &mut BoxedVolume,
    state: &EndpointState,
    poll_us: u64,
    sink: &mut Sink,
) {
    let mut host = EndpointHost {
        state,
        sink,
        last_publish: 0,
    };
    // Errors are recorded through the host's events.
    let _ = volnic_core::datapath::run(&mut host, link, send, recv, poll_us);
    publish(link, state);
}

/// Publishes what `volnic status` reads of the link: its counters and the
/// datapath thread's CPU time.
fn publish(link: &Link, state: &EndpointState) {
    state.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    if let Ok(mut c) = state.counters.lock() {
        *c = *link.counters();
    }
}

fn record_error(state: &EndpointState, message: String) {
    if let Ok(mut e) = state.error.lock() {
        *e = Some(message);
    }
}

/// Opens each node's (send, receive) volumes for the pair in `cfg.dir`:
/// with `cfg.mirror`, node 1 writes `a.vol`, which a synchronous mirror
/// copies to `a.mirror.vol`, node 2's receive volume (and the other way);
/// without, `a.vol` is itself node 2's receive volume, as with a state LUN.
pub fn open_pair(cfg: &EndpointConfig) -> Result<[(BoxedVolume, BoxedVolume); 2], String> {
    let (a, b) = format_pair(cfg)?;
    let open = |path: &Path, mode| FileVolume::open(path, mode).map_err(|e| e.to_string());
    if !cfg.mirror {
        return Ok([
            (
                Box::new(open(&a, OpenMode::ReadWrite)?),
                Box::new(open(&b, OpenMode::ReadOnly)?),
            ),
            (
                Box::new(open(&b, OpenMode::ReadWrite)?),
                Box::new(open(&a, OpenMode::ReadOnly)?),
            ),
        ]);
    }
    let (a_copy, b_copy) = (cfg.dir.join("a.mirror.vol"), cfg.dir.join("b.mirror.vol"));
    for (from, to) in [(&a, &a_copy), (&b, &b_copy)] {
        // The initial synchronisation an array does when a mirror is set up.
        std::fs::copy(from, to).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let mirrored = |primary: &Path, secondary: &Path| -> Result<BoxedVolume, String> {
        let m = SyncMirror::new(
            open(primary, OpenMode::ReadWrite)?,
            open(secondary, OpenMode::ReadWrite)?,
        )
        .map_err(|e| e.to_string())?;
        Ok(Box::new(m))
    };
    Ok([
        (
            mirrored(&a, &a_copy)?,
            Box::new(open(&b_copy, OpenMode::ReadOnly)?),
        ),
        (
            mirrored(&b, &b_copy)?,
            Box::new(open(&a_copy, OpenMode::ReadOnly)?),
        ),
    ])
}

/// Formats a link's two volumes in `dir`: node 1 writes `a.vol`, node 2
/// writes `b.vol`.
pub fn format_pair(cfg: &EndpointConfig) -> Result<(PathBuf, PathBuf), String> {
    let a = cfg.dir.join("a.vol");
    let b = cfg.dir.join("b.vol");
    for (path, writer, reader) in [(&a, 1, 2), (&b, 2, 1)] {
        format(&FormatArgs {
            path: path.clone(),
            block_size: cfg.block_size,
            blocks: cfg.ring_blocks,
            writer_node: writer,
            reader_node: reader,
            force: true,
            authenticated: false,
            members: None,
            member: None,
            segment_id: None,
        })?;
    }
    Ok((a, b))
}

/// A frame for measurements: Ethernet header (locally administered
/// addresses, EtherType 0x88B5, the IEEE local experimental type), a
/// sequence number and the send time in µs, padded to `len`.
pub fn probe_frame(seq: u64, len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len.max(30)];
    frame[..6].copy_from_slice(&[0x02, 0x76, 0x6e, 0, 0, 2]);
    frame[6..12].copy_from_slice(&[0x02, 0x76, 0x6e, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
    stamp_probe(&mut frame, seq);
    frame
}

/// Rewrites the sequence number and send time of a probe frame in place
/// (so a sender can reuse one buffer).
pub fn stamp_probe(frame: &mut [u8], seq: u64) {
    frame[14..22].copy_from_slice(&seq.to_le_bytes());
    frame[22..30].copy_from_slice(&now_us().to_le_bytes());
}

/// Sequence number and send time of a probe frame.
pub fn probe_fields(frame: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(frame.get(14..22)?.try_into().ok()?);
    let sent = u64::from_le_bytes(frame.get(22..30)?.try_into().ok()?);
    Some((seq, sent))
}

/// Opens `path` for the floor measurements.
pub fn open_floor_volume(path: &Path, bytes: u64) -> Result<FileVolume, String> {
    let mut vol = FileVolume::create(path, bytes, true).map_err(|e| e.to_string())?;
    if vol.len_bytes() < bytes {
        vol.grow(bytes).map_err(|e| e.to_string())?;
    }
    Ok(vol)
}
