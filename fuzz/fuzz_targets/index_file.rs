//! Index file plaintext (`snap::index::IndexFile::decode_plaintext`): the
//! encoding is canonical, so a decoded file re-encodes to the exact input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::index::IndexFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = IndexFile::decode_plaintext(data) {
        assert_eq!(file.encode_plaintext(), data);
        assert_eq!(IndexFile::decode_plaintext(data).unwrap(), file);
    }
});
