//! Throughput of the backup pipeline's CPU stages on one core: chunking,
//! keyed BLAKE3, zstd, AES-256-GCM, separately and together, over 64 MiB of
//! platform-like data (half text, half incompressible).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use snap::chunker::{Chunker, ChunkerParams};
use snap::crypto::{MasterKey, SealKind};
use snap::pack::{seal_blob, BlobKind};

fn corpus() -> Vec<u8> {
    let mut data = Vec::with_capacity(64 << 20);
    let mut n = 0u64;
    while data.len() < 32 << 20 {
        data.extend_from_slice(format!("2026-11-27T09:{:02}:{:02}Z level=info msg=\"request served\" path=/api/v1/pods/{n} status=200\n", n % 60, n % 59).as_bytes());
        n += 1;
    }
    let mut x = 0x2545f4914f6cdd1du64;
    while data.len() < 64 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data
}

fn pipeline(c: &mut Criterion) {
    let data = corpus();
    let key = MasterKey::from_secret([42; 32]);
    let chunker = Chunker::new(ChunkerParams::default(), key.chunker_seed()).unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("chunk", |b| b.iter(|| black_box(chunker.cut(&data))));
    g.bench_function("blob_id", |b| b.iter(|| black_box(key.blob_id(&data))));
    g.bench_function("seal", |b| {
        b.iter(|| black_box(key.seal(SealKind::DataBlob, &data)))
    });
    for level in [1, 3] {
        g.bench_function(format!("chunk+id+zstd{level}+seal"), |b| {
            b.iter(|| {
                for (offset, len) in chunker.cut(&data) {
                    let chunk = &data[offset..offset + len];
                    black_box(key.blob_id(chunk));
                    black_box(seal_blob(&key, BlobKind::Data, chunk, level));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
