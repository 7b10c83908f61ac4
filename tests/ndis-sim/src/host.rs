//! Drives the driver as NDIS does: DriverEntry, MiniportInitializeEx with a
//! registry made from test values, Restart, sends of NBL chains, OID
//! requests, Pause, Halt, Unload — checking the contract at every step.

use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::facts::{self, status, u32_constant, u8_constant, Header, Record};
use crate::ndis::{
    describe_status, global_breaches, live_adapters, live_mdls, live_nbls, lock, sent_mdls,
    AdapterInner, AdapterState, AllocationFaults, GeneralInfo, Handle, Handlers, RegValue,
    RegistrationInfo, SimAdapter, SimDriver, Status, MDL_TYPE, NB, NBL, OID_REQUEST,
};
use crate::Sim;

/// One driver image is loaded at a time per process, as on a real system:
/// tests that load the driver take turns.
static LOADED: Mutex<()> = Mutex::new(());

/// How one NET_BUFFER's frame is laid out over MDLs.
#[derive(Clone, Debug)]
pub struct MdlLayout {
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

impl MdlLayout {
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
    pub layout: MdlLayout,
}

/// Memory of an NBL chain the sim sent, NBLs, NET_BUFFERs and MDLs
/// allocated and filled by the tables: kept alive until completion.
struct SentChain {
    nbls: Vec<Record>,
    nbs: Vec<Record>,
    mdls: Vec<Record>,
    buffers: Vec<Vec<u8>>,
}

impl Drop for SentChain {
    fn drop(&mut self) {
        let mut sent = lock(sent_mdls());
        for mdl in &self.mdls {
            sent.remove(&(mdl.ptr() as usize));
        }
    }
}

/// Written into a sent NBL's Status; the driver must overwrite it.
const STATUS_UNSET: i32 = 0x7777_7777;

/// The result of an OID request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidReply {
    pub status: Status,
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

fn ok(code: Status) -> bool {
    code == status("NDIS_STATUS_SUCCESS")
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
    pub fn load_with(entry: fn(*mut c_void, *mut c_void) -> Status) -> SimHost {
        Self::try_load_with(entry).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Loads a miniport whose DriverEntry may fail: Err says how, with
    /// the breaches the simulation recorded.
    pub fn try_load_with(entry: fn(*mut c_void, *mut c_void) -> Status) -> Result<SimHost, String> {
        let guard = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        lock(global_breaches()).clear();
        // What an earlier host reported as leaked stays allocated (a dead
        // driver may still name it) but is no longer counted.
        std::mem::forget(std::mem::take(&mut *lock(live_mdls())));
        std::mem::forget(std::mem::take(&mut *lock(live_nbls())));
        let mut host = SimHost {
            driver: Box::new(SimDriver::new()),
            adapters: Vec::new(),
            returners: Vec::new(),
            unloaded: false,
            _loaded: guard,
        };
        let driver_object = host.driver_object();
        let code = entry(driver_object, ptr::null_mut());
        if !ok(code) || lock(&host.driver.handlers).is_none() {
            // Nothing was registered: there is nothing to unload.
            host.unloaded = true;
            return Err(format!(
                "DriverEntry failed ({}); breaches: {:?}",
                describe_status(code),
                host.breaches()
            ));
        }
        Ok(host)
    }

    fn driver_object(&mut self) -> *mut c_void {
        (&mut *self.driver as *mut SimDriver).cast()
    }

    fn chars(&self) -> Handlers {
        lock(&self.driver.handlers).expect("driver registered")
    }

    pub fn adapter(&self, id: AdapterId) -> &SimAdapter {
        &self.adapters[id.0]
    }

    /// The MiniportAdapterHandle NDIS gave the adapter.
    pub fn handle(&self, id: AdapterId) -> Handle {
        (&*self.adapters[id.0] as *const SimAdapter)
            .cast_mut()
            .cast()
    }

    fn context(&self, id: AdapterId) -> Handle {
        lock(&self.adapter(id).inner).context as Handle
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

    /// Makes the NBL pool, MDL and NBL allocations that follow fail as
    /// `faults` says (a system low on nonpaged memory).
    pub fn fail_allocations(&mut self, faults: AllocationFaults) {
        *lock(&self.driver.faults) = faults;
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
        lock(live_adapters()).insert(self.handle(id) as usize);
        let logged_before = lock(&self.driver.event_log).len();
        let init = self.chars().initialize;
        let driver_object = self.driver_object();
        // SAFETY: the handle is a live SimAdapter, the driver context is the
        // one given at registration (the driver object).
        let code = unsafe { init(self.handle(id), driver_object, ptr::null_mut()) };
        if facts::status_name(code).is_none() {
            self.adapter(id).breach(format!(
                "MiniportInitializeEx returned {}",
                describe_status(code)
            ));
        }
        if !ok(code) {
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
            if inner.registration.is_none() || inner.general.is_none() {
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
        let handler = self.chars().return_nbls;
        let adapter_addr = &*self.adapters[id.0] as *const SimAdapter as usize;
        let join = std::thread::spawn(move || {
            // SAFETY: the host joins this thread before dropping the adapter.
            let adapter = unsafe { &*(adapter_addr as *const SimAdapter) };
            while let Ok(chain) = rx.recv() {
                let context = {
                    let mut inner = lock(&adapter.inner);
                    let mut nbl = chain as *const u8;
                    while !nbl.is_null() && inner.held.remove(&(nbl as usize)) {
                        // SAFETY: an NBL the driver indicated (the sim
                        // checked it was one of its own), unchanged while
                        // the protocol holds it.
                        nbl = unsafe { facts::read::<*const u8>(nbl, NBL, "Next") };
                    }
                    inner.context as Handle
                };
                // SAFETY: returning NBLs the adapter indicated, with its context.
                unsafe { handler(context, chain as *mut c_void, 0) };
            }
        });
        self.returners[id.0] = Some(join);
    }

    /// MiniportRestart (Paused → Running).
    pub fn restart(&mut self, id: AdapterId) {
        self.require(id, AdapterState::Paused, "restart");
        self.adapter(id).set_state(AdapterState::Restarting);
        let restart = self.chars().restart;
        // SAFETY: a live adapter context.
        let code = unsafe { restart(self.context(id), ptr::null_mut()) };
        assert!(ok(code), "restart failed: {}", describe_status(code));
        self.adapter(id).set_state(AdapterState::Running);
    }

    /// MiniportPause (Running → Paused), waiting for NdisMPauseComplete if
    /// the driver pends.
    pub fn pause(&mut self, id: AdapterId) {
        self.require(id, AdapterState::Running, "pause");
        self.adapter(id).set_state(AdapterState::Pausing);
        let pause = self.chars().pause;
        // SAFETY: a live adapter context.
        let code = unsafe { pause(self.context(id), ptr::null_mut()) };
        let a = self.adapter(id);
        if ok(code) {
            let held = lock(&a.inner).held.len();
            if held > 0 {
                a.breach(format!(
                    "pause completed synchronously while the protocol holds {held} NBLs"
                ));
            }
            a.set_state(AdapterState::Paused);
        } else if code == status("NDIS_STATUS_PENDING") {
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
            a.breach(format!("pause failed with {}", describe_status(code)));
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
        let halt = self.chars().halt;
        // SAFETY: a live adapter context; NDIS never uses it after halt.
        unsafe { halt(self.context(id), u32_constant("NdisHaltDeviceDisabled")) };
        self.adapter(id).set_state(AdapterState::Halted);
        *lock(&self.adapter(id).returner) = None;
        if let Some(join) = self.returners[id.0].take() {
            let _ = join.join();
        }
    }

    /// MiniportShutdownEx (power off).
    pub fn shutdown(&mut self, id: AdapterId) {
        let shutdown = self.chars().shutdown;
        // SAFETY: a live adapter context.
        unsafe { shutdown(self.context(id), u32_constant("NdisShutdownPowerOff")) };
    }

    /// Sends frames as NBLs: `nbls[i]` is the NET_BUFFERs of NBL i. Returns
    /// each NBL's completion status.
    pub fn send(&mut self, id: AdapterId, nbls: &[Vec<SendFrame>]) -> Vec<Status> {
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
            let mut nbl = Record::zeroed(NBL);
            let mut prev_nb: Option<usize> = None;
            for frame in frames {
                let nb = build_net_buffer(frame, &mut chain);
                match prev_nb {
                    None => {
                        nbl.set("FirstNetBuffer", nb);
                    }
                    Some(prev) => {
                        chain.nbs[prev].set("Next", nb);
                    }
                }
                prev_nb = Some(chain.nbs.len() - 1);
            }
            nbl.set("Status", STATUS_UNSET);
            chain.nbls.push(nbl);
        }
        for i in 1..chain.nbls.len() {
            let next = chain.nbls[i].ptr();
            chain.nbls[i - 1].set("Next", next);
        }
        if chain.nbls.is_empty() {
            return Vec::new();
        }
        let ptrs: Vec<usize> = chain.nbls.iter().map(|n| n.ptr() as usize).collect();
        lock(&self.adapter(id).inner)
            .pending_sends
            .extend(ptrs.iter().copied());
        let send = self.chars().send;
        // SAFETY: a live adapter context and a well-formed chain that stays
        // alive (in `chain`) until completed.
        unsafe { send(self.context(id), ptrs[0] as *mut c_void, 0, 0) };
        let a = self.adapter(id);
        let mut inner = lock(&a.inner);
        let mut statuses = Vec::new();
        for p in &ptrs {
            match inner.completed.remove(p) {
                Some(code) => statuses.push(code),
                None => {
                    // This driver completes every send before returning.
                    drop(inner);
                    a.breach("a sent NBL was not completed by MiniportSendNetBufferLists".into());
                    panic!("send not completed");
                }
            }
        }
        drop(inner);
        for &code in &statuses {
            if code == STATUS_UNSET {
                a.breach("completed NBL's Status was never set".into());
            } else if facts::status_name(code).is_none() {
                a.breach(format!("a send completed with {}", describe_status(code)));
            }
        }
        drop(chain);
        statuses
    }

    fn oid(&mut self, id: AdapterId, kind: &str, oid: u32, mut data: Vec<u8>) -> OidReply {
        let len = data.len();
        let set = kind == "NdisRequestSetInformation";
        // The request as NDIS builds it for an NDIS 6.30 miniport: the
        // tables' size and layout, revision 1 header.
        let mut request = Record::zeroed(OID_REQUEST);
        request
            .set_header(Header::expected(
                "NDIS_OBJECT_TYPE_OID_REQUEST",
                OID_REQUEST,
                u8_constant("NDIS_OID_REQUEST_REVISION_1"),
            ))
            .set("RequestType", u32_constant(kind));
        let arm = if set {
            "DATA.SET_INFORMATION"
        } else {
            "DATA.QUERY_INFORMATION"
        };
        let done_field = if set { "BytesRead" } else { "BytesWritten" };
        let buffer: *mut u8 = if len == 0 {
            ptr::null_mut()
        } else {
            data.as_mut_ptr()
        };
        request
            .set(&format!("{arm}.Oid"), oid)
            .set(&format!("{arm}.InformationBuffer"), buffer)
            .set(&format!("{arm}.InformationBufferLength"), len as u32)
            .set(&format!("{arm}.{done_field}"), 0xdead_u32)
            .set(&format!("{arm}.BytesNeeded"), 0xdead_u32);
        let handler = self.chars().oid_request;
        // SAFETY: a live adapter context; the request and its buffer live
        // across the (synchronous) call.
        let code = unsafe { handler(self.context(id), request.ptr().cast()) };
        let bytes_done: u32 = request.get(&format!("{arm}.{done_field}"));
        let bytes_needed: u32 = request.get(&format!("{arm}.BytesNeeded"));
        let a = self.adapter(id);
        let success = status("NDIS_STATUS_SUCCESS");
        if facts::status_name(code).is_none() {
            a.breach(format!("OID {oid:#x} answered {}", describe_status(code)));
        }
        if code == status("NDIS_STATUS_PENDING") {
            a.breach(format!(
                "OID {oid:#x} pended (this driver answers synchronously)"
            ));
        } else if code == success {
            if bytes_done as usize > len {
                a.breach(format!(
                    "OID {oid:#x}: {done_field} {bytes_done} > buffer {len}"
                ));
            } else if !set {
                if let Err(e) = judge_oid_reply(oid, &data[..bytes_done as usize]) {
                    a.breach(format!("OID {oid:#x}: {e}"));
                }
            }
        } else if (code == status("NDIS_STATUS_BUFFER_TOO_SHORT")
            || code == status("NDIS_STATUS_INVALID_LENGTH"))
            && bytes_needed as usize <= len
        {
            a.breach(format!(
                "OID {oid:#x}: {} with BytesNeeded {bytes_needed} for a {len}-byte buffer",
                describe_status(code)
            ));
        }
        if code != success && code != status("NDIS_STATUS_NOT_SUPPORTED") && bytes_done == 0xdead {
            a.breach(format!("OID {oid:#x}: {done_field} left unset on failure"));
        }
        let written = if code == success {
            (bytes_done as usize).min(len)
        } else {
            0
        };
        OidReply {
            status: code,
            bytes_done,
            bytes_needed,
            data: data[..written].to_vec(),
        }
    }

    /// A query OID request with a `len`-byte information buffer.
    pub fn query(&mut self, id: AdapterId, oid: u32, len: usize) -> OidReply {
        self.oid(id, "NdisRequestQueryInformation", oid, vec![0; len])
    }

    /// A set OID request carrying `data`.
    pub fn set(&mut self, id: AdapterId, oid: u32, data: &[u8]) -> OidReply {
        self.oid(id, "NdisRequestSetInformation", oid, data.to_vec())
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

    /// What the registration attributes said, read by the tables.
    pub fn registration(&self, id: AdapterId) -> Option<RegistrationInfo> {
        lock(&self.adapter(id).inner).registration
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
        let unload = self.chars().unload;
        let driver_object = self.driver_object();
        // SAFETY: every adapter is halted; the driver object is live.
        unsafe { unload(driver_object) };
        if !*lock(&self.driver.deregistered) {
            self.driver
                .breach("Unload did not deregister the miniport driver".into());
        }
        let nbls = lock(live_nbls()).len();
        let live = lock(&self.driver.live);
        let leaks = format!(
            "{nbls} NBLs, {} pools, {} configuration handles",
            live.pools.len(),
            live.configs
        );
        let leaked = nbls != 0 || !live.pools.is_empty() || live.configs != 0;
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
        let mut adapters = lock(live_adapters());
        for i in 0..self.adapters.len() {
            adapters.remove(&(self.handle(AdapterId(i)) as usize));
        }
    }
}

/// Judges a successful query's answer where it is an NDIS object: its
/// header, its length and its flag and enum values by the tables.
fn judge_oid_reply(oid: u32, data: &[u8]) -> Result<(), String> {
    let objects = [
        ("OID_GEN_STATISTICS", "NDIS_STATISTICS_INFO"),
        ("OID_GEN_LINK_STATE", "NDIS_LINK_STATE"),
        (
            "OID_GEN_INTERRUPT_MODERATION",
            "NDIS_INTERRUPT_MODERATION_PARAMETERS",
        ),
    ];
    let Some(&(_, record)) = objects.iter().find(|(name, _)| u32_constant(name) == oid) else {
        return Ok(());
    };
    if data.len() < facts::size_of("NDIS_OBJECT_HEADER") {
        return Err(format!("a {}-byte answer holds no {record}", data.len()));
    }
    // SAFETY: `data` holds at least a header (checked above).
    let header = unsafe { Header::read(data.as_ptr()) };
    header.judge("NDIS_OBJECT_TYPE_DEFAULT", record, 1)?;
    if data.len() != usize::from(header.size) {
        return Err(format!(
            "{} bytes written for a {record} of revision {} ({:#x} bytes)",
            data.len(),
            header.revision,
            header.size
        ));
    }
    let at = data.as_ptr();
    match record {
        "NDIS_STATISTICS_INFO" => {
            // SAFETY: `data` holds the record (size checked above).
            let flags = unsafe { facts::read::<u32>(at, record, "SupportedStatistics") };
            let known = facts::flags_with_prefix("NDIS_STATISTICS_FLAGS_VALID_") as u32;
            if flags & !known != 0 {
                return Err(format!(
                    "SupportedStatistics {flags:#x} holds bits {:#x} no \
                     NDIS_STATISTICS_FLAGS_VALID_* constant in the tables names",
                    flags & !known
                ));
            }
        }
        "NDIS_LINK_STATE" => {
            // SAFETY: as above.
            let connect = unsafe { facts::read::<u32>(at, record, "MediaConnectState") };
            if facts::name_of("MediaConnectState", u64::from(connect)).is_none() {
                return Err(format!(
                    "MediaConnectState {connect} is no MediaConnectState* value"
                ));
            }
        }
        _ => {
            // SAFETY: as above.
            let moderation = unsafe { facts::read::<u32>(at, record, "InterruptModeration") };
            if facts::name_of("NdisInterruptModeration", u64::from(moderation)).is_none() {
                return Err(format!(
                    "InterruptModeration {moderation} is no NdisInterruptModeration* value \
                     in the tables"
                ));
            }
        }
    }
    Ok(())
}

/// Builds one NET_BUFFER over MDLs per its layout, every record allocated
/// and filled by the tables; memory goes in `chain`. Returns the
/// NET_BUFFER.
fn build_net_buffer(frame: &SendFrame, chain: &mut SentChain) -> *mut u8 {
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
    if layout.skipped_mdl > 0 {
        pieces.insert(0, vec![0xDD; layout.skipped_mdl]);
    }
    let first_mdl = chain.mdls.len();
    for piece in pieces {
        let mut buffer = piece;
        let va = buffer.as_mut_ptr();
        let mut mdl = Record::zeroed(MDL_TYPE);
        mdl.set("Size", facts::size_of(MDL_TYPE) as i16)
            .set(
                "MdlFlags",
                facts::constant("MDL_SOURCE_IS_NONPAGED_POOL") as i16,
            )
            .set("MappedSystemVa", va)
            .set("StartVa", va)
            .set("ByteCount", buffer.len() as u32)
            .set("ByteOffset", 0u32);
        if chain.mdls.len() > first_mdl {
            let raw = mdl.ptr();
            chain
                .mdls
                .last_mut()
                .expect("a previous MDL")
                .set("Next", raw);
        }
        lock(sent_mdls()).insert(mdl.ptr() as usize);
        chain.mdls.push(mdl);
        chain.buffers.push(buffer);
    }
    let mdls: Vec<*mut u8> = chain.mdls[first_mdl..].iter().map(Record::ptr).collect();
    let current = if layout.skipped_mdl > 0 {
        mdls[1]
    } else {
        mdls[0]
    };
    let mut nb = Record::zeroed(NB);
    nb.set("MdlChain", mdls[0])
        .set("CurrentMdl", current)
        .set("CurrentMdlOffset", layout.lead as u32)
        .set("DataOffset", (layout.skipped_mdl + layout.lead) as u32)
        .set("stDataLength", data.len());
    let raw = nb.ptr();
    chain.nbs.push(nb);
    raw
}
