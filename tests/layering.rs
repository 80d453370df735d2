//! The layer table, enforced: every `crate::...` path in a top-level module
//! of `src/` must name a module that module's row allows. The table mirrors
//! README.md ("Layers") and `src/lib.rs`; a new module gets its row here, and
//! a new dependency between layers is a decision made in this file, not an
//! accident in an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use, bottom to top.
const TABLE: &[(&str, &[&str])] = &[
    // Level 0: vocabulary with no dependencies inside the crate.
    ("id", &[]),
    ("pattern", &[]),
    ("chunker", &[]),
    ("interrupt", &[]),
    ("failure", &[]),
    ("blob", &["id"]),
    // Level 1: keys and sealing, named-file storage, and the etcd client,
    // which shares the backends' level (sources and restore both use it).
    ("crypto", &["id"]),
    ("backend", &["id"]),
    ("etcd", &[]),
    // Level 2: pack files and the index.
    ("pack", &["blob", "crypto", "id"]),
    ("index", &["blob", "crypto", "id"]),
    // Level 3: an opened repository.
    (
        "repo",
        &[
            "backend",
            "blob",
            "chunker",
            "crypto",
            "failure",
            "id",
            "index",
            "interrupt",
            "pack",
        ],
    ),
    // Level 4: manifests and trees.
    (
        "snapshot",
        &[
            "backend", "blob", "crypto", "etcd", "failure", "id", "pack", "repo",
        ],
    ),
    // Level 5: reading sources, writing snapshots of them, restoring them.
    ("source", &["etcd", "id", "pattern", "snapshot"]),
    (
        "archiver",
        &[
            "backend",
            "blob",
            "chunker",
            "crypto",
            "etcd",
            "failure",
            "id",
            "index",
            "interrupt",
            "pack",
            "pattern",
            "repo",
            "snapshot",
            "source",
        ],
    ),
    (
        "restore",
        &[
            "backend",
            "blob",
            "chunker",
            "crypto",
            "etcd",
            "failure",
            "id",
            "index",
            "interrupt",
            "pack",
            "pattern",
            "repo",
            "snapshot",
        ],
    ),
    // Level 6: commands as a library (repair included), and the REST server,
    // which serves named files and needs nothing above the backends.
    (
        "ops",
        &[
            "archiver",
            "backend",
            "blob",
            "chunker",
            "crypto",
            "etcd",
            "failure",
            "id",
            "index",
            "interrupt",
            "pack",
            "pattern",
            "repo",
            "restore",
            "snapshot",
            "source",
        ],
    ),
    ("server", &["backend", "id"]),
    // Level 7: argument parsing and rendering; may use everything.
    (
        "cli",
        &[
            "archiver",
            "backend",
            "blob",
            "chunker",
            "crypto",
            "etcd",
            "failure",
            "id",
            "index",
            "interrupt",
            "ops",
            "pack",
            "pattern",
            "repo",
            "restore",
            "server",
            "snapshot",
            "source",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named by every `crate::` path in `text`, including
/// each member of a `crate::{a::X, b}` group.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in macros and `snap_crate::` style names are not ours.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let head: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !head.is_empty() {
                            found.insert(head);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                found.insert(head);
            }
        }
    }
    found
}

#[test]
fn group_imports_are_read_member_by_member() {
    let found = crate_paths(
        "use crate::{id::PackId, pack::{Header, x}, repo};\nlet a = crate::snapshot::Tree; $crate::ops",
    );
    let names: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(names, ["id", "pack", "repo", "snapshot"]);
}

#[test]
fn every_module_uses_only_the_layers_its_row_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table: BTreeMap<&str, BTreeSet<&str>> = TABLE
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let Some(allowed) = table.get(name.as_str()) else {
            problems.push(format!(
                "src/{name} has no row in the layer table of tests/layering.rs"
            ));
            continue;
        };
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in crate_paths(&text) {
                if used != name && !allowed.contains(used.as_str()) {
                    problems.push(format!(
                        "{} uses crate::{used}, which the row of {name} does not allow",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    for (module, _) in TABLE {
        let dir = src.join(module);
        let file = src.join(format!("{module}.rs"));
        if !dir.is_dir() && !file.is_file() {
            problems.push(format!("the layer table names {module}, which src/ lacks"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_table_has_no_cycles() {
    // Bottom to top: every module's row names only modules listed before it.
    let mut seen = BTreeSet::new();
    for (module, deps) in TABLE {
        for dep in *deps {
            assert!(
                seen.contains(dep),
                "{module} may use {dep}, which is not below it in the table"
            );
        }
        seen.insert(*module);
    }
}
