//! Snapshot manifests (`snap::snapshot::SnapshotManifest::decode`): a decoded
//! manifest re-encodes to bytes that decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::snapshot::SnapshotManifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SnapshotManifest::decode(data) {
        let encoded = m.encode();
        let again = SnapshotManifest::decode(&encoded).expect("re-encoded manifest must decode");
        // Not compared with `==`: serde_json's default float parsing may differ
        // by one ULP for `duration_seconds`; the re-encoding must be stable.
        assert_eq!(again.encode(), encoded);
    }
});
