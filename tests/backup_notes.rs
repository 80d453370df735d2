//! What a backup says about what it could not capture exactly: a file that
//! changes while it is read (a warning, exit 3), a modification time a
//! snapshot cannot hold, a parent snapshot whose trees are gone (notes);
//! and listings that never print a name's control characters raw.

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{noise, Fixture};
use predicates::prelude::*;

#[test]
fn a_file_written_while_it_is_read_is_a_warning() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    let busy = src.join("busy.db");
    fs::write(&busy, noise(1, 96 << 20)).unwrap();
    fs::write(src.join("quiet.txt"), "calm").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, busy) = (Arc::clone(&stop), busy.clone());
        std::thread::spawn(move || {
            let file = fs::OpenOptions::new().write(true).open(&busy).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let at = (n * 7_919 * 4096) % (96 << 20);
                std::os::unix::fs::FileExt::write_all_at(&file, b"changed", at).unwrap();
                n += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = f.snap().arg("backup").arg(&src).assert().code(3);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("busy.db changed while it was read"), "{err}");
    assert!(!err.contains("quiet.txt"), "{err}");
}

#[test]
fn times_a_snapshot_cannot_hold_and_unusable_parents_are_noted() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    let future = src.join("future.txt");
    fs::write(&future, "from 2300").unwrap();
    let year_2300 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(10_413_792_000);
    fs::File::options()
        .write(true)
        .open(&future)
        .unwrap()
        .set_modified(year_2300)
        .unwrap();
    fs::write(src.join("data.bin"), noise(2, 1 << 20)).unwrap();
    f.snap()
        .arg("backup")
        .arg(&src)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "future.txt has a modification time outside 1677-2262",
        ));

    // The parent's trees go (as a prune running meanwhile could take
    // them): the next backup reads everything again instead of failing.
    let packs = common::packs(&f.repo());
    let trees: Vec<_> = packs.iter().filter(|(size, _)| *size < 64 << 10).collect();
    assert!(!trees.is_empty());
    for (_, p) in trees {
        fs::remove_file(p).unwrap();
    }
    f.snap().arg("backup").arg(&src).assert().success().stderr(
        predicate::str::contains("the parent snapshot")
            .and(predicate::str::contains("every file is read again")),
    );
}

#[test]
fn listings_escape_control_characters_in_names() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    let nasty = "evil\n\u{1b}[2Jname";
    fs::write(src.join(nasty), "x").unwrap();
    let first = f.backup_json(&src, &[]);
    fs::write(src.join(nasty), "changed").unwrap();
    let second = f.backup_json(&src, &[]);
    let ls = f.snap().args(["ls", "latest"]).assert().success();
    let text = String::from_utf8_lossy(&ls.get_output().stdout).to_string();
    assert!(text.contains("evil\\n\\u{1b}[2Jname"), "{text}");
    assert!(!text.contains('\u{1b}'), "raw escape in ls output");
    let ids = [
        first["snapshot_id"].as_str().unwrap(),
        second["snapshot_id"].as_str().unwrap(),
    ];
    for args in [vec!["diff", ids[0], ids[1]], vec!["find", "*evil*"]] {
        let out = f.snap().args(&args).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(text.contains("evil\\n\\u{1b}[2Jname"), "{args:?}: {text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains("evil\n"),
            "{args:?}"
        );
    }
    // JSON keeps the exact name.
    let json = f.snap().args(["--json", "ls", "latest"]).assert().success();
    let listing: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert!(
        listing.to_string().contains("evil\\n\\u001b[2Jname"),
        "{listing}"
    );
}
