//! Pack trailer and header plaintext parsing (`snap::pack`).
//!
//! Input: `pack_len (u64 LE) || trailer (4) || mode (1) || header_offset (u64 LE) || plaintext`.
//! Mode bit 0 set: the header offset is instead the sum of the entries' stored
//! lengths, so the success path is reached without guessing it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::{MasterKey, SealKind};
use snap::pack::{decode_header, decode_header_plaintext, encode_header_with_salt, header_location, HEADER_ENTRY_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() < 21 {
        return;
    }
    let pack_len = u64::from_le_bytes(data[0..8].try_into().unwrap());
    let trailer: [u8; 4] = data[8..12].try_into().unwrap();
    let mode = data[12];
    let given_offset = u64::from_le_bytes(data[13..21].try_into().unwrap());
    let plain = &data[21..];

    if let Ok((off, len)) = header_location(pack_len, trailer) {
        assert_eq!(len, u32::from_le_bytes(trailer) as u64);
        assert!(len >= (snap::crypto::SEAL_OVERHEAD + 1) as u64);
        assert_eq!(off.checked_add(len).and_then(|e| e.checked_add(4)), Some(pack_len));
    }

    let header_offset = if mode & 1 == 1 && plain.len() > 1 {
        plain[1..]
            .chunks(HEADER_ENTRY_LEN)
            .filter(|c| c.len() >= 6)
            .map(|c| u32::from_le_bytes([c[2], c[3], c[4], c[5]]) as u64)
            .sum()
    } else {
        given_offset
    };

    let Ok(entries) = decode_header_plaintext(plain, header_offset) else {
        return;
    };

    // Invariants: whole entries, contiguous offsets from 0 that end at the header.
    assert_eq!(plain.len(), 1 + entries.len() * HEADER_ENTRY_LEN);
    let mut next = 0u64;
    for e in &entries {
        assert_eq!(e.offset as u64, next);
        assert!(e.stored_len as usize >= snap::crypto::SEAL_OVERHEAD);
        next += e.stored_len as u64;
    }
    assert_eq!(next, header_offset);

    // Re-encoding gives the same plaintext, and the sealed form decodes back.
    let key = MasterKey::from_secret([7; 32]);
    let encoded = encode_header_with_salt(&key, &entries, [1; 16]);
    let (sealed, len_bytes) = encoded.split_at(encoded.len() - 4);
    assert_eq!(u32::from_le_bytes(len_bytes.try_into().unwrap()) as usize, sealed.len());
    assert_eq!(key.open(SealKind::PackHeader, sealed).unwrap(), plain);
    let pack_len = header_offset + encoded.len() as u64;
    let (off, len) = header_location(pack_len, len_bytes.try_into().unwrap()).unwrap();
    assert_eq!((off, len), (header_offset, sealed.len() as u64));
    assert_eq!(decode_header(&key, sealed, off).unwrap(), entries);
});
