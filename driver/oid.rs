//! The control path: answers to OID query and set requests.
//!
//! Pure policy over byte buffers: [`query`] and [`set`] take the request's
//! information buffer as a slice and return the NDIS status with
//! BytesWritten/BytesRead and BytesNeeded, following the NDIS rules:
//! a query whose buffer is too short fails with NDIS_STATUS_BUFFER_TOO_SHORT
//! and says how much it needs; a set whose buffer is too short fails with
//! NDIS_STATUS_INVALID_LENGTH and says the same; an OID the adapter does not
//! handle fails with NDIS_STATUS_NOT_SUPPORTED. adapter.rs moves these
//! between the NDIS_OID_REQUEST and the slices.

use alloc::vec::Vec;
use core::mem::size_of;

use crate::datapath::{AdapterInfo, RxFilter, StatsSnapshot, MULTICAST_LIST_MAX, RX_SLOTS};
use crate::ndis::*;

/// NDIS version the driver registers with (6.30).
/// What the adapter says it is. The INF says the same (`*MediaType`,
/// `*PhysicalMediaType`, `*IfType`; tests/tests/inf_agreement.rs checks),
/// as netvmini does: an 802.3 adapter on an 802.3 medium.
pub const MEDIUM: u32 = NdisMedium802_3;
pub const PHYSICAL_MEDIUM: u32 = NdisPhysicalMedium802_3;
pub const IF_TYPE: u16 = IF_TYPE_ETHERNET_CSMACD;

pub const NDIS_MAJOR: u8 = 6;
pub const NDIS_MINOR: u8 = 30;
pub const DRIVER_MAJOR: u8 = 0;
pub const DRIVER_MINOR: u8 = 1;
/// No IEEE OUI: the 0xFFFFFF "no OUI" value netvmini also uses.
pub const VENDOR_ID: u32 = 0x00FF_FFFF;
pub const VENDOR_DESCRIPTION: &[u8] = b"volnic storage-path virtual Ethernet adapter\0";
/// Packet filter bits the adapter implements.
pub const SUPPORTED_FILTERS: u32 = NDIS_PACKET_TYPE_DIRECTED
    | NDIS_PACKET_TYPE_MULTICAST
    | NDIS_PACKET_TYPE_ALL_MULTICAST
    | NDIS_PACKET_TYPE_BROADCAST
    | NDIS_PACKET_TYPE_PROMISCUOUS;
pub const MAC_OPTIONS: u32 = NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
    | NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
    | NDIS_MAC_OPTION_NO_LOOPBACK;
/// NDIS_INTERRUPT_MODERATION_PARAMETERS: header, flags, moderation.
const INTERRUPT_MODERATION_LEN: usize = 12;
const NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1: u8 = 1;
const NDIS_INTERRUPT_MODERATION_NOT_SUPPORTED: u32 = 1;
const NDIS_MEDIA_STATE_CONNECTED: u32 = 0;
const NDIS_MEDIA_STATE_DISCONNECTED: u32 = 1;

