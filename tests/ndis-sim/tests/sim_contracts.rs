//! The simulation's own checks: a deliberately misbehaving miniport (here,
//! not the driver) breaks one NDIS rule at a time, and the simulation must
//! name each breach. Without this, a quiet simulation would prove nothing.
//!
//! The fake miniport builds every structure it hands NDIS as bytes at the
//! offsets of the NDIS facts tables (`volnic_ndis_sim::facts`), with the
//! tables' types, revisions and sizes, so it is a well-formed NDIS 6.30
//! miniport by the WDK headers; each fault then changes one value, e.g.
//! back to what the driver's own declarations used to say before they were
//! corrected (status-indication type 0x8B, NO_HALT_ON_SUSPEND as 0x400).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use volnic::ndis_api::NdisApi;
use volnic_ndis_sim::facts::{self, oid, status, u16_constant, u32_constant, u8_constant};
use volnic_ndis_sim::facts::{Header, Record};
use volnic_ndis_sim::ndis::{
    Handle, Status, CHARACTERISTICS, CONFIG_OBJECT, GENERAL, LINK_STATE, NBL, OID_REQUEST,
    POOL_PARAMETERS, REGISTRATION, STATUS_INDICATION,
};
use volnic_ndis_sim::{AdapterId, MdlLayout, SendFrame, Sim, SimHost};

/// What the fake miniport gets wrong.
static FAULT: AtomicU32 = AtomicU32::new(0);
const COMPLETE_TWICE: u32 = 1;
const OID_OVERSTATES: u32 = 2;
const OID_SHORT_WITHOUT_NEED: u32 = 3;
/// The registration attributes carry 0x400, the value the driver used for
/// NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND (the headers: 0x20; 0x400
/// registers a bugcheck callback).
const OLD_NO_HALT_FLAG: u32 = 4;
/// The characteristics header says revision 2 with revision 1's size.
const CHARACTERISTICS_SIZE: u32 = 5;
/// Sends complete with 0xC001000B, the driver's old
/// NDIS_STATUS_MEDIA_DISCONNECTED (the headers: 0xC023001F).
const OLD_MEDIA_DISCONNECTED: u32 = 6;
/// The fake writes each NBL's Status 4 bytes past where the tables put it,
/// as a declaration with one extra field before Status would.
const STATUS_MISPLACED: u32 = 7;
/// The configuration object has type 0xA3, the driver's old
/// NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT (the headers: 0xA9).
const OLD_CONFIGURATION_TYPE: u32 = 8;
/// The characteristics register NDIS 6.20, not the contract's 6.30.
const OLD_NDIS_VERSION: u32 = 9;
/// Tests share FAULT; the host serializes loads, this serializes FAULT.
static SERIAL: Mutex<()> = Mutex::new(());

fn fault() -> u32 {
    FAULT.load(Ordering::Relaxed)
}

/// The OIDs the fake lists (kept alive for NDIS to copy).
fn fake_oids() -> &'static [u32; 1] {
    static OIDS: OnceLock<[u32; 1]> = OnceLock::new();
    OIDS.get_or_init(|| [oid("OID_GEN_MEDIA_IN_USE")])
}

