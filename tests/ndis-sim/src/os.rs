//! The kernel services of the host: std files, threads, condvar events,
//! `Instant` and a spinning lock.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volnic::os::{Os, OsError};
use volnic_core::{Volume, VolumeError, VolumeErrorKind};
use volnic_tools::filevol::{FileVolume, OpenMode, OpenProblem};
use volnic_tools::mirror::SyncMirror;

use crate::Sim;

/// Send volumes whose writes a synchronous mirror carries to another file
/// (primary path → secondary path), as array mirroring would.
fn mirrors() -> &'static Mutex<HashMap<String, String>> {
    static MIRRORS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    MIRRORS.get_or_init(Default::default)
}

/// Makes every open of `primary` a synchronous mirror onto `secondary`.
pub fn register_mirror(primary: &str, secondary: &str) {
    mirrors()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(primary.to_owned(), secondary.to_owned());
}

/// Lines the driver traced (all adapters, all tests of this process).
pub fn trace_log() -> &'static Mutex<Vec<String>> {
    static TRACE: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    TRACE.get_or_init(Default::default)
}

/// Volume paths whose writes block until released: storage that stops
/// answering (a path lost under a LUN, a hung array), as a synchronous,
/// uncancellable write meets it.
fn stalls() -> &'static (Mutex<HashSet<String>>, Condvar) {
    static STALLS: OnceLock<(Mutex<HashSet<String>>, Condvar)> = OnceLock::new();
    STALLS.get_or_init(Default::default)
}

/// From now on every write to the volume at `path` blocks until
/// [`release_writes`].
pub fn stall_writes(path: &str) {
    stalls()
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_owned());
}

/// Lets the writes to `path` that [`stall_writes`] held go on.
pub fn release_writes(path: &str) {
    let (set, cond) = stalls();
    set.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
    cond.notify_all();
}

fn wait_while_stalled(path: &str) {
    let (set, cond) = stalls();
    let mut stalled = set.lock().unwrap_or_else(|e| e.into_inner());
    while stalled.contains(path) {
        stalled = cond.wait(stalled).unwrap_or_else(|e| e.into_inner());
    }
}

/// Volume paths on storage with 4096-byte logical sectors (4K-native):
/// every read or write not aligned to 4096 bytes fails as misaligned, as
/// unbuffered I/O does there, while the volume reports 512 as its sector
/// size (the Windows layer cannot ask the storage).
fn four_k_native() -> &'static Mutex<HashSet<String>> {
    static PATHS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    PATHS.get_or_init(Default::default)
}

/// Puts the volume at `path` on 4096-byte-sector storage (see above).
pub fn make_four_k_native(path: &str) {
    four_k_native()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_owned());
}

const FOUR_K: u64 = 4096;

/// A volume as the driver opened it.
pub struct SimFile {
    path: String,
    volume: SimVolume,
    /// On 4096-byte-sector storage: unaligned I/O fails.
    four_k: bool,
}

impl SimFile {
    fn check_alignment(&self, offset: u64, len: usize) -> Result<(), VolumeError> {
        if self.four_k && !(offset.is_multiple_of(FOUR_K) && (len as u64).is_multiple_of(FOUR_K)) {
            return Err(VolumeError::new(VolumeErrorKind::Misaligned, 0));
        }
        Ok(())
    }
}

enum SimVolume {
    Plain(FileVolume),
    Mirrored(SyncMirror<FileVolume, FileVolume>),
}

