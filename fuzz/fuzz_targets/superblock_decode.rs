//! The superblock decoder takes any bytes without panicking, and whatever it
//! accepts re-encodes to the same structure with every check it promises
//! (block size, ring size, flags) holding. Each input is tried as it is and
//! with its CRC made right, so the field checks behind the CRC are fuzzed
//! as well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volnic_core::format::{
    block_crc, check_block_size, sb_field, Superblock, MAX_RING_BLOCKS, MIN_RING_BLOCKS,
    SB_FLAG_AUTHENTICATED, SUPERBLOCK_LEN,
};

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= SUPERBLOCK_LEN {
        let mut sealed = data[..SUPERBLOCK_LEN].to_vec();
        let crc = block_crc(&sealed, sb_field::CRC);
        sealed[sb_field::CRC..sb_field::CRC + 4].copy_from_slice(&crc.to_le_bytes());
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok(sb) = Superblock::parse(data) else {
        return;
    };
    assert!(check_block_size(sb.block_size).is_ok());
    assert!((MIN_RING_BLOCKS..=MAX_RING_BLOCKS).contains(&sb.ring_blocks));
    assert_eq!(sb.flags & !SB_FLAG_AUTHENTICATED, 0);
    let geo = sb.geometry();
    assert!(geo.volume_bytes() >= 10 * u64::from(sb.block_size));
    assert!(geo.payload_capacity(sb.authenticated()) > 0);
    let mut again = [0u8; SUPERBLOCK_LEN];
    sb.emit(&mut again);
    assert_eq!(Superblock::parse(&again), Ok(sb));
}