unsafe extern "system" fn fake_init(handle: Handle, _ctx: Handle, _p: *mut c_void) -> Status {
    if fault() == OLD_CONFIGURATION_TYPE {
        let mut object = Record::zeroed(CONFIG_OBJECT);
        object
            .set_header(Header {
                kind: 0xA3,
                revision: u8_constant("NDIS_CONFIGURATION_OBJECT_REVISION_1"),
                size: u16_constant("NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1"),
            })
            .set("NdisHandle", handle);
        let mut config: Handle = ptr::null_mut();
        // SAFETY: a configuration object for this adapter; the sim writes
        // `config` only if it accepts the object.
        let opened =
            unsafe { Sim::open_configuration(object.ptr().cast_const().cast(), &mut config) };
        assert_ne!(opened, status("NDIS_STATUS_SUCCESS"));
    }
    let flags = if fault() == OLD_NO_HALT_FLAG {
        0x400
    } else {
        u32_constant("NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND")
            | u32_constant("NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK")
    };
    let mut reg = Record::zeroed(REGISTRATION);
    reg.set_header(Header::expected(
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES",
        REGISTRATION,
        u8_constant("NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2"),
    ))
    .set("MiniportAdapterContext", handle)
    .set("AttributeFlags", flags)
    .set("InterfaceType", u32_constant("NdisInterfaceInternal"));
    let mut general = Record::zeroed(GENERAL);
    general
        .set_header(Header::expected(
            "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES",
            GENERAL,
            u8_constant("NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2"),
        ))
        .set("MediaType", u32_constant("NdisMedium802_3"))
        .set(
            "MediaConnectState",
            u32_constant("MediaConnectStateConnected"),
        )
        .set("MacAddressLength", 6u16)
        .set_bytes("CurrentMacAddress", &[2, 0, 0, 0, 0, 1])
        .set_bytes("PermanentMacAddress", &[2, 0, 0, 0, 0, 1])
        .set("SupportedOidList", fake_oids().as_ptr())
        .set("SupportedOidListLength", 4u32);
    // SAFETY: valid attributes for this adapter, set in order; NDIS copies
    // them during the call.
    let registered = unsafe { Sim::set_miniport_attributes(handle, reg.ptr().cast()) };
    if registered != status("NDIS_STATUS_SUCCESS") {
        return registered;
    }
    // SAFETY: as above.
    unsafe { Sim::set_miniport_attributes(handle, general.ptr().cast()) }
}

unsafe extern "system" fn fake_send(ctx: Handle, nbls: *mut c_void, _p: u32, _f: u32) {
    let code = if fault() == OLD_MEDIA_DISCONNECTED {
        0xC001_000B_u32 as i32
    } else {
        status("NDIS_STATUS_SUCCESS")
    };
    let nbl = nbls.cast::<u8>();
    if fault() == STATUS_MISPLACED {
        let wrong = facts::offset_of(NBL, "Status") + 4;
        // SAFETY: still inside the NBL NDIS handed over (the tables' size
        // runs well past Status).
        let at = unsafe { nbl.add(wrong) };
        // SAFETY: as above; `at` is 4-byte aligned like Status.
        unsafe { at.cast::<i32>().write(code) };
    } else {
        // SAFETY: the chain NDIS handed over; one NBL.
        unsafe { facts::write(nbl, NBL, "Status", code) };
    }
    // SAFETY: `ctx` is the adapter handle (the fake's context); the chain
    // is the one NDIS sent.
    unsafe { Sim::send_complete(ctx, nbls.cast(), 0) };
    if fault() == COMPLETE_TWICE {
        // SAFETY: as above (deliberately completed again).
        unsafe { Sim::send_complete(ctx, nbls.cast(), 0) };
    }
}

unsafe extern "system" fn fake_oid(_ctx: Handle, request: *mut c_void) -> Status {
    let request = request.cast::<u8>();
    let arm = "DATA.QUERY_INFORMATION";
    // SAFETY: a query request NDIS built by the tables.
    let length: u32 = unsafe {
        facts::read(
            request,
            OID_REQUEST,
            &format!("{arm}.InformationBufferLength"),
        )
    };
    let (written, needed, code) = match fault() {
        OID_OVERSTATES => (length + 4, 0, status("NDIS_STATUS_SUCCESS")),
        OID_SHORT_WITHOUT_NEED => (0, 0, status("NDIS_STATUS_BUFFER_TOO_SHORT")),
        _ => return status("NDIS_STATUS_NOT_SUPPORTED"),
    };
    // SAFETY: as above.
    unsafe {
        facts::write(
            request,
            OID_REQUEST,
            &format!("{arm}.BytesWritten"),
            written,
        )
    };
    // SAFETY: as above.
    unsafe { facts::write(request, OID_REQUEST, &format!("{arm}.BytesNeeded"), needed) };
    code
}