/// Query OIDs answered (OID_GEN_SUPPORTED_LIST).
pub const SUPPORTED_OIDS: &[NDIS_OID] = &[
    OID_GEN_SUPPORTED_LIST,
    OID_GEN_HARDWARE_STATUS,
    OID_GEN_MEDIA_SUPPORTED,
    OID_GEN_MEDIA_IN_USE,
    OID_GEN_PHYSICAL_MEDIUM,
    OID_GEN_MAXIMUM_LOOKAHEAD,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_GEN_MAXIMUM_FRAME_SIZE,
    OID_GEN_MAXIMUM_TOTAL_SIZE,
    OID_GEN_TRANSMIT_BLOCK_SIZE,
    OID_GEN_RECEIVE_BLOCK_SIZE,
    OID_GEN_TRANSMIT_BUFFER_SPACE,
    OID_GEN_RECEIVE_BUFFER_SPACE,
    OID_GEN_LINK_SPEED,
    OID_GEN_MEDIA_CONNECT_STATUS,
    OID_GEN_LINK_STATE,
    OID_GEN_VENDOR_ID,
    OID_GEN_VENDOR_DESCRIPTION,
    OID_GEN_DRIVER_VERSION,
    OID_GEN_VENDOR_DRIVER_VERSION,
    OID_GEN_MAC_OPTIONS,
    OID_GEN_MAXIMUM_SEND_PACKETS,
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_INTERRUPT_MODERATION,
    OID_GEN_XMIT_OK,
    OID_GEN_RCV_OK,
    OID_GEN_XMIT_ERROR,
    OID_GEN_RCV_ERROR,
    OID_GEN_RCV_NO_BUFFER,
    OID_GEN_STATISTICS,
    OID_802_3_PERMANENT_ADDRESS,
    OID_802_3_CURRENT_ADDRESS,
    OID_802_3_MULTICAST_LIST,
    OID_802_3_MAXIMUM_LIST_SIZE,
    OID_802_3_RCV_ERROR_ALIGNMENT,
    OID_802_3_XMIT_ONE_COLLISION,
    OID_802_3_XMIT_MORE_COLLISIONS,
    OID_PNP_QUERY_POWER,
    OID_PNP_SET_POWER,
];

/// Set OIDs accepted.
pub const SETTABLE_OIDS: &[NDIS_OID] = &[
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_802_3_MULTICAST_LIST,
    OID_GEN_INTERRUPT_MODERATION,
    OID_PNP_SET_POWER,
    OID_PNP_QUERY_POWER,
];

/// Outcome of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OidOutcome {
    pub status: NDIS_STATUS,
    /// BytesWritten (query) or BytesRead (set).
    pub bytes_done: u32,
    pub bytes_needed: u32,
}

impl OidOutcome {
    fn ok(done: usize) -> Self {
        Self {
            status: NDIS_STATUS_SUCCESS,
            bytes_done: done as u32,
            bytes_needed: 0,
        }
    }
    fn fail(status: NDIS_STATUS) -> Self {
        Self {
            status,
            bytes_done: 0,
            bytes_needed: 0,
        }
    }
    fn short(status: NDIS_STATUS, needed: usize) -> Self {
        Self {
            status,
            bytes_done: 0,
            bytes_needed: needed as u32,
        }
    }
}

/// Everything a query may report.
pub struct AdapterView<'a> {
    pub info: &'a AdapterInfo,
    pub link_up: bool,
    pub filter: &'a RxFilter,
    pub lookahead: u32,
    pub stats: StatsSnapshot,
}

fn write(buf: &mut [u8], bytes: &[u8]) -> OidOutcome {
    if buf.len() < bytes.len() {
        return OidOutcome::short(NDIS_STATUS_BUFFER_TOO_SHORT, bytes.len());
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    OidOutcome::ok(bytes.len())
}

fn write_u32(buf: &mut [u8], value: u32) -> OidOutcome {
    write(buf, &value.to_le_bytes())
}

/// Counter OIDs: 8 bytes when the buffer holds them, else the low 4 bytes
/// (NDIS lets a caller ask with a ULONG), with BytesNeeded saying 8.
fn write_counter(buf: &mut [u8], value: u64) -> OidOutcome {
    if buf.len() >= 8 {
        return write(buf, &value.to_le_bytes());
    }
    if buf.len() >= 4 {
        let mut outcome = write(buf, &(value as u32).to_le_bytes());
        outcome.bytes_needed = 8;
        return outcome;
    }
    OidOutcome::short(NDIS_STATUS_BUFFER_TOO_SHORT, 8)
}

fn statistics(stats: &StatsSnapshot) -> NDIS_STATISTICS_INFO {
    NDIS_STATISTICS_INFO {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_DEFAULT,
            Revision: NDIS_STATISTICS_INFO_REVISION_1,
            Size: NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
        },
        SupportedStatistics: SUPPORTED_STATISTICS,
        ifInDiscards: stats.rx_discards,
        ifInErrors: stats.rx_errors,
        ifHCInOctets: stats.rx_bytes.iter().sum(),
        ifHCInUcastPkts: stats.rx_frames[0],
        ifHCInMulticastPkts: stats.rx_frames[1],
        ifHCInBroadcastPkts: stats.rx_frames[2],
        ifHCOutOctets: stats.tx_bytes.iter().sum(),
        ifHCOutUcastPkts: stats.tx_frames[0],
        ifHCOutMulticastPkts: stats.tx_frames[1],
        ifHCOutBroadcastPkts: stats.tx_frames[2],
        ifOutErrors: stats.tx_errors,
        ifOutDiscards: stats.tx_discards,
        ifHCInUcastOctets: stats.rx_bytes[0],
        ifHCInMulticastOctets: stats.rx_bytes[1],
        ifHCInBroadcastOctets: stats.rx_bytes[2],
        ifHCOutUcastOctets: stats.tx_bytes[0],
        ifHCOutMulticastOctets: stats.tx_bytes[1],
        ifHCOutBroadcastOctets: stats.tx_bytes[2],
    }
}

