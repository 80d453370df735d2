//! Repository config (`snap::repo::Config::decode`) under a fixed key: the
//! input as a sealed config, then the input as plaintext sealed by us so the
//! JSON parsing and validation are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::{MasterKey, SealKind};
use snap::repo::Config;

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_secret([7; 32]);
    let _ = Config::decode(&key, data);

    let sealed = key.seal_with_salt(SealKind::Config, [5; 16], data);
    if let Ok(config) = Config::decode(&key, &sealed) {
        assert_eq!(config.version, 1);
        let again = Config::decode(&key, &config.encode(&key)).expect("re-encoded config must decode");
        assert_eq!(again, config);
    }
});
