//! The NDIS 6 declarations the miniport uses, and only those: types,
//! constants and callback signatures, `#[repr(C)]`. wdk-sys has no NDIS
//! bindings, so they are written here by hand.
//!
//! Every struct and union below carries a `Layout:` note naming where its
//! x64 layout comes from, and the `layout` module at the end asserts its
//! size and the offset of every field at compile time, so a field that moves
//! fails the build on any 64-bit target (Linux here, x86_64 Windows there).
//! A test checks that no declaration lacks either. The sources, as listed in
//! `../shared/reference/ndis-facts/`:
//!
//! - **[ntdiff]**: the ntdiff/headers layouts derived from Microsoft's public
//!   symbols of ndis.sys and ntoskrnl.exe, Windows 10 x64 builds (for example
//!   `Win10_20H1_18836/x64/System32/ndis.sys/ALL.h`), which give each
//!   field's offset and each struct's size.
//! - **[ndis.h]**: Microsoft's NDIS reference documentation of ndis.h and
//!   ntddndis.h: field order of revisions newer than those builds,
//!   `NDIS_SIZEOF_*` (`RTL_SIZEOF_THROUGH_FIELD` of the revision's last
//!   field), `*_REVISION_*`, object types, status codes, OIDs, enum values.
//!
//! Constants are from [ndis.h] unless noted.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]

use core::ffi::c_void;

pub type NDIS_HANDLE = *mut c_void;
pub type NDIS_STATUS = i32;
pub type NDIS_OID = u32;
pub type NDIS_PORT_NUMBER = u32;

/// Layout: [ntdiff] `_NDIS_OBJECT_HEADER`, size 0x4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_OBJECT_HEADER {
    pub Type: u8,
    pub Revision: u8,
    pub Size: u16,
}

/// Layout: [ntdiff] `_UNICODE_STRING` (x64: Buffer at 0x8), size 0x10.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UNICODE_STRING {
    pub Length: u16,
    pub MaximumLength: u16,
    pub Buffer: *mut u16,
}
pub type NDIS_STRING = UNICODE_STRING;

/// Layout: [ntdiff] `_MDL`, size 0x30. Newer builds name the two USHORTs
/// at 0xc and 0xe (AllocationProcessorNumber, Reserved); the driver never
/// touches them, so they stay padding here.
#[repr(C)]
#[derive(Debug)]
pub struct MDL {
    pub Next: *mut MDL,
    pub Size: i16,
    pub MdlFlags: i16,
    pub Process: *mut c_void,
    pub MappedSystemVa: *mut c_void,
    pub StartVa: *mut c_void,
    pub ByteCount: u32,
    pub ByteOffset: u32,
}

/// Layout: [ntdiff] `_NET_BUFFER`, size 0xb0: the header union (Next ..
/// DataOffset, or an SLIST_HEADER) is 16-byte aligned and 0x30 long.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct NET_BUFFER {
    pub Next: *mut NET_BUFFER,
    pub CurrentMdl: *mut MDL,
    pub CurrentMdlOffset: u32,
    /// `DataLength` (ULONG) in the low half of a SIZE_T union.
    pub DataLength: usize,
    pub MdlChain: *mut MDL,
    pub DataOffset: u32,
    /// End of the 16-byte-aligned NET_BUFFER_HEADER union.
    pub _HeaderPad: u32,
    pub ChecksumBias: u16,
    pub Reserved: u16,
    pub NdisPoolHandle: NDIS_HANDLE,
    pub NdisReserved: Aligned16<[*mut c_void; 2]>,
    pub ProtocolReserved: Aligned16<[*mut c_void; 6]>,
    pub MiniportReserved: Aligned16<[*mut c_void; 4]>,
    pub DataPhysicalAddress: i64,
    pub SharedMemoryInfo: *mut c_void,
}

/// Not an NDIS type: models `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`
/// on the reserved arrays of NET_BUFFER and NET_BUFFER_LIST ([ndis.h]; the
/// [ntdiff] offsets 0x40 and 0x30 show the 16-byte alignment).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct Aligned16<T>(pub T);

/// Entries of `NET_BUFFER_LIST::NetBufferListInfo`: `MaxNetBufferListInfo`
/// of an NDIS 6.30 miniport (the revision the driver registers; NDIS 6.50
/// and later add entries).
pub const NET_BUFFER_LIST_INFO_COUNT: usize = 24;

/// Layout: [ntdiff] `_NET_BUFFER_LIST` as an NDIS 6.30 miniport compiles it
/// (WDK ndis.h with NDIS630_MINIPORT), size 0x150: 24 `NetBufferListInfo`
/// entries from 0x90 end at 0x150. Newer NDIS revisions (and the ndis.sys
/// symbols of recent builds) carry more entries; NDIS allocates every NBL,
/// and a 6.30 miniport touches only the fields below.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct NET_BUFFER_LIST {
    pub Next: *mut NET_BUFFER_LIST,
    pub FirstNetBuffer: *mut NET_BUFFER,
    pub Context: *mut c_void,
    pub ParentNetBufferList: *mut NET_BUFFER_LIST,
    pub NdisPoolHandle: NDIS_HANDLE,
    pub NdisReserved: Aligned16<[*mut c_void; 2]>,
    pub ProtocolReserved: Aligned16<[*mut c_void; 4]>,
    pub MiniportReserved: Aligned16<[*mut c_void; 2]>,
    pub Scratch: *mut c_void,
    pub SourceHandle: NDIS_HANDLE,
    pub NblFlags: u32,
    pub ChildRefCount: i32,
    pub Flags: u32,
    pub Status: NDIS_STATUS,
    pub NetBufferListInfo: [*mut c_void; NET_BUFFER_LIST_INFO_COUNT],
}