/// The statistics the adapter keeps (general attributes and OID_GEN_STATISTICS).
pub const SUPPORTED_STATISTICS: u32 = NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
    | NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS
    | NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR
    | NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT
    | NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR
    | NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS;

fn header_bytes(out: &mut Vec<u8>, header: &NDIS_OBJECT_HEADER) {
    out.push(header.Type);
    out.push(header.Revision);
    out.extend_from_slice(&header.Size.to_le_bytes());
}

/// NDIS_LINK_STATE as laid out on x64 (padding zeroed).
fn link_state_bytes(state: &NDIS_LINK_STATE) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_of::<NDIS_LINK_STATE>());
    header_bytes(&mut out, &state.Header);
    out.extend_from_slice(&state.MediaConnectState.to_le_bytes());
    out.extend_from_slice(&state.MediaDuplexState.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&state.XmitLinkSpeed.to_le_bytes());
    out.extend_from_slice(&state.RcvLinkSpeed.to_le_bytes());
    out.extend_from_slice(&state.PauseFunctions.to_le_bytes());
    out.extend_from_slice(&state.AutoNegotiationFlags.to_le_bytes());
    out
}

/// NDIS_STATISTICS_INFO as laid out (no padding: header, flags, 18 counters).
fn statistics_bytes(info: &NDIS_STATISTICS_INFO) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_of::<NDIS_STATISTICS_INFO>());
    header_bytes(&mut out, &info.Header);
    out.extend_from_slice(&info.SupportedStatistics.to_le_bytes());
    for counter in [
        info.ifInDiscards,
        info.ifInErrors,
        info.ifHCInOctets,
        info.ifHCInUcastPkts,
        info.ifHCInMulticastPkts,
        info.ifHCInBroadcastPkts,
        info.ifHCOutOctets,
        info.ifHCOutUcastPkts,
        info.ifHCOutMulticastPkts,
        info.ifHCOutBroadcastPkts,
        info.ifOutErrors,
        info.ifOutDiscards,
        info.ifHCInUcastOctets,
        info.ifHCInMulticastOctets,
        info.ifHCInBroadcastOctets,
        info.ifHCOutUcastOctets,
        info.ifHCOutMulticastOctets,
        info.ifHCOutBroadcastOctets,
    ] {
        out.extend_from_slice(&counter.to_le_bytes());
    }
    out
}