unsafe extern "system" fn fake_pause(_ctx: Handle, _p: *mut c_void) -> Status {
    status("NDIS_STATUS_SUCCESS")
}

unsafe extern "system" fn fake_halt(_ctx: Handle, _a: u32) {}

unsafe extern "system" fn fake_restart(_ctx: Handle, _p: *mut c_void) -> Status {
    status("NDIS_STATUS_SUCCESS")
}

unsafe extern "system" fn fake_return(_ctx: Handle, _nbls: *mut c_void, _f: u32) {}

unsafe extern "system" fn fake_unload(driver_object: *mut c_void) {
    // SAFETY: the sim's driver handle is its driver object.
    unsafe { Sim::deregister_miniport_driver(driver_object) };
}

unsafe extern "system" fn fake_two_pointers(_ctx: Handle, _p: *mut c_void) {}

unsafe extern "system" fn fake_shutdown(_ctx: Handle, _a: u32) {}

/// DriverEntry of the fake: characteristics built by the tables.
fn fake_entry(driver_object: *mut c_void, registry_path: *mut c_void) -> Status {
    let revision = u8_constant("NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2");
    let mut header = Header::expected(
        "NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS",
        CHARACTERISTICS,
        revision,
    );
    if fault() == CHARACTERISTICS_SIZE {
        header.size = u16_constant("NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1");
    }
    let minor = if fault() == OLD_NDIS_VERSION {
        20
    } else {
        u8_constant("NDIS_MINIPORT_MINOR_VERSION")
    };
    type Init = unsafe extern "system" fn(Handle, Handle, *mut c_void) -> Status;
    type Halt = unsafe extern "system" fn(Handle, u32);
    type Unload = unsafe extern "system" fn(*mut c_void);
    type TwoPointers = unsafe extern "system" fn(Handle, *mut c_void) -> Status;
    type Send = unsafe extern "system" fn(Handle, *mut c_void, u32, u32);
    type Return = unsafe extern "system" fn(Handle, *mut c_void, u32);
    type Notify = unsafe extern "system" fn(Handle, *mut c_void);
    let handlers: [(&str, *const c_void); 11] = [
        ("InitializeHandlerEx", fake_init as Init as *const c_void),
        ("HaltHandlerEx", fake_halt as Halt as *const c_void),
        ("UnloadHandler", fake_unload as Unload as *const c_void),
        ("PauseHandler", fake_pause as TwoPointers as *const c_void),
        (
            "RestartHandler",
            fake_restart as TwoPointers as *const c_void,
        ),
        (
            "OidRequestHandler",
            fake_oid as TwoPointers as *const c_void,
        ),
        (
            "SendNetBufferListsHandler",
            fake_send as Send as *const c_void,
        ),
        (
            "ReturnNetBufferListsHandler",
            fake_return as Return as *const c_void,
        ),
        (
            "CancelSendHandler",
            fake_two_pointers as Notify as *const c_void,
        ),
        (
            "DevicePnPEventNotifyHandler",
            fake_two_pointers as Notify as *const c_void,
        ),
        ("ShutdownHandlerEx", fake_shutdown as Halt as *const c_void),
    ];
    let mut chars = Record::zeroed(CHARACTERISTICS);
    chars
        .set_header(header)
        .set(
            "MajorNdisVersion",
            u8_constant("NDIS_MINIPORT_MAJOR_VERSION"),
        )
        .set("MinorNdisVersion", minor)
        .set(
            "CancelOidRequestHandler",
            fake_two_pointers as Notify as *const c_void,
        );
    for (member, handler) in handlers {
        chars.set(member, handler);
    }
    let mut handle: Handle = ptr::null_mut();
    // SAFETY: a live SimDriver; the characteristics live across the call.
    unsafe {
        Sim::register_miniport_driver(
            driver_object,
            registry_path,
            driver_object,
            chars.ptr().cast_const().cast(),
            &mut handle,
        )
    }
}

