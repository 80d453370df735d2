//! `Authorization: Basic` header values (`snap::server::auth::basic_credentials`):
//! never panics; what it returns re-encodes to an equivalent header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::server::auth::basic_credentials;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((user, password)) = basic_credentials(header) {
        assert!(!user.contains(':'));
        let _ = password;
    }
});
