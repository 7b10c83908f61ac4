//! Drives the driver as NDIS does: DriverEntry, MiniportInitializeEx with a
//! registry made from test values, Restart, sends of NBL chains, OID
//! requests, Pause, Halt, Unload — checking the contract at every step.

use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use volnic::ndis::*;

use crate::ndis::{
    global_breaches, live_mdls, lock, AdapterInner, AdapterState, GeneralInfo, RegValue,
    SimAdapter, SimDriver,
};
use crate::Sim;

/// One driver image is loaded at a time per process, as on a real system:
/// tests that load the driver take turns.
static LOADED: Mutex<()> = Mutex::new(());

/// How one NET_BUFFER's frame is laid out over MDLs.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Bytes of each MDL that carry frame data, in order (the last one may
    /// be longer than the data left; the rest is filler).
    pub split: Vec<usize>,
    /// Filler bytes before the data in the first data MDL (CurrentMdlOffset).
    pub lead: usize,
    /// A whole filler MDL of this many bytes before the data (counts in
    /// DataOffset, CurrentMdl skips it); 0 for none.
    pub skipped_mdl: usize,
    /// Filler bytes after the data in the last MDL.
    pub tail: usize,
}

impl Layout {
    /// The whole frame in one MDL.
    pub fn flat() -> Self {
        Self {
            split: Vec::new(),
            lead: 0,
            skipped_mdl: 0,
            tail: 0,
        }
    }

    /// A chain like a TCP/IP stack builds: header MDLs then payload, with a
    /// consumed header MDL in front and offsets into the first data MDL.
    pub fn chained(split: &[usize]) -> Self {
        Self {
            split: split.to_vec(),
            lead: 6,
            skipped_mdl: 20,
            tail: 3,
        }
    }
}

/// One frame to send with its MDL layout.
#[derive(Clone, Debug)]
pub struct SendFrame {
    pub bytes: Vec<u8>,
    pub layout: Layout,
}

/// Memory of an NBL chain the sim sent: kept alive until completion.
struct SentChain {
    nbls: Vec<Box<NET_BUFFER_LIST>>,
    nbs: Vec<Box<NET_BUFFER>>,
    mdls: Vec<Box<MDL>>,
    buffers: Vec<Vec<u8>>,
}

/// The result of an OID request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidReply {
    pub status: NDIS_STATUS,
    pub bytes_done: u32,
    pub bytes_needed: u32,
    pub data: Vec<u8>,
}

/// Index of an adapter in the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterId(pub usize);

/// The simulated system: one driver, its adapters.
pub struct SimHost {
    driver: Box<SimDriver>,
    adapters: Vec<Box<SimAdapter>>,
    returners: Vec<Option<std::thread::JoinHandle<()>>>,
    unloaded: bool,
    _loaded: MutexGuard<'static, ()>,
}

fn ok(status: NDIS_STATUS) -> bool {
    status == NDIS_STATUS_SUCCESS
}

impl SimHost {
    /// Loads the driver: calls DriverEntry.
    pub fn load() -> SimHost {
        Self::load_with(|driver_object, registry_path| {
            // SAFETY: the driver object is a live SimDriver, as NdisApi for
            // Sim expects; the driver needs no registry path.
            unsafe { volnic::entry::driver_entry::<Sim>(driver_object, registry_path) }
        })
    }

    /// Loads another miniport (the simulation's own tests use misbehaving
    /// ones to prove each contract check fires).
    pub fn load_with(entry: fn(*mut c_void, *mut c_void) -> NDIS_STATUS) -> SimHost {
        let guard = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        lock(global_breaches()).clear();
        let mut host = SimHost {
            driver: Box::new(SimDriver::new()),
            adapters: Vec::new(),
            returners: Vec::new(),
            unloaded: false,
            _loaded: guard,
        };
        let driver_object = host.driver_object();
        let status = entry(driver_object, ptr::null_mut());
        assert!(ok(status), "DriverEntry failed: {status:#x}");
        assert!(
            lock(&host.driver.chars).is_some(),
            "DriverEntry registered no miniport"
        );
        host
    }