fn one_frame() -> Vec<Vec<SendFrame>> {
    vec![vec![SendFrame {
        bytes: vec![0xab; 60],
        layout: MdlLayout::flat(),
    }]]
}

/// Runs `f` on a restarted fake adapter with `fault`; the breaches the
/// simulation recorded.
fn breaches_after(f: impl FnOnce(&mut SimHost, AdapterId), fault: u32) -> Vec<String> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    FAULT.store(fault, Ordering::Relaxed);
    let mut host = SimHost::load_with(fake_entry);
    let breaches = match host.initialize("fake", &[]) {
        Ok(a) => {
            host.restart(a);
            f(&mut host, a);
            host.breaches()
        }
        Err(_) => host.breaches(),
    };
    drop(host);
    FAULT.store(0, Ordering::Relaxed);
    breaches
}

/// Whether the fake's DriverEntry with `fault` fails; its error.
fn load_error(fault: u32) -> Option<String> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    FAULT.store(fault, Ordering::Relaxed);
    let loaded = SimHost::try_load_with(fake_entry);
    FAULT.store(0, Ordering::Relaxed);
    loaded.err()
}

fn assert_named(breaches: &[String], what: &str) {
    assert!(
        breaches.iter().any(|b| b.contains(what)),
        "no breach names {what:?}: {breaches:#?}"
    );
}

/// A link-state indication built by the tables, with header type `kind`
/// and StatusBufferSize `buffer_size`; both records must outlive its use.
fn link_indication(handle: Handle, kind: u8, buffer_size: u32) -> (Record, Record) {
    let mut state = Record::zeroed(LINK_STATE);
    state
        .set_header(Header::expected(
            "NDIS_OBJECT_TYPE_DEFAULT",
            LINK_STATE,
            u8_constant("NDIS_LINK_STATE_REVISION_1"),
        ))
        .set(
            "MediaConnectState",
            u32_constant("MediaConnectStateConnected"),
        );
    let mut indication = Record::zeroed(STATUS_INDICATION);
    let mut header = Header::expected(
        "NDIS_OBJECT_TYPE_STATUS_INDICATION",
        STATUS_INDICATION,
        u8_constant("NDIS_STATUS_INDICATION_REVISION_1"),
    );
    header.kind = kind;
    indication
        .set_header(header)
        .set("SourceHandle", handle)
        .set("StatusCode", status("NDIS_STATUS_LINK_STATE"))
        .set("StatusBuffer", state.ptr())
        .set("StatusBufferSize", buffer_size);
    (indication, state)
}

fn link_state_size() -> u32 {
    u32_constant("NDIS_SIZEOF_LINK_STATE_REVISION_1")
}

#[test]
fn a_well_behaved_fake_breaches_nothing() {
    let breaches = breaches_after(
        |host, a| {
            host.send(a, &one_frame());
            host.query(a, oid("OID_GEN_MEDIA_IN_USE"), 4);
            let (indication, _state) = link_indication(
                host.handle(a),
                u8_constant("NDIS_OBJECT_TYPE_STATUS_INDICATION"),
                link_state_size(),
            );
            // SAFETY: an indication built by the tables for this adapter.
            unsafe { Sim::indicate_status(host.handle(a), indication.ptr().cast_const().cast()) };
            assert_eq!(host.link_states(a), vec![true]);
            let registration = host.registration(a).expect("registered");
            assert_eq!(
                registration.header.revision,
                u8_constant("NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2")
            );
        },
        0,
    );
    assert!(breaches.is_empty(), "{breaches:#?}");
}

