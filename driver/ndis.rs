//! The NDIS 6 declarations the miniport uses, and only those: types,
//! constants and callback signatures, `#[repr(C)]`. wdk-sys has no NDIS
//! bindings, so they are written here by hand, for an NDIS 6.30 miniport
//! (the revision the driver registers).
//!
//! They are held to the facts compiled from the real WDK headers
//! (`tests/ndis-facts/`, a copy of `../shared/reference/ndis-facts/`) by
//! `tests/ndis-sim/tests/ndis_facts.rs`: every constant's value, every
//! structure's and union's size and alignment, every field's offset and
//! size, and every import's and callback's parameter count and sizes. A
//! declaration the tables lack fails that test; extend the tables, never
//! guess a value. The `Layout:` notes name where each layout was first
//! read:
//!
//! - **[ntdiff]**: the ntdiff/headers layouts derived from Microsoft's public
//!   symbols of ndis.sys and ntoskrnl.exe, Windows 10 x64 builds.
//! - **[ndis.h]**: Microsoft's NDIS reference documentation of ndis.h and
//!   ntddndis.h: field order, `NDIS_SIZEOF_*` (`RTL_SIZEOF_THROUGH_FIELD` of
//!   the revision's last field), `*_REVISION_*`, object types, status codes,
//!   OIDs, enum values.
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
