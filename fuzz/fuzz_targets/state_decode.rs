//! The state-record decoder takes any bytes without panicking; what it
//! accepts re-encodes to the same record, and the host name accessor never
//! panics on whatever bytes the record holds. Each input is tried as it is
//! and with its CRC made right, so the field checks behind the CRC are
//! fuzzed as well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volnic_core::format::{block_crc, st_field, StateRecord, STATE_LEN};

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= STATE_LEN {
        let mut sealed = data[..STATE_LEN].to_vec();
        let crc = block_crc(&sealed, st_field::CRC);
        sealed[st_field::CRC..st_field::CRC + 4].copy_from_slice(&crc.to_le_bytes());
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok(rec) = StateRecord::parse(data) else {
        return;
    };
    let _ = rec.host_name_str();
    let _ = rec.state.name();
    let mut again = [0u8; STATE_LEN];
    rec.emit(&mut again);
    assert_eq!(StateRecord::parse(&again), Ok(rec));
}