impl Volume for SimFile {
    fn len_bytes(&self) -> u64 {
        match &self.volume {
            SimVolume::Plain(v) => v.len_bytes(),
            SimVolume::Mirrored(v) => v.len_bytes(),
        }
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        self.check_alignment(offset, buf.len())?;
        match &mut self.volume {
            SimVolume::Plain(v) => v.read_at(offset, buf),
            SimVolume::Mirrored(v) => v.read_at(offset, buf),
        }
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VolumeError> {
        self.check_alignment(offset, data.len())?;
        wait_while_stalled(&self.path);
        match &mut self.volume {
            SimVolume::Plain(v) => v.write_at(offset, data),
            SimVolume::Mirrored(v) => v.write_at(offset, data),
        }
    }
}

fn open_file(path: &str, mode: OpenMode) -> Result<FileVolume, VolumeError> {
    FileVolume::open(path, mode).map_err(|e| {
        let kind = match e.problem() {
            OpenProblem::NotFound | OpenProblem::ParentMissing => VolumeErrorKind::NotFound,
            OpenProblem::PermissionDenied { .. } => VolumeErrorKind::PermissionDenied,
            OpenProblem::ReadOnly => VolumeErrorKind::ReadOnly,
            _ => VolumeErrorKind::Io,
        };
        VolumeError::new(kind, 0)
    })
}

/// An auto-reset event.
#[derive(Clone, Default)]
pub struct SimEvent(Arc<(Mutex<bool>, Condvar)>);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl Os for Sim {
    type File = SimFile;
    type Event = SimEvent;
    type Thread = JoinHandle<()>;
    type RawSpinLock = AtomicBool;

    fn open_volume(path: &str, write: bool) -> Result<SimFile, VolumeError> {
        let mode = if write {
            OpenMode::ReadWrite
        } else {
            OpenMode::ReadOnly
        };
        let secondary = mirrors()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned();
        let primary = open_file(path, mode)?;
        let volume = match secondary {
            None => SimVolume::Plain(primary),
            Some(secondary) => {
                // The mirror writes its target whatever the opener asked.
                let secondary = open_file(&secondary, OpenMode::ReadWrite)?;
                SyncMirror::new(primary, secondary)
                    .map(SimVolume::Mirrored)
                    .map_err(|_| VolumeError::new(VolumeErrorKind::Io, 0))?
            }
        };
        let four_k = four_k_native()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(path);
        Ok(SimFile {
            path: path.to_owned(),
            volume,
            four_k,
        })
    }

    fn read_small_file(path: &str, max_len: usize) -> Result<Vec<u8>, VolumeError> {
        let bytes = std::fs::read(path).map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound => VolumeErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied => VolumeErrorKind::PermissionDenied,
                _ => VolumeErrorKind::Io,
            };
            VolumeError::new(kind, e.raw_os_error().map_or(0, i64::from))
        })?;
        if bytes.len() > max_len {
            return Err(VolumeError::new(VolumeErrorKind::OutOfRange, 0));
        }
        Ok(bytes)
    }

    fn flush_volume(_file: &mut SimFile) -> Result<(), VolumeError> {
        // FileVolume writes through (O_DIRECT or O_DSYNC) already.
        Ok(())
    }

    fn event_new() -> Result<SimEvent, OsError> {
        Ok(SimEvent::default())
    }

    fn event_set(event: &SimEvent) {
        let (flag, cond) = &*event.0;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cond.notify_one();
    }

    fn event_wait(event: &SimEvent, timeout_us: u64) -> bool {
        let (flag, cond) = &*event.0;
        let deadline = Instant::now() + Duration::from_micros(timeout_us);
        let mut set = flag.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *set {
                *set = false;
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            set = cond
                .wait_timeout(set, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn thread_start(body: Box<dyn FnOnce() + Send + 'static>) -> Result<JoinHandle<()>, OsError> {
        std::thread::Builder::new()
            .name("volnic-datapath".into())
            .spawn(body)
            .map_err(|e| OsError {
                code: e.raw_os_error().unwrap_or(-1).into(),
            })
    }

    fn thread_join(thread: JoinHandle<()>) {
        if thread.join().is_err() {
            crate::ndis::record_global_breach("the datapath thread panicked");
        }
    }

    fn thread_wait(thread: &JoinHandle<()>, timeout_us: u64) -> bool {
        let deadline = Instant::now() + Duration::from_micros(timeout_us);
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn monotonic_us() -> u64 {
        start().elapsed().as_micros() as u64
    }

    fn wall_clock_us() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }

    fn spin_new() -> AtomicBool {
        AtomicBool::new(false)
    }

    fn spin_acquire(lock: &AtomicBool) -> u8 {
        let mut spins = 0u32;
        while lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        0
    }

    fn spin_release(lock: &AtomicBool, _previous: u8) {
        lock.store(false, Ordering::Release);
    }

    fn trace(line: &str) {
        eprintln!("{line}");
        trace_log()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.to_owned());
    }
}
