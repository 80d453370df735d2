//! etcd's JSON gateway answers (`snap::etcd::{Page, Status, Member}`): any
//! bytes that parse as JSON decode to a value or an error, never a panic, and
//! a decoded key is never empty (etcd has no empty key; a restore would
//! write one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::etcd::{Member, Page, Status};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(page) = Page::parse(&v) {
        assert!(page.kvs.iter().all(|kv| !kv.key.is_empty()));
        assert!(page.header_revision > 0);
    }
    let _ = Status::parse(&v);
    if let Some(members) = v.get("members").and_then(|m| m.as_array()) {
        for m in members {
            let _ = Member::parse(m);
        }
    }
});
