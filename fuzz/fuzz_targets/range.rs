//! The `Range` header (`snap::server::range::parse`): never panics, and a
//! partial answer always lies inside the file and is not empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::server::range::{parse, RangeAnswer};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap()) >> (data[0] % 64);
    let Ok(value) = std::str::from_utf8(&data[8..]) else {
        return;
    };
    if let RangeAnswer::Partial { offset, len } = parse(value, size) {
        assert!(len >= 1, "{value:?} on {size}");
        assert!(offset.checked_add(len).is_some_and(|end| end <= size), "{value:?} on {size}");
    }
});