/// Layout: [ntdiff] `_NDIS_OID_REQUEST::_REQUEST_DATA::_QUERY` (and `_SET`),
/// size 0x20.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_OID_REQUEST_QUERY {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InformationBufferLength: u32,
    pub BytesWritten: u32,
    pub BytesNeeded: u32,
}

/// Layout: [ntdiff] `_NDIS_OID_REQUEST::_REQUEST_DATA::_METHOD`, size 0x28.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_OID_REQUEST_METHOD {
    pub Oid: NDIS_OID,
    pub InformationBuffer: *mut c_void,
    pub InputBufferLength: u32,
    pub OutputBufferLength: u32,
    pub MethodId: u32,
    pub BytesWritten: u32,
    pub BytesRead: u32,
    pub BytesNeeded: u32,
}

/// Layout: [ntdiff] `_REQUEST_DATA`, size 0x28 (the METHOD member).
/// `DATA` of NDIS_OID_REQUEST: QUERY_INFORMATION and SET_INFORMATION share
/// one layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_OID_REQUEST_DATA {
    pub QUERY_INFORMATION: NDIS_OID_REQUEST_QUERY,
    pub SET_INFORMATION: NDIS_OID_REQUEST_QUERY,
    pub METHOD_INFORMATION: NDIS_OID_REQUEST_METHOD,
}

/// Layout: [ntdiff] `_NDIS_OID_REQUEST` as an NDIS 6.30 miniport compiles
/// it: through `Reserved2` (ends at 0xec), padded to the 8-byte alignment,
/// size 0xf0. Revision 2 (`SwitchId`, `VPortId`, `Flags`, size 0xf8) exists
/// only from NDIS 6.50; NDIS owns every OID request and a 6.30 miniport
/// reads only fields below 0xe8.
#[repr(C)]
pub struct NDIS_OID_REQUEST {
    pub Header: NDIS_OBJECT_HEADER,
    pub RequestType: u32,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub Timeout: u32,
    pub RequestId: *mut c_void,
    pub RequestHandle: NDIS_HANDLE,
    pub DATA: NDIS_OID_REQUEST_DATA,
    pub NdisReserved: [*mut c_void; 16],
    pub MiniportReserved: [*mut c_void; 2],
    pub SourceReserved: [*mut c_void; 2],
    pub SupportedRevision: u8,
    pub Reserved1: u8,
    pub Reserved2: u16,
}

pub const NdisRequestQueryInformation: u32 = 0;
pub const NdisRequestSetInformation: u32 = 1;
pub const NdisRequestQueryStatistics: u32 = 2;
pub const NdisRequestMethod: u32 = 12;

pub type SetOptionsFn = unsafe extern "system" fn(NDIS_HANDLE, NDIS_HANDLE) -> NDIS_STATUS;
pub type InitializeFn =
    unsafe extern "system" fn(NDIS_HANDLE, NDIS_HANDLE, *mut c_void) -> NDIS_STATUS;
pub type HaltFn = unsafe extern "system" fn(NDIS_HANDLE, u32);
pub type UnloadFn = unsafe extern "system" fn(*mut c_void);
pub type PauseFn = unsafe extern "system" fn(NDIS_HANDLE, *mut c_void) -> NDIS_STATUS;
pub type RestartFn = unsafe extern "system" fn(NDIS_HANDLE, *mut c_void) -> NDIS_STATUS;
pub type OidRequestFn =
    unsafe extern "system" fn(NDIS_HANDLE, *mut NDIS_OID_REQUEST) -> NDIS_STATUS;
pub type SendFn =
    unsafe extern "system" fn(NDIS_HANDLE, *mut NET_BUFFER_LIST, NDIS_PORT_NUMBER, u32);
pub type ReturnFn = unsafe extern "system" fn(NDIS_HANDLE, *mut NET_BUFFER_LIST, u32);
pub type CancelSendFn = unsafe extern "system" fn(NDIS_HANDLE, *mut c_void);
pub type CheckForHangFn = unsafe extern "system" fn(NDIS_HANDLE) -> u8;
pub type ResetFn = unsafe extern "system" fn(NDIS_HANDLE, *mut u8) -> NDIS_STATUS;
pub type PnpEventFn = unsafe extern "system" fn(NDIS_HANDLE, *mut c_void);
pub type ShutdownFn = unsafe extern "system" fn(NDIS_HANDLE, u32);
pub type CancelOidFn = unsafe extern "system" fn(NDIS_HANDLE, *mut c_void);