/// Answers a query request.
pub fn query(oid: NDIS_OID, view: &AdapterView<'_>, buf: &mut [u8]) -> OidOutcome {
    let info = view.info;
    let stats = &view.stats;
    match oid {
        OID_GEN_SUPPORTED_LIST => {
            let bytes: Vec<u8> = SUPPORTED_OIDS
                .iter()
                .flat_map(|o| o.to_le_bytes())
                .collect();
            write(buf, &bytes)
        }
        OID_GEN_HARDWARE_STATUS => write_u32(buf, NdisHardwareStatusReady),
        OID_GEN_MEDIA_SUPPORTED | OID_GEN_MEDIA_IN_USE => write_u32(buf, MEDIUM),
        OID_GEN_PHYSICAL_MEDIUM => write_u32(buf, PHYSICAL_MEDIUM),
        OID_GEN_MAXIMUM_LOOKAHEAD | OID_GEN_MAXIMUM_FRAME_SIZE => write_u32(buf, info.mtu),
        OID_GEN_CURRENT_LOOKAHEAD => write_u32(buf, view.lookahead),
        OID_GEN_MAXIMUM_TOTAL_SIZE | OID_GEN_TRANSMIT_BLOCK_SIZE | OID_GEN_RECEIVE_BLOCK_SIZE => {
            write_u32(buf, info.max_frame_len as u32)
        }
        OID_GEN_TRANSMIT_BUFFER_SPACE => write_u32(buf, info.send_queue_bytes as u32),
        OID_GEN_RECEIVE_BUFFER_SPACE => write_u32(buf, (RX_SLOTS * info.max_frame_len) as u32),
        // In units of 100 bit/s.
        OID_GEN_LINK_SPEED => {
            write_u32(buf, (info.link_speed_bps / 100).min(u32::MAX.into()) as u32)
        }
        OID_GEN_MEDIA_CONNECT_STATUS => write_u32(
            buf,
            if view.link_up {
                NDIS_MEDIA_STATE_CONNECTED
            } else {
                NDIS_MEDIA_STATE_DISCONNECTED
            },
        ),
        OID_GEN_LINK_STATE => write(
            buf,
            &link_state_bytes(&crate::datapath::link_state(
                view.link_up,
                info.link_speed_bps,
            )),
        ),
        OID_GEN_VENDOR_ID => write_u32(buf, VENDOR_ID),
        OID_GEN_VENDOR_DESCRIPTION => write(buf, VENDOR_DESCRIPTION),
        OID_GEN_DRIVER_VERSION => write(
            buf,
            &(u16::from(NDIS_MAJOR) << 8 | u16::from(NDIS_MINOR)).to_le_bytes(),
        ),
        OID_GEN_VENDOR_DRIVER_VERSION => {
            write_u32(buf, u32::from(DRIVER_MAJOR) << 16 | u32::from(DRIVER_MINOR))
        }
        OID_GEN_MAC_OPTIONS => write_u32(buf, MAC_OPTIONS),
        OID_GEN_MAXIMUM_SEND_PACKETS => write_u32(buf, 64),
        OID_GEN_CURRENT_PACKET_FILTER => write_u32(buf, view.filter.packet_filter),
        OID_GEN_INTERRUPT_MODERATION => {
            let mut bytes = [0u8; INTERRUPT_MODERATION_LEN];
            bytes[0] = NDIS_OBJECT_TYPE_DEFAULT;
            bytes[1] = NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1;
            bytes[2..4].copy_from_slice(&(INTERRUPT_MODERATION_LEN as u16).to_le_bytes());
            bytes[8..12].copy_from_slice(&NDIS_INTERRUPT_MODERATION_NOT_SUPPORTED.to_le_bytes());
            write(buf, &bytes)
        }
        OID_GEN_XMIT_OK => write_counter(buf, stats.tx_frames.iter().sum()),
        OID_GEN_RCV_OK => write_counter(buf, stats.rx_frames.iter().sum()),
        OID_GEN_XMIT_ERROR => write_counter(buf, stats.tx_errors + stats.tx_discards),
        OID_GEN_RCV_ERROR => write_counter(buf, stats.rx_errors),
        OID_GEN_RCV_NO_BUFFER => write_counter(buf, stats.rx_discards),
        OID_GEN_STATISTICS => write(buf, &statistics_bytes(&statistics(stats))),
        OID_802_3_PERMANENT_ADDRESS => write(buf, &info.permanent_mac),
        OID_802_3_CURRENT_ADDRESS => write(buf, &info.mac),
        OID_802_3_MULTICAST_LIST => {
            let bytes: Vec<u8> = view.filter.multicast.iter().flatten().copied().collect();
            write(buf, &bytes)
        }
        OID_802_3_MAXIMUM_LIST_SIZE => write_u32(buf, MULTICAST_LIST_MAX as u32),
        OID_802_3_RCV_ERROR_ALIGNMENT
        | OID_802_3_XMIT_ONE_COLLISION
        | OID_802_3_XMIT_MORE_COLLISIONS => write_u32(buf, 0),
        // A virtual NIC is always ready for any power state it is asked about.
        OID_PNP_QUERY_POWER => OidOutcome::ok(0),
        _ => OidOutcome::fail(NDIS_STATUS_NOT_SUPPORTED),
    }
}