    fn driver_object(&mut self) -> *mut c_void {
        (&mut *self.driver as *mut SimDriver).cast()
    }

    fn chars(&self) -> NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        let chars = lock(&self.driver.chars);
        let c = chars.as_ref().expect("driver registered");
        // SAFETY: plain data (integers and function pointers).
        unsafe { ptr::read(c) }
    }

    pub fn adapter(&self, id: AdapterId) -> &SimAdapter {
        &self.adapters[id.0]
    }

    /// The MiniportAdapterHandle NDIS gave the adapter.
    pub fn handle(&self, id: AdapterId) -> NDIS_HANDLE {
        (&*self.adapters[id.0] as *const SimAdapter)
            .cast_mut()
            .cast()
    }

    fn context(&self, id: AdapterId) -> NDIS_HANDLE {
        lock(&self.adapter(id).inner).context as NDIS_HANDLE
    }

    fn require(&self, id: AdapterId, want: AdapterState, what: &str) {
        let state = self.adapter(id).state();
        if state != want {
            self.driver.breach(format!(
                "test error: {what} needs {want:?}, adapter is {state:?}"
            ));
            panic!("{what} needs the adapter {want:?}, it is {state:?}");
        }
    }

    /// MiniportInitializeEx with `registry`. Err carries the reason the
    /// driver logged.
    pub fn initialize(
        &mut self,
        name: &str,
        registry: &[(&str, RegValue)],
    ) -> Result<AdapterId, String> {
        let adapter = Box::new(SimAdapter {
            name: name.to_owned(),
            driver: &*self.driver,
            registry: registry
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<HashMap<_, _>>(),
            inner: Mutex::new(AdapterInner {
                state: Some(AdapterState::Initializing),
                ..AdapterInner::default()
            }),
            changed: Condvar::new(),
            returner: Mutex::new(None),
        });
        self.adapters.push(adapter);
        self.returners.push(None);
        let id = AdapterId(self.adapters.len() - 1);
        let logged_before = lock(&self.driver.event_log).len();
        let init = self
            .chars()
            .InitializeHandlerEx
            .expect("initialize handler");
        let driver_object = self.driver_object();
        // SAFETY: the handle is a live SimAdapter, the driver context is the
        // one given at registration (the driver object).
        let status = unsafe { init(self.handle(id), driver_object, ptr::null_mut()) };
        if !ok(status) {
            self.adapter(id).set_state(AdapterState::FailedInit);
            let log = lock(&self.driver.event_log);
            return Err(match log.get(logged_before..).and_then(|l| l.last()) {
                Some(reason) => reason.clone(),
                None => {
                    drop(log);
                    self.driver
                        .breach("initialization failed without a logged reason".into());
                    String::new()
                }
            });
        }
        {
            let inner = lock(&self.adapter(id).inner);
            if !inner.registration_set || inner.general.is_none() {
                drop(inner);
                self.driver.breach(
                    "initialize succeeded without registration and general attributes".into(),
                );
            }
        }
        self.adapter(id).set_state(AdapterState::Paused);
        self.start_returner(id);
        Ok(id)
    }

    /// The "protocol" above the adapter: returns indicated NBLs promptly,
    /// from its own thread, as a real stack does.
    fn start_returner(&mut self, id: AdapterId) {
        let (tx, rx) = mpsc::channel::<usize>();
        *lock(&self.adapter(id).returner) = Some(tx);
        let handler = self
            .chars()
            .ReturnNetBufferListsHandler
            .expect("return handler");
        let adapter_addr = &*self.adapters[id.0] as *const SimAdapter as usize;
        let join = std::thread::spawn(move || {
            // SAFETY: the host joins this thread before dropping the adapter.
            let adapter = unsafe { &*(adapter_addr as *const SimAdapter) };
            while let Ok(chain) = rx.recv() {
                let context = {
                    let mut inner = lock(&adapter.inner);
                    let mut nbl = chain as *mut NET_BUFFER_LIST;
                    while !nbl.is_null() {
                        inner.held.remove(&(nbl as usize));
                        // SAFETY: the chain was indicated by the driver and
                        // is unchanged while the protocol holds it.
                        nbl = unsafe { (*nbl).Next };
                    }
                    inner.context as NDIS_HANDLE
                };
                // SAFETY: returning NBLs the adapter indicated, with its context.
                unsafe { handler(context, chain as *mut NET_BUFFER_LIST, 0) };
            }
        });
        self.returners[id.0] = Some(join);
    }

    /// MiniportRestart (Paused → Running).
    pub fn restart(&mut self, id: AdapterId) {
        self.require(id, AdapterState::Paused, "restart");
        self.adapter(id).set_state(AdapterState::Restarting);
        let restart = self.chars().RestartHandler.expect("restart handler");
        // SAFETY: a live adapter context.
        let status = unsafe { restart(self.context(id), ptr::null_mut()) };
        assert!(ok(status), "restart failed: {status:#x}");
        self.adapter(id).set_state(AdapterState::Running);
    }

    /// MiniportPause (Running → Paused), waiting for NdisMPauseComplete if
    /// the driver pends.
    pub fn pause(&mut self, id: AdapterId) {
        self.require(id, AdapterState::Running, "pause");
        self.adapter(id).set_state(AdapterState::Pausing);
        let pause = self.chars().PauseHandler.expect("pause handler");
        // SAFETY: a live adapter context.
        let status = unsafe { pause(self.context(id), ptr::null_mut()) };
        let a = self.adapter(id);
        if ok(status) {
            let held = lock(&a.inner).held.len();
            if held > 0 {
                a.breach(format!(
                    "pause completed synchronously while the protocol holds {held} NBLs"
                ));
            }
            a.set_state(AdapterState::Paused);
        } else if status == NDIS_STATUS_PENDING {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut inner = lock(&a.inner);
            while inner.state != Some(AdapterState::Paused) {
                let now = Instant::now();
                if now >= deadline {
                    drop(inner);
                    a.breach("pause pended and never completed".into());
                    panic!("pause never completed");
                }
                inner = a
                    .changed
                    .wait_timeout(inner, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        } else {
            a.breach(format!("pause failed with {status:#x}"));
        }
    }

    /// MiniportHaltEx (Paused → Halted).
    pub fn halt(&mut self, id: AdapterId) {
        self.require(id, AdapterState::Paused, "halt");
        {
            let a = self.adapter(id);
            let inner = lock(&a.inner);
            let (pending, held) = (inner.pending_sends.len(), inner.held.len());
            drop(inner);
            if pending > 0 {
                a.breach(format!("{pending} sent NBLs not completed before halt"));
            }
            if held > 0 {
                a.breach(format!("{held} indicated NBLs not returned before halt"));
            }
        }
        self.adapter(id).set_state(AdapterState::Halting);
        let halt = self.chars().HaltHandlerEx.expect("halt handler");
        // SAFETY: a live adapter context; NDIS never uses it after halt.
        unsafe { halt(self.context(id), NdisHaltDeviceDisabled) };
        self.adapter(id).set_state(AdapterState::Halted);
        *lock(&self.adapter(id).returner) = None;
        if let Some(join) = self.returners[id.0].take() {
            let _ = join.join();
        }
    }

    /// MiniportShutdownEx (power off).
    pub fn shutdown(&mut self, id: AdapterId) {
        let shutdown = self.chars().ShutdownHandlerEx.expect("shutdown handler");
        // SAFETY: a live adapter context.
        unsafe { shutdown(self.context(id), NdisShutdownPowerOff) };
    }

    /// Sends frames as NBLs: `nbls[i]` is the NET_BUFFERs of NBL i. Returns
    /// each NBL's completion status.
    pub fn send(&mut self, id: AdapterId, nbls: &[Vec<SendFrame>]) -> Vec<NDIS_STATUS> {
        let state = self.adapter(id).state();
        if matches!(
            state,
            AdapterState::Halted | AdapterState::FailedInit | AdapterState::Initializing
        ) {
            panic!("test error: send to an adapter that is {state:?}");
        }
        let mut chain = SentChain {
            nbls: Vec::new(),
            nbs: Vec::new(),
            mdls: Vec::new(),
            buffers: Vec::new(),
        };
        for frames in nbls {
            // SAFETY: all-zero is a valid NET_BUFFER_LIST (null pointers).
            let mut nbl: Box<NET_BUFFER_LIST> = Box::new(unsafe { std::mem::zeroed() });
            let mut prev_nb: *mut NET_BUFFER = ptr::null_mut();
            for frame in frames {
                let nb = build_net_buffer(frame, &mut chain);
                if prev_nb.is_null() {
                    nbl.FirstNetBuffer = nb;
                } else {
                    // SAFETY: `prev_nb` is a box in `chain`.
                    unsafe { (*prev_nb).Next = nb };
                }
                prev_nb = nb;
            }
            nbl.Status = 0x7777_7777; // must be overwritten by the driver
            chain.nbls.push(nbl);
        }
        for i in 1..chain.nbls.len() {
            let next: *mut NET_BUFFER_LIST = &mut *chain.nbls[i];
            chain.nbls[i - 1].Next = next;
        }
        if chain.nbls.is_empty() {
            return Vec::new();
        }
        let ptrs: Vec<usize> = chain
            .nbls
            .iter_mut()
            .map(|n| &mut **n as *mut NET_BUFFER_LIST as usize)
            .collect();
        lock(&self.adapter(id).inner)
            .pending_sends
            .extend(ptrs.iter().copied());
        let send = self
            .chars()
            .SendNetBufferListsHandler
            .expect("send handler");
        // SAFETY: a live adapter context and a well-formed chain that stays
        // alive (in `chain`) until completed.
        unsafe { send(self.context(id), ptrs[0] as *mut NET_BUFFER_LIST, 0, 0) };
        let a = self.adapter(id);
        let mut inner = lock(&a.inner);
        let mut statuses = Vec::new();
        for p in &ptrs {
            match inner.completed.remove(p) {
                Some(status) => statuses.push(status),
                None => {
                    // This driver completes every send before returning.
                    drop(inner);
                    a.breach("a sent NBL was not completed by MiniportSendNetBufferLists".into());
                    panic!("send not completed");
                }
            }
        }
        drop(inner);
        for s in &statuses {
            if *s == 0x7777_7777 {
                a.breach("completed NBL's Status was never set".into());
            }
        }
        drop(chain);
        statuses
    }

    fn oid(&mut self, id: AdapterId, kind: u32, oid: u32, mut data: Vec<u8>) -> OidReply {
        let len = data.len();
        // SAFETY: all-zero is a valid request body.
        let mut request: NDIS_OID_REQUEST = unsafe { std::mem::zeroed() };
        request.Header = NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_OID_REQUEST,
            Revision: 1,
            Size: std::mem::size_of::<NDIS_OID_REQUEST>() as u16,
        };
        request.RequestType = kind;
        request.DATA.QUERY_INFORMATION = NDIS_OID_REQUEST_QUERY {
            Oid: oid,
            InformationBuffer: if len == 0 {
                ptr::null_mut()
            } else {
                data.as_mut_ptr().cast()
            },
            InformationBufferLength: len as u32,
            BytesWritten: 0xdead,
            BytesNeeded: 0xdead,
        };
        let handler = self.chars().OidRequestHandler.expect("oid handler");
        // SAFETY: a live adapter context; the request and its buffer live
        // across the (synchronous) call.
        let status = unsafe { handler(self.context(id), &mut request) };
        // SAFETY: the QUERY/SET arm is the one written.
        let q = unsafe { request.DATA.QUERY_INFORMATION };
        let a = self.adapter(id);
        if status == NDIS_STATUS_PENDING {
            a.breach(format!(
                "OID {oid:#x} pended (this driver answers synchronously)"
            ));
        } else if status == NDIS_STATUS_SUCCESS {
            if q.BytesWritten as usize > len {
                a.breach(format!(
                    "OID {oid:#x}: BytesWritten {} > buffer {len}",
                    q.BytesWritten
                ));
            }
        } else if (status == NDIS_STATUS_BUFFER_TOO_SHORT || status == NDIS_STATUS_INVALID_LENGTH)
            && q.BytesNeeded as usize <= len
        {
            {
                a.breach(format!(
                    "OID {oid:#x}: {status:#x} with BytesNeeded {} for a {len}-byte buffer",
                    q.BytesNeeded
                ));
            }
        }
        if status != NDIS_STATUS_SUCCESS
            && status != NDIS_STATUS_NOT_SUPPORTED
            && q.BytesWritten == 0xdead
        {
            a.breach(format!("OID {oid:#x}: BytesWritten left unset on failure"));
        }
        let written = if status == NDIS_STATUS_SUCCESS {
            (q.BytesWritten as usize).min(len)
        } else {
            0
        };
        OidReply {
            status,
            bytes_done: q.BytesWritten,
            bytes_needed: q.BytesNeeded,
            data: data[..written].to_vec(),
        }
    }

    /// A query OID request with a `len`-byte information buffer.
    pub fn query(&mut self, id: AdapterId, oid: u32, len: usize) -> OidReply {
        self.oid(id, NdisRequestQueryInformation, oid, vec![0; len])
    }

    /// A set OID request carrying `data`.
    pub fn set(&mut self, id: AdapterId, oid: u32, data: &[u8]) -> OidReply {
        self.oid(id, NdisRequestSetInformation, oid, data.to_vec())
    }

    /// Frames indicated so far.
    pub fn received(&self, id: AdapterId) -> Vec<Vec<u8>> {
        lock(&self.adapter(id).inner).received.clone()
    }

    /// Waits until at least `n` frames were indicated; returns them.
    pub fn wait_received(&self, id: AdapterId, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let a = self.adapter(id);
        let deadline = Instant::now() + timeout;
        let mut inner = lock(&a.inner);
        while inner.received.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            inner = a
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        inner.received.clone()
    }

    /// Link states indicated so far (true: connected).
    pub fn link_states(&self, id: AdapterId) -> Vec<bool> {
        lock(&self.adapter(id).inner).link_states.clone()
    }

    /// Waits until the last indicated link state is `up`.
    pub fn wait_link(&self, id: AdapterId, up: bool, timeout: Duration) -> bool {
        let a = self.adapter(id);
        let deadline = Instant::now() + timeout;
        let mut inner = lock(&a.inner);
        loop {
            let current = inner
                .link_states
                .last()
                .copied()
                .or(inner.general.as_ref().map(|g| g.connected));
            if current == Some(up) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = a
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The general attributes the adapter reported.
    pub fn general(&self, id: AdapterId) -> GeneralInfo {
        lock(&self.adapter(id).inner)
            .general
            .clone()
            .unwrap_or_default()
    }

    /// Lines written to the event log.
    pub fn event_log(&self) -> Vec<String> {
        lock(&self.driver.event_log).clone()
    }

    /// Every contract breach so far.
    pub fn breaches(&self) -> Vec<String> {
        let mut all = lock(&self.driver.breaches).clone();
        all.extend(lock(global_breaches()).iter().cloned());
        all
    }

    /// Halts what is running, unloads the driver, checks for leaks, and
    /// panics if any contract was breached.
    pub fn finish(mut self) {
        self.unload();
        let breaches = self.breaches();
        assert!(breaches.is_empty(), "NDIS contract breaches: {breaches:#?}");
    }

    fn unload(&mut self) {
        if self.unloaded {
            return;
        }
        self.unloaded = true;
        for i in 0..self.adapters.len() {
            let id = AdapterId(i);
            if self.adapter(id).state() == AdapterState::Running {
                self.pause(id);
            }
            if self.adapter(id).state() == AdapterState::Paused {
                self.halt(id);
            }
        }
        let unload = self.chars().UnloadHandler.expect("unload handler");
        let driver_object = self.driver_object();
        // SAFETY: every adapter is halted; the driver object is live.
        unsafe { unload(driver_object) };
        if !*lock(&self.driver.deregistered) {
            self.driver
                .breach("Unload did not deregister the miniport driver".into());
        }
        let live = lock(&self.driver.live);
        let leaks = format!(
            "{} NBLs, {} pools, {} configuration handles",
            live.nbls.len(),
            live.pools.len(),
            live.configs
        );
        let leaked = !live.nbls.is_empty() || !live.pools.is_empty() || live.configs != 0;
        drop(live);
        if leaked {
            self.driver.breach(format!("leaked at unload: {leaks}"));
        }
        let mdls = lock(live_mdls()).len();
        if mdls != 0 {
            self.driver.breach(format!("leaked at unload: {mdls} MDLs"));
        }
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        // Stop driver threads before the sim objects they use go away, even
        // when a test failed half-way.
        self.unload();
    }
}

/// Builds one NET_BUFFER over MDLs per its layout; memory goes in `chain`.
fn build_net_buffer(frame: &SendFrame, chain: &mut SentChain) -> *mut NET_BUFFER {
    let layout = &frame.layout;
    let data = &frame.bytes;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut at = 0;
    let mut splits = layout.split.clone();
    if splits.is_empty() {
        splits.push(data.len());
    }
    for (i, &want) in splits.iter().enumerate() {
        let last = i + 1 == splits.len();
        let take = if last {
            data.len() - at
        } else {
            want.min(data.len() - at)
        };
        let mut piece = Vec::new();
        if i == 0 {
            piece.extend(std::iter::repeat_n(0xEEu8, layout.lead));
        }
        piece.extend_from_slice(&data[at..at + take]);
        if last {
            piece.extend(std::iter::repeat_n(0xEEu8, layout.tail));
        }
        at += take;
        pieces.push(piece);
    }
    let mut mdls: Vec<*mut MDL> = Vec::new();
    if layout.skipped_mdl > 0 {
        pieces.insert(0, vec![0xDD; layout.skipped_mdl]);
    }
    for piece in pieces {
        let mut buffer = piece;
        let mut mdl = Box::new(MDL {
            Next: ptr::null_mut(),
            Size: std::mem::size_of::<MDL>() as i16,
            MdlFlags: 0x0004,
            Process: ptr::null_mut(),
            MappedSystemVa: buffer.as_mut_ptr().cast(),
            StartVa: buffer.as_mut_ptr().cast(),
            ByteCount: buffer.len() as u32,
            ByteOffset: 0,
        });
        let raw: *mut MDL = &mut *mdl;
        if let Some(&prev) = mdls.last() {
            // SAFETY: `prev` is a box kept in `chain`.
            unsafe { (*prev).Next = raw };
        }
        mdls.push(raw);
        chain.mdls.push(mdl);
        chain.buffers.push(buffer);
    }
    // SAFETY: all-zero is a valid NET_BUFFER.
    let mut nb: Box<NET_BUFFER> = Box::new(unsafe { std::mem::zeroed() });
    nb.MdlChain = mdls[0];
    let (current, offset) = if layout.skipped_mdl > 0 {
        (mdls[1], layout.lead)
    } else {
        (mdls[0], layout.lead)
    };
    nb.CurrentMdl = current;
    nb.CurrentMdlOffset = offset as u32;
    nb.DataOffset = (layout.skipped_mdl + layout.lead) as u32;
    nb.DataLength = data.len();
    let raw: *mut NET_BUFFER = &mut *nb;
    chain.nbs.push(nb);
    raw
}