/// Layout: [ntdiff] `_NDIS_MINIPORT_DRIVER_CHARACTERISTICS` (revision 2,
/// NDIS 6.1 and later), size 0x98. Revision 3 (NDIS 6.80) adds a handler
/// the driver does not register.
#[repr(C)]
#[derive(Default)]
pub struct NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    pub Header: NDIS_OBJECT_HEADER,
    pub MajorNdisVersion: u8,
    pub MinorNdisVersion: u8,
    pub MajorDriverVersion: u8,
    pub MinorDriverVersion: u8,
    pub Flags: u32,
    pub SetOptionsHandler: Option<SetOptionsFn>,
    pub InitializeHandlerEx: Option<InitializeFn>,
    pub HaltHandlerEx: Option<HaltFn>,
    pub UnloadHandler: Option<UnloadFn>,
    pub PauseHandler: Option<PauseFn>,
    pub RestartHandler: Option<RestartFn>,
    pub OidRequestHandler: Option<OidRequestFn>,
    pub SendNetBufferListsHandler: Option<SendFn>,
    pub ReturnNetBufferListsHandler: Option<ReturnFn>,
    pub CancelSendHandler: Option<CancelSendFn>,
    pub CheckForHangHandlerEx: Option<CheckForHangFn>,
    pub ResetHandlerEx: Option<ResetFn>,
    pub DevicePnPEventNotifyHandler: Option<PnpEventFn>,
    pub ShutdownHandlerEx: Option<ShutdownFn>,
    pub CancelOidRequestHandler: Option<CancelOidFn>,
    pub DirectOidRequestHandler: Option<OidRequestFn>,
    pub CancelDirectOidRequestHandler: Option<CancelOidFn>,
}

/// Layout: [ntdiff] `_NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES`, size
/// 0x20 (revision 1 covers 0x1c of it).
#[repr(C)]
pub struct NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub MiniportAdapterContext: NDIS_HANDLE,
    pub AttributeFlags: u32,
    pub CheckForHangTimeInSeconds: u32,
    pub InterfaceType: u32,
}

pub const NDIS_MAX_PHYS_ADDRESS_LENGTH: usize = 32;

/// Layout: [ntdiff] `_NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES`, size 0xe0
/// (revision 2).
#[repr(C)]
pub struct NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    pub Header: NDIS_OBJECT_HEADER,
    pub Flags: u32,
    pub MediaType: u32,
    pub PhysicalMediumType: u32,
    pub MtuSize: u32,
    pub MaxXmitLinkSpeed: u64,
    pub XmitLinkSpeed: u64,
    pub MaxRcvLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub MediaConnectState: u32,
    pub MediaDuplexState: u32,
    pub LookaheadSize: u32,
    pub PowerManagementCapabilities: *mut c_void,
    pub MacOptions: u32,
    pub SupportedPacketFilters: u32,
    pub MaxMulticastListSize: u32,
    pub MacAddressLength: u16,
    pub PermanentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub CurrentMacAddress: [u8; NDIS_MAX_PHYS_ADDRESS_LENGTH],
    pub RecvScaleCapabilities: *mut c_void,
    pub AccessType: u32,
    pub DirectionType: u32,
    pub ConnectionType: u32,
    pub IfType: u16,
    pub IfConnectorPresent: u8,
    pub SupportedStatistics: u32,
    pub SupportedPauseFunctions: u32,
    pub DataBackFillSize: u32,
    pub ContextBackFillSize: u32,
    pub SupportedOidList: *mut NDIS_OID,
    pub SupportedOidListLength: u32,
    pub AutoNegotiationFlags: u32,
    pub PowerManagementCapabilitiesEx: *mut c_void,
}

/// Layout: [ntdiff] `_NDIS_STATUS_INDICATION`, size 0x70; `Guid` is the
/// 16-byte GUID at 0x3c.
#[repr(C)]
pub struct NDIS_STATUS_INDICATION {
    pub Header: NDIS_OBJECT_HEADER,
    pub SourceHandle: NDIS_HANDLE,
    pub PortNumber: NDIS_PORT_NUMBER,
    pub StatusCode: NDIS_STATUS,
    pub Flags: u32,
    pub DestinationHandle: NDIS_HANDLE,
    pub RequestId: *mut c_void,
    pub StatusBuffer: *mut c_void,
    pub StatusBufferSize: u32,
    pub Guid: [u8; 16],
    pub NdisReserved: [*mut c_void; 4],
}

/// Layout: [ntdiff] `_NDIS_LINK_STATE`, size 0x28.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_LINK_STATE {
    pub Header: NDIS_OBJECT_HEADER,
    pub MediaConnectState: u32,
    pub MediaDuplexState: u32,
    pub XmitLinkSpeed: u64,
    pub RcvLinkSpeed: u64,
    pub PauseFunctions: u32,
    pub AutoNegotiationFlags: u32,
}

/// Layout: [ntdiff] `_NDIS_CONFIGURATION_OBJECT`, size 0x18 (revision 1
/// covers 0x14 of it).
#[repr(C)]
pub struct NDIS_CONFIGURATION_OBJECT {
    pub Header: NDIS_OBJECT_HEADER,
    pub NdisHandle: NDIS_HANDLE,
    pub Flags: u32,
}

