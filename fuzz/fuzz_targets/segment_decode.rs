//! The segment decoders (segment header, region superblock, acknowledgement
//! table, head record) take any bytes without panicking, and whatever they
//! accept re-encodes to the same structure with its bounds holding. Each
//! input is tried as it is and with each structure's CRC made right, so
//! the field checks behind the CRC are fuzzed as well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volnic_core::format::{block_crc, sb_field, SUPERBLOCK_LEN};
use volnic_core::segment::{
    ack_table_len, ak_field, hd_field, sg_field, AckTable, HeadRecord, RegionSuperblock,
    SegmentHeader, HEAD_LEN, MAX_MEMBERS, MIN_MEMBERS, SEGMENT_HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    check(data);
    for (len, crc_at) in [
        (SEGMENT_HEADER_LEN, sg_field::CRC),
        (SUPERBLOCK_LEN, sb_field::CRC),
        (HEAD_LEN, hd_field::CRC),
    ] {
        if data.len() >= len {
            let mut sealed = data[..len].to_vec();
            let crc = block_crc(&sealed, crc_at);
            sealed[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
            check(&sealed);
        }
    }
    if data.len() >= ak_field::MEMBERS + 4 {
        let members = u32::from_le_bytes(
            data[ak_field::MEMBERS..ak_field::MEMBERS + 4]
                .try_into()
                .unwrap(),
        );
        if (MIN_MEMBERS..=MAX_MEMBERS).contains(&members) && data.len() >= ack_table_len(members) {
            let len = ack_table_len(members);
            let mut sealed = data[..len].to_vec();
            let crc = block_crc(&sealed, len - 4);
            sealed[len - 4..].copy_from_slice(&crc.to_le_bytes());
            check(&sealed);
        }
    }
});

fn check(data: &[u8]) {
    if let Ok(h) = SegmentHeader::parse(data) {
        assert!((MIN_MEMBERS..=MAX_MEMBERS).contains(&h.members));
        let layout = h.layout();
        assert!(layout.together_bytes() > layout.region_offset(h.members));
        let mut again = [0u8; SEGMENT_HEADER_LEN];
        h.emit(&mut again);
        assert_eq!(SegmentHeader::parse(&again), Ok(h));
    }
    if let Ok(r) = RegionSuperblock::parse(data) {
        assert!((1..=r.members).contains(&r.member));
        let mut again = [0u8; SUPERBLOCK_LEN];
        r.emit(&mut again);
        assert_eq!(RegionSuperblock::parse(&again), Ok(r));
    }
    if let Ok(t) = AckTable::parse(data) {
        assert!((1..=t.members).contains(&t.member));
        let mut again = vec![0u8; ack_table_len(t.members)];
        t.emit(&mut again, |_| None);
        assert_eq!(AckTable::parse(&again), Ok(t));
    }
    if let Ok(Some(h)) = HeadRecord::parse(data) {
        let mut again = [0u8; HEAD_LEN];
        h.emit(&mut again);
        assert_eq!(HeadRecord::parse(&again), Ok(Some(h)));
    }
}
