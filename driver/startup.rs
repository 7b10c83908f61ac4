//! Bringing the link up on the datapath thread: opening the volumes and the
//! link (the key file, the claim of the send volume, the geometry and MTU
//! checks), telling MiniportInitializeEx the first outcome, and, when the
//! storage is not there yet, retrying with back-off until it is or the
//! adapter halts. Everything here runs on the datapath thread at
//! PASSIVE_LEVEL except [`start`], which MiniportInitializeEx calls.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};

use volnic_core::auth::AuthKey;
use volnic_core::volume::{STORAGE_RETRY_FIRST_US, STORAGE_RETRY_MAX_US};
use volnic_core::{Link, LinkConfig, LinkError, VolumeErrorKind};

use crate::config::AdapterConfig;
use crate::datapath::{self, AdapterState, KernelPtr, OpenLink};
use crate::eventlog::report_event;
use crate::ndis_api::Platform;
use crate::os::SpinLock;

/// What the datapath thread tells MiniportInitializeEx.
struct Startup<P: Platform> {
    report: SpinLock<P, StartupReport>,
    done: P::Event,
    /// Set once initialization has succeeded: the thread may indicate.
    ready: AtomicBool,
}

#[derive(Default)]
struct StartupReport {
    /// The first open's outcome: link up or down, or why initialize fails.
    result: Option<Result<bool, String>>,
    /// Initialize stopped waiting for the first open (the storage did not
    /// answer within [`INIT_WAIT_US`]): the adapter started disconnected,
    /// and whatever the open finds is the thread's to log and retry.
    detached: bool,
}

/// Longest key file read (the secret is its content, trailing white space
/// ignored, at least 16 bytes).
const MAX_KEY_FILE: usize = 4096;

/// Why the link could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OpenFailure {
    /// A fault of the configuration or of what the volume holds that no
    /// waiting cures (a key file, a volume of another node or format, a
    /// block size or MTU that does not fit): initialize fails with it.
    Config(String),
    /// The storage is not there yet, or not usable yet: a volume missing,
    /// unreadable, read-only or failing I/O (an iSCSI LUN not logged in, an
    /// offline disk). The adapter starts disconnected and the datapath
    /// thread retries until it opens.
    Storage(String),
}

impl OpenFailure {
    fn reason(&self) -> &str {
        match self {
            OpenFailure::Config(r) | OpenFailure::Storage(r) => r,
        }
    }
}

/// A volume that failed to open: waited for if the failure may heal (the
/// engine's rule, `VolumeErrorKind::may_heal`, which the Linux endpoint
/// applies too), else a fault of the configuration.
fn volume_failure(kind: VolumeErrorKind, reason: String) -> OpenFailure {
    if kind.may_heal() {
        OpenFailure::Storage(reason)
    } else {
        OpenFailure::Config(reason)
    }
}

/// Reads the shared secret of authenticated mode from `AuthKeyFile`.
fn read_auth_key<P: Platform>(path: &str) -> Result<AuthKey, String> {
    let bytes = P::read_small_file(path, MAX_KEY_FILE).map_err(|e| {
        format!("AuthKeyFile '{path}': {e}: give the path of the key file both nodes share")
    })?;
    AuthKey::from_key_file(&bytes).map_err(|e| format!("AuthKeyFile '{path}': {e}"))
}