/// Layout: [ntdiff] `BINARY_DATA` (x64: Buffer at 0x8), size 0x10.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BINARY_DATA {
    pub Length: u16,
    pub Buffer: *mut c_void,
}

/// Layout: [ntdiff] the `ParameterData` union of
/// `_NDIS_CONFIGURATION_PARAMETER`, size 0x10.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_CONFIGURATION_PARAMETER_DATA {
    pub IntegerData: u32,
    pub StringData: NDIS_STRING,
    pub BinaryData: BINARY_DATA,
}

/// Layout: [ntdiff] `_NDIS_CONFIGURATION_PARAMETER`, size 0x18
/// (`ParameterData` at 0x8).
#[repr(C)]
pub struct NDIS_CONFIGURATION_PARAMETER {
    pub ParameterType: u32,
    pub ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA,
}

pub const NdisParameterInteger: u32 = 0;
pub const NdisParameterHexInteger: u32 = 1;
pub const NdisParameterString: u32 = 2;

/// Layout: [ntdiff] `_NET_BUFFER_LIST_POOL_PARAMETERS`, size 0x10.
#[repr(C)]
pub struct NET_BUFFER_LIST_POOL_PARAMETERS {
    pub Header: NDIS_OBJECT_HEADER,
    pub ProtocolId: u8,
    pub fAllocateNetBuffer: u8,
    pub ContextSize: u16,
    pub PoolTag: u32,
    pub DataSize: u32,
}

/// Layout: [ntdiff] `_NDIS_STATISTICS_INFO`, size 0x98.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NDIS_STATISTICS_INFO {
    pub Header: NDIS_OBJECT_HEADER,
    pub SupportedStatistics: u32,
    pub ifInDiscards: u64,
    pub ifInErrors: u64,
    pub ifHCInOctets: u64,
    pub ifHCInUcastPkts: u64,
    pub ifHCInMulticastPkts: u64,
    pub ifHCInBroadcastPkts: u64,
    pub ifHCOutOctets: u64,
    pub ifHCOutUcastPkts: u64,
    pub ifHCOutMulticastPkts: u64,
    pub ifHCOutBroadcastPkts: u64,
    pub ifOutErrors: u64,
    pub ifOutDiscards: u64,
    pub ifHCInUcastOctets: u64,
    pub ifHCInMulticastOctets: u64,
    pub ifHCInBroadcastOctets: u64,
    pub ifHCOutUcastOctets: u64,
    pub ifHCOutMulticastOctets: u64,
    pub ifHCOutBroadcastOctets: u64,
}

// Object header types and revisions (ndis.h / objectheader.h).
pub const NDIS_OBJECT_TYPE_DEFAULT: u8 = 0x80;
pub const NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS: u8 = 0x8A;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: u8 = 0x9E;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: u8 = 0x9F;
pub const NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT: u8 = 0xA9;
pub const NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x98;
pub const NDIS_OBJECT_TYPE_OID_REQUEST: u8 = 0x96;
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u8 = 2;
pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u16 = 0x98;
pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1: u16 = 0x1c;
/// Revision 2 (NDIS 6.30 miniports register it): the same fields, the
/// same size as revision 1.
pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u8 = 2;
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u16 = 0x1c;
pub const NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u8 = 2;
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u16 = 0xe0;
pub const NDIS_CONFIGURATION_OBJECT_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1: u16 = 0x14;
pub const NDIS_STATUS_INDICATION_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_STATUS_INDICATION_REVISION_1: u16 = 0x70;
pub const NDIS_LINK_STATE_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_LINK_STATE_REVISION_1: u16 = 0x28;
pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u16 = 0x10;
pub const NDIS_STATISTICS_INFO_REVISION_1: u8 = 1;
pub const NDIS_SIZEOF_STATISTICS_INFO_REVISION_1: u16 = 0x98;

// NDIS_STATUS values (ndis.h, ntstatus.h).
pub const NDIS_STATUS_SUCCESS: NDIS_STATUS = 0;
pub const NDIS_STATUS_PENDING: NDIS_STATUS = 0x0000_0103;
pub const NDIS_STATUS_FAILURE: NDIS_STATUS = 0xC000_0001_u32 as i32;
pub const NDIS_STATUS_RESOURCES: NDIS_STATUS = 0xC000_009A_u32 as i32;
pub const NDIS_STATUS_NOT_SUPPORTED: NDIS_STATUS = 0xC000_00BB_u32 as i32;
pub const NDIS_STATUS_INVALID_PARAMETER: NDIS_STATUS = 0xC000_000D_u32 as i32;
pub const NDIS_STATUS_REQUEST_ABORTED: NDIS_STATUS = 0xC001_000C_u32 as i32;
pub const NDIS_STATUS_ADAPTER_NOT_FOUND: NDIS_STATUS = 0xC001_0006_u32 as i32;
pub const NDIS_STATUS_MULTICAST_FULL: NDIS_STATUS = 0xC001_0009_u32 as i32;
pub const NDIS_STATUS_MEDIA_DISCONNECTED: NDIS_STATUS = 0xC023_001F_u32 as i32;
pub const NDIS_STATUS_ADAPTER_NOT_READY: NDIS_STATUS = 0xC001_0011_u32 as i32;
pub const NDIS_STATUS_INVALID_LENGTH: NDIS_STATUS = 0xC001_0014_u32 as i32;
pub const NDIS_STATUS_INVALID_DATA: NDIS_STATUS = 0xC001_0015_u32 as i32;
pub const NDIS_STATUS_BUFFER_TOO_SHORT: NDIS_STATUS = 0xC001_0016_u32 as i32;
pub const NDIS_STATUS_PAUSED: NDIS_STATUS = 0xC023_002A_u32 as i32;
pub const NDIS_STATUS_LINK_STATE: NDIS_STATUS = 0x4001_0017;

