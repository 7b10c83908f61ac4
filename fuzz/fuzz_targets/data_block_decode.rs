//! Data blocks: the header decoder takes any bytes and any payload capacity
//! without panicking, and the receive scanner walks any payload of blocks
//! whose headers and CRCs are right (lengths, frame offsets and frame
//! prefixes being anything) without panicking, delivering only non-empty
//! frames made of payload bytes it was given.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use volnic_core::format::{
    BlockCheck, DataHeader, Geometry, StateRecord, WriterState, DATA_HEADER_LEN, NO_FRAME_START,
};
use volnic_core::testkit::{format_volume, SharedVolume};
use volnic_core::{Link, LinkConfig, Volume};

const BS: usize = 512;
const RING: u32 = 8;
const EPOCH: u64 = 5;

#[derive(Arbitrary, Debug)]
struct Block {
    valid: u16,
    first_frame: Option<u16>,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    cap: u16,
    /// Consecutive blocks from sequence 0, sealed so the scanner reads them.
    blocks: Vec<Block>,
}

fuzz_target!(|input: Input| {
    let check = DataHeader::check(&input.raw, usize::from(input.cap));
    if let BlockCheck::Valid(h) = check {
        assert!(h.valid_bytes as usize <= usize::from(input.cap));
    }
    let _ = DataHeader::peek_ack(&input.raw);

    let geo = Geometry::new(BS as u32, RING);
    let mut send = SharedVolume::new(geo.volume_bytes() as usize);
    format_volume(&mut send, BS as u32, RING, 1, 2, [1; 16]).unwrap();
    let mut recv = SharedVolume::new(geo.volume_bytes() as usize);
    format_volume(&mut recv, BS as u32, RING, 2, 1, [2; 16]).unwrap();
    let mut state = vec![0u8; BS];
    StateRecord {
        state: WriterState::Running,
        writer_node: 2,
        reader_node: 1,
        epoch: EPOCH,
        next_seq: 0,
        ack_epoch: 0,
        ack_seq: 0,
        update_count: 1,
        writer_time_us: 0,
        host_name: [0; 32],
        counters: Default::default(),
        mac: [0; 32],
    }
    .emit(&mut state);
    recv.write_at(geo.state_offset(), &state).unwrap();
    let mut given = 0usize;
    for (seq, spec) in input.blocks.iter().take(RING as usize).enumerate() {
        let mut block = vec![0u8; BS];
        let n = spec.payload.len().min(BS - DATA_HEADER_LEN);
        block[DATA_HEADER_LEN..DATA_HEADER_LEN + n].copy_from_slice(&spec.payload[..n]);
        DataHeader {
            writer_node: 2,
            reader_node: 1,
            epoch: EPOCH,
            seq: seq as u64,
            valid_bytes: u32::from(spec.valid),
            first_frame: spec.first_frame.map_or(NO_FRAME_START, u32::from),
            ack_epoch: 0,
            ack_seq: 0,
            link_tag: u32::from_le_bytes([2; 4]),
        }
        .emit(&mut block);
        DataHeader::seal(&mut block);
        if let BlockCheck::Valid(h) = DataHeader::check(&block, BS - DATA_HEADER_LEN) {
            given += h.valid_bytes as usize;
        }
        recv.write_at(geo.slot_offset(seq as u64), &block).unwrap();
    }
    let before = recv.0.borrow().bytes.clone();
    let mut link = Link::open(LinkConfig::new(1), &mut send, &mut recv, 1, 1).unwrap();
    let mut delivered = 0usize;
    let mut now = 1;
    for _ in 0..4 {
        let _ = link.poll(now, &mut send, &mut recv, &mut |frame: &[u8]| {
            assert!(!frame.is_empty());
            delivered += frame.len();
        });
        now += 1_000;
    }
    assert!(delivered <= given, "delivered {delivered} bytes of {given}");
    assert!(
        recv.0.borrow().bytes == before,
        "the reader wrote its receive volume"
    );
});