#[test]
fn completing_a_send_twice_is_a_breach() {
    let breaches = breaches_after(|host, a| drop(host.send(a, &one_frame())), COMPLETE_TWICE);
    assert_named(&breaches, "completed twice");
}

#[test]
fn oid_answers_that_break_the_length_rules_are_breaches() {
    let query = |host: &mut SimHost, a| drop(host.query(a, oid("OID_GEN_MEDIA_IN_USE"), 4));
    let breaches = breaches_after(query, OID_OVERSTATES);
    assert_named(&breaches, "BytesWritten 8 > buffer 4");
    let breaches = breaches_after(query, OID_SHORT_WITHOUT_NEED);
    assert_named(&breaches, "BytesNeeded 0 for a 4-byte buffer");
}

/// Indicates one 60-byte frame on an NBL from the simulation's own pool,
/// after `fill` has written the fields the driver would (it gets the NBL's
/// address), and frees it all once the sim's protocol has returned it.
fn indicate_one(handle: Handle, fill: impl FnOnce(*mut u8)) {
    let mut data = vec![0u8; 60];
    let mut params = Record::zeroed(POOL_PARAMETERS);
    params
        .set_header(Header::expected(
            "NDIS_OBJECT_TYPE_DEFAULT",
            POOL_PARAMETERS,
            u8_constant("NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1"),
        ))
        .set("fAllocateNetBuffer", 1u8);
    // SAFETY: `handle` is a live sim adapter; `data` outlives the MDL.
    let mdl = unsafe { Sim::allocate_mdl(handle, data.as_mut_ptr().cast(), 60) };
    // SAFETY: as above; the parameters live across the call.
    let pool = unsafe { Sim::allocate_nbl_pool(handle, params.ptr().cast_const().cast()) };
    // SAFETY: a pool and an MDL the sim just made.
    let nbl = unsafe { Sim::allocate_nb_and_nbl(pool, mdl, 0, 60) };
    fill(nbl.cast());
    // SAFETY: an NBL of this adapter's; the sim's protocol thread returns it.
    unsafe { Sim::indicate_receive(handle, nbl, 0, 1, 0) };
    std::thread::sleep(std::time::Duration::from_millis(50));
    // SAFETY: returned by now, allocated above, freed once.
    unsafe { Sim::free_nbl(nbl) };
    // SAFETY: as above; no NBL refers to it now.
    unsafe { Sim::free_mdl(mdl) };
    // SAFETY: as above; its only NBL is freed.
    unsafe { Sim::free_nbl_pool(pool) };
}

#[test]
fn indicating_while_paused_is_a_breach() {
    let breaches = breaches_after(
        |host, a| {
            host.pause(a);
            let handle = host.handle(a);
            indicate_one(handle, |nbl| {
                // SAFETY: the NBL is the tables' size; SourceHandle is in it.
                unsafe { facts::write(nbl, NBL, "SourceHandle", handle) };
            });
        },
        0,
    );
    assert_named(&breaches, "receive indicated while Paused");
}

#[test]
fn an_nbl_field_written_where_the_tables_do_not_put_it_is_caught() {
    // SourceHandle 8 bytes past the tables' offset: the sim reads the
    // tables' offset and finds no adapter handle there.
    let breaches = breaches_after(
        |host, a| {
            let handle = host.handle(a);
            let wrong = facts::offset_of(NBL, "SourceHandle") + 8;
            indicate_one(handle, |nbl| {
                // SAFETY: the misplaced offset stays inside the NBL (the
                // tables' size runs past it).
                let at = unsafe { nbl.add(wrong) };
                // SAFETY: as above; the sim's records allow unaligned access.
                unsafe { at.cast::<Handle>().write_unaligned(handle) };
            });
        },
        0,
    );
    assert_named(&breaches, "SourceHandle 0x0 is not the adapter handle");
    let breaches = breaches_after(|host, a| drop(host.send(a, &one_frame())), STATUS_MISPLACED);
    assert_named(&breaches, "completed NBL's Status was never set");
}