// Flags.
pub const NDIS_SEND_FLAGS_DISPATCH_LEVEL: u32 = 0x1;
pub const NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL: u32 = 0x1;
pub const NDIS_RETURN_FLAGS_DISPATCH_LEVEL: u32 = 0x1;
pub const NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL: u32 = 0x1;
pub const NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND: u32 = 0x0000_0020;
pub const NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK: u32 = 0x0000_0004;
pub const NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA: u32 = 0x1;
pub const NDIS_MAC_OPTION_TRANSFERS_NOT_PEND: u32 = 0x4;
pub const NDIS_MAC_OPTION_NO_LOOPBACK: u32 = 0x8;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV: u32 = 0x0000_0001;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_RCV: u32 = 0x0000_0002;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_RCV: u32 = 0x0000_0004;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV: u32 = 0x0000_0008;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS: u32 = 0x0000_0010;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR: u32 = 0x0000_0020;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT: u32 = 0x0000_0040;
pub const NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_XMIT: u32 = 0x0000_0080;
pub const NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_XMIT: u32 = 0x0000_0100;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT: u32 = 0x0000_0200;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR: u32 = 0x0000_0400;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS: u32 = 0x0000_8000;

// Packet filter bits.
pub const NDIS_PACKET_TYPE_DIRECTED: u32 = 0x01;
pub const NDIS_PACKET_TYPE_MULTICAST: u32 = 0x02;
pub const NDIS_PACKET_TYPE_ALL_MULTICAST: u32 = 0x04;
pub const NDIS_PACKET_TYPE_BROADCAST: u32 = 0x08;
pub const NDIS_PACKET_TYPE_PROMISCUOUS: u32 = 0x20;
pub const NDIS_PACKET_TYPE_ALL_LOCAL: u32 = 0x80;

// Media and interface constants.
pub const NdisMedium802_3: u32 = 0;
pub const NdisPhysicalMediumUnspecified: u32 = 0;
pub const NdisPhysicalMedium802_3: u32 = 14;
pub const NdisInterfaceInternal: u32 = 0;
pub const MediaConnectStateUnknown: u32 = 0;
pub const MediaConnectStateConnected: u32 = 1;
pub const MediaConnectStateDisconnected: u32 = 2;
pub const MediaDuplexStateFull: u32 = 2;
pub const NdisPauseFunctionsUnsupported: u32 = 0;
pub const NET_IF_ACCESS_BROADCAST: u32 = 2;
pub const NET_IF_DIRECTION_SENDRECEIVE: u32 = 0;
pub const NET_IF_CONNECTION_DEDICATED: u32 = 1;
pub const IF_TYPE_ETHERNET_CSMACD: u16 = 6;
pub const NdisHardwareStatusReady: u32 = 0;
pub const NdisHaltDeviceDisabled: u32 = 0;
pub const NdisShutdownPowerOff: u32 = 0;
pub const NdisShutdownBugCheck: u32 = 1;