/// What a successful set changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetEffect {
    None,
    PacketFilter(u32),
    Lookahead(u32),
    Multicast(Vec<[u8; 6]>),
}

fn read_u32(buf: &[u8]) -> Result<u32, OidOutcome> {
    match buf.get(..4) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(OidOutcome::short(NDIS_STATUS_INVALID_LENGTH, 4)),
    }
}

/// Validates a set request; the caller applies the effect.
pub fn set(oid: NDIS_OID, info: &AdapterInfo, buf: &[u8]) -> (OidOutcome, SetEffect) {
    let result = match oid {
        OID_GEN_CURRENT_PACKET_FILTER => read_u32(buf).and_then(|filter| {
            if filter & !SUPPORTED_FILTERS != 0 {
                Err(OidOutcome::fail(NDIS_STATUS_NOT_SUPPORTED))
            } else {
                Ok((4, SetEffect::PacketFilter(filter)))
            }
        }),
        OID_GEN_CURRENT_LOOKAHEAD => read_u32(buf).and_then(|lookahead| {
            if lookahead > info.mtu {
                Err(OidOutcome::fail(NDIS_STATUS_INVALID_DATA))
            } else {
                Ok((4, SetEffect::Lookahead(lookahead)))
            }
        }),
        OID_802_3_MULTICAST_LIST => {
            if !buf.len().is_multiple_of(6) {
                Err(OidOutcome::short(
                    NDIS_STATUS_INVALID_LENGTH,
                    (buf.len() / 6 + 1) * 6,
                ))
            } else if buf.len() / 6 > MULTICAST_LIST_MAX {
                Err(OidOutcome::short(
                    NDIS_STATUS_MULTICAST_FULL,
                    MULTICAST_LIST_MAX * 6,
                ))
            } else {
                let list = buf
                    .chunks_exact(6)
                    .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5]])
                    .collect();
                Ok((buf.len(), SetEffect::Multicast(list)))
            }
        }
        OID_GEN_INTERRUPT_MODERATION => {
            if buf.len() < INTERRUPT_MODERATION_LEN {
                Err(OidOutcome::short(
                    NDIS_STATUS_INVALID_LENGTH,
                    INTERRUPT_MODERATION_LEN,
                ))
            } else {
                Err(OidOutcome::fail(NDIS_STATUS_INVALID_DATA))
            }
        }
        // NDIS_DEVICE_POWER_STATE: nothing to power up or down.
        OID_PNP_SET_POWER | OID_PNP_QUERY_POWER => read_u32(buf).map(|_| (4, SetEffect::None)),
        _ => Err(OidOutcome::fail(NDIS_STATUS_NOT_SUPPORTED)),
    };
    match result {
        Ok((read, effect)) => (OidOutcome::ok(read), effect),
        Err(outcome) => (outcome, SetEffect::None),
    }
}

