//! Platform profiles (`snap::ops::profile::PlatformProfile::parse`): any
//! text either parses into a profile that names a source, or fails with an
//! error naming the file; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::ops::profile::PlatformProfile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = std::path::Path::new("/fuzz/platform.toml");
    match PlatformProfile::parse(text, file) {
        Ok(p) => assert!(!p.kinds().is_empty()),
        Err(e) => assert!(e.to_string().contains("/fuzz/platform.toml")),
    }
});