// OIDs (ntddndis.h).
pub const OID_GEN_SUPPORTED_LIST: NDIS_OID = 0x0001_0101;
pub const OID_GEN_HARDWARE_STATUS: NDIS_OID = 0x0001_0102;
pub const OID_GEN_MEDIA_SUPPORTED: NDIS_OID = 0x0001_0103;
pub const OID_GEN_MEDIA_IN_USE: NDIS_OID = 0x0001_0104;
pub const OID_GEN_MAXIMUM_LOOKAHEAD: NDIS_OID = 0x0001_0105;
pub const OID_GEN_MAXIMUM_FRAME_SIZE: NDIS_OID = 0x0001_0106;
pub const OID_GEN_LINK_SPEED: NDIS_OID = 0x0001_0107;
pub const OID_GEN_TRANSMIT_BUFFER_SPACE: NDIS_OID = 0x0001_0108;
pub const OID_GEN_RECEIVE_BUFFER_SPACE: NDIS_OID = 0x0001_0109;
pub const OID_GEN_TRANSMIT_BLOCK_SIZE: NDIS_OID = 0x0001_010A;
pub const OID_GEN_RECEIVE_BLOCK_SIZE: NDIS_OID = 0x0001_010B;
pub const OID_GEN_VENDOR_ID: NDIS_OID = 0x0001_010C;
pub const OID_GEN_VENDOR_DESCRIPTION: NDIS_OID = 0x0001_010D;
pub const OID_GEN_CURRENT_PACKET_FILTER: NDIS_OID = 0x0001_010E;
pub const OID_GEN_CURRENT_LOOKAHEAD: NDIS_OID = 0x0001_010F;
pub const OID_GEN_DRIVER_VERSION: NDIS_OID = 0x0001_0110;
pub const OID_GEN_MAXIMUM_TOTAL_SIZE: NDIS_OID = 0x0001_0111;
pub const OID_GEN_MAC_OPTIONS: NDIS_OID = 0x0001_0113;
pub const OID_GEN_MEDIA_CONNECT_STATUS: NDIS_OID = 0x0001_0114;
pub const OID_GEN_MAXIMUM_SEND_PACKETS: NDIS_OID = 0x0001_0115;
pub const OID_GEN_VENDOR_DRIVER_VERSION: NDIS_OID = 0x0001_0116;
pub const OID_GEN_PHYSICAL_MEDIUM: NDIS_OID = 0x0001_0202;
pub const OID_GEN_LINK_STATE: NDIS_OID = 0x0001_0207;
pub const OID_GEN_INTERRUPT_MODERATION: NDIS_OID = 0x0001_0209;
pub const OID_GEN_XMIT_OK: NDIS_OID = 0x0002_0101;
pub const OID_GEN_RCV_OK: NDIS_OID = 0x0002_0102;
pub const OID_GEN_XMIT_ERROR: NDIS_OID = 0x0002_0103;
pub const OID_GEN_RCV_ERROR: NDIS_OID = 0x0002_0104;
pub const OID_GEN_RCV_NO_BUFFER: NDIS_OID = 0x0002_0105;
pub const OID_GEN_STATISTICS: NDIS_OID = 0x0002_0106;
pub const OID_802_3_PERMANENT_ADDRESS: NDIS_OID = 0x0101_0101;
pub const OID_802_3_CURRENT_ADDRESS: NDIS_OID = 0x0101_0102;
pub const OID_802_3_MULTICAST_LIST: NDIS_OID = 0x0101_0103;
pub const OID_802_3_MAXIMUM_LIST_SIZE: NDIS_OID = 0x0101_0104;
pub const OID_802_3_RCV_ERROR_ALIGNMENT: NDIS_OID = 0x0102_0101;
pub const OID_802_3_XMIT_ONE_COLLISION: NDIS_OID = 0x0102_0102;
pub const OID_802_3_XMIT_MORE_COLLISIONS: NDIS_OID = 0x0102_0103;
pub const OID_PNP_CAPABILITIES: NDIS_OID = 0xFD01_0100;
pub const OID_PNP_SET_POWER: NDIS_OID = 0xFD01_0101;
pub const OID_PNP_QUERY_POWER: NDIS_OID = 0xFD01_0102;

/// Size and field offsets of every declaration above, x64, from the sources
/// named in each `Layout:` note. Checked wherever the crate builds for a
/// 64-bit target.
#[cfg(target_pointer_width = "64")]
mod layout {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    /// `assert_layout!(T, size, { field: offset, ... })`: compile-time checks
    /// of `size_of::<T>()` and of each field's offset.
    macro_rules! assert_layout {
        ($t:ty, $size:expr, { $($field:ident : $offset:expr),* $(,)? }) => {
            const _: () = assert!(size_of::<$t>() == $size);
            $(const _: () = assert!(offset_of!($t, $field) == $offset);)*
        };
    }

