//! Every decoder of bytes read from a volume takes arbitrary input without
//! panicking, and the link engine fed a receive volume of arbitrary bytes
//! (with planted blocks whose headers and CRCs are right but whose lengths
//! are anything) never panics and never writes to its receive volume.

use proptest::prelude::*;
use volnic_core::format::{DataHeader, Geometry, StateRecord, Superblock, DATA_HEADER_LEN};
use volnic_core::testkit::{format_volume, SharedVolume};
use volnic_core::{Link, LinkConfig, SendQueue};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn superblock_parse_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Superblock::parse(&bytes);
    }

    #[test]
    fn state_parse_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = StateRecord::parse(&bytes);
    }

    #[test]
    fn data_check_is_total(
        bytes in proptest::collection::vec(any::<u8>(), 0..1100),
        cap in 0usize..1100,
    ) {
        let _ = DataHeader::check(&bytes, cap);
        let _ = DataHeader::peek_ack(&bytes);
    }

    #[test]
    fn link_survives_an_arbitrary_receive_ring(
        noise in proptest::collection::vec(any::<u8>(), 16 * 512),
        forged in proptest::collection::vec(
            (0usize..16, any::<u32>(), any::<u32>(), 0u64..4, any::<u16>()),
            0..16,
        ),
    ) {
        let geo = Geometry::new(512, 16);
        let mut send = SharedVolume::new(geo.volume_bytes() as usize);
        format_volume(&mut send, 512, 16, 1, 2, [1; 16]).unwrap();
        let mut recv = SharedVolume::new(geo.volume_bytes() as usize);
        format_volume(&mut recv, 512, 16, 2, 1, [2; 16]).unwrap();
        {
            let mut v = recv.0.borrow_mut();
            v.bytes[2 * 512..].copy_from_slice(&noise);
            for (slot, valid, first, seq, len) in forged {
                let at = (2 + slot) * 512;
                let block = &mut v.bytes[at..at + 512];
                DataHeader {
                    writer_node: 2,
                    reader_node: 1,
                    epoch: 1,
                    seq,
                    valid_bytes: valid % 600,
                    first_frame: if first % 3 == 0 { u32::MAX } else { first % 500 },
                    ack_epoch: 0,
                    ack_seq: 0,
                    link_tag: u32::from_le_bytes([2; 4]),
                }
                .emit(block);
                block[DATA_HEADER_LEN..DATA_HEADER_LEN + 2].copy_from_slice(&len.to_le_bytes());
                DataHeader::seal(block);
            }
        }
        let before = recv.0.borrow().bytes.clone();
        let mut link = Link::open(LinkConfig::new(1), &mut send, &mut recv, 0, 1).unwrap();
        let mut queue = SendQueue::new(4096, 448);
        let mut now = 0;
        for _ in 0..50 {
            link.pack(&mut queue, now);
            let _ = link.poll(now, &mut send, &mut recv, &mut |frame: &[u8]| {
                assert!(!frame.is_empty() && frame.len() <= 65535);
            });
            now += 20_000;
        }
        prop_assert!(recv.0.borrow().bytes == before, "the reader wrote its receive volume");
    }
}
