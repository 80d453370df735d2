//! Backup and restore throughput of one corpus to each backend on loopback
//! (local folder, S3 on garage, SFTP on sshd, REST on `rclone serve
//! restic`), side by side, with restic against the same servers when it is
//! installed.
//!
//! `cargo bench --bench backends` uses a 256 MiB corpus (`SNAP_BENCH_MIB`
//! changes it). Under `cargo test` it runs once on 4 MiB as a smoke test, so
//! CI proves every column still works. The servers are the ones the
//! integration tests start (`tests/common/servers.rs`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::servers;

struct Target {
    name: &'static str,
    snap_repo: String,
    snap_args: Vec<String>,
    restic_repo: String,
    restic_args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

fn corpus(dir: &Path, mib: usize) {
    fs::create_dir_all(dir.join("small")).unwrap();
    // Half in large incompressible files, a quarter in compressible text, a
    // quarter in many small files: a platform's mix of data, configs, certs.
    let big = mib / 2;
    for i in 0..big.div_ceil(32) {
        let len = (32usize << 20).min((big << 20) - i * (32 << 20));
        fs::write(
            dir.join(format!("data{i}.bin")),
            common::noise(i as u64, len),
        )
        .unwrap();
    }
    let text: String = (0..(mib << 20) / 4 / 64)
        .map(|i| format!("key-{i:08} = value {} {}\n", i % 977, "x".repeat(i % 23)))
        .collect();
    fs::write(dir.join("config.txt"), text).unwrap();
    let small = (mib << 20) / 4 / 8192;
    for i in 0..small {
        fs::write(
            dir.join("small").join(format!("f{i:05}")),
            common::noise(1000 + i as u64, 8192),
        )
        .unwrap();
    }
}

fn timed(mut cmd: Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().expect("cannot run the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn snap_cmd(t: &Target, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snap"));
    cmd.env("SNAP_PASSWORD", "bench")
        .arg("-r")
        .arg(&t.snap_repo)
        .args(&t.snap_args)
        .args(args);
    for (k, v) in &t.env {
        cmd.env(k, v);
    }
    cmd
}

fn restic_cmd(t: &Target, args: &[&str]) -> Command {
    let mut cmd = Command::new("restic");
    cmd.env("RESTIC_PASSWORD", "bench")
        .env("RESTIC_CACHE_DIR", "/tmp/snap-bench-restic-cache")
        .args(["--no-cache", "-q", "-r"])
        .arg(&t.restic_repo)
        .args(&t.restic_args)
        .args(args);
    for (k, v) in &t.env {
        cmd.env(k, v);
    }
    cmd
}

/// (backup seconds, restore seconds), checking the restore byte for byte.
fn run(src: &Path, out: &Path, init: Command, backup: Command, restore: Command) -> (f64, f64) {
    timed(init);
    let b = timed(backup);
    let r = timed(restore);
    common::assert_same_tree(src, &common::restored(out, src));
    fs::remove_dir_all(out).unwrap();
    (b, r)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mib: usize = if full {
        std::env::var("SNAP_BENCH_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    } else {
        4
    };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("corpus");
    corpus(&src, mib);
    let bytes: u64 = walk_size(&src);

    let rest = servers::rclone_restic(None);
    let garage = servers::garage();
    servers::wait_for_bucket(&garage);
    let sshd = servers::sshd();
    let remote = work.path().join("sftp");
    fs::create_dir_all(&remote).unwrap();
    let ssh = format!(
        "ssh -p {} -i {} -o UserKnownHostsFile={} -o BatchMode=yes {}@127.0.0.1 -s sftp",
        sshd.port,
        sshd.key.display(),
        sshd.known_hosts.display(),
        sshd.user
    );
    let s3_env = vec![
        ("AWS_ACCESS_KEY_ID", servers::S3_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", servers::S3_SECRET.to_string()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let targets = vec![
        Target {
            name: "local",
            snap_repo: work.path().join("local-snap").display().to_string(),
            snap_args: vec![],
            restic_repo: work.path().join("local-restic").display().to_string(),
            restic_args: vec![],
            env: vec![],
        },
        Target {
            name: "s3 (garage)",
            snap_repo: format!("s3:{}/{}/snap", garage.endpoint, servers::S3_BUCKET),
            snap_args: vec![],
            restic_repo: format!("s3:{}/{}/restic", garage.endpoint, servers::S3_BUCKET),
            restic_args: vec![],
            env: s3_env,
        },
        Target {
            name: "sftp (sshd)",
            snap_repo: sshd.location(&remote.join("snap")),
            snap_args: vec![
                "--sftp-key".into(),
                sshd.key.display().to_string(),
                "--sftp-known-hosts".into(),
                sshd.known_hosts.display().to_string(),
            ],
            restic_repo: format!(
                "sftp:{}@127.0.0.1:{}",
                sshd.user,
                remote.join("restic").display()
            ),
            restic_args: vec!["-o".into(), format!("sftp.command={ssh}")],
            env: vec![],
        },
        Target {
            name: "rest (rclone)",
            snap_repo: format!("rest:http://{}/snap/", rest.addr),
            snap_args: vec![],
            restic_repo: format!("rest:http://{}/restic/", rest.addr),
            restic_args: vec![],
            env: vec![],
        },
    ];
    let restic = Command::new("restic").arg("version").output().is_ok();
    let out = work.path().join("restored");
    let mbps = |secs: f64| bytes as f64 / 1e6 / secs;
    println!(
        "corpus: {:.1} MB; MB/s, higher is better{}",
        bytes as f64 / 1e6,
        if restic {
            ""
        } else {
            " (restic not installed: its columns are empty)"
        }
    );
    println!("| backend | snap backup | snap restore | restic backup | restic restore |");
    println!("|---|---:|---:|---:|---:|");
    for t in &targets {
        let init = snap_cmd(t, &["init", "--kdf-memory-kib", "65536"]);
        let mut restore = snap_cmd(t, &["restore", "latest", "--target"]);
        restore.arg(&out);
        let mut backup = snap_cmd(t, &["backup"]);
        backup.arg(&src);
        let (sb, sr) = run(&src, &out, init, backup, restore);
        let (rb, rr) = if restic {
            let mut backup = restic_cmd(t, &["backup"]);
            backup.arg(&src);
            let mut restore = restic_cmd(t, &["restore", "latest", "--target"]);
            restore.arg(&out);
            let (b, r) = run(&src, &out, restic_cmd(t, &["init"]), backup, restore);
            (format!("{:.1}", mbps(b)), format!("{:.1}", mbps(r)))
        } else {
            (String::new(), String::new())
        };
        println!(
            "| {} | {:.1} | {:.1} | {rb} | {rr} |",
            t.name,
            mbps(sb),
            mbps(sr)
        );
    }
}

fn walk_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}