fn open_link<P: Platform>(config: &AdapterConfig) -> Result<OpenLink<P>, OpenFailure> {
    let auth_key = match &config.auth_key_file {
        Some(path) => Some(read_auth_key::<P>(path).map_err(OpenFailure::Config)?),
        None => None,
    };
    let mut send = P::open_volume(&config.send_volume, true)
        .map_err(|e| volume_failure(e.kind, format!("SendVolume '{}': {e}", config.send_volume)))?;
    let mut recv = P::open_volume(&config.receive_volume, false).map_err(|e| {
        volume_failure(
            e.kind,
            format!("ReceiveVolume '{}': {e}", config.receive_volume),
        )
    })?;
    let mut link_cfg = LinkConfig::new(config.node_id);
    link_cfg.flush_delay_us = config.flush_delay_us;
    link_cfg.set_peer_timeout_us(config.peer_timeout_us);
    // Names this node in its state record, so that a claim refused by
    // another writer, or a peer's log, says which node holds the volume.
    link_cfg.set_host_name(&format!("windows-node{}", config.node_id));
    link_cfg.auth_key = auth_key;
    let link = Link::open(
        link_cfg,
        &mut send,
        &mut recv,
        P::monotonic_us(),
        P::wall_clock_us(),
    )
    .map_err(|e| match &e {
        LinkError::SendIo(v) | LinkError::ReceiveIo(v) => volume_failure(v.kind, format!("{e}")),
        _ => OpenFailure::Config(format!("{e}")),
    })?;
    let formatted = link.geometry().block_size;
    if formatted != config.block_size {
        return Err(OpenFailure::Config(format!(
            "BlockSize is {} but the send volume was formatted with {formatted}-byte blocks: set BlockSize to {formatted}",
            config.block_size
        )));
    }
    volnic_core::settings::check_mtu(config.mtu, link.max_frame_len(), formatted)
        .map_err(|e| OpenFailure::Config(format!("{e}")))?;
    Ok(OpenLink { link, send, recv })
}

/// Logs why the adapter is disconnected and retrying (trace and event log)
/// when the reason is new; `last` holds the reason logged last.
fn log_waiting<P: Platform>(driver_object: *mut c_void, failure: &OpenFailure, last: &mut String) {
    let reason = failure.reason();
    if last == reason {
        return;
    }
    let line = match failure {
        OpenFailure::Storage(_) => {
            format!("adapter disconnected, waiting for its storage: {reason}")
        }
        // Found after initialize stopped waiting (slow storage): the same
        // fault that fails initialize, retried in case it is mended.
        OpenFailure::Config(_) => format!("adapter disconnected: {reason}"),
    };
    report_event::<P>(driver_object, &line);
    last.clear();
    last.push_str(reason);
}

/// Retries opening the volumes until they open or the adapter halts,
/// backing off between tries; every new reason is logged once. `None`
/// when halted first.
fn wait_for_storage<P: Platform>(
    state: &AdapterState<P>,
    config: &AdapterConfig,
    driver_object: *mut c_void,
    mut last: String,
) -> Option<OpenLink<P>> {
    let mut wait_us = STORAGE_RETRY_FIRST_US;
    loop {
        P::event_wait(&state.wake, wait_us);
        if state.stop.load(Ordering::Acquire) {
            return None;
        }
        match open_link::<P>(config) {
            Ok(engine) => {
                report_event::<P>(
                    driver_object,
                    "storage is there: volumes open, link starting",
                );
                return Some(engine);
            }
            Err(failure) => log_waiting::<P>(driver_object, &failure, &mut last),
        }
        wait_us = (wait_us * 2).min(STORAGE_RETRY_MAX_US);
    }
}