#[test]
fn calls_after_halt_are_breaches() {
    let breaches = breaches_after(
        |host, a| {
            host.pause(a);
            host.halt(a);
            let handle = host.handle(a);
            let (indication, _state) = link_indication(
                handle,
                u8_constant("NDIS_OBJECT_TYPE_STATUS_INDICATION"),
                link_state_size(),
            );
            // SAFETY: a valid indication for a (halted) sim adapter.
            unsafe { Sim::indicate_status(handle, indication.ptr().cast_const().cast()) };
        },
        0,
    );
    assert_named(
        &breaches,
        "NdisMIndicateStatusEx called after the adapter was Halted",
    );
}

#[test]
fn a_status_indication_of_the_old_object_type_0x8b_is_malformed() {
    let breaches = breaches_after(
        |host, a| {
            let (indication, _state) = link_indication(host.handle(a), 0x8B, link_state_size());
            // SAFETY: an indication for this adapter, wrong only in its type.
            unsafe { Sim::indicate_status(host.handle(a), indication.ptr().cast_const().cast()) };
            assert!(
                host.link_states(a).is_empty(),
                "a malformed indication changed the link state"
            );
        },
        0,
    );
    assert_named(
        &breaches,
        "NDIS_STATUS_INDICATION header type 0x8b, the tables say \
         NDIS_OBJECT_TYPE_STATUS_INDICATION = 0x98",
    );
}

#[test]
fn a_link_state_buffer_shorter_than_its_revision_is_malformed() {
    let breaches = breaches_after(
        |host, a| {
            let (indication, _state) = link_indication(
                host.handle(a),
                u8_constant("NDIS_OBJECT_TYPE_STATUS_INDICATION"),
                link_state_size() - 8,
            );
            // SAFETY: an indication for this adapter, wrong only in its size.
            unsafe { Sim::indicate_status(host.handle(a), indication.ptr().cast_const().cast()) };
        },
        0,
    );
    assert_named(&breaches, "StatusBufferSize 32 is less than");
}

#[test]
fn registration_attributes_with_the_old_flag_0x400_are_a_breach() {
    let breaches = breaches_after(|_, _| {}, OLD_NO_HALT_FLAG);
    assert_named(
        &breaches,
        "registration AttributeFlags 0x400 holds bits 0x400 that no NDIS_MINIPORT_ATTRIBUTES_* \
         constant in the tables names",
    );
}

#[test]
fn a_configuration_object_of_the_old_type_0xa3_is_refused() {
    let breaches = breaches_after(|_, _| {}, OLD_CONFIGURATION_TYPE);
    assert_named(
        &breaches,
        "NDIS_CONFIGURATION_OBJECT header type 0xa3, the tables say \
         NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT = 0xa9",
    );
}

#[test]
fn a_send_completed_with_the_old_media_disconnected_status_is_a_breach() {
    let breaches = breaches_after(
        |host, a| drop(host.send(a, &one_frame())),
        OLD_MEDIA_DISCONNECTED,
    );
    assert_named(
        &breaches,
        "a send completed with 0xc001000b (no NDIS_STATUS_* in the tables)",
    );
}

#[test]
fn characteristics_with_a_wrong_header_size_or_ndis_version_are_refused() {
    let error = load_error(CHARACTERISTICS_SIZE).expect("registration must fail");
    assert!(
        error.contains(
            "NDIS_MINIPORT_DRIVER_CHARACTERISTICS header size 0x88 for revision 2, the tables \
             say NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 = 0x98"
        ),
        "{error}"
    );
    assert!(error.contains("NDIS_STATUS_FAILURE"), "{error}");
    let error = load_error(OLD_NDIS_VERSION).expect("registration must fail");
    assert!(error.contains("registers NDIS 6.20"), "{error}");
    assert!(load_error(0).is_none(), "the well-formed fake must load");
}
