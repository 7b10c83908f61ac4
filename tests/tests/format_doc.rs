//! docs/FORMAT.md carries hex examples of each structure; this test builds
//! the same structures with the engine's codec and compares byte for byte,
//! so the document cannot drift from the code.

use volnic_core::format::{
    DataHeader, PublishedCounters, StateRecord, Superblock, WriterState, DATA_HEADER_LEN, MAC_LEN,
    NO_FRAME_START,
};
use volnic_tests::hexdump::{doc_block, dump};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");
    std::fs::read_to_string(path).expect("docs/FORMAT.md is readable")
}

fn example_superblock() -> Superblock {
    Superblock {
        block_size: 512,
        ring_blocks: 8,
        flags: 0,
        link_id: *b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00",
        writer_node: 1,
        reader_node: 2,
        formatted_at_ms: 1_764_028_800_000,
    }
}

fn check(name: &str, bytes: &[u8]) {
    let doc = doc();
    let actual = dump(bytes);
    let expected = doc_block(&doc, name)
        .unwrap_or_else(|| panic!("no hex:{name} block in FORMAT.md; it reads:\n{actual}"));
    assert_eq!(
        expected, actual,
        "docs/FORMAT.md hex:{name} differs from the codec; regenerate it with:\n{actual}"
    );
}

#[test]
fn superblock_example_matches_the_document() {
    let mut block = vec![0u8; 512];
    example_superblock().emit(&mut block);
    check("superblock", &block[..128]);
}

#[test]
fn state_record_example_matches_the_document() {
    let mut rec = StateRecord {
        state: WriterState::Running,
        writer_node: 1,
        reader_node: 2,
        epoch: 1_764_028_801_000_000,
        next_seq: 3,
        ack_epoch: 1_764_028_802_000_000,
        ack_seq: 5,
        update_count: 42,
        writer_time_us: 123_456_789,
        host_name: [0; 32],
        counters: PublishedCounters {
            frames_sent: 3,
            bytes_sent: 180,
            frames_received: 5,
            bytes_received: 300,
            drops: 0,
            rejects: 0,
        },
        mac: [0; MAC_LEN],
    };
    rec.set_host_name("node-a");
    let mut block = vec![0u8; 512];
    rec.emit(&mut block);
    check("state", &block[..256]);
}

#[test]
fn data_block_example_matches_the_document() {
    // Two frames: a 20-byte one, then a 500-byte one that spans into the
    // next block. 512-byte blocks carry 448 payload bytes.
    let sb = example_superblock();
    let frame_a: Vec<u8> = (0..20u8).collect();
    let mut block = vec![0u8; 512];
    let mut payload = Vec::new();
    payload.extend_from_slice(&(frame_a.len() as u16).to_le_bytes());
    payload.extend_from_slice(&frame_a);
    payload.extend_from_slice(&500u16.to_le_bytes());
    payload.resize(448, 0xab);
    block[DATA_HEADER_LEN..].copy_from_slice(&payload);
    DataHeader {
        writer_node: 1,
        reader_node: 2,
        epoch: 1_764_028_801_000_000,
        seq: 2,
        valid_bytes: 448,
        first_frame: 0,
        ack_epoch: 1_764_028_802_000_000,
        ack_seq: 5,
        link_tag: sb.link_tag() as u32,
    }
    .emit(&mut block);
    DataHeader::seal(&mut block);
    check("data-block", &block);
    // Its successor holds the remaining 500 - 424 = 76 bytes and nothing else.
    let mut next = vec![0u8; 512];
    next[DATA_HEADER_LEN..DATA_HEADER_LEN + 76].fill(0xab);
    DataHeader {
        writer_node: 1,
        reader_node: 2,
        epoch: 1_764_028_801_000_000,
        seq: 3,
        valid_bytes: 76,
        first_frame: NO_FRAME_START,
        ack_epoch: 1_764_028_802_000_000,
        ack_seq: 5,
        link_tag: sb.link_tag() as u32,
    }
    .emit(&mut next);
    DataHeader::seal(&mut next);
    check("data-block-continued", &next[..DATA_HEADER_LEN]);
}

fn example_segment_header() -> volnic_core::segment::SegmentHeader {
    volnic_core::segment::SegmentHeader {
        block_size: 512,
        ring_blocks: 8,
        flags: 0,
        segment_id: *b"\x5e\x67\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd",
        members: 3,
        formatted_at_ms: 1_764_028_800_000,
    }
}

#[test]
fn segment_header_example_matches_the_document() {
    let mut block = vec![0u8; 512];
    example_segment_header().emit(&mut block);
    check("segment-header", &block[..128]);
}

#[test]
fn region_superblock_example_matches_the_document() {
    let header = example_segment_header();
    let region = volnic_core::segment::RegionSuperblock {
        block_size: header.block_size,
        ring_blocks: header.ring_blocks,
        flags: 0,
        link_id: *b"\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30",
        member: 2,
        members: header.members,
        segment_id: header.segment_id,
        formatted_at_ms: header.formatted_at_ms,
    };
    let mut block = vec![0u8; 512];
    region.emit(&mut block);
    check("region-superblock", &block[..128]);
}

#[test]
fn ack_table_example_matches_the_document() {
    use volnic_core::segment::{ack_table_len, AckEntry, AckTable};
    // Member 2 of 3 has read member 1's run 1764028801000000 up to block 5
    // and member 3's run 1764028803000000 up to block 9.
    let mut table = AckTable::new(2, 3);
    table.update_count = 42;
    table.set(
        1,
        AckEntry {
            ack_epoch: 1_764_028_801_000_000,
            ack_seq: 5,
            ack_link_tag: 0x1411_1111,
        },
    );
    table.set(
        3,
        AckEntry {
            ack_epoch: 1_764_028_803_000_000,
            ack_seq: 9,
            ack_link_tag: 0x3433_3333,
        },
    );
    let mut bytes = vec![0u8; ack_table_len(3)];
    table.emit(&mut bytes, |_| None);
    check("ack-table", &bytes);
}

#[test]
fn head_record_example_matches_the_document() {
    let head = volnic_core::segment::HeadRecord {
        member: 2,
        epoch: 1_764_028_802_000_000,
        next_seq: 17,
        update_count: 42,
    };
    let mut block = vec![0u8; 512];
    head.emit(&mut block);
    check("head", &block[..volnic_core::segment::HEAD_LEN]);
}