/// The datapath thread: opens the link, reports, waits for the go-ahead,
/// then runs the data path until halt. If the storage is not there yet, it
/// reports the link down and keeps trying to open it (`wait_for_storage`).
fn thread_main<P: Platform>(
    state: Arc<AdapterState<P>>,
    startup: Arc<Startup<P>>,
    config: AdapterConfig,
    driver_object: KernelPtr<c_void>,
) {
    let mut opened = open_link::<P>(&config);
    if let Ok(e) = opened.as_mut() {
        // One poll, so the connect state NDIS first reports is the peer's.
        // Frames already waiting are discarded: the adapter is not running.
        let now = P::monotonic_us();
        // An error here is reported, and retried, by the running datapath.
        let _ = e.link.poll(now, &mut e.send, &mut e.recv, &mut |_| {});
    }
    let detached = {
        let mut report = startup.report.lock();
        if !report.detached {
            report.result = Some(match &opened {
                Ok(e) => Ok(e.link.link_up()),
                Err(OpenFailure::Storage(_)) => Ok(false),
                Err(OpenFailure::Config(reason)) => Err(reason.clone()),
            });
        }
        report.detached
    };
    if matches!(opened, Err(OpenFailure::Config(_))) && !detached {
        // Initialize fails with this reason and logs it.
        P::event_set(&startup.done);
        P::event_set(&state.stopped);
        return;
    }
    // Logged before initialize returns, so the reason is in the event log
    // as soon as the adapter exists.
    let mut last = String::new();
    if let Err(failure) = &opened {
        log_waiting::<P>(driver_object.0, failure, &mut last);
    }
    P::event_set(&startup.done);
    // Wait until MiniportInitializeEx has succeeded (or given up).
    while !startup.ready.load(Ordering::Acquire) && !state.stop.load(Ordering::Acquire) {
        P::event_wait(&state.wake, 100_000);
    }
    let engine = match opened {
        Ok(engine) => Some(engine),
        Err(_) => wait_for_storage(&state, &config, driver_object.0, last),
    };
    match engine {
        Some(engine) if !state.stop.load(Ordering::Acquire) => datapath::run(state, engine),
        _ => P::event_set(&state.stopped),
    }
}

/// Longest time MiniportInitializeEx waits for the first open of the
/// volumes. Storage that has not answered by then is treated as not there
/// yet: the adapter starts disconnected and the thread carries on.
const INIT_WAIT_US: u64 = 5_000_000;
/// One wait of the loop that watches for the first open's outcome.
const INIT_POLL_US: u64 = 100_000;

/// A started datapath thread, held back until initialize lets it go.
pub struct Started<P: Platform> {
    pub thread: P::Thread,
    /// The connect state to report first.
    pub link_up: bool,
    pub gate: Gate<P>,
}

/// What holds the started thread back from indicating.
pub struct Gate<P: Platform>(Arc<Startup<P>>);

impl<P: Platform> Gate<P> {
    /// Initialization has succeeded: the thread may indicate.
    pub fn open(self, state: &AdapterState<P>) {
        self.0.ready.store(true, Ordering::Release);
        P::event_set(&state.wake);
    }
}

/// Starts the datapath thread and waits (at most [`INIT_WAIT_US`]) for its
/// first open of the link: the link's state, or why initialize fails (the
/// thread has ended then). Storage that does not answer in time starts the
/// adapter disconnected.
pub fn start<P: Platform>(
    state: &Arc<AdapterState<P>>,
    config: AdapterConfig,
    driver_object: *mut c_void,
) -> Result<Started<P>, String> {
    let done = P::event_new().map_err(|e| format!("cannot create an event ({:#x})", e.code))?;
    let startup = Arc::new(Startup::<P> {
        report: SpinLock::new(StartupReport::default()),
        done,
        ready: AtomicBool::new(false),
    });
    let body = {
        let state = state.clone();
        let startup = startup.clone();
        let driver_object = KernelPtr(driver_object);
        Box::new(move || thread_main(state, startup, config, driver_object))
    };
    let thread = P::thread_start(body)
        .map_err(|e| format!("cannot start the datapath thread ({:#x})", e.code))?;
    let began = P::monotonic_us();
    let first = loop {
        {
            let mut report = startup.report.lock();
            if let Some(result) = report.result.take() {
                break result;
            }
            if P::monotonic_us().saturating_sub(began) >= INIT_WAIT_US {
                // The storage has not answered: start disconnected and let
                // the thread log and retry whatever it finds.
                report.detached = true;
                break Ok(false);
            }
        }
        P::event_wait(&startup.done, INIT_POLL_US);
    };
    match first {
        Ok(link_up) => Ok(Started {
            thread,
            link_up,
            gate: Gate(startup),
        }),
        Err(reason) => {
            P::thread_join(thread);
            Err(reason)
        }
    }
}
