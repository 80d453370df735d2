//! Lock file plaintext (`snap::repo::LockInfo::decode`): never panics, and a
//! decoded lock re-encodes to a plaintext that decodes to the same lock.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::repo::LockInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(lock) = LockInfo::decode(data) {
        let again = LockInfo::decode(&lock.encode()).expect("re-encoded lock decodes");
        assert_eq!(again.encode(), lock.encode());
        let _ = lock.blocks_as();
    }
});
