//! Key files (`snap::crypto::KeyFile::decode`). Only parsing and parameter
//! validation: unwrapping runs Argon2id, far too slow for fuzzing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::KeyFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = KeyFile::decode(data) {
        assert!(file.kdf_params().validate().is_ok());
        let encoded = file.encode();
        let again = KeyFile::decode(&encoded).expect("re-encoded key file must decode");
        assert_eq!(again.kdf_params(), file.kdf_params());
        assert_eq!(again.encode(), encoded);
    }
});
