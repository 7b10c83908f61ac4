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
    let expected =
        doc_block(&doc, name).unwrap_or_else(|| panic!("no hex:{name} block in FORMAT.md"));
    let actual = dump(bytes);
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
