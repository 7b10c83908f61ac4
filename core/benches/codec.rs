//! Codec and packing throughput: frames per second through the engine's
//! encode path (queue → packer → stamped, CRC-sealed blocks written to an
//! in-memory volume) and decode path (read, check, walk, deliver), with no
//! storage cost, so the figures are the engine's own ceiling.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use volnic_core::format::{block_crc, db_field, Geometry};
use volnic_core::testkit::{format_volume, SharedVolume};
use volnic_core::{Link, LinkConfig, SendQueue};

const FRAMES: usize = 2000;

fn linked(block_size: u32) -> (Link, Link, SharedVolume, SharedVolume) {
    let geo = Geometry::new(block_size, 4096);
    let mut ab = SharedVolume::new(geo.volume_bytes() as usize);
    let mut ba = SharedVolume::new(geo.volume_bytes() as usize);
    format_volume(&mut ab, block_size, 4096, 1, 2, [1; 16]).unwrap();
    format_volume(&mut ba, block_size, 4096, 2, 1, [2; 16]).unwrap();
    let cfg = LinkConfig::new(1);
    let a = Link::open(cfg, &mut ab, &mut ba, 0, 1).unwrap();
    let cfg = LinkConfig::new(2);
    let b = Link::open(cfg, &mut ba, &mut ab, 0, 1).unwrap();
    (a, b, ab, ba)
}

fn bench_path(c: &mut Criterion, block_size: u32, frame_len: usize) {
    let mut group = c.benchmark_group(format!("link_b{block_size}_f{frame_len}"));
    group.throughput(Throughput::Elements(FRAMES as u64));
    let frame = vec![0x5au8; frame_len];
    group.bench_function("encode", |bench| {
        bench.iter_batched(
            || linked(block_size),
            |(mut a, b, mut ab, mut ba)| {
                let mut q = SendQueue::new(8 << 20, a.block_payload());
                for _ in 0..FRAMES {
                    q.push(&frame).unwrap();
                }
                let mut now = 1;
                while !q.is_empty() || a.has_pending() {
                    a.pack(&mut q, now);
                    a.poll(now, &mut ab, &mut ba, &mut |_: &[u8]| {}).unwrap();
                    now += 1;
                }
                // Returned, so the large volumes are freed outside the timing.
                (a, b, ab, ba)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("decode", |bench| {
        bench.iter_batched(
            || {
                let (mut a, mut b, mut ab, mut ba) = linked(block_size);
                // B follows A's run from its first block.
                b.poll(0, &mut ba, &mut ab, &mut |_: &[u8]| {}).unwrap();
                let mut q = SendQueue::new(8 << 20, a.block_payload());
                for _ in 0..FRAMES {
                    q.push(&frame).unwrap();
                }
                let mut now = 1;
                while !q.is_empty() || a.has_pending() {
                    a.pack(&mut q, now);
                    a.poll(now, &mut ab, &mut ba, &mut |_: &[u8]| {}).unwrap();
                    now += 1;
                }
                (b, ab, ba)
            },
            |(mut b, mut ab, mut ba)| {
                let mut got = 0usize;
                let mut now = 1_000_000;
                while got < FRAMES {
                    b.poll(now, &mut ba, &mut ab, &mut |_: &[u8]| got += 1)
                        .unwrap();
                    now += 1;
                    assert!(now < 1_000_000 + 10 * FRAMES as u64, "decode stalled");
                }
                (b, ab, ba)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    for (block_size, frame_len) in [(4096, 200), (4096, 1514), (65536, 1514)] {
        bench_path(c, block_size, frame_len);
    }
    let block = vec![0xa5u8; 65536];
    let mut group = c.benchmark_group("crc32c");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("block_64k", |b| b.iter(|| block_crc(&block, db_field::CRC)));
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
