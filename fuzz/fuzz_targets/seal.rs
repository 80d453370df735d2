//! Sealed objects (`snap::crypto::MasterKey::open`) of every kind: arbitrary
//! bytes never panic, and a sealed payload opens only under its own kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::{MasterKey, SealKind, SEAL_OVERHEAD};

const KINDS: [SealKind; 8] = [
    SealKind::DataBlob,
    SealKind::TreeBlob,
    SealKind::PackHeader,
    SealKind::Index,
    SealKind::Snapshot,
    SealKind::Config,
    SealKind::Lock,
    SealKind::MasterKey,
];

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_secret([7; 32]);
    for kind in KINDS {
        if let Ok(plain) = key.open(kind, data) {
            assert_eq!(plain.len() + SEAL_OVERHEAD, data.len());
        }
    }

    let Some((&k, payload)) = data.split_first() else {
        return;
    };
    let kind = KINDS[k as usize % KINDS.len()];
    let sealed = key.seal_with_salt(kind, [9; 16], payload);
    assert_eq!(sealed.len(), payload.len() + SEAL_OVERHEAD);
    for other in KINDS {
        let opened = key.open(other, &sealed);
        if other == kind {
            assert_eq!(opened.unwrap(), payload);
        } else {
            assert!(opened.is_err());
        }
    }
    if let Some(last) = sealed.len().checked_sub(1) {
        let mut bad = sealed.clone();
        bad[k as usize % (last + 1)] ^= 1;
        assert!(key.open(kind, &bad).is_err());
    }
});
