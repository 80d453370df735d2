//! What snap reads from a stored Kubernetes value and key
//! (`snap::source::etcd::{k8s_type, k8s_resource}`), including the
//! hand-written protobuf walker of the `k8s\0` envelope: never panics on any
//! bytes, and reads the same bytes the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::source::etcd::{k8s_resource, k8s_type};

fuzz_target!(|data: &[u8]| {
    assert_eq!(k8s_type(data), k8s_type(data));
    if let Some(r) = k8s_resource(data).filter(|r| !r.name.is_empty()) {
        // The resource comes from the key itself, never from outside it.
        assert!(data.windows(r.name.len()).any(|w| w == r.name.as_bytes()));
    }
});
