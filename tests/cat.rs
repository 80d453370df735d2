//! `snap cat` shows each kind of stored object, decrypted, and follows a
//! snapshot down to a file's bytes.

mod common;

use std::fs;

use common::Fixture;
use predicates::prelude::*;

fn cat_json(f: &Fixture, args: &[&str]) -> serde_json::Value {
    let out = f.snap().arg("cat").args(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn only_name(dir: std::path::PathBuf) -> String {
    let entry = fs::read_dir(dir).unwrap().next().unwrap().unwrap();
    entry.file_name().to_str().unwrap().to_string()
}

#[test]
fn cat_follows_a_snapshot_to_a_files_bytes() {
    let f = Fixture::new();
    let src = f.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("motd"), "welcome to the platform\n").unwrap();
    f.backup_json(&src, &[]);

    let config = cat_json(&f, &["config"]);
    assert_eq!(config["version"], 1);
    assert!(config.get("pack_size").is_some());

    let snapshot = cat_json(&f, &["snapshot", "latest"]);
    let mut tree_id = snapshot["tree"].as_str().unwrap().to_string();
    // Walk the absolute path of `src` down to the file.
    let mut blob = None;
    for _ in 0..64 {
        let out = f.snap().args(["cat", "blob", &tree_id]).assert().success();
        let tree: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let nodes = tree["nodes"].as_array().unwrap();
        if let Some(file) = nodes.iter().find(|n| n["name"] == "motd") {
            blob = Some(file["content"][0].as_str().unwrap().to_string());
            break;
        }
        assert_eq!(nodes.len(), 1, "{tree}");
        tree_id = nodes[0]["subtree"].as_str().unwrap().to_string();
    }
    let blob = blob.expect("motd not found");
    f.snap()
        .args(["cat", "blob", &blob])
        .assert()
        .success()
        .stdout("welcome to the platform\n");

    let index_name = only_name(f.repo().join("index"));
    let index = cat_json(&f, &["index", &index_name[..6]]);
    let indexed: Vec<&serde_json::Value> = index["packs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["blobs"].as_array().unwrap())
        .collect();
    assert!(indexed.iter().any(|b| b["id"] == blob.as_str()));
    let pack = index["packs"][0]["id"].as_str().unwrap();
    let header = cat_json(&f, &["pack", pack]);
    assert_eq!(header["blobs"], index["packs"][0]["blobs"]);

    let key_name = only_name(f.repo().join("keys"));
    let key = cat_json(&f, &["key", &key_name[..8]]);
    assert!(key.get("kdf").is_some());

    f.snap()
        .args(["cat", "lock", "abcd"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no lock file abcd"));
    f.snap()
        .args(["cat", "blob", "zz"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no blob zz"));
}
