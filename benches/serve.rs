//! Load on `snap serve` over loopback: uploads of whole objects and ranged
//! downloads from many client threads, reported as requests per second and
//! MB/s, with `rclone serve restic` under the same load for reference.
//!
//! `cargo bench --bench serve`: 8 client threads, 1,024 uploads of 1 MiB and
//! 8,192 ranged reads of 64 KiB (`SNAP_BENCH_UPLOADS`, `SNAP_BENCH_READS`,
//! `SNAP_BENCH_THREADS` change them); the run is bounded by those counts.
//! Under `cargo test` it runs once with 32 uploads and 64 reads as a smoke
//! test. Clients use snap's own REST backend (reqwest, keep-alive).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use snap::backend::{Backend, RestBackend};
use snap::id::{FileKind, Id};

/// (uploads/s, upload MB/s, reads/s, read MB/s).
fn load(base: &str, threads: usize, uploads: usize, reads: usize) -> (f64, f64, f64, f64) {
    let backend = Arc::new(RestBackend::new(base).unwrap());
    backend.create().unwrap();
    let object = 1 << 20;
    let names: Vec<String> = (0..uploads)
        .map(|i| Id::sha256(&common::noise(i as u64, object)).to_hex())
        .collect();
    let names = Arc::new(names);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let b = Arc::clone(&backend);
            let names = Arc::clone(&names);
            s.spawn(move || {
                for i in (t..uploads).step_by(threads) {
                    let data = common::noise(i as u64, object);
                    b.write(FileKind::Pack, &names[i], &data).unwrap();
                }
            });
        }
    });
    let up = start.elapsed().as_secs_f64();
    let range = 64 << 10;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let b = Arc::clone(&backend);
            let names = Arc::clone(&names);
            s.spawn(move || {
                for i in (t..reads).step_by(threads) {
                    let name = &names[(i * 7919) % names.len()];
                    let offset = ((i * 104_729) % (object - range)) as u64;
                    let got = b
                        .read_range(FileKind::Pack, name, offset, range as u64)
                        .unwrap();
                    assert_eq!(got.len(), range);
                }
            });
        }
    });
    let down = start.elapsed().as_secs_f64();
    (
        uploads as f64 / up,
        (uploads * object) as f64 / 1e6 / up,
        reads as f64 / down,
        (reads * range) as f64 / 1e6 / down,
    )
}

fn main() {
    let threads = common::bench_size("SNAP_BENCH_THREADS", 8, 4);
    let uploads = common::bench_size("SNAP_BENCH_UPLOADS", 1024, 32);
    let reads = common::bench_size("SNAP_BENCH_READS", 8192, 64);
    let work = tempfile::tempdir().unwrap();
    println!(
        "{threads} client threads; {uploads} uploads of 1 MiB, then {reads} ranged reads of 64 KiB"
    );
    println!("| server | uploads/s | upload MB/s | reads/s | read MB/s |");
    println!("|---|---:|---:|---:|---:|");
    let root = work.path().join("snap");
    std::fs::create_dir_all(&root).unwrap();
    let server = common::servers::snap_serve(&root, &["--no-auth"]);
    let r = load(
        &format!("http://{}/bench/", server.addr),
        threads,
        uploads,
        reads,
    );
    println!(
        "| snap serve | {:.0} | {:.0} | {:.0} | {:.0} |",
        r.0, r.1, r.2, r.3
    );
    drop(server);
    if Command::new("rclone").arg("version").output().is_ok() {
        let rclone = common::servers::rclone_restic(None);
        let r = load(
            &format!("http://{}/bench/", rclone.addr),
            threads,
            uploads,
            reads,
        );
        println!(
            "| rclone serve restic | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.0, r.1, r.2, r.3
        );
    }
}