    assert_layout!(NDIS_OBJECT_HEADER, 0x4, { Type: 0x0, Revision: 0x1, Size: 0x2 });
    assert_layout!(UNICODE_STRING, 0x10, { Length: 0x0, MaximumLength: 0x2, Buffer: 0x8 });
    assert_layout!(MDL, 0x30, {
        Next: 0x0,
        Size: 0x8,
        MdlFlags: 0xa,
        Process: 0x10,
        MappedSystemVa: 0x18,
        StartVa: 0x20,
        ByteCount: 0x28,
        ByteOffset: 0x2c,
    });
    assert_layout!(NET_BUFFER, 0xb0, {
        Next: 0x0,
        CurrentMdl: 0x8,
        CurrentMdlOffset: 0x10,
        DataLength: 0x18,
        MdlChain: 0x20,
        DataOffset: 0x28,
        ChecksumBias: 0x30,
        Reserved: 0x32,
        NdisPoolHandle: 0x38,
        NdisReserved: 0x40,
        ProtocolReserved: 0x50,
        MiniportReserved: 0x80,
        DataPhysicalAddress: 0xa0,
        SharedMemoryInfo: 0xa8,
    });
    const _: () = assert!(align_of::<Aligned16<[*mut c_void; 2]>>() == 16);
    const _: () = assert!(size_of::<Aligned16<[*mut c_void; 2]>>() == 0x10);
    const _: () = assert!(size_of::<Aligned16<[*mut c_void; 4]>>() == 0x20);
    const _: () = assert!(size_of::<Aligned16<[*mut c_void; 6]>>() == 0x30);
    assert_layout!(NET_BUFFER_LIST, 0x150, {
        Next: 0x0,
        FirstNetBuffer: 0x8,
        Context: 0x10,
        ParentNetBufferList: 0x18,
        NdisPoolHandle: 0x20,
        NdisReserved: 0x30,
        ProtocolReserved: 0x40,
        MiniportReserved: 0x60,
        Scratch: 0x70,
        SourceHandle: 0x78,
        NblFlags: 0x80,
        ChildRefCount: 0x84,
        Flags: 0x88,
        Status: 0x8c,
        NetBufferListInfo: 0x90,
    });
    assert_layout!(NDIS_OID_REQUEST_QUERY, 0x20, {
        Oid: 0x0,
        InformationBuffer: 0x8,
        InformationBufferLength: 0x10,
        BytesWritten: 0x14,
        BytesNeeded: 0x18,
    });
    assert_layout!(NDIS_OID_REQUEST_METHOD, 0x28, {
        Oid: 0x0,
        InformationBuffer: 0x8,
        InputBufferLength: 0x10,
        OutputBufferLength: 0x14,
        MethodId: 0x18,
        BytesWritten: 0x1c,
        BytesRead: 0x20,
        BytesNeeded: 0x24,
    });
    // A union's members all sit at offset 0 (repr(C)); only its size varies.
    assert_layout!(NDIS_OID_REQUEST_DATA, 0x28, {});
    assert_layout!(NDIS_OID_REQUEST, 0xf0, {
        Header: 0x0,
        RequestType: 0x4,
        PortNumber: 0x8,
        Timeout: 0xc,
        RequestId: 0x10,
        RequestHandle: 0x18,
        DATA: 0x20,
        NdisReserved: 0x48,
        MiniportReserved: 0xc8,
        SourceReserved: 0xd8,
        SupportedRevision: 0xe8,
        Reserved1: 0xe9,
        Reserved2: 0xea,
    });
    assert_layout!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, 0x98, {
        Header: 0x0,
        MajorNdisVersion: 0x4,
        MinorNdisVersion: 0x5,
        MajorDriverVersion: 0x6,
        MinorDriverVersion: 0x7,
        Flags: 0x8,
        SetOptionsHandler: 0x10,
        InitializeHandlerEx: 0x18,
        HaltHandlerEx: 0x20,
        UnloadHandler: 0x28,
        PauseHandler: 0x30,
        RestartHandler: 0x38,
        OidRequestHandler: 0x40,
        SendNetBufferListsHandler: 0x48,
        ReturnNetBufferListsHandler: 0x50,
        CancelSendHandler: 0x58,
        CheckForHangHandlerEx: 0x60,
        ResetHandlerEx: 0x68,
        DevicePnPEventNotifyHandler: 0x70,
        ShutdownHandlerEx: 0x78,
        CancelOidRequestHandler: 0x80,
        DirectOidRequestHandler: 0x88,
        CancelDirectOidRequestHandler: 0x90,
    });
    assert_layout!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, 0x20, {
        Header: 0x0,
        MiniportAdapterContext: 0x8,
        AttributeFlags: 0x10,
        CheckForHangTimeInSeconds: 0x14,
        InterfaceType: 0x18,
    });
    assert_layout!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, 0xe0, {
        Header: 0x0,
        Flags: 0x4,
        MediaType: 0x8,
        PhysicalMediumType: 0xc,
        MtuSize: 0x10,
        MaxXmitLinkSpeed: 0x18,
        XmitLinkSpeed: 0x20,
        MaxRcvLinkSpeed: 0x28,
        RcvLinkSpeed: 0x30,
        MediaConnectState: 0x38,
        MediaDuplexState: 0x3c,
        LookaheadSize: 0x40,
        PowerManagementCapabilities: 0x48,
        MacOptions: 0x50,
        SupportedPacketFilters: 0x54,
        MaxMulticastListSize: 0x58,
        MacAddressLength: 0x5c,
        PermanentMacAddress: 0x5e,
        CurrentMacAddress: 0x7e,
        RecvScaleCapabilities: 0xa0,
        AccessType: 0xa8,
        DirectionType: 0xac,
        ConnectionType: 0xb0,
        IfType: 0xb4,
        IfConnectorPresent: 0xb6,
        SupportedStatistics: 0xb8,
        SupportedPauseFunctions: 0xbc,
        DataBackFillSize: 0xc0,
        ContextBackFillSize: 0xc4,
        SupportedOidList: 0xc8,
        SupportedOidListLength: 0xd0,
        AutoNegotiationFlags: 0xd4,
        PowerManagementCapabilitiesEx: 0xd8,
    });
    assert_layout!(NDIS_STATUS_INDICATION, 0x70, {
        Header: 0x0,
        SourceHandle: 0x8,
        PortNumber: 0x10,
        StatusCode: 0x14,
        Flags: 0x18,
        DestinationHandle: 0x20,
        RequestId: 0x28,
        StatusBuffer: 0x30,
        StatusBufferSize: 0x38,
        Guid: 0x3c,
        NdisReserved: 0x50,
    });
    assert_layout!(NDIS_LINK_STATE, 0x28, {
        Header: 0x0,
        MediaConnectState: 0x4,
        MediaDuplexState: 0x8,
        XmitLinkSpeed: 0x10,
        RcvLinkSpeed: 0x18,
        PauseFunctions: 0x20,
        AutoNegotiationFlags: 0x24,
    });
    assert_layout!(NDIS_CONFIGURATION_OBJECT, 0x18, { Header: 0x0, NdisHandle: 0x8, Flags: 0x10 });
    assert_layout!(BINARY_DATA, 0x10, { Length: 0x0, Buffer: 0x8 });
    assert_layout!(NDIS_CONFIGURATION_PARAMETER_DATA, 0x10, {});
    assert_layout!(NDIS_CONFIGURATION_PARAMETER, 0x18, { ParameterType: 0x0, ParameterData: 0x8 });
    assert_layout!(NET_BUFFER_LIST_POOL_PARAMETERS, 0x10, {
        Header: 0x0,
        ProtocolId: 0x4,
        fAllocateNetBuffer: 0x5,
        ContextSize: 0x6,
        PoolTag: 0x8,
        DataSize: 0xc,
    });
    assert_layout!(NDIS_STATISTICS_INFO, 0x98, {
        Header: 0x0,
        SupportedStatistics: 0x4,
        ifInDiscards: 0x8,
        ifInErrors: 0x10,
        ifHCInOctets: 0x18,
        ifHCInUcastPkts: 0x20,
        ifHCInMulticastPkts: 0x28,
        ifHCInBroadcastPkts: 0x30,
        ifHCOutOctets: 0x38,
        ifHCOutUcastPkts: 0x40,
        ifHCOutMulticastPkts: 0x48,
        ifHCOutBroadcastPkts: 0x50,
        ifOutErrors: 0x58,
        ifOutDiscards: 0x60,
        ifHCInUcastOctets: 0x68,
        ifHCInMulticastOctets: 0x70,
        ifHCInBroadcastOctets: 0x78,
        ifHCOutUcastOctets: 0x80,
        ifHCOutMulticastOctets: 0x88,
        ifHCOutBroadcastOctets: 0x90,
    });

    // The revision sizes the driver puts in object headers are
    // RTL_SIZEOF_THROUGH_FIELD of each revision's last field ([ndis.h]);
    // computed here from the same declarations.
    const fn through(offset: usize, field_size: usize) -> u16 {
        (offset + field_size) as u16
    }
    const _: () = assert!(
        NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2
            == through(
                offset_of!(
                    NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
                    CancelDirectOidRequestHandler
                ),
                8
            )
    );
    const _: () = assert!(
        NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1
            == through(
                offset_of!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, InterfaceType),
                4
            )
    );
    const _: () = assert!(
        NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2
            == through(
                offset_of!(
                    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                    PowerManagementCapabilitiesEx
                ),
                8
            )
    );
    const _: () = assert!(
        NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1
            == through(offset_of!(NDIS_CONFIGURATION_OBJECT, Flags), 4)
    );
    const _: () = assert!(
        NDIS_SIZEOF_STATUS_INDICATION_REVISION_1
            == through(offset_of!(NDIS_STATUS_INDICATION, NdisReserved), 32)
    );
    const _: () = assert!(
        NDIS_SIZEOF_LINK_STATE_REVISION_1
            == through(offset_of!(NDIS_LINK_STATE, AutoNegotiationFlags), 4)
    );
    const _: () = assert!(
        NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1
            == through(offset_of!(NET_BUFFER_LIST_POOL_PARAMETERS, DataSize), 4)
    );
    const _: () = assert!(
        NDIS_SIZEOF_STATISTICS_INFO_REVISION_1
            == through(offset_of!(NDIS_STATISTICS_INFO, ifHCOutBroadcastOctets), 8)
    );
}

#[cfg(test)]
mod tests {
    /// Every struct and union declared here has a `Layout:` note naming its
    /// source and an `assert_layout!` line; a new declaration without both
    /// fails this test.
    #[test]
    fn every_declaration_names_its_source_and_is_asserted() {
        let source = include_str!("ndis.rs");
        let (declarations, asserts) = source
            .split_once("mod layout {")
            .expect("the layout module");
        let mut doc = String::new();
        let mut names = Vec::new();
        for line in declarations.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("///") {
                doc.push_str(trimmed);
                doc.push('\n');
                continue;
            }
            for kind in ["pub struct ", "pub union "] {
                if let Some(rest) = trimmed.strip_prefix(kind) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        doc.contains("Layout: [ntdiff]") || doc.contains("Not an NDIS type"),
                        "{name} has no `Layout:` note naming its source"
                    );
                    names.push(name);
                }
            }
            if !trimmed.starts_with("#[") {
                doc.clear();
            }
        }
        assert!(names.len() >= 20, "found only {names:?}");
        for name in names.iter().filter(|n| *n != "Aligned16") {
            assert!(
                asserts.contains(&format!("assert_layout!({name},")),
                "{name} has no size/offset assertion"
            );
        }
    }
}