/// Smallest buffer a successful query of `oid` needs (for tests and the
/// simulation's checks); `None` for OIDs not answered.
pub fn query_len(oid: NDIS_OID, view: &AdapterView<'_>) -> Option<usize> {
    let mut big = alloc::vec![0u8; 4096];
    let outcome = query(oid, view, &mut big);
    (outcome.status == NDIS_STATUS_SUCCESS).then_some(outcome.bytes_done as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> AdapterInfo {
        AdapterInfo {
            mac: [2, 1, 2, 3, 4, 5],
            permanent_mac: [2, 1, 2, 3, 4, 5],
            mtu: 1500,
            max_frame_len: 1514,
            link_speed_bps: 1_000_000_000,
            send_queue_bytes: 1 << 20,
            block_size: 4096,
            poll_interval_us: 1000,
        }
    }

    #[test]
    fn every_supported_oid_short_and_exact() {
        let info = info();
        let filter = RxFilter::default();
        let view = AdapterView {
            info: &info,
            link_up: true,
            filter: &filter,
            lookahead: 1500,
            stats: StatsSnapshot::default(),
        };
        for &oid in SUPPORTED_OIDS {
            let Some(need) = query_len(oid, &view) else {
                assert_eq!(oid, OID_PNP_SET_POWER, "query of {oid:#x} failed");
                continue;
            };
            if need > 0 {
                let mut short = alloc::vec![0u8; need - 1];
                let out = query(oid, &view, &mut short);
                if matches!(
                    oid,
                    OID_GEN_XMIT_OK
                        | OID_GEN_RCV_OK
                        | OID_GEN_XMIT_ERROR
                        | OID_GEN_RCV_ERROR
                        | OID_GEN_RCV_NO_BUFFER
                ) {
                    assert_eq!(out.status, NDIS_STATUS_SUCCESS);
                    assert_eq!((out.bytes_done, out.bytes_needed), (4, 8));
                } else {
                    assert_eq!(out.status, NDIS_STATUS_BUFFER_TOO_SHORT, "{oid:#x}");
                    assert_eq!(out.bytes_needed as usize, need, "{oid:#x}");
                    assert_eq!(out.bytes_done, 0);
                }
            }
            let mut exact = alloc::vec![0u8; need];
            let out = query(oid, &view, &mut exact);
            assert_eq!(out.status, NDIS_STATUS_SUCCESS, "{oid:#x}");
            assert_eq!(out.bytes_done as usize, need);
        }
        let mut buf = [0u8; 8];
        assert_eq!(
            query(0x0bad_0bad, &view, &mut buf).status,
            NDIS_STATUS_NOT_SUPPORTED
        );
    }

    #[test]
    fn sets() {
        let info = info();
        assert_eq!(
            set(OID_GEN_CURRENT_PACKET_FILTER, &info, &[1, 0]).0,
            OidOutcome::short(NDIS_STATUS_INVALID_LENGTH, 4)
        );
        assert_eq!(
            set(OID_GEN_CURRENT_PACKET_FILTER, &info, &9u32.to_le_bytes()),
            (OidOutcome::ok(4), SetEffect::PacketFilter(9))
        );
        assert_eq!(
            set(
                OID_GEN_CURRENT_PACKET_FILTER,
                &info,
                &0x1000u32.to_le_bytes()
            )
            .0
            .status,
            NDIS_STATUS_NOT_SUPPORTED
        );
        assert_eq!(
            set(OID_802_3_MULTICAST_LIST, &info, &[1; 7]).0.status,
            NDIS_STATUS_INVALID_LENGTH
        );
        assert_eq!(
            set(OID_802_3_MULTICAST_LIST, &info, &[1; 6 * 33]).0.status,
            NDIS_STATUS_MULTICAST_FULL
        );
        assert_eq!(
            set(OID_802_3_MULTICAST_LIST, &info, &[1; 12]).1,
            SetEffect::Multicast(alloc::vec![[1; 6], [1; 6]])
        );
        assert_eq!(
            set(OID_GEN_LINK_SPEED, &info, &[0; 4]).0.status,
            NDIS_STATUS_NOT_SUPPORTED
        );
    }
}
