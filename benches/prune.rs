//! Prune time and peak memory on a repository of many snapshots, with
//! `restic prune` on the same history beside it.
//!
//! The history: a corpus of many files, backed up again and again with a
//! tenth of the files rewritten each time; then `forget --keep-last` drops
//! two thirds of the snapshots and prune frees what they alone used. snap is
//! timed twice on copies of the same repository: `--grace 0` (deletes at
//! once, as restic does) and the default grace period (marks only). After
//! each prune the latest snapshot is restored and compared byte for byte.
//!
//! `cargo bench --bench prune`: 128 MiB corpus, 30 snapshots
//! (`SNAP_BENCH_MIB`, `SNAP_BENCH_SNAPSHOTS` change them). Under `cargo test`
//! it runs once on 2 MiB and 4 snapshots as a smoke test. Peak RSS comes
//! from GNU time (`/usr/bin/time`); without it that column is empty.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

const FILE_SIZE: usize = 64 << 10;

/// Rewrites every tenth file (shifted by `round`) with new content.
fn mutate(dir: &Path, files: usize, round: usize) {
    for i in (round % 10..files).step_by(10) {
        let seed = (round * 1_000_003 + i) as u64;
        fs::write(dir.join(format!("f{i:05}")), common::noise(seed, FILE_SIZE)).unwrap();
    }
}

fn restic(repo: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("restic");
    cmd.env("RESTIC_PASSWORD", "bench")
        .args(["--no-cache", "-q", "-r"])
        .arg(repo)
        .args(args);
    cmd
}

use common::{bench_snap as snap, measured, run_ok as ok};

fn copy_dir(from: &Path, to: &Path) {
    ok({
        let mut c = Command::new("cp");
        c.arg("-a").arg(from).arg(to);
        c
    });
}

fn restore_matches(cmd: Command, src: &Path, out: &Path) {
    ok(cmd);
    common::assert_same_tree(src, &common::restored(out, src));
    fs::remove_dir_all(out).unwrap();
}

fn main() {
    let mib = common::bench_size("SNAP_BENCH_MIB", 128, 2);
    let rounds = common::bench_size("SNAP_BENCH_SNAPSHOTS", 30, 4);
    let files = (mib << 20) / FILE_SIZE;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("corpus");
    fs::create_dir_all(&src).unwrap();
    for i in 0..files {
        fs::write(
            src.join(format!("f{i:05}")),
            common::noise(i as u64, FILE_SIZE),
        )
        .unwrap();
    }
    let has_restic = Command::new("restic").arg("version").output().is_ok();
    let snap_repo = work.path().join("snap");
    let restic_repo = work.path().join("restic");
    ok(snap(&snap_repo, &["init", "--kdf-memory-kib", "65536"]));
    if has_restic {
        ok(restic(&restic_repo, &["init"]));
    }
    for round in 0..rounds {
        if round > 0 {
            mutate(&src, files, round);
        }
        let mut b = snap(&snap_repo, &["-q", "backup"]);
        b.arg(&src);
        ok(b);
        if has_restic {
            let mut b = restic(&restic_repo, &["backup"]);
            b.arg(&src);
            ok(b);
        }
    }
    let keep = (rounds / 3).max(1).to_string();
    ok(snap(&snap_repo, &["-q", "forget", "--keep-last", &keep]));
    if has_restic {
        ok(restic(&restic_repo, &["forget", "--keep-last", &keep]));
    }
    let size = |p: &Path| common::dir_size(p) as f64 / 1e6;
    println!(
        "corpus {:.0} MB in {files} files, {rounds} snapshots with a tenth of the files rewritten each time, forget --keep-last {keep}",
        (files * FILE_SIZE) as f64 / 1e6
    );
    println!("| prune | seconds | peak RSS | repository before | after |");
    println!("|---|---:|---:|---:|---:|");
    let out = work.path().join("restored");
    let row = |name: &str, before: f64, (secs, rss): (f64, Option<u64>), after: f64| {
        println!(
            "| {name} | {secs:.2} | {} | {before:.1} MB | {after:.1} MB |",
            rss.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
                .unwrap_or_default()
        );
    };

    let marking = work.path().join("snap-marking");
    copy_dir(&snap_repo, &marking);
    let before = size(&snap_repo);
    let r = measured(snap(&snap_repo, &["-q", "prune", "--grace", "0"]));
    row("snap prune --grace 0", before, r, size(&snap_repo));
    ok(snap(&snap_repo, &["-q", "check", "--read-data"]));
    let mut restore = snap(&snap_repo, &["restore", "latest", "--target"]);
    restore.arg(&out);
    restore_matches(restore, &src, &out);

    let before = size(&marking);
    let r = measured(snap(&marking, &["-q", "prune"]));
    row("snap prune (marks, 24h grace)", before, r, size(&marking));
    let mut restore = snap(&marking, &["restore", "latest", "--target"]);
    restore.arg(&out);
    restore_matches(restore, &src, &out);

    if has_restic {
        let before = size(&restic_repo);
        let r = measured(restic(&restic_repo, &["prune"]));
        row("restic prune", before, r, size(&restic_repo));
        let mut restore = restic(&restic_repo, &["restore", "latest", "--target"]);
        restore.arg(&out);
        restore_matches(restore, &src, &out);
    } else {
        println!("| restic prune (restic not installed) | | | | |");
    }
}
