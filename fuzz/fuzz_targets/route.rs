//! REST request paths (`snap::server::routes::parse`): never panics, and
//! every path it accepts names a file or folder strictly inside the served
//! folder (no `..`, no absolute part, no hidden or empty segment).
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use snap::server::routes::{parse, Route, MAX_SEGMENT};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(route) = parse(path) else {
        return;
    };
    let mut rel = Path::new(route.repo()).to_path_buf();
    match &route {
        Route::Metrics => return,
        Route::Repo { .. } => {}
        Route::Config { .. } => rel.push("config"),
        Route::List { kind, .. } => rel.push(kind.dir()),
        Route::File { kind, name, .. } => {
            assert_eq!(name.len(), 64);
            rel.push(kind.dir());
            rel.push(name);
        }
    }
    let root = Path::new("/srv/snap");
    let full = root.join(&rel);
    assert!(full.starts_with(root), "{path:?} -> {}", full.display());
    for c in rel.components() {
        let Component::Normal(name) = c else {
            panic!("{path:?} -> {} has {c:?}", rel.display());
        };
        let name = name.to_str().unwrap();
        assert!(!name.is_empty() && !name.starts_with('.') && name.len() <= MAX_SEGMENT);
    }
});
