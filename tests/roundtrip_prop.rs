//! Property test: arbitrary trees → backup → restore → identical, through the
//! whole chunk → pack → index → restore path, with small chunks and packs so
//! every case spans several chunks and packs.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use snap::archiver::{backup, BackupOptions};
use snap::backend::LocalBackend;
use snap::chunker::ChunkerParams;
use snap::crypto::KdfParams;
use snap::repo::{InitOptions, Repository};
use snap::restore::{restore_to_dir, RestoreFilter, RestorePlan};

#[derive(Debug, Clone)]
enum Entry {
    File { content: Vec<u8>, mode: u32 },
    Dir(Vec<(String, Entry)>),
    Link(String),
}

fn entry() -> impl Strategy<Value = Entry> {
    let leaf = prop_oneof![
        4 => (prop::collection::vec(any::<u8>(), 0..3000), prop::sample::select(vec![0o644u32, 0o600, 0o755, 0o400]))
            .prop_map(|(content, mode)| Entry::File { content, mode }),
        1 => (0usize..70_000, any::<u8>()).prop_map(|(n, b)| Entry::File { content: common::noise(b as u64, n), mode: 0o644 }),
        1 => "[a-z]{1,8}".prop_map(Entry::Link),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop::collection::btree_map("[a-zA-Z0-9 ._-]{1,10}", inner, 0..6).prop_map(|m| {
            Entry::Dir(
                m.into_iter()
                    .filter(|(k, _)| k != "." && k != "..")
                    .collect(),
            )
        })
    })
}

fn write(path: &Path, e: &Entry) {
    match e {
        Entry::File { content, mode } => {
            fs::write(path, content).unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(*mode)).unwrap();
        }
        Entry::Dir(children) => {
            fs::create_dir(path).unwrap();
            for (name, child) in children {
                write(&path.join(name), child);
            }
        }
        Entry::Link(t) => std::os::unix::fs::symlink(t, path).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn backup_then_restore_is_identical(children in prop::collection::btree_map("[a-z]{1,6}", entry(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        write(&src, &Entry::Dir(children.into_iter().collect()));
        let backend = Arc::new(LocalBackend::new(dir.path().join("repo")));
        let options = InitOptions {
            kdf: KdfParams::insecure_fast(),
            chunker: ChunkerParams { min_size: 1024, avg_size: 4096, max_size: 16384 },
            pack_size: 1 << 20,
            ..Default::default()
        };
        Repository::init(backend.clone(), b"pw", &options).unwrap();
        let mut repo = Repository::open(backend, b"pw").unwrap();
        repo.load_index().unwrap();
        let result = backup(&repo, &BackupOptions { paths: vec![src.clone()], threads: 4, connections: 2, ..Default::default() }).unwrap();
        prop_assert!(result.warnings.is_empty());
        repo.load_index().unwrap();
        let plan = RestorePlan::build(&repo, &result.manifest.tree, &RestoreFilter::default()).unwrap();
        let target = dir.path().join("out");
        restore_to_dir(&repo, &plan, &target, 3, &Default::default()).unwrap();
        common::assert_same_tree(&src, &common::restored(&target, &src));
    }
}
