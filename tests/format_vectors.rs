//! Golden test vectors of the repository format (format-spec/vectors/README.md).
//!
//! - [`generate`] builds every vector deterministically with the library's
//!   `*_with_salt` / `wrap_with` functions, fixed secrets, salts and inputs.
//! - `vectors_check` reads the files in `format-spec/vectors/` and checks each
//!   one as the README says, by re-running the library on the values in the
//!   file. It does not use the generator.
//! - `vectors_match_generator` checks that the files on disk are exactly the ones
//!   the generator produces, so a vector can neither drift nor disappear.
//!
//! After an intended format change (which also needs an entry in CHANGES.md):
//! `SNAP_WRITE_VECTORS=1 cargo test --test format_vectors`, then review the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use snap::chunker::{Chunker, ChunkerParams};
use snap::crypto::{KdfParams, KeyFile, MasterKey, SealKind};
use snap::id::{BlobId, Id, IndexId, PackId, SnapshotId};
use snap::index::{IndexFile, IndexPack, MarkedPack};
use snap::pack::{
    decode_header, decode_header_plaintext, encode_header_with_salt, header_location, BlobKind,
    Compression, PackEntry,
};
use snap::repo::{Config, LockInfo, LockKind};
use snap::snapshot::{
    value_hash, EtcdCapture, EtcdKeyMeta, EtcdLeaseRecord, EtcdMemberRecord, GitPackMeta,
    GitRefRecord, GitRepoMeta, KeyspaceDigest, Node, NodeName, NodeType, SnapshotManifest,
    SourceRecord, Summary, Tree,
};

const KINDS: [&str; 11] = [
    "blob-id",
    "seal",
    "key-file",
    "pack-header",
    "index",
    "tree",
    "chunker",
    "config",
    "etcd-digest",
    "manifest",
    "lock",
];
const CTX_ENCRYPTION: &str = "snap 2026 v1 encryption";
const CTX_BLOB_ID: &str = "snap 2026 v1 blob id";
const CTX_CHUNKER_SEED: &str = "snap 2026 v1 chunker seed";
const SEAL_KINDS: [SealKind; 7] = [
    SealKind::DataBlob,
    SealKind::TreeBlob,
    SealKind::PackHeader,
    SealKind::Index,
    SealKind::Snapshot,
    SealKind::Config,
    SealKind::Lock,
];

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format-spec/vectors")
}

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

/// One vector as the generator builds it.
#[derive(Clone, Debug)]
struct Case {
    kind: &'static str,
    desc: String,
    ok: bool,
    lines: Vec<(String, String)>,
}

impl Case {
    fn ok(kind: &'static str, desc: &str) -> Case {
        Case {
            kind,
            desc: desc.to_string(),
            ok: true,
            lines: Vec::new(),
        }
    }

    fn error(kind: &'static str, desc: &str, reason: &str) -> Case {
        Case {
            kind,
            desc: desc.to_string(),
            ok: false,
            lines: Vec::new(),
        }
        .kv("reason", reason)
    }

    fn kv(mut self, key: &str, value: impl ToString) -> Case {
        self.lines.push((key.to_string(), value.to_string()));
        self
    }

    fn hex(self, key: &str, bytes: impl AsRef<[u8]>) -> Case {
        self.kv(key, hex::encode(bytes))
    }

    fn comment(self, text: &str) -> Case {
        self.kv("comment", text)
    }

    fn file_name(&self) -> String {
        format!("{}-{}.txt", self.kind, self.desc)
    }

    fn render(&self) -> String {
        let mut s = format!(
            "expect: {}\nkind: {}\n",
            if self.ok { "ok" } else { "error" },
            self.kind
        );
        for (k, v) in &self.lines {
            if v.is_empty() {
                s.push_str(&format!("{k}:\n"));
            } else {
                s.push_str(&format!("{k}: {v}\n"));
            }
        }
        s
    }
}

fn secret_a() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn secret_b() -> [u8; 32] {
    *blake3::hash(b"snap test vectors: master secret b").as_bytes()
}

fn salt(label: &str) -> [u8; 16] {
    blake3::hash(format!("snap test vectors: salt {label}").as_bytes()).as_bytes()[..16]
        .try_into()
        .unwrap()
}

fn object_key(secret: &[u8; 32], salt: &[u8; 16]) -> [u8; 32] {
    *blake3::keyed_hash(&blake3::derive_key(CTX_ENCRYPTION, secret), salt).as_bytes()
}

fn xof(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn entry_line(e: &PackEntry) -> String {
    format!(
        "{} {} {} {} {} {}",
        e.kind.code(),
        e.compression.code(),
        e.offset,
        e.stored_len,
        e.raw_len,
        e.id.to_hex()
    )
}

/// Entries with contiguous offsets; IDs are blob IDs of "blob <label>".
fn pack_entries(
    key: &MasterKey,
    spec: &[(BlobKind, Compression, u32, u32, &str)],
) -> Vec<PackEntry> {
    let mut offset = 0u32;
    spec.iter()
        .map(|&(kind, compression, stored_len, raw_len, label)| {
            let e = PackEntry {
                kind,
                compression,
                id: key.blob_id(format!("blob {label}").as_bytes()),
                offset,
                stored_len,
                raw_len,
            };
            offset = offset.wrapping_add(stored_len);
            e
        })
        .collect()
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} must occur once in {text}"
    );
    text.replacen(from, to, 1)
}

/// Every vector, in a fixed order.
fn generate() -> Vec<Case> {
    let mut out = Vec::new();
    gen_blob_id(&mut out);
    gen_seal(&mut out);
    gen_key_file(&mut out);
    gen_pack_header(&mut out);
    gen_index(&mut out);
    gen_tree(&mut out);
    gen_chunker(&mut out);
    gen_config(&mut out);
    gen_etcd_digest(&mut out);
    gen_manifest(&mut out);
    gen_lock(&mut out);
    let mut names = BTreeSet::new();
    for c in &out {
        assert!(
            names.insert(c.file_name()),
            "duplicate vector {}",
            c.file_name()
        );
        assert!(
            c.desc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "bad description {}",
            c.desc
        );
    }
    out
}

fn gen_blob_id(out: &mut Vec<Case>) {
    let pattern: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let cases: [(&str, [u8; 32], &[u8], &str); 4] = [
        (
            "empty",
            secret_a(),
            b"",
            "master secret 00 01 .. 1f, empty plaintext",
        ),
        ("abc", secret_a(), b"abc", "master secret 00 01 .. 1f"),
        (
            "zero-secret",
            [0; 32],
            b"hello, snap\n",
            "all-zero master secret",
        ),
        (
            "1k-pattern",
            secret_b(),
            &pattern,
            "plaintext byte i is i mod 251",
        ),
    ];
    for (desc, secret, plain, comment) in cases {
        let key = MasterKey::from_secret(secret);
        out.push(
            Case::ok("blob-id", desc)
                .comment(comment)
                .hex("master_secret", secret)
                .hex(
                    "encryption_key",
                    blake3::derive_key(CTX_ENCRYPTION, &secret),
                )
                .hex("blob_id_key", blake3::derive_key(CTX_BLOB_ID, &secret))
                .kv("chunker_seed", key.chunker_seed())
                .hex("plaintext", plain)
                .hex("blob_id", key.blob_id(plain).as_bytes()),
        );
    }
}

fn default_config_json(id: &Id) -> Vec<u8> {
    serde_json::to_vec(&Config {
        version: 1,
        id: *id,
        chunker: ChunkerParams::default(),
        compression_level: 3,
        pack_size: 16 << 20,
    })
    .unwrap()
}

fn gen_seal(out: &mut Vec<Case>) {
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let seal_ok = |desc: &str, kind: SealKind, plain: &[u8], comment: &str| {
        let s = salt(desc);
        Case::ok("seal", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .kv("seal_kind", kind as u8)
            .hex("salt", s)
            .hex("object_key", object_key(&secret, &s))
            .hex("plaintext", plain)
            .hex("sealed", key.seal_with_salt(kind, s, plain))
    };
    let data: Vec<u8> = (0..47u32).map(|i| (i * 37 + 11) as u8).collect();
    let tree_id = key.blob_id(br#"{"version":1,"nodes":[]}"#);
    let snapshot = format!(
        r#"{{"version":1,"time":"2026-11-27T09:14:03Z","hostname":"backup-host","username":"root","tree":"{}"}}"#,
        tree_id.to_hex()
    );
    let lock = br#"{"version":1,"time":"2026-11-27T09:14:03.123456789Z","kind":"shared","hostname":"backup-host","username":"root","pid":4242}"#;
    out.push(seal_ok(
        "kind0-data-blob",
        SealKind::DataBlob,
        &data,
        "47 bytes, not a whole number of AES blocks",
    ));
    out.push(seal_ok(
        "kind1-tree-blob",
        SealKind::TreeBlob,
        br#"{"version":1,"nodes":[]}"#,
        "an empty tree",
    ));
    out.push(seal_ok(
        "kind2-pack-header",
        SealKind::PackHeader,
        &[1],
        "the header of a pack without blobs",
    ));
    out.push(seal_ok(
        "kind3-index",
        SealKind::Index,
        &[1, 0, 0, 0, 0, 0, 0, 0, 0],
        "an empty index file",
    ));
    out.push(seal_ok(
        "kind4-snapshot",
        SealKind::Snapshot,
        snapshot.as_bytes(),
        "a minimal snapshot manifest",
    ));
    out.push(seal_ok(
        "kind5-config",
        SealKind::Config,
        &default_config_json(&Id::sha256(b"repository")),
        "a default config",
    ));
    out.push(seal_ok("kind6-lock", SealKind::Lock, lock, "a shared lock"));
    out.push(seal_ok(
        "empty-plaintext",
        SealKind::DataBlob,
        b"",
        "the shortest sealed object: salt and tag only",
    ));

    let base_salt = salt("error base");
    let base = key.seal_with_salt(SealKind::DataBlob, base_salt, b"attack at dawn");
    let seal_err = |desc: &str, reason: &str, secret: [u8; 32], kind: SealKind, sealed: &[u8]| {
        Case::error("seal", desc, reason)
            .comment(
                "derived from \"attack at dawn\" sealed as kind 0 under master secret 00 01 .. 1f",
            )
            .hex("master_secret", secret)
            .kv("seal_kind", kind as u8)
            .hex("sealed", sealed)
    };
    let flipped = |i: usize, bit: u8| {
        let mut b = base.clone();
        b[i] ^= bit;
        b
    };
    let n = base.len();
    out.push(seal_err(
        "flip-salt",
        "bit 0 of salt byte 0 changed",
        secret,
        SealKind::DataBlob,
        &flipped(0, 1),
    ));
    out.push(seal_err(
        "flip-ciphertext",
        "bit 7 of the first ciphertext byte changed",
        secret,
        SealKind::DataBlob,
        &flipped(16, 0x80),
    ));
    out.push(seal_err(
        "flip-tag",
        "bit 0 of the last tag byte changed",
        secret,
        SealKind::DataBlob,
        &flipped(n - 1, 1),
    ));
    out.push(seal_err(
        "wrong-kind",
        "a data blob (kind 0) opened as a tree blob (kind 1)",
        secret,
        SealKind::TreeBlob,
        &base,
    ));
    out.push(seal_err(
        "truncated-31",
        "31 bytes, shorter than salt and tag",
        secret,
        SealKind::DataBlob,
        &base[..31],
    ));
    let mut extended = base.clone();
    extended.push(0);
    out.push(seal_err(
        "extended",
        "one zero byte appended",
        secret,
        SealKind::DataBlob,
        &extended,
    ));
    out.push(seal_err(
        "other-master-secret",
        "opened under another master secret",
        secret_b(),
        SealKind::DataBlob,
        &base,
    ));
}

struct KeyFileInput {
    secret: [u8; 32],
    password: Vec<u8>,
    params: KdfParams,
    kdf_salt: [u8; 16],
    seal_salt: [u8; 16],
    created: &'static str,
    hostname: &'static str,
    username: &'static str,
}

fn gen_key_file(out: &mut Vec<Case>) {
    let key_file = |inp: &KeyFileInput| {
        KeyFile::wrap_with(
            &MasterKey::from_secret(inp.secret),
            &inp.password,
            inp.params,
            inp.hostname,
            inp.username,
            inp.kdf_salt,
            inp.seal_salt,
            inp.created,
        )
        .unwrap()
        .encode()
    };
    let inputs = [
        (
            "cheap",
            "Argon2id 64 KiB, 1 pass, 1 lane (the cheapest accepted costs)",
            KeyFileInput {
                secret: secret_a(),
                password: b"correct horse battery staple".to_vec(),
                params: KdfParams {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                kdf_salt: salt("kdf 1"),
                seal_salt: salt("key seal 1"),
                created: "2026-11-27T09:14:03.123456789Z",
                hostname: "backup-host",
                username: "root",
            },
        ),
        (
            "two-lanes-binary-password",
            "a password that is not UTF-8; 128 KiB, 2 passes, 2 lanes",
            KeyFileInput {
                secret: secret_b(),
                password: vec![0xff, 0xfe, 0x00, b'p', b'w'],
                params: KdfParams {
                    memory_kib: 128,
                    iterations: 2,
                    parallelism: 2,
                },
                kdf_salt: salt("kdf 2"),
                seal_salt: salt("key seal 2"),
                created: "2027-01-01T00:00:00.000000000Z",
                hostname: "hôte-1",
                username: "backup",
            },
        ),
        (
            "empty-password",
            "the empty password and an empty user name",
            KeyFileInput {
                secret: [0x5a; 32],
                password: Vec::new(),
                params: KdfParams {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                kdf_salt: salt("kdf 3"),
                seal_salt: salt("key seal 3"),
                created: "2026-02-03T04:05:06.000000007Z",
                hostname: "h",
                username: "",
            },
        ),
    ];
    for (desc, comment, inp) in &inputs {
        let kf = key_file(inp);
        out.push(
            Case::ok("key-file", desc)
                .comment(comment)
                .hex("password", &inp.password)
                .kv("memory_kib", inp.params.memory_kib)
                .kv("iterations", inp.params.iterations)
                .kv("parallelism", inp.params.parallelism)
                .hex("kdf_salt", inp.kdf_salt)
                .hex("seal_salt", inp.seal_salt)
                .kv("created", inp.created)
                .kv("hostname", inp.hostname)
                .kv("username", inp.username)
                .hex("key_file", &kf)
                .hex("key_id", Id::sha256(&kf).0)
                .hex("master_secret", inp.secret),
        );
    }

    // Errors: edits of the first key file's text.
    let base_input = &inputs[0].2;
    let password = &base_input.password;
    let base = String::from_utf8(key_file(base_input)).unwrap();
    let string_field = |field: &str| {
        let start = base.find(&format!("\"{field}\": \"")).unwrap() + field.len() + 5;
        let len = base[start..].find('"').unwrap();
        base[start..start + len].to_string()
    };
    let master_key = string_field("master_key");
    let kdf_salt = string_field("salt");
    // A canonical 64-byte base64 string ends in "X==": X carries 2 bits of data
    // and 4 zero bits. Setting one of those makes it non-canonical.
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut trailing = master_key.clone().into_bytes();
    let pos = trailing.len() - 3;
    let v = B64.iter().position(|&c| c == trailing[pos]).unwrap();
    assert_eq!(v & 0xf, 0);
    trailing[pos] = B64[v | 1];
    let trailing = String::from_utf8(trailing).unwrap();
    let mut changed = master_key.clone().into_bytes();
    changed[40] = if changed[40] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).unwrap();

    let edits: Vec<(&str, &str, String)> = vec![
        (
            "version-2",
            "version 2 is unknown",
            replace_once(&base, "\"version\": 1,", "\"version\": 2,"),
        ),
        (
            "unknown-algorithm",
            "algorithm argon2i",
            replace_once(
                &base,
                "\"algorithm\": \"argon2id\"",
                "\"algorithm\": \"argon2i\"",
            ),
        ),
        (
            "memory-too-small",
            "memory 7 KiB is below 8 x parallelism",
            replace_once(&base, "\"memory_kib\": 64,", "\"memory_kib\": 7,"),
        ),
        (
            "memory-too-large",
            "memory 4194305 KiB is above 4 GiB",
            replace_once(&base, "\"memory_kib\": 64,", "\"memory_kib\": 4194305,"),
        ),
        (
            "iterations-101",
            "iterations 101 is above 100",
            replace_once(&base, "\"iterations\": 1,", "\"iterations\": 101,"),
        ),
        (
            "salt-too-short",
            "the Argon2 salt decodes to 4 bytes, fewer than 8",
            replace_once(&base, &kdf_salt, "AQIDBA=="),
        ),
        (
            "salt-missing-padding",
            "the salt's base64 lacks its == padding",
            replace_once(&base, &kdf_salt, kdf_salt.trim_end_matches('=')),
        ),
        (
            "master-key-trailing-bits",
            "master_key base64 has a non-zero trailing bit (non-canonical)",
            replace_once(&base, &master_key, &trailing),
        ),
        (
            "master-key-changed",
            "one base64 character of master_key changed: authentication fails",
            replace_once(&base, &master_key, &changed),
        ),
        (
            "missing-field",
            "the username field is missing",
            replace_once(&base, "  \"username\": \"root\",\n", ""),
        ),
        (
            "truncated-json",
            "the JSON text is cut in half",
            base[..base.len() / 2].to_string(),
        ),
    ];
    out.push(
        Case::error("key-file", "wrong-password", "another password")
            .comment("the key file of key-file-cheap.txt")
            .hex("password", b"Tr0ub4dor&3")
            .hex("key_file", &base),
    );
    for (desc, reason, text) in edits {
        out.push(
            Case::error("key-file", desc, reason)
                .comment("an edit of key-file-cheap.txt; the password is right")
                .hex("password", password)
                .hex("key_file", text),
        );
    }
}

fn raw_entry(kind: u8, compression: u8, stored_len: u32, raw_len: u32, id: &[u8; 32]) -> Vec<u8> {
    let mut e = vec![kind, compression];
    e.extend_from_slice(&stored_len.to_le_bytes());
    e.extend_from_slice(&raw_len.to_le_bytes());
    e.extend_from_slice(id);
    e
}

fn gen_pack_header(out: &mut Vec<Case>) {
    use BlobKind::{Data, Tree};
    use Compression::{None as Raw, Zstd};
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let pack_ok = |desc: &str, comment: &str, entries: &[PackEntry]| {
        let s = salt(desc);
        let header = encode_header_with_salt(&key, entries, s);
        let plain = key
            .open(SealKind::PackHeader, &header[..header.len() - 4])
            .unwrap();
        let offset: u64 = entries.iter().map(|e| e.stored_len as u64).sum();
        let mut c = Case::ok("pack-header", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .hex("salt", s);
        for e in entries {
            c = c.kv("entry", entry_line(e));
        }
        c.hex("header_plaintext", plain)
            .kv("header_offset", offset)
            .hex("header", header)
    };
    out.push(pack_ok(
        "zero-entries",
        "well-formed, though never written",
        &[],
    ));
    out.push(pack_ok(
        "one-entry",
        "one zstd data blob",
        &pack_entries(&key, &[(Data, Zstd, 1234, 5000, "a")]),
    ));
    out.push(pack_ok(
        "three-entries-mixed",
        "mixed types and compression; writers never mix data and tree blobs in a pack, readers still decode it",
        &pack_entries(
            &key,
            &[(Data, Raw, 32, 0, "b"), (Tree, Zstd, 100, 300, "c"), (Data, Zstd, 70000, 1048576, "d")],
        ),
    ));
    out.push(pack_ok(
        "max-lengths",
        "stored_len and raw_len of u32::MAX",
        &pack_entries(&key, &[(Data, Raw, u32::MAX, u32::MAX, "e")]),
    ));

    let id = *key.blob_id(b"blob a").as_bytes();
    let entry = raw_entry(0, 1, 1234, 5000, &id);
    let plain = |version: u8, entries: &[Vec<u8>]| {
        let mut p = vec![version];
        for e in entries {
            p.extend_from_slice(e);
        }
        p
    };
    let parse_err = |desc: &str, reason: &str, plaintext: &[u8], offset: u64| {
        Case::error("pack-header", desc, reason)
            .hex("header_plaintext", plaintext)
            .kv("header_offset", offset)
    };
    out.push(parse_err("empty-plaintext", "no version byte", &[], 0));
    out.push(parse_err(
        "version-2",
        "header version 2",
        &plain(2, std::slice::from_ref(&entry)),
        1234,
    ));
    out.push(parse_err(
        "partial-entry",
        "41 bytes after the version byte",
        &plain(1, &[entry[..41].to_vec()]),
        1234,
    ));
    out.push(parse_err(
        "unknown-type",
        "blob type 2",
        &plain(1, &[raw_entry(2, 1, 1234, 5000, &id)]),
        1234,
    ));
    out.push(parse_err(
        "unknown-compression",
        "compression 2",
        &plain(1, &[raw_entry(0, 2, 1234, 5000, &id)]),
        1234,
    ));
    out.push(parse_err(
        "stored-len-31",
        "a stored length below 32, the seal overhead",
        &plain(1, &[raw_entry(0, 0, 31, 0, &id)]),
        31,
    ));
    out.push(parse_err(
        "gap",
        "the blobs cover 1234 bytes but the header starts at 1235",
        &plain(1, std::slice::from_ref(&entry)),
        1235,
    ));
    let big = raw_entry(0, 0, u32::MAX, 0, &id);
    out.push(parse_err(
        "offset-overflow",
        "the third blob would start at 8589934590, beyond u32",
        &plain(1, &[big.clone(), big.clone(), big]),
        3 * u32::MAX as u64,
    ));

    let locate_err = |desc: &str, reason: &str, pack_len: u64, trailer: u32| {
        Case::error("pack-header", desc, reason)
            .kv("pack_len", pack_len)
            .hex("trailer", trailer.to_le_bytes())
    };
    out.push(locate_err(
        "trailer-below-minimum",
        "H = 32 is below 33, the smallest sealed header",
        1000,
        32,
    ));
    out.push(locate_err(
        "trailer-beyond-pack",
        "H = 97 does not fit before the trailer of a 100-byte pack",
        100,
        97,
    ));

    let entries = pack_entries(&key, &[(Data, Zstd, 1234, 5000, "a")]);
    let s = salt("pack-header errors");
    let good = encode_header_with_salt(&key, &entries, s);
    let with_trailer = |sealed: Vec<u8>| {
        let len = sealed.len() as u32;
        let mut h = sealed;
        h.extend_from_slice(&len.to_le_bytes());
        h
    };
    let open_err = |desc: &str, reason: &str, secret: [u8; 32], header: &[u8]| {
        Case::error("pack-header", desc, reason)
            .comment("the header of one-entry.txt's entry, sealed with another salt")
            .hex("master_secret", secret)
            .kv("header_offset", 1234)
            .hex("header", header)
    };
    let mut flipped = good.clone();
    flipped[20] ^= 4;
    out.push(open_err(
        "sealed-flipped",
        "a ciphertext bit changed",
        secret,
        &flipped,
    ));
    let plain_good = key
        .open(SealKind::PackHeader, &good[..good.len() - 4])
        .unwrap();
    out.push(open_err(
        "sealed-wrong-kind",
        "the header plaintext sealed as kind 3 (index)",
        secret,
        &with_trailer(key.seal_with_salt(SealKind::Index, s, &plain_good)),
    ));
    out.push(open_err(
        "sealed-other-master-secret",
        "opened under another master secret",
        secret_b(),
        &good,
    ));
    let mut bad_trailer = good.clone();
    let n = bad_trailer.len();
    bad_trailer[n - 4..].copy_from_slice(&((n - 5) as u32).to_le_bytes());
    out.push(open_err(
        "trailer-mismatch",
        "the trailer says one byte less than the sealed header's length",
        secret,
        &bad_trailer,
    ));
    let v2 = plain(2, &[entry]);
    out.push(
        open_err(
            "sealed-version-2",
            "correctly sealed, but header version 2",
            secret,
            &with_trailer(key.seal_with_salt(SealKind::PackHeader, s, &v2)),
        )
        .hex("header_plaintext", &v2),
    );
}

fn gen_index(out: &mut Vec<Case>) {
    use BlobKind::{Data, Tree};
    use Compression::{None as Raw, Zstd};
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let pack = |label: &str, spec: &[(BlobKind, Compression, u32, u32, &str)]| IndexPack {
        id: PackId(Id::sha256(format!("pack {label}").as_bytes())),
        blobs: pack_entries(&key, spec),
    };
    let index_ok = |desc: &str, comment: &str, file: &IndexFile| {
        let s = salt(desc);
        let plain = file.encode_plaintext();
        let mut c = Case::ok("index", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .hex("salt", s);
        for id in &file.supersedes {
            c = c.hex("supersedes", id.as_bytes());
        }
        for p in &file.packs {
            c = c.hex("pack", p.id.as_bytes());
            for b in &p.blobs {
                c = c.kv("blob", entry_line(b));
            }
        }
        for m in &file.marked {
            c = c.kv(
                "marked",
                format!("{} {}", hex::encode(m.id.as_bytes()), m.marked_at),
            );
            for b in &m.blobs {
                c = c.kv("blob", entry_line(b));
            }
        }
        c.hex("plaintext", &plain)
            .hex("sealed", key.seal_with_salt(SealKind::Index, s, &plain))
    };
    out.push(index_ok(
        "empty",
        "no superseded files, no packs",
        &IndexFile::default(),
    ));
    let one = IndexFile {
        supersedes: vec![],
        packs: vec![pack(
            "1",
            &[(Data, Zstd, 1234, 5000, "a"), (Data, Raw, 40, 8, "b")],
        )],
        marked: vec![],
    };
    out.push(index_ok("one-pack", "one pack of two data blobs", &one));
    out.push(index_ok(
        "supersedes",
        "two superseded index files and one tree pack",
        &IndexFile {
            supersedes: vec![
                IndexId(Id::sha256(b"index 1")),
                IndexId(Id::sha256(b"index 2")),
            ],
            packs: vec![pack("2", &[(Tree, Zstd, 500, 2000, "t")])],
            marked: vec![],
        },
    ));
    out.push(index_ok(
        "two-packs",
        "a data pack of three blobs and a tree pack of one",
        &IndexFile {
            supersedes: vec![],
            packs: vec![
                pack(
                    "3",
                    &[
                        (Data, Raw, 100, 68, "c"),
                        (Data, Zstd, 70000, 1048576, "d"),
                        (Data, Raw, 32, 0, "e"),
                    ],
                ),
                pack("4", &[(Tree, Raw, 90, 58, "f")]),
            ],
            marked: vec![],
        },
    ));
    let marked_pack = pack("6", &[(Data, Zstd, 300, 900, "h")]);
    let marked = IndexFile {
        supersedes: vec![IndexId(Id::sha256(b"index 3"))],
        packs: vec![pack("5", &[(Data, Raw, 60, 28, "g")])],
        marked: vec![
            MarkedPack {
                id: marked_pack.id,
                marked_at: 1_795_795_200,
                blobs: marked_pack.blobs,
            },
            MarkedPack {
                id: PackId(Id::sha256(b"pack 7")),
                marked_at: 1_795_795_201,
                blobs: vec![],
            },
        ],
    };
    out.push(index_ok(
        "marked",
        "version 2: a live pack, a marked pack with its blob, and a marked pack that was in no index (no blobs)",
        &marked,
    ));

    // Errors: edits of one-pack's plaintext. Layout: version [0], S [1..5],
    // P [5..9], pack ID [9..41], B [41..45], first blob record from 45.
    let base = one.encode_plaintext();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = base.clone();
        f(&mut p);
        p
    };
    let plain_err = |desc: &str, reason: &str, plaintext: &[u8]| {
        Case::error("index", desc, reason)
            .comment("an edit of one-pack.txt's plaintext")
            .hex("plaintext", plaintext)
    };
    out.push(plain_err("empty-plaintext", "no version byte", &[]));
    out.push(plain_err(
        "version-3",
        "index version 3",
        &edit(&|p| p[0] = 3),
    ));
    out.push(plain_err(
        "version-2-nothing-marked",
        "version 2 must list at least one marked pack; here the count M is 0",
        &edit(&|p| {
            p[0] = 2;
            p.extend_from_slice(&0u32.to_le_bytes());
        }),
    ));
    out.push(plain_err(
        "version-2-without-marked-count",
        "version 2 ends where version 1 would: the count M is missing",
        &edit(&|p| p[0] = 2),
    ));
    let marked_plain = marked.encode_plaintext();
    let hostile = {
        // M sits right after the live pack (one blob record).
        let at = 1 + 4 + 32 + 4 + 32 + 4 + 46;
        let mut p = marked_plain.clone();
        p[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        p
    };
    out.push(
        Case::error(
            "index",
            "hostile-marked-count",
            "M = 0xffffffff marked packs do not fit",
        )
        .comment("an edit of marked.txt's plaintext")
        .hex("plaintext", &hostile),
    );
    out.push(plain_err(
        "truncated",
        "the last blob record lacks 10 bytes",
        &base[..base.len() - 10],
    ));
    out.push(plain_err(
        "trailing-byte",
        "one byte after the last pack",
        &edit(&|p| p.push(0)),
    ));
    out.push(plain_err(
        "hostile-supersedes-count",
        "S = 0xffffffff superseded IDs do not fit in the remaining bytes",
        &edit(&|p| p[1..5].copy_from_slice(&u32::MAX.to_le_bytes())),
    ));
    out.push(plain_err(
        "hostile-blob-count",
        "B = 0xffffffff blob records do not fit",
        &edit(&|p| p[41..45].copy_from_slice(&u32::MAX.to_le_bytes())),
    ));
    out.push(plain_err(
        "unknown-type",
        "blob type 2",
        &edit(&|p| p[45] = 2),
    ));
    out.push(plain_err(
        "unknown-compression",
        "compression 2",
        &edit(&|p| p[46] = 2),
    ));

    let s = salt("index errors");
    let sealed = key.seal_with_salt(SealKind::Index, s, &base);
    let sealed_err = |desc: &str, reason: &str, sealed: &[u8]| {
        Case::error("index", desc, reason)
            .comment("one-pack.txt's plaintext, sealed with another salt")
            .hex("master_secret", secret)
            .hex("sealed", sealed)
    };
    let mut flipped = sealed.clone();
    flipped[60] ^= 1;
    out.push(sealed_err(
        "sealed-flipped",
        "a ciphertext bit changed",
        &flipped,
    ));
    out.push(sealed_err(
        "sealed-wrong-kind",
        "sealed as kind 4 (snapshot)",
        &key.seal_with_salt(SealKind::Snapshot, s, &base),
    ));
    let v3 = edit(&|p| p[0] = 3);
    out.push(
        sealed_err(
            "sealed-version-3",
            "correctly sealed, but index version 3",
            &key.seal_with_salt(SealKind::Index, s, &v3),
        )
        .hex("plaintext", &v3),
    );
}

fn node(name: &[u8], node_type: NodeType) -> Node {
    Node {
        name: NodeName(name.to_vec()),
        node_type,
        mode: 0o644,
        uid: 1000,
        gid: 1000,
        mtime_ns: 1_795_000_000_123_456_789,
        ctime_ns: 1_795_000_001_000_000_000,
        inode: 0,
        device: 0,
        links: 0,
        size: 0,
        content: None,
        subtree: None,
        link_target: None,
        rdev: 0,
        etcd: None,
        git: None,
        git_type: None,
        git_pack: None,
    }
}

/// A compact JSON file node named by the JSON text `name`, plus `extra` members.
fn file_json(name: &str, extra: &str) -> String {
    format!(
        r#"{{"name":{name},"type":"file","mode":420,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0{extra},"content":[]}}"#
    )
}

fn tree_json(nodes: &[String]) -> String {
    format!(r#"{{"version":1,"nodes":[{}]}}"#, nodes.join(","))
}

fn gen_tree(out: &mut Vec<Case>) {
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let tree_ok = |desc: &str, comment: &str, json: &[u8], canonical: bool| {
        Case::ok("tree", desc)
            .comment(comment)
            .hex("tree", json)
            .hex("master_secret", secret)
            .hex("blob_id", key.blob_id(json).as_bytes())
            .kv("canonical", if canonical { "yes" } else { "no" })
    };
    let canonical = |nodes: Vec<Node>| Tree::new(nodes).encode();
    let content = vec![key.blob_id(b"chunk 1"), key.blob_id(b"chunk 2")];

    out.push(tree_ok(
        "empty",
        "an empty folder",
        &canonical(vec![]),
        true,
    ));

    let mut file = node(b"notes.txt", NodeType::File);
    file.inode = 1_234_567;
    file.device = 66_305;
    file.links = 2;
    file.size = 1_500_000;
    file.content = Some(content.clone());
    let mut empty_file = node(b"empty", NodeType::File);
    empty_file.content = Some(vec![]);
    let mut dir = node(b"src", NodeType::Dir);
    dir.mode = 0o755;
    dir.inode = 42;
    dir.device = 66_305;
    dir.subtree = Some(key.blob_id(br#"{"version":1,"nodes":[]}"#));
    let mut link = node(b"link", NodeType::Symlink);
    link.mode = 0o777;
    link.mtime_ns = -1;
    link.ctime_ns = -1_000_000_000;
    link.inode = 43;
    link.device = 66_305;
    link.links = 1;
    link.size = 9;
    link.link_target = Some(NodeName(b"../a/b/c".to_vec()));
    out.push(tree_ok(
        "file-dir-symlink",
        "every optional field; an empty file; negative times on the symlink",
        &canonical(vec![file, empty_file, dir, link]),
        true,
    ));

    let mut chardev = node(b"null", NodeType::Chardev);
    chardev.rdev = 259;
    let mut blockdev = node(b"sda", NodeType::Blockdev);
    blockdev.mode = 0o660;
    blockdev.rdev = 2048;
    let mut fifo = node(b"pipe", NodeType::Fifo);
    fifo.mode = 0o4755;
    let socket = node(b"sock", NodeType::Socket);
    out.push(tree_ok(
        "devices-fifo-socket",
        "the other node types; setuid bit on the fifo",
        &canonical(vec![chardev, blockdev, fifo, socket]),
        true,
    ));

    let mut raw = node(&[0xff, 0xfe, b'a'], NodeType::Symlink);
    raw.link_target = Some(NodeName(vec![b'/', 0x80, 0x00, b'x']));
    let mut latin1 = node(&[b'c', b'a', b'f', 0xe9], NodeType::File);
    latin1.content = Some(vec![]);
    out.push(tree_ok(
        "non-utf8-names",
        "names and a link target that are not UTF-8, in {\"b64\":...} form",
        &canonical(vec![raw, latin1]),
        true,
    ));

    let order: Vec<Node> = ["\u{10000}", "\u{ff61}", "ab", "a", "B"]
        .iter()
        .map(|n| {
            let mut f = node(n.as_bytes(), NodeType::File);
            f.content = Some(vec![]);
            f
        })
        .collect();
    out.push(tree_ok(
        "byte-order",
        "B < a < ab < U+FF61 (ef bd a1) < U+10000 (f0 90 80 80): bytes, not UTF-16 order",
        &canonical(order),
        true,
    ));

    let mut esc = node(
        "quote\" back\\ tab\t ctl\u{1f} del\u{7f} é".as_bytes(),
        NodeType::Symlink,
    );
    esc.link_target = Some(NodeName("/a/\u{8}\u{c}\n\r/ü".as_bytes().to_vec()));
    out.push(tree_ok(
        "escapes",
        "minimal JSON escaping: \\\" \\\\ \\t \\u001f, \\b \\f \\n \\r; DEL, / and non-ASCII as is",
        &canonical(vec![esc]),
        true,
    ));

    out.push(tree_ok(
        "utf8-name-in-b64",
        "a UTF-8 name in {\"b64\":...} form (\"a.txt\") with an extra member: valid, not canonical",
        tree_json(&[file_json(r#"{"b64":"YS50eHQ=","note":"x"}"#, "")]).as_bytes(),
        false,
    ));
    out.push(tree_ok(
        "unknown-fields",
        "unknown members in the tree and a node are ignored",
        format!(
            r#"{{"version":1,"future":{{"a":[1,2]}},"nodes":[{}]}}"#,
            file_json(r#""a""#, r#","xattrs":{"user.x":"eQ=="}"#)
        )
        .as_bytes(),
        false,
    ));
    let id = content[0].to_hex();
    out.push(tree_ok(
        "layout-and-nulls",
        "whitespace, another member order, explicit zeros and nulls: valid, not canonical",
        format!(
            "{{ \"nodes\": [\n  {{ \"type\": \"file\", \"name\": \"f\", \"uid\": 0, \"gid\": 0, \"mode\": 384, \
             \"mtime_ns\": 5, \"ctime_ns\": 6, \"inode\": 0, \"subtree\": null, \"link_target\": null, \
             \"content\": [\"{id}\"] }},\n  {{ \"name\": \"g\", \"type\": \"fifo\", \"mode\": 420, \"uid\": 0, \
             \"gid\": 0, \"mtime_ns\": 0, \"ctime_ns\": 0, \"content\": null }}\n],\n\"version\": 1 }}\n"
        )
        .as_bytes(),
        false,
    ));

    let tree_err =
        |desc: &str, reason: &str, json: &str| Case::error("tree", desc, reason).hex("tree", json);
    let f = |name: &str| file_json(name, "");
    out.push(tree_err(
        "unsorted",
        "\"b\" before \"a\"",
        &tree_json(&[f(r#""b""#), f(r#""a""#)]),
    ));
    out.push(tree_err(
        "duplicate",
        "\"a\" twice",
        &tree_json(&[f(r#""a""#), f(r#""a""#)]),
    ));
    out.push(tree_err(
        "duplicate-mixed-forms",
        "\"a\" and {\"b64\":\"YQ==\"} are the same name",
        &tree_json(&[f(r#""a""#), f(r#"{"b64":"YQ=="}"#)]),
    ));
    out.push(tree_err(
        "utf16-order",
        "U+10000 before U+FF61: UTF-16 order, but not byte order",
        &tree_json(&[f("\"\u{10000}\""), f("\"\u{ff61}\"")]),
    ));
    out.push(tree_err(
        "empty-name",
        "the empty name",
        &tree_json(&[f(r#""""#)]),
    ));
    out.push(tree_err(
        "dot",
        "the name \".\"",
        &tree_json(&[f(r#"".""#)]),
    ));
    out.push(tree_err(
        "dotdot",
        "the name \"..\"",
        &tree_json(&[f(r#""..""#)]),
    ));
    out.push(tree_err(
        "dotdot-b64",
        "\"..\" in base64 form",
        &tree_json(&[f(r#"{"b64":"Li4="}"#)]),
    ));
    out.push(tree_err(
        "slash",
        "a name containing /",
        &tree_json(&[f(r#""a/b""#)]),
    ));
    out.push(tree_err(
        "nul",
        "a name containing NUL",
        &tree_json(&[f(r#""a\u0000b""#)]),
    ));
    out.push(tree_err(
        "unknown-type",
        "type \"door\" is unknown to v1 readers",
        &tree_json(&[
            r#"{"name":"d","type":"door","mode":420,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0}"#
                .to_string(),
        ]),
    ));
    out.push(tree_err(
        "version-2",
        "tree version 2",
        r#"{"version":2,"nodes":[]}"#,
    ));
    out.push(tree_err(
        "missing-mode",
        "the required field mode is missing",
        &tree_json(&[
            r#"{"name":"a","type":"file","uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0,"content":[]}"#
                .to_string(),
        ]),
    ));
    out.push(tree_err(
        "bad-base64",
        "base64 without its padding",
        &tree_json(&[f(r#"{"b64":"/w"}"#)]),
    ));
    out.push(tree_err(
        "base64-trailing-bits",
        "non-canonical base64: \"/x==\" has non-zero trailing bits",
        &tree_json(&[f(r#"{"b64":"/x=="}"#)]),
    ));
    out.push(tree_err(
        "null-integer",
        "size is null (null is only allowed for content, subtree, link_target)",
        &tree_json(&[file_json(r#""a""#, r#","size":null"#)]),
    ));
    out.push(tree_err(
        "duplicate-field",
        "the member mode appears twice",
        &tree_json(&[file_json(r#""a""#, r#","mode":384"#)]),
    ));
    let bare = |ty: &str| {
        format!(
            r#"{{"name":"d","type":"{ty}","mode":420,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0}}"#
        )
    };
    out.push(tree_err(
        "dir-without-subtree",
        "a dir node without subtree (§11.3)",
        &tree_json(&[bare("dir")]),
    ));
    out.push(tree_err(
        "file-without-content",
        "a file node without content (§11.3)",
        &tree_json(&[bare("file")]),
    ));
    out.push(tree_err(
        "symlink-without-target",
        "a symlink node without link_target (§11.3)",
        &tree_json(&[bare("symlink")]),
    ));
    out.push(tree_err(
        "duplicate-b64",
        "a name object with b64 twice is ambiguous",
        &tree_json(&[f(r#"{"b64":"YQ==","b64":"Yg=="}"#)]),
    ));
    out.push(tree_ok(
        "name-object-extra-number",
        "a name object with a non-string extra member: the member is ignored",
        tree_json(&[file_json(r#"{"b64":"YQ==","x":1}"#, "")]).as_bytes(),
        false,
    ));
    gen_etcd_trees(out, &key, &tree_ok);
    gen_git_trees(out, &key, &tree_ok);
}

/// Git repository trees (§15.1): repositories with refs, objects, and what
/// readers refuse.
fn gen_git_trees(out: &mut Vec<Case>, key: &MasterKey, tree_ok: &TreeOk<'_>) {
    let bare_node = |name: &[u8], node_type: NodeType| {
        let mut n = node(name, node_type);
        (n.mode, n.uid, n.gid, n.mtime_ns, n.ctime_ns) = (0, 0, 0, 0, 0);
        n
    };
    let commit = "3f786850e387550fdab836ed7e6dc881de23001b";
    let mut repo = bare_node(b"apps/shop", NodeType::GitRepo);
    repo.size = 1234;
    repo.subtree = Some(key.blob_id(b"objects of apps/shop"));
    repo.git = Some(GitRepoMeta {
        object_format: "sha1".into(),
        bare: false,
        refs: vec![
            GitRefRecord {
                name: "HEAD".into(),
                target: "refs/heads/main".into(),
                symbolic: true,
            },
            GitRefRecord {
                name: "refs/heads/main".into(),
                target: commit.into(),
                symbolic: false,
            },
        ],
        objects: 3,
        error: None,
    });
    let mut bare = repo.clone();
    bare.name = NodeName(b"infra/config.git".to_vec());
    if let Some(g) = bare.git.as_mut() {
        g.bare = true;
    }
    out.push(tree_ok(
        "git-repos",
        "repositories named by relative paths, with a symbolic HEAD; one bare",
        &Tree::new(vec![repo, bare]).encode(),
        true,
    ));
    let mut object = bare_node(commit.as_bytes(), NodeType::GitObject);
    object.size = 2;
    object.content = Some(vec![key.blob_id(b"a\n")]);
    object.git_type = Some("blob".into());
    let mut range = bare_node(b"89", NodeType::GitRange);
    range.subtree = Some(key.blob_id(b"more objects"));
    out.push(tree_ok(
        "git-objects",
        "a blob object named by its ID",
        &Tree::new(vec![object]).encode(),
        true,
    ));
    out.push(tree_ok(
        "git-range",
        "an inner tree of git objects",
        &Tree::new(vec![range]).encode(),
        true,
    ));
    // Format v1.5 (§15.4): a chain of packs, and a repository git could
    // not read.
    let mut base = bare_node(b"0000", NodeType::GitPack);
    base.size = 24_117_301;
    base.content = Some(vec![
        key.blob_id(b"pack part 1"),
        key.blob_id(b"pack part 2"),
    ]);
    base.git_pack = Some(GitPackMeta {
        objects: 297_029,
        thin: false,
        checksum: "8f3a3c2b0d5e6f718293a4b5c6d7e8f901234567".into(),
    });
    let mut increment = bare_node(b"0001", NodeType::GitPack);
    increment.size = 2_113;
    increment.content = Some(vec![key.blob_id(b"increment")]);
    increment.git_pack = Some(GitPackMeta {
        objects: 31,
        thin: true,
        checksum: "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c".into(),
    });
    out.push(tree_ok(
        "git-packs",
        "a repository's objects as a chain: a full base pack, then a thin increment",
        &Tree::new(vec![base, increment]).encode(),
        true,
    ));
    let mut failed = bare_node(b"broken.git", NodeType::GitRepo);
    failed.subtree = Some(key.blob_id(&Tree::new(Vec::new()).encode()));
    failed.git = Some(GitRepoMeta {
        object_format: "sha1".into(),
        bare: true,
        refs: vec![GitRefRecord {
            name: "refs/heads/main".into(),
            target: commit.into(),
            symbolic: false,
        }],
        objects: 0,
        error: Some(format!("git pack-objects: fatal: unable to read {commit}")),
    });
    out.push(tree_ok(
        "git-repo-failed",
        "a repository git could not read: its refs, no objects, and why",
        &Tree::new(vec![failed]).encode(),
        true,
    ));
    let err =
        |desc: &str, reason: &str, json: &str| Case::error("tree", desc, reason).hex("tree", json);
    let meta = r#""mode":0,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0"#;
    out.push(err(
        "gitpack-without-content",
        "a gitpack node needs its blobs",
        &format!(
            r#"{{"version":1,"nodes":[{{"name":"0000","type":"gitpack",{meta},"size":12,"git_pack":{{"objects":0,"checksum":"00"}}}}]}}"#
        ),
    ));
    out.push(err(
        "gitpack-without-git-pack",
        "a gitpack node needs git_pack",
        &format!(
            r#"{{"version":1,"nodes":[{{"name":"0000","type":"gitpack",{meta},"content":[]}}]}}"#
        ),
    ));
    let hash = "0".repeat(64);
    out.push(err(
        "gitrepo-without-git",
        "a gitrepo node needs its refs",
        &format!(
            r#"{{"version":1,"nodes":[{{"name":"a","type":"gitrepo",{meta},"subtree":"{hash}"}}]}}"#
        ),
    ));
    out.push(err(
        "gitobject-without-type",
        "a gitobject node needs git_type",
        &format!(r#"{{"version":1,"nodes":[{{"name":"{commit}","type":"gitobject",{meta},"content":[]}}]}}"#),
    ));
}

/// Makes an ok tree vector: description, comment, JSON, canonical.
type TreeOk<'a> = dyn Fn(&str, &str, &[u8], bool) -> Case + 'a;

/// etcd keyspace trees (§14.1): a leaf of keys, an inner tree of ranges, a
/// root with the keyspace beside a folder, and what readers refuse.
fn gen_etcd_trees(out: &mut Vec<Case>, key: &MasterKey, tree_ok: &TreeOk<'_>) {
    let etcd_node = |name: &[u8], node_type: NodeType| {
        let mut n = node(name, node_type);
        (n.mode, n.uid, n.gid, n.mtime_ns, n.ctime_ns) = (0, 0, 0, 0, 0);
        n
    };
    let key_node = |name: &[u8], value: &[u8], lease: i64, k8s: Option<(&str, &str)>| {
        let mut n = etcd_node(name, NodeType::EtcdKey);
        n.size = value.len() as u64;
        n.content = Some(if value.is_empty() {
            vec![]
        } else {
            vec![key.blob_id(value)]
        });
        n.etcd = Some(EtcdKeyMeta {
            create_revision: 7,
            mod_revision: 42,
            version: 3,
            lease,
            value_hash: value_hash(value),
            api_version: k8s.map(|(a, _)| a.to_string()),
            kind: k8s.map(|(_, k)| k.to_string()),
        });
        n
    };
    out.push(tree_ok(
        "etcd-keys",
        "a leaf of etcd keys: a Kubernetes pod with a lease, a key that is not UTF-8 (its name holds NUL, allowed for keys), an empty value; names are keys with '/'",
        &Tree::new(vec![
            key_node(b"/registry/pods/default/web-0", b"k8s\0...", 7_587_868_955_381_417_234, Some(("v1", "Pod"))),
            key_node(b"\xffbinary\x00key", &[1, 2, 3], 0, None),
            key_node(b"empty", b"", 0, None),
        ])
        .encode(),
        true,
    ));
    let range = |name: &[u8], label: &[u8], size: u64| {
        let mut n = etcd_node(name, NodeType::EtcdRange);
        n.subtree = Some(key.blob_id(label));
        n.size = size;
        n
    };
    out.push(tree_ok(
        "etcd-ranges",
        "an inner tree: ranges named by their first keys",
        &Tree::new(vec![
            range(b"/a", b"leaf 1", 1000),
            range(b"/registry/pods/", b"leaf 2", 5),
        ])
        .encode(),
        true,
    ));
    let mut keyspace = etcd_node(b"@etcd", NodeType::Etcd);
    keyspace.subtree = Some(key.blob_id(b"top tree"));
    keyspace.size = 1005;
    let mut etc = node(b"etc", NodeType::Dir);
    etc.subtree = Some(key.blob_id(b"etc tree"));
    out.push(tree_ok(
        "etcd-root",
        "a root tree with an etcd keyspace beside a folder",
        &Tree::new(vec![keyspace, etc]).encode(),
        true,
    ));
    let err =
        |desc: &str, reason: &str, json: &str| Case::error("tree", desc, reason).hex("tree", json);
    let head = r#"{"version":1,"nodes":[{"name":"/k","type":"#;
    let meta = r#""mode":0,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0"#;
    let hash = "0".repeat(64);
    out.push(err(
        "etcdkey-without-etcd",
        "an etcdkey node needs its etcd metadata",
        &format!(r#"{head}"etcdkey",{meta},"content":[]}}]}}"#),
    ));
    out.push(err(
        "etcdkey-without-content",
        "an etcdkey node needs content",
        &format!(
            r#"{head}"etcdkey",{meta},"etcd":{{"create_revision":1,"mod_revision":1,"version":1,"value_hash":"{hash}"}}}}]}}"#
        ),
    ));
    out.push(err(
        "etcdrange-without-subtree",
        "an etcdrange node needs a subtree",
        &format!(r#"{head}"etcdrange",{meta}}}]}}"#),
    ));
    out.push(err(
        "etcd-without-subtree",
        "an etcd node needs a subtree",
        &format!(r#"{{"version":1,"nodes":[{{"name":"@etcd","type":"etcd",{meta}}}]}}"#),
    ));
    out.push(err(
        "etcdkey-empty-name",
        "keys are never empty",
        &format!(
            r#"{{"version":1,"nodes":[{{"name":"","type":"etcdkey",{meta},"content":[],"etcd":{{"create_revision":1,"mod_revision":1,"version":1,"value_hash":"{hash}"}}}}]}}"#
        ),
    ));
    out.push(err(
        "etcd-name-with-slash",
        "the etcd node is named like a file: no '/'",
        &format!(
            r#"{{"version":1,"nodes":[{{"name":"a/b","type":"etcd",{meta},"subtree":"{hash}"}}]}}"#
        ),
    ));
}

/// Keyspace digests (§14.2).
fn gen_etcd_digest(out: &mut Vec<Case>) {
    type Kvs = Vec<(&'static [u8], &'static [u8])>;
    let cases: [(&str, &str, Kvs); 3] = [
        ("empty", "no keys", vec![]),
        (
            "two-keys",
            "two keys in ascending order",
            vec![
                (b"/registry/pods/a", b"k8s\0pod"),
                (b"/registry/pods/b", b""),
            ],
        ),
        (
            "boundaries",
            "the key length keeps \"ab\"+\"c\" apart from \"a\"+\"bc\"",
            vec![(b"a", b"bc"), (b"ab", b"c")],
        ),
    ];
    for (desc, comment, kvs) in cases {
        let mut digest = KeyspaceDigest::new();
        let mut case = Case::ok("etcd-digest", desc).comment(comment);
        for (k, v) in &kvs {
            digest.add(k, &value_hash(v));
            case = case.kv("kv", format!("{} {}", hex::encode(k), hex::encode(v)));
        }
        out.push(case.kv("count", kvs.len()).hex("digest", digest.finish().0));
    }
    out.push(
        Case::error(
            "etcd-digest",
            "repeated-key",
            "keys must be strictly ascending: a keyspace never holds a key twice",
        )
        .kv(
            "kv",
            format!("{} {}", hex::encode(b"/a"), hex::encode(b"1")),
        )
        .kv(
            "kv",
            format!("{} {}", hex::encode(b"/a"), hex::encode(b"2")),
        ),
    );
}

fn gen_chunker(out: &mut Vec<Case>) {
    let small = ChunkerParams {
        min_size: 64,
        avg_size: 256,
        max_size: 1024,
    };
    let default = ChunkerParams::default();
    let with_chunks = |mut c: Case, params: ChunkerParams, seed: u64, data: &[u8]| {
        for (offset, len) in Chunker::new(params, seed).unwrap().cut(data) {
            c = c.kv("chunk", format!("{offset} {len}"));
        }
        c
    };
    let head = |desc: &str, comment: &str, params: ChunkerParams, seed: u64| {
        Case::ok("chunker", desc)
            .comment(comment)
            .kv("seed", seed)
            .kv("min_size", params.min_size)
            .kv("avg_size", params.avg_size)
            .kv("max_size", params.max_size)
    };
    let inline = |desc: &str, comment: &str, params: ChunkerParams, seed: u64, data: &[u8]| {
        with_chunks(
            head(desc, comment, params, seed).hex("input", data),
            params,
            seed,
            data,
        )
    };
    let large = |desc: &str,
                 comment: &str,
                 params: ChunkerParams,
                 seed: u64,
                 input_seed: &str,
                 len: usize| {
        let data = xof(input_seed, len);
        let c = head(desc, comment, params, seed)
            .kv("input_seed", input_seed)
            .kv("input_length", len);
        with_chunks(c, params, seed, &data)
    };
    let seed_a = MasterKey::from_secret(secret_a()).chunker_seed();
    out.push(inline(
        "small-empty",
        "empty content has no chunks",
        small,
        0,
        b"",
    ));
    out.push(inline(
        "small-tiny",
        "content of at most min_size bytes is one chunk",
        small,
        1,
        &xof("tiny", 64),
    ));
    out.push(inline(
        "small-zeros",
        "3000 zero bytes; seed 0",
        small,
        0,
        &[0u8; 3000],
    ));
    out.push(large(
        "small-seed-0",
        "seed 0 leaves the gear table unchanged",
        small,
        0,
        "snap chunker small",
        8192,
    ));
    out.push(large(
        "small-seed-1",
        "seed 1; an odd input length",
        small,
        1,
        "snap chunker small",
        8191,
    ));
    out.push(large(
        "small-seed-max",
        "seed u64::MAX",
        small,
        u64::MAX,
        "snap chunker small",
        8192,
    ));
    out.push(large(
        "default-seed-a",
        "the defaults on 10 MiB (more than max_size); the chunker seed of master secret 00 01 .. 1f (blob-id-abc.txt)",
        default,
        seed_a,
        "snap chunker default",
        10 << 20,
    ));
    out.push(large(
        "default-seed-0",
        "the defaults on 10 MiB; seed 0",
        default,
        0,
        "snap chunker default",
        10 << 20,
    ));

    let refused = |desc: &str, reason: &str, min: u64, avg: u64, max: u64| {
        Case::error("chunker", desc, reason)
            .kv("seed", 0)
            .kv("min_size", min)
            .kv("avg_size", avg)
            .kv("max_size", max)
    };
    out.push(refused("min-odd", "min_size 65 is odd", 65, 256, 1024));
    out.push(refused(
        "min-below-range",
        "min_size 62 < 64",
        62,
        256,
        1024,
    ));
    out.push(refused(
        "max-above-range",
        "max_size 16777218 > 16 MiB",
        64,
        256,
        16_777_218,
    ));
    out.push(refused(
        "min-above-avg",
        "min_size > avg_size",
        2048,
        1024,
        4096,
    ));
    out.push(refused(
        "avg-above-max",
        "avg_size > max_size",
        64,
        4096,
        2048,
    ));
    out.push(refused(
        "max-beyond-u32",
        "max_size 2^32 does not fit in u32",
        64,
        256,
        1 << 32,
    ));
}

fn config_json(version: &str, min: &str, avg: &str, max: &str, level: &str, pack: &str) -> String {
    format!(
        r#"{{"version":{version},"id":"{}","chunker":{{"min_size":{min},"avg_size":{avg},"max_size":{max}}},"compression_level":{level},"pack_size":{pack}}}"#,
        Id::sha256(b"repository").to_hex()
    )
}

fn gen_config(out: &mut Vec<Case>) {
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let config_ok = |desc: &str, comment: &str, config: Config| {
        let s = salt(desc);
        let json = serde_json::to_vec(&config).unwrap();
        Case::ok("config", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .hex("salt", s)
            .kv("json", String::from_utf8(json.clone()).unwrap())
            .hex("sealed", key.seal_with_salt(SealKind::Config, s, &json))
    };
    let id = Id::sha256(b"repository");
    out.push(config_ok(
        "default",
        "the defaults of snap init",
        Config {
            version: 1,
            id,
            chunker: ChunkerParams::default(),
            compression_level: 3,
            pack_size: 16 << 20,
        },
    ));
    out.push(config_ok(
        "minimums",
        "the smallest accepted values; compression off",
        Config {
            version: 1,
            id: Id([0; 32]),
            chunker: ChunkerParams {
                min_size: 64,
                avg_size: 256,
                max_size: 1024,
            },
            compression_level: 0,
            pack_size: 1 << 20,
        },
    ));
    out.push(config_ok(
        "maximums",
        "the largest accepted values",
        Config {
            version: 1,
            id: Id([0xff; 32]),
            chunker: ChunkerParams {
                min_size: 1 << 20,
                avg_size: 4 << 20,
                max_size: 16 << 20,
            },
            compression_level: 19,
            pack_size: 1 << 30,
        },
    ));

    let s = salt("config errors");
    let err = |desc: &str, reason: &str, json: &str| {
        Case::error("config", desc, reason)
            .hex("master_secret", secret)
            .kv("json", json)
            .hex(
                "sealed",
                key.seal_with_salt(SealKind::Config, s, json.as_bytes()),
            )
    };
    let d = ("524288", "1048576", "8388608");
    out.push(err(
        "version-2",
        "config version 2",
        &config_json("2", d.0, d.1, d.2, "3", "16777216"),
    ));
    out.push(err(
        "min-odd",
        "min_size 524287 is odd",
        &config_json("1", "524287", d.1, d.2, "3", "16777216"),
    ));
    out.push(err(
        "avg-above-max",
        "avg_size > max_size",
        &config_json("1", d.0, "8388608", "4194304", "3", "16777216"),
    ));
    out.push(err(
        "compression-20",
        "compression level 20 > 19",
        &config_json("1", d.0, d.1, d.2, "20", "16777216"),
    ));
    out.push(err(
        "pack-size-too-small",
        "pack_size 1048575 < 1 MiB",
        &config_json("1", d.0, d.1, d.2, "3", "1048575"),
    ));
    out.push(err(
        "pack-size-too-large",
        "pack_size 1073741825 > 1 GiB",
        &config_json("1", d.0, d.1, d.2, "3", "1073741825"),
    ));
    let full = config_json("1", d.0, d.1, d.2, "3", "16777216");
    out.push(err(
        "missing-field",
        "pack_size is missing",
        &replace_once(&full, ",\"pack_size\":16777216", ""),
    ));
    out.push(err(
        "malformed-json",
        "the JSON text is cut short",
        &full[..full.len() - 1],
    ));
    out.push(
        Case::error(
            "config",
            "wrong-kind",
            "a valid config sealed as kind 3 (index)",
        )
        .hex("master_secret", secret)
        .kv("json", &full)
        .hex(
            "sealed",
            key.seal_with_salt(SealKind::Index, s, full.as_bytes()),
        ),
    );
}

// ---------------------------------------------------------------------------
// Snapshot manifests (§10) and locks (§9)
// ---------------------------------------------------------------------------

fn manifest_time(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The manifest a backup of two folders writes, every member present.
fn files_manifest(key: &MasterKey) -> SnapshotManifest {
    SnapshotManifest {
        version: 1,
        time: manifest_time("2026-11-27T09:14:03.123456789Z"),
        hostname: "backup-host".into(),
        username: "root".into(),
        tags: vec!["daily".into()],
        paths: vec!["/etc".into(), "/home/a".into()],
        sources: vec![
            SourceRecord {
                kind: "files".into(),
                location: "/etc".into(),
                resources: 31,
                node: None,
                version: None,
                etcd: None,
                failed: Vec::new(),
            },
            SourceRecord {
                kind: "files".into(),
                location: "/home/a".into(),
                resources: 12,
                node: None,
                version: None,
                etcd: None,
                failed: Vec::new(),
            },
        ],
        parent: None,
        tree: key.blob_id(b"tree root"),
        summary: Summary {
            files_new: 10,
            dirs: 4,
            total_bytes: 12345,
            bytes_read: 12345,
            blobs_added: 14,
            data_added: 12999,
            data_added_stored: 9000,
            started: Some(manifest_time("2026-11-27T09:14:03.123456789Z")),
            duration_seconds: 0.42,
            ..Default::default()
        },
        program: "snap 0.1.0".into(),
        original: None,
    }
}

/// A platform snapshot retagged by `snap tag`: etcd, git and files sources,
/// a parent, an original, and every optional summary member.
fn platform_manifest(key: &MasterKey) -> SnapshotManifest {
    let etcd = EtcdCapture {
        cluster_id: "cdf818194e3a8c32".into(),
        members: vec![EtcdMemberRecord {
            id: "8e9e05c52164694d".into(),
            name: "etcd-0".into(),
            peer_urls: vec!["http://10.0.0.1:2380".into()],
            client_urls: vec!["http://10.0.0.1:2379".into()],
        }],
        server_version: "3.4.23".into(),
        revision: 4711,
        prefix: NodeName::from("/registry/"),
        keys: 2,
        value_bytes: 300,
        digest: Id(*blake3::hash(b"keyspace").as_bytes()),
        leases: vec![EtcdLeaseRecord {
            id: 7587862072068530000,
            ttl: 60,
        }],
    };
    SnapshotManifest {
        version: 1,
        time: manifest_time("2026-11-28T01:00:00Z"),
        hostname: "platform-a".into(),
        username: "root".into(),
        tags: vec!["golden".into(), "nightly".into()],
        paths: vec!["/etc/platform".into()],
        sources: vec![
            SourceRecord {
                kind: "etcd".into(),
                location: "etcd://10.0.0.1:2379".into(),
                resources: 2,
                node: Some("@etcd".into()),
                version: Some("etcd 3.4.23".into()),
                etcd: Some(etcd),
                failed: Vec::new(),
            },
            SourceRecord {
                kind: "git".into(),
                location: "git:/srv/git".into(),
                resources: 3,
                node: Some("@git".into()),
                version: Some("git version 2.47.0".into()),
                etcd: None,
                failed: Vec::new(),
            },
            SourceRecord {
                kind: "files".into(),
                location: "/etc/platform".into(),
                resources: 9,
                node: None,
                version: None,
                etcd: None,
                failed: Vec::new(),
            },
        ],
        parent: Some(SnapshotId(Id::sha256(b"parent snapshot"))),
        tree: key.blob_id(b"platform root"),
        summary: Summary {
            files_new: 1,
            files_changed: 2,
            files_unchanged: 5,
            dirs: 3,
            files_unreadable: 1,
            total_bytes: 4400,
            bytes_read: 900,
            etcd_keys: 2,
            git_objects: 57,
            blobs_added: 60,
            data_added: 8000,
            data_added_stored: 5000,
            started: Some(manifest_time("2026-11-28T01:00:00.250Z")),
            duration_seconds: 3.5,
        },
        program: "snap 0.1.0".into(),
        original: Some(SnapshotId(Id::sha256(b"first snapshot"))),
    }
}

fn gen_manifest(out: &mut Vec<Case>) {
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let sealed_ok = |desc: &str, comment: &str, json: &str, canonical: bool| {
        let s = salt(&format!("manifest {desc}"));
        let sealed = key.seal_with_salt(SealKind::Snapshot, s, json.as_bytes());
        Case::ok("manifest", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .hex("salt", s)
            .kv("json", json)
            .hex("sealed", &sealed)
            .kv("snapshot_id", Id::sha256(&sealed).to_hex())
            .kv("canonical", if canonical { "yes" } else { "no" })
    };
    let files = String::from_utf8(files_manifest(&key).encode()).unwrap();
    let platform = String::from_utf8(platform_manifest(&key).encode()).unwrap();
    let tree = key.blob_id(b"tree root").to_hex();
    let minimal = format!(
        r#"{{"version":1,"time":"2026-11-27T09:14:03Z","hostname":"h","username":"u","tree":"{tree}"}}"#
    );
    out.push(sealed_ok(
        "files",
        "a backup of two folders, as snap writes it (etcd_keys and git_objects are left out when 0)",
        &files,
        true,
    ));
    out.push(sealed_ok(
        "full",
        "every optional member: etcd, git and files sources, parent, original, tags, the summary's etcd_keys and git_objects",
        &platform,
        true,
    ));
    out.push(sealed_ok(
        "minimal",
        "only the required members; the others take their defaults",
        &minimal,
        false,
    ));
    out.push(sealed_ok(
        "summary-partial",
        "a summary with some members: the others are 0 (and started null)",
        &replace_once(
            &minimal,
            r#""tree""#,
            r#""summary":{"files_new":3,"total_bytes":7},"tree""#,
        ),
        false,
    ));
    out.push(sealed_ok(
        "later-members",
        "members this version does not know, at the top, in a source and in the summary, are ignored",
        &replace_once(
            &replace_once(
                &replace_once(&files, r#""tree""#, r#""later":{"a":[1,2]},"tree""#),
                r#""resources":31"#,
                r#""resources":31,"checksum":"x""#,
            ),
            r#""dirs":4"#,
            r#""dirs":4,"sockets":0"#,
        ),
        false,
    ));
    out.push(sealed_ok(
        "time-offset",
        "a time with an offset is read as the same instant in UTC (written back as 07:14:03Z)",
        &replace_once(&minimal, "09:14:03Z", "09:14:03+02:00"),
        false,
    ));

    let s = salt("manifest errors");
    let err = |desc: &str, reason: &str, json: &str| {
        Case::error("manifest", desc, reason)
            .hex("master_secret", secret)
            .kv("json", json)
            .hex(
                "sealed",
                key.seal_with_salt(SealKind::Snapshot, s, json.as_bytes()),
            )
    };
    out.push(err(
        "version-2",
        "manifest version 2",
        &replace_once(&files, r#""version":1"#, r#""version":2"#),
    ));
    out.push(err(
        "missing-tree",
        "tree is required",
        &replace_once(&files, &format!(r#","tree":"{tree}""#), ""),
    ));
    out.push(err(
        "missing-hostname",
        "hostname is required",
        &replace_once(&minimal, r#""hostname":"h","#, ""),
    ));
    out.push(err(
        "tree-not-hex",
        "tree is not 64 hex characters",
        &replace_once(&minimal, &tree, "root"),
    ));
    out.push(err(
        "time-not-rfc3339",
        "time is not an RFC 3339 time",
        &replace_once(&minimal, "2026-11-27T09:14:03Z", "27/11/2026 09:14"),
    ));
    out.push(err(
        "duplicate-member",
        "hostname appears twice",
        &replace_once(
            &minimal,
            r#""hostname":"h","#,
            r#""hostname":"h","hostname":"i","#,
        ),
    ));
    out.push(err(
        "malformed-json",
        "a trailing comma",
        &replace_once(&minimal, "}", ",}"),
    ));
    out.push(err(
        "truncated",
        "the JSON text is cut short",
        &files[..files.len() / 2],
    ));
    let sealed = key.seal_with_salt(SealKind::Snapshot, s, files.as_bytes());
    let mut flipped = sealed.clone();
    flipped[40] ^= 1;
    out.push(
        Case::error(
            "manifest",
            "sealed-flipped",
            "one bit of the ciphertext changed",
        )
        .hex("master_secret", secret)
        .hex("sealed", flipped),
    );
    out.push(
        Case::error(
            "manifest",
            "sealed-wrong-kind",
            "a valid manifest sealed as kind 6 (lock)",
        )
        .hex("master_secret", secret)
        .kv("json", &files)
        .hex(
            "sealed",
            key.seal_with_salt(SealKind::Lock, s, files.as_bytes()),
        ),
    );
}

fn lock_json(version: &str, kind: &str, pid: &str) -> String {
    format!(
        r#"{{"version":{version},"time":"2026-11-27T09:14:03.123456789Z","kind":"{kind}","hostname":"backup-host","username":"root","pid":{pid}}}"#
    )
}

fn gen_lock(out: &mut Vec<Case>) {
    let secret = secret_a();
    let key = MasterKey::from_secret(secret);
    let ok = |desc: &str, comment: &str, json: &str, blocks_as: &str, canonical: bool| {
        let s = salt(&format!("lock {desc}"));
        let sealed = key.seal_with_salt(SealKind::Lock, s, json.as_bytes());
        Case::ok("lock", desc)
            .comment(comment)
            .hex("master_secret", secret)
            .hex("salt", s)
            .kv("json", json)
            .hex("sealed", &sealed)
            .kv("name", Id::sha256(&sealed).to_hex())
            .kv("blocks_as", blocks_as)
            .kv("canonical", if canonical { "yes" } else { "no" })
    };
    out.push(ok(
        "shared",
        "a backup's lock: other shared locks may coexist",
        &lock_json("1", "shared", "4242"),
        "shared",
        true,
    ));
    out.push(ok(
        "exclusive",
        "prune --grace 0 or key removal: no other lock may coexist",
        &lock_json("1", "exclusive", "4294967295"),
        "exclusive",
        true,
    ));
    out.push(ok(
        "version-2",
        "a lock of another version is read, and a live one is respected as exclusive although it says shared",
        &lock_json("2", "shared", "4242"),
        "exclusive",
        true,
    ));
    out.push(ok(
        "later-member",
        "a member this version does not know is ignored",
        &replace_once(
            &lock_json("1", "shared", "7"),
            r#""pid":7"#,
            r#""pid":7,"container":"c1""#,
        ),
        "shared",
        false,
    ));

    let s = salt("lock errors");
    let err = |desc: &str, reason: &str, json: &str| {
        Case::error("lock", desc, reason)
            .hex("master_secret", secret)
            .kv("json", json)
            .hex(
                "sealed",
                key.seal_with_salt(SealKind::Lock, s, json.as_bytes()),
            )
    };
    out.push(err(
        "unknown-kind",
        "kind is neither shared nor exclusive",
        &lock_json("1", "read", "4242"),
    ));
    out.push(err(
        "pid-too-large",
        "pid 4294967296 does not fit u32",
        &lock_json("1", "shared", "4294967296"),
    ));
    out.push(err(
        "pid-negative",
        "pid -1",
        &lock_json("1", "shared", "-1"),
    ));
    out.push(err(
        "missing-time",
        "time is required",
        &replace_once(
            &lock_json("1", "shared", "4242"),
            r#""time":"2026-11-27T09:14:03.123456789Z","#,
            "",
        ),
    ));
    out.push(err(
        "malformed-json",
        "the JSON text is cut short",
        &lock_json("1", "shared", "4242")[..40],
    ));
    let json = lock_json("1", "shared", "4242");
    out.push(
        Case::error(
            "lock",
            "sealed-wrong-kind",
            "a valid lock sealed as kind 4 (snapshot)",
        )
        .hex("master_secret", secret)
        .kv("json", &json)
        .hex(
            "sealed",
            key.seal_with_salt(SealKind::Snapshot, s, json.as_bytes()),
        ),
    );
}

// ---------------------------------------------------------------------------
// Checker: reads a vector file and checks it against the library
// ---------------------------------------------------------------------------

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

/// A parsed vector file; `fields` excludes `comment` and `reason` lines.
struct Vector {
    ok: bool,
    kind: String,
    fields: Vec<(String, String)>,
}

fn parse_vector(text: &str) -> Result<Vector, String> {
    ensure!(!text.contains('\r'), "line endings must be \\n");
    let mut lines = text.lines();
    let ok = match lines.next() {
        Some("expect: ok") => true,
        Some("expect: error") => false,
        other => {
            return Err(format!(
                "first line must be 'expect: ok' or 'expect: error', not {other:?}"
            ))
        }
    };
    let kind = match lines.next().and_then(|l| l.strip_prefix("kind: ")) {
        Some(k) if !k.is_empty() => k.to_string(),
        _ => return Err("second line must be 'kind: <kind>'".into()),
    };
    let mut fields = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = match line.split_once(": ") {
            Some(kv) => kv,
            None => match line.strip_suffix(':') {
                Some(k) => (k, ""),
                None => return Err(format!("line {line:?} is not 'key: value'")),
            },
        };
        ensure!(
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "bad key {key:?}"
        );
        match key {
            "comment" => {}
            "reason" => ensure!(!ok, "'reason' is only for expect: error"),
            _ => fields.push((key.to_string(), value.to_string())),
        }
    }
    Ok(Vector { ok, kind, fields })
}

fn parse_hex(key: &str, value: &str) -> Result<Vec<u8>, String> {
    ensure!(
        value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{key}: not lower-case hex"
    );
    hex::decode(value).map_err(|e| format!("{key}: {e}"))
}

fn parse_uint(key: &str, value: &str) -> Result<u64, String> {
    ensure!(
        !value.is_empty()
            && value.bytes().all(|b| b.is_ascii_digit())
            && (value == "0" || !value.starts_with('0')),
        "{key}: {value:?} is not a decimal integer"
    );
    value.parse().map_err(|e| format!("{key}: {e}"))
}

fn parse_entry(line: &str) -> Result<PackEntry, String> {
    let parts: Vec<&str> = line.split(' ').collect();
    ensure!(parts.len() == 6, "entry {line:?} needs 6 fields");
    let code = |i: usize| parse_uint("type/compression", parts[i]);
    let u32_at = |i: usize| {
        parse_uint("entry", parts[i])
            .and_then(|v| u32::try_from(v).map_err(|_| format!("{v} does not fit u32")))
    };
    let kind = BlobKind::from_code(code(0)?.try_into().unwrap_or(u8::MAX)).ok_or_else(|| {
        format!("entry {line:?}: unknown type code (malformed input goes in plaintext)")
    })?;
    let compression = Compression::from_code(code(1)?.try_into().unwrap_or(u8::MAX))
        .ok_or_else(|| format!("entry {line:?}: unknown compression code"))?;
    let id: [u8; 32] = parse_hex("entry id", parts[5])?
        .try_into()
        .map_err(|_| "entry id is not 32 bytes")?;
    Ok(PackEntry {
        kind,
        compression,
        offset: u32_at(2)?,
        stored_len: u32_at(3)?,
        raw_len: u32_at(4)?,
        id: BlobId(Id(id)),
    })
}

impl Vector {
    /// Checks the keys: `required` (present once), `optional` (at most once),
    /// `repeated` (any number of times), and nothing else.
    fn keys(&self, required: &[&str], optional: &[&str], repeated: &[&str]) -> Result<(), String> {
        let mut seen = BTreeMap::<&str, usize>::new();
        for (k, _) in &self.fields {
            *seen.entry(k.as_str()).or_default() += 1;
        }
        let expect = if self.ok { "ok" } else { "error" };
        for (k, n) in &seen {
            if repeated.contains(k) {
                continue;
            }
            ensure!(
                required.contains(k) || optional.contains(k),
                "key '{k}' is not defined for kind {} with expect: {expect}",
                self.kind
            );
            ensure!(*n == 1, "key '{k}' appears {n} times");
        }
        for k in required {
            ensure!(seen.contains_key(k), "required key '{k}' is missing");
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("required key '{key}' is missing"))
    }

    fn bytes(&self, key: &str) -> Result<Vec<u8>, String> {
        parse_hex(key, self.text(key)?)
    }

    fn array<const N: usize>(&self, key: &str) -> Result<[u8; N], String> {
        let b = self.bytes(key)?;
        let len = b.len();
        b.try_into()
            .map_err(|_| format!("{key}: {len} bytes, {N} expected"))
    }

    fn uint(&self, key: &str) -> Result<u64, String> {
        parse_uint(key, self.text(key)?)
    }

    fn u32(&self, key: &str) -> Result<u32, String> {
        let v = self.uint(key)?;
        u32::try_from(v).map_err(|_| format!("{key}: {v} does not fit u32"))
    }

    fn master(&self) -> Result<MasterKey, String> {
        Ok(MasterKey::from_secret(self.array("master_secret")?))
    }

    fn seal_kind(&self) -> Result<SealKind, String> {
        let n = self.uint("seal_kind")?;
        SEAL_KINDS
            .get(n as usize)
            .copied()
            .ok_or_else(|| format!("seal_kind {n} is not 0..=6"))
    }
}

/// Checks one vector file; `name` is its file name.
fn check_vector(name: &str, text: &str) -> Result<(), String> {
    let v = parse_vector(text)?;
    ensure!(
        KINDS.contains(&v.kind.as_str()),
        "unknown vector kind '{}'",
        v.kind
    );
    let desc = name
        .strip_prefix(&format!("{}-", v.kind))
        .and_then(|n| n.strip_suffix(".txt"))
        .ok_or_else(|| format!("file name must be {}-<description>.txt", v.kind))?;
    ensure!(
        !desc.is_empty()
            && desc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "file name must be lower case [a-z0-9-]"
    );
    match v.kind.as_str() {
        "blob-id" => check_blob_id(&v),
        "seal" => check_seal(&v),
        "key-file" => check_key_file(&v),
        "pack-header" => check_pack_header(&v),
        "index" => check_index(&v),
        "tree" => check_tree(&v),
        "etcd-digest" => check_etcd_digest(&v),
        "chunker" => check_chunker(&v),
        "config" => check_config(&v),
        "manifest" => check_manifest(&v),
        "lock" => check_lock(&v),
        other => Err(format!("unknown vector kind '{other}'")),
    }
}

fn check_blob_id(v: &Vector) -> Result<(), String> {
    ensure!(v.ok, "blob-id vectors are expect: ok only");
    v.keys(
        &[
            "master_secret",
            "encryption_key",
            "blob_id_key",
            "chunker_seed",
            "plaintext",
            "blob_id",
        ],
        &[],
        &[],
    )?;
    let secret: [u8; 32] = v.array("master_secret")?;
    let key = MasterKey::from_secret(secret);
    let enc: [u8; 32] = v.array("encryption_key")?;
    let id_key: [u8; 32] = v.array("blob_id_key")?;
    let seed = v.uint("chunker_seed")?;
    let plain = v.bytes("plaintext")?;
    let blob_id: [u8; 32] = v.array("blob_id")?;
    ensure!(
        blake3::derive_key(CTX_ENCRYPTION, &secret) == enc,
        "encryption_key differs"
    );
    ensure!(
        blake3::derive_key(CTX_BLOB_ID, &secret) == id_key,
        "blob_id_key differs"
    );
    let seed_bytes = blake3::derive_key(CTX_CHUNKER_SEED, &secret);
    ensure!(
        u64::from_le_bytes(seed_bytes[..8].try_into().unwrap()) == seed,
        "chunker_seed differs from §3.1"
    );
    ensure!(
        key.chunker_seed() == seed,
        "snap's chunker seed is {}",
        key.chunker_seed()
    );
    ensure!(
        blake3::keyed_hash(&id_key, &plain).as_bytes() == &blob_id,
        "blob_id is not keyed_hash(blob_id_key, plaintext)"
    );
    ensure!(
        key.blob_id(&plain).as_bytes() == &blob_id,
        "snap's blob ID is {}",
        key.blob_id(&plain)
    );
    Ok(())
}

fn check_seal(v: &Vector) -> Result<(), String> {
    let key = v.master()?;
    let kind = v.seal_kind()?;
    let sealed = v.bytes("sealed")?;
    if !v.ok {
        v.keys(&["master_secret", "seal_kind", "sealed"], &[], &[])?;
        ensure!(key.open(kind, &sealed).is_err(), "the sealed object opens");
        return Ok(());
    }
    v.keys(
        &["master_secret", "seal_kind", "salt", "plaintext", "sealed"],
        &["object_key"],
        &[],
    )?;
    let salt: [u8; 16] = v.array("salt")?;
    let plain = v.bytes("plaintext")?;
    if v.has("object_key") {
        let secret: [u8; 32] = v.array("master_secret")?;
        ensure!(
            object_key(&secret, &salt) == v.array::<32>("object_key")?,
            "object_key differs"
        );
    }
    ensure!(
        key.seal_with_salt(kind, salt, &plain) == sealed,
        "sealing gives other bytes"
    );
    let opened = key
        .open(kind, &sealed)
        .map_err(|e| format!("opening fails: {e}"))?;
    ensure!(opened == plain, "opening gives another plaintext");
    Ok(())
}

/// Whether two master keys derive the same subkeys (the secret itself is not
/// public): same chunker seed, same blob IDs, same sealing key.
fn same_master(a: &MasterKey, b: &MasterKey) -> bool {
    a.chunker_seed() == b.chunker_seed()
        && a.blob_id(b"probe") == b.blob_id(b"probe")
        && a.seal_with_salt(SealKind::Config, [0; 16], b"probe")
            == b.seal_with_salt(SealKind::Config, [0; 16], b"probe")
}

fn check_key_file(v: &Vector) -> Result<(), String> {
    const INPUTS: [&str; 8] = [
        "memory_kib",
        "iterations",
        "parallelism",
        "kdf_salt",
        "seal_salt",
        "created",
        "hostname",
        "username",
    ];
    let password = v.bytes("password")?;
    let kf = v.bytes("key_file")?;
    if v.has("key_id") {
        ensure!(
            Id::sha256(&kf).0 == v.array::<32>("key_id")?,
            "key_id is not SHA-256 of key_file"
        );
    }
    if !v.ok {
        let mut optional = INPUTS.to_vec();
        optional.push("key_id");
        v.keys(&["password", "key_file"], &optional, &[])?;
        if let Ok(file) = KeyFile::decode(&kf) {
            let p = file.kdf_params();
            ensure!(
                p.memory_kib <= 65536 && p.iterations <= 10,
                "error vector with expensive KDF costs {p:?}"
            );
            ensure!(
                file.unwrap(&password).is_err(),
                "the key file decodes and unwraps"
            );
        }
        return Ok(());
    }
    let mut required = vec!["password", "key_file", "master_secret"];
    required.extend(INPUTS);
    v.keys(&required, &["key_id"], &[])?;
    let params = KdfParams {
        memory_kib: v.u32("memory_kib")?,
        iterations: v.u32("iterations")?,
        parallelism: v.u32("parallelism")?,
    };
    ensure!(
        params.memory_kib <= 65536 && params.iterations <= 10,
        "vectors use cheap KDF costs, not {params:?}"
    );
    let master = v.master()?;
    let (created, hostname, username) =
        (v.text("created")?, v.text("hostname")?, v.text("username")?);
    let wrapped = KeyFile::wrap_with(
        &master,
        &password,
        params,
        hostname,
        username,
        v.array("kdf_salt")?,
        v.array("seal_salt")?,
        created,
    )
    .map_err(|e| format!("wrapping fails: {e}"))?;
    ensure!(wrapped.encode() == kf, "wrapping gives another key file");
    let file = KeyFile::decode(&kf).map_err(|e| format!("decoding fails: {e}"))?;
    ensure!(file.kdf_params() == params, "decoded KDF parameters differ");
    ensure!(
        file.created == created
            && file.hostname == hostname
            && file.username == username
            && file.version == 1,
        "decoded text fields differ"
    );
    let unwrapped = file
        .unwrap(&password)
        .map_err(|e| format!("unwrapping fails: {e}"))?;
    ensure!(
        same_master(&unwrapped, &master),
        "unwrapping yields another master secret"
    );
    Ok(())
}

fn check_pack_header(v: &Vector) -> Result<(), String> {
    if v.ok {
        v.keys(
            &[
                "master_secret",
                "salt",
                "header_plaintext",
                "header_offset",
                "header",
            ],
            &[],
            &["entry"],
        )?;
        let key = v.master()?;
        let entries = v
            .all("entry")
            .into_iter()
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        let plain = v.bytes("header_plaintext")?;
        let offset = v.uint("header_offset")?;
        let header = v.bytes("header")?;
        ensure!(header.len() >= 4 + 33, "header is too short");
        let sum: u64 = entries.iter().map(|e| e.stored_len as u64).sum();
        ensure!(
            sum == offset,
            "header_offset {offset} is not the sum of stored_len {sum}"
        );
        ensure!(
            encode_header_with_salt(&key, &entries, v.array("salt")?) == header,
            "encoding gives another header"
        );
        let (sealed, trailer) = header.split_at(header.len() - 4);
        let opened = key
            .open(SealKind::PackHeader, sealed)
            .map_err(|e| format!("header does not open: {e}"))?;
        ensure!(opened == plain, "the sealed header holds another plaintext");
        let parsed = decode_header_plaintext(&plain, offset)
            .map_err(|e| format!("plaintext does not parse: {e}"))?;
        ensure!(parsed == entries, "parsing gives other entries: {parsed:?}");
        let location = header_location(offset + header.len() as u64, trailer.try_into().unwrap())
            .map_err(|e| format!("locating fails: {e}"))?;
        ensure!(
            location == (offset, sealed.len() as u64),
            "located at {location:?}"
        );
        let decoded =
            decode_header(&key, sealed, offset).map_err(|e| format!("decoding fails: {e}"))?;
        ensure!(
            decoded == entries,
            "decoding gives other entries: {decoded:?}"
        );
        return Ok(());
    }
    v.keys(
        &[],
        &[
            "header_plaintext",
            "header_offset",
            "pack_len",
            "trailer",
            "header",
            "master_secret",
        ],
        &[],
    )?;
    let mut forms = 0;
    if v.has("header_plaintext") {
        forms += 1;
        let r = decode_header_plaintext(&v.bytes("header_plaintext")?, v.uint("header_offset")?);
        ensure!(r.is_err(), "header_plaintext parses");
    }
    if v.has("pack_len") || v.has("trailer") {
        forms += 1;
        let r = header_location(v.uint("pack_len")?, v.array("trailer")?);
        ensure!(r.is_err(), "the trailer locates a header: {r:?}");
    }
    if v.has("header") {
        forms += 1;
        let key = v.master()?;
        let header = v.bytes("header")?;
        let offset = v.uint("header_offset")?;
        // Read as from a pack of offset + len(header) bytes: locate by the
        // trailer, then open and parse what it points at.
        let reads = header.len() >= 4 && {
            let (sealed, trailer) = header.split_at(header.len() - 4);
            header_location(offset + header.len() as u64, trailer.try_into().unwrap())
                .is_ok_and(|loc| loc == (offset, sealed.len() as u64))
                && decode_header(&key, sealed, offset).is_ok()
        };
        ensure!(!reads, "the header locates, opens and parses");
    } else {
        ensure!(
            !v.has("master_secret"),
            "master_secret is only used with header"
        );
    }
    ensure!(
        !v.has("header_offset") || v.has("header") || v.has("header_plaintext"),
        "header_offset without header or header_plaintext"
    );
    ensure!(
        forms > 0,
        "no header_plaintext, pack_len + trailer, or header to check"
    );
    Ok(())
}

fn check_index(v: &Vector) -> Result<(), String> {
    if !v.ok {
        v.keys(&[], &["plaintext", "sealed", "master_secret"], &[])?;
        ensure!(
            v.has("plaintext") || v.has("sealed"),
            "no plaintext or sealed to check"
        );
        if v.has("plaintext") {
            ensure!(
                IndexFile::decode_plaintext(&v.bytes("plaintext")?).is_err(),
                "plaintext decodes"
            );
        }
        if v.has("sealed") {
            ensure!(
                IndexFile::decode(&v.master()?, &v.bytes("sealed")?).is_err(),
                "sealed decodes"
            );
        } else {
            ensure!(
                !v.has("master_secret"),
                "master_secret is only used with sealed"
            );
        }
        return Ok(());
    }
    v.keys(
        &["master_secret", "salt", "plaintext", "sealed"],
        &[],
        &["supersedes", "pack", "marked", "blob"],
    )?;
    let key = v.master()?;
    let mut file = IndexFile::default();
    // Blobs belong to the nearest preceding `pack` or `marked` line.
    let mut in_marked = false;
    for (k, value) in &v.fields {
        let id = || -> Result<Id, String> {
            let b: [u8; 32] = parse_hex(k, value)?
                .try_into()
                .map_err(|_| format!("{k} is not 32 bytes"))?;
            Ok(Id(b))
        };
        match k.as_str() {
            "supersedes" => {
                ensure!(file.packs.is_empty(), "supersedes after pack");
                file.supersedes.push(IndexId(id()?));
            }
            "pack" => {
                ensure!(!in_marked, "pack after marked");
                file.packs.push(IndexPack {
                    id: PackId(id()?),
                    blobs: vec![],
                })
            }
            "marked" => {
                in_marked = true;
                let (pack, time) = value
                    .split_once(' ')
                    .ok_or("marked is `<pack id hex> <marked_at>`")?;
                let b: [u8; 32] = parse_hex(k, pack)?
                    .try_into()
                    .map_err(|_| "marked pack ID is not 32 bytes")?;
                file.marked.push(MarkedPack {
                    id: PackId(Id(b)),
                    marked_at: time.parse().map_err(|_| "marked_at is not an integer")?,
                    blobs: vec![],
                });
            }
            "blob" if in_marked => file
                .marked
                .last_mut()
                .ok_or("blob before any pack")?
                .blobs
                .push(parse_entry(value)?),
            "blob" => file
                .packs
                .last_mut()
                .ok_or("blob before any pack")?
                .blobs
                .push(parse_entry(value)?),
            _ => {}
        }
    }
    let plain = v.bytes("plaintext")?;
    let sealed = v.bytes("sealed")?;
    ensure!(
        file.encode_plaintext() == plain,
        "encoding gives another plaintext"
    );
    let decoded = IndexFile::decode_plaintext(&plain)
        .map_err(|e| format!("plaintext does not decode: {e}"))?;
    ensure!(decoded == file, "decoding gives {decoded:?}");
    ensure!(
        key.seal_with_salt(SealKind::Index, v.array("salt")?, &plain) == sealed,
        "sealing gives other bytes"
    );
    let opened =
        IndexFile::decode(&key, &sealed).map_err(|e| format!("sealed does not decode: {e}"))?;
    ensure!(opened == file, "decoding sealed gives {opened:?}");
    Ok(())
}

fn check_tree(v: &Vector) -> Result<(), String> {
    let json = v.bytes("tree")?;
    if !v.ok {
        v.keys(&["tree"], &[], &[])?;
        ensure!(Tree::decode(&json).is_err(), "the tree decodes");
        return Ok(());
    }
    v.keys(&["tree", "master_secret", "blob_id", "canonical"], &[], &[])?;
    let tree = Tree::decode(&json).map_err(|e| format!("the tree does not decode: {e}"))?;
    let canonical = match v.text("canonical")? {
        "yes" => true,
        "no" => false,
        other => return Err(format!("canonical must be yes or no, not {other:?}")),
    };
    ensure!(
        (tree.encode() == json) == canonical,
        "re-encoding {} the bytes",
        if canonical { "changes" } else { "keeps" }
    );
    ensure!(
        v.master()?.blob_id(&json).as_bytes() == &v.array::<32>("blob_id")?,
        "blob_id differs"
    );
    Ok(())
}

/// A reader that returns at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn check_chunker(v: &Vector) -> Result<(), String> {
    const SIZES: [&str; 4] = ["seed", "min_size", "avg_size", "max_size"];
    let seed = v.uint("seed")?;
    // Sizes beyond u32 are out of range by definition; map them to a value
    // the chunker must refuse as well.
    let size = |k: &str| v.uint(k).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let params = ChunkerParams {
        min_size: size("min_size")?,
        avg_size: size("avg_size")?,
        max_size: size("max_size")?,
    };
    if !v.ok {
        v.keys(&SIZES, &[], &[])?;
        ensure!(
            Chunker::new(params, seed).is_err(),
            "the parameters are accepted"
        );
        return Ok(());
    }
    v.keys(&SIZES, &["input", "input_seed", "input_length"], &["chunk"])?;
    let data = match (v.get("input"), v.get("input_seed"), v.get("input_length")) {
        (Some(_), None, None) => v.bytes("input")?,
        (None, Some(input_seed), Some(_)) => {
            let len = v.uint("input_length")?;
            ensure!(
                len <= 64 << 20,
                "input_length {len} is too large for a vector"
            );
            xof(input_seed, len as usize)
        }
        _ => return Err("give either input, or input_seed and input_length".into()),
    };
    let expected = v
        .all("chunk")
        .into_iter()
        .map(|c| {
            let (o, l) = c
                .split_once(' ')
                .ok_or_else(|| format!("chunk {c:?} is not '<offset> <length>'"))?;
            Ok((
                parse_uint("chunk", o)? as usize,
                parse_uint("chunk", l)? as usize,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let chunker = Chunker::new(params, seed).map_err(|e| format!("parameters refused: {e}"))?;
    let cut = chunker.cut(&data);
    ensure!(
        cut == expected,
        "one buffer gives {} chunks: {:?}",
        cut.len(),
        &cut[..cut.len().min(8)]
    );
    let mut streamed = Vec::new();
    let mut pos = 0;
    chunker
        .for_each_chunk::<_, std::io::Error>(
            Trickle {
                data: &data,
                step: 100_003,
            },
            |chunk| {
                if data.get(pos..pos + chunk.len()) != Some(chunk) {
                    return Err(std::io::Error::other(format!(
                        "chunk at {pos} has other bytes"
                    )));
                }
                streamed.push((pos, chunk.len()));
                pos += chunk.len();
                Ok(())
            },
        )
        .map_err(|e| format!("streaming fails: {e}"))?;
    ensure!(
        streamed == expected,
        "streaming gives {} chunks",
        streamed.len()
    );
    Ok(())
}

fn check_config(v: &Vector) -> Result<(), String> {
    let key = v.master()?;
    let sealed = v.bytes("sealed")?;
    if !v.ok {
        v.keys(&["master_secret", "sealed"], &["json"], &[])?;
        ensure!(Config::decode(&key, &sealed).is_err(), "the config decodes");
        if let (Some(json), Ok(plain)) = (v.get("json"), key.open(SealKind::Config, &sealed)) {
            ensure!(
                plain == json.as_bytes(),
                "sealed holds another text than json"
            );
        }
        return Ok(());
    }
    v.keys(&["master_secret", "salt", "json", "sealed"], &[], &[])?;
    let json = v.text("json")?.as_bytes();
    ensure!(
        key.seal_with_salt(SealKind::Config, v.array("salt")?, json) == sealed,
        "sealing gives other bytes"
    );
    let config =
        Config::decode(&key, &sealed).map_err(|e| format!("the config does not decode: {e}"))?;
    ensure!(
        serde_json::to_vec(&config).unwrap() == json,
        "re-encoding gives other JSON"
    );
    Ok(())
}

fn check_manifest(v: &Vector) -> Result<(), String> {
    let key = v.master()?;
    let sealed = v.bytes("sealed")?;
    let decoded = key
        .open(SealKind::Snapshot, &sealed)
        .map_err(|e| e.to_string())
        .and_then(|plain| {
            SnapshotManifest::decode(&plain)
                .map(|m| (plain, m))
                .map_err(|e| e.to_string())
        });
    if !v.ok {
        v.keys(&["master_secret", "sealed"], &["json"], &[])?;
        ensure!(decoded.is_err(), "the manifest decodes");
        if let (Some(json), Ok(plain)) = (v.get("json"), key.open(SealKind::Snapshot, &sealed)) {
            ensure!(
                plain == json.as_bytes(),
                "sealed holds another text than json"
            );
        }
        return Ok(());
    }
    v.keys(
        &[
            "master_secret",
            "salt",
            "json",
            "sealed",
            "snapshot_id",
            "canonical",
        ],
        &[],
        &[],
    )?;
    let json = v.text("json")?.as_bytes();
    ensure!(
        key.seal_with_salt(SealKind::Snapshot, v.array("salt")?, json) == sealed,
        "sealing gives other bytes"
    );
    ensure!(
        Id::sha256(&sealed).to_hex() == v.text("snapshot_id")?,
        "snapshot_id is not the SHA-256 of sealed"
    );
    let (plain, manifest) = decoded.map_err(|e| format!("the manifest does not decode: {e}"))?;
    ensure!(plain == json, "sealed holds another text than json");
    let canonical = manifest.encode() == json;
    ensure!(
        v.text("canonical")? == if canonical { "yes" } else { "no" },
        "canonical says {} but re-encoding {}",
        v.text("canonical")?,
        if canonical { "matches" } else { "differs" }
    );
    Ok(())
}

fn check_lock(v: &Vector) -> Result<(), String> {
    let key = v.master()?;
    let sealed = v.bytes("sealed")?;
    let decoded = key
        .open(SealKind::Lock, &sealed)
        .map_err(|e| e.to_string())
        .and_then(|plain| LockInfo::decode(&plain).map_err(|e| e.to_string()));
    if !v.ok {
        v.keys(&["master_secret", "sealed"], &["json"], &[])?;
        ensure!(decoded.is_err(), "the lock decodes");
        if let (Some(json), Ok(plain)) = (v.get("json"), key.open(SealKind::Lock, &sealed)) {
            ensure!(
                plain == json.as_bytes(),
                "sealed holds another text than json"
            );
        }
        return Ok(());
    }
    v.keys(
        &[
            "master_secret",
            "salt",
            "json",
            "sealed",
            "name",
            "blocks_as",
            "canonical",
        ],
        &[],
        &[],
    )?;
    let json = v.text("json")?.as_bytes();
    ensure!(
        key.seal_with_salt(SealKind::Lock, v.array("salt")?, json) == sealed,
        "sealing gives other bytes"
    );
    ensure!(
        Id::sha256(&sealed).to_hex() == v.text("name")?,
        "name is not the SHA-256 of sealed"
    );
    let lock = decoded.map_err(|e| format!("the lock does not decode: {e}"))?;
    let blocks_as = match lock.blocks_as() {
        LockKind::Shared => "shared",
        LockKind::Exclusive => "exclusive",
    };
    ensure!(
        v.text("blocks_as")? == blocks_as,
        "the lock blocks as {blocks_as}"
    );
    let canonical = lock.encode() == json;
    ensure!(
        v.text("canonical")? == if canonical { "yes" } else { "no" },
        "canonical says {} but re-encoding {}",
        v.text("canonical")?,
        if canonical { "matches" } else { "differs" }
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn generated() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(generate)
}

/// With SNAP_WRITE_VECTORS=1, writes the vectors (once, before any test reads
/// them) and removes `.txt` files the generator no longer produces.
fn prepare() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var("SNAP_WRITE_VECTORS").as_deref() != Ok("1") {
            return;
        }
        let dir = vector_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut names = BTreeSet::new();
        for case in generated() {
            let path = dir.join(case.file_name());
            let text = case.render();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, text).unwrap();
                eprintln!("wrote {}", path.display());
            }
            names.insert(case.file_name());
        }
        for (name, _) in read_vector_files() {
            if name.ends_with(".txt") && !names.contains(&name) {
                std::fs::remove_file(dir.join(&name)).unwrap();
                eprintln!("removed {name}");
            }
        }
    });
}

/// Every entry of the vector folder except README.md: name and UTF-8 content
/// (or why it could not be read).
fn read_vector_files() -> BTreeMap<String, Result<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(vector_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        let content = std::fs::read(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_string()));
        out.insert(name, content);
    }
    out
}

#[test]
fn vectors_check() {
    prepare();
    let files = read_vector_files();
    let mut failures = Vec::new();
    let mut coverage = BTreeSet::new();
    for (name, content) in &files {
        let result = content.clone().and_then(|text| {
            check_vector(name, &text)?;
            let v = parse_vector(&text)?;
            coverage.insert((v.kind, v.ok));
            Ok(())
        });
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    for kind in KINDS {
        for ok in [true, false] {
            if (ok || kind != "blob-id") && !coverage.contains(&(kind.to_string(), ok)) {
                failures.push(format!(
                    "no expect: {} vector of kind {kind}",
                    if ok { "ok" } else { "error" }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn vectors_match_generator() {
    prepare();
    let files = read_vector_files();
    let cases: BTreeMap<String, String> = generated()
        .iter()
        .map(|c| (c.file_name(), c.render()))
        .collect();
    let mut problems = Vec::new();
    for name in cases.keys().filter(|n| !files.contains_key(*n)) {
        problems.push(format!("{name}: generated but not in format-spec/vectors/"));
    }
    for name in files.keys().filter(|n| !cases.contains_key(*n)) {
        problems.push(format!("{name}: in format-spec/vectors/ but not generated"));
    }
    for (name, text) in &cases {
        if let Some(content) = files.get(name) {
            if content.as_ref() != Ok(text) {
                problems.push(format!("{name}: differs from the generator"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the vectors differ from the generator (SNAP_WRITE_VECTORS=1 rewrites them; review the diff):\n{}",
        problems.join("\n")
    );
}

#[test]
fn checker_refuses_malformed_files() {
    let good = "expect: ok\nkind: tree\ntree: 7b2276657273696f6e223a312c226e6f646573223a5b5d7d\n\
                master_secret: 0000000000000000000000000000000000000000000000000000000000000000\n\
                blob_id: PLACEHOLDER\ncanonical: yes\n";
    let id = MasterKey::from_secret([0; 32])
        .blob_id(br#"{"version":1,"nodes":[]}"#)
        .to_hex();
    let good = good.replace("PLACEHOLDER", &id);
    check_vector("tree-x.txt", &good).unwrap();
    let bad: Vec<(&str, String)> = vec![
        ("tree-x.txt", good.replacen("expect: ok\n", "", 1)),
        ("tree-x.txt", good.replacen("kind: tree\n", "", 1)),
        (
            "tree-x.txt",
            good.replacen("expect: ok", "expect: maybe", 1),
        ),
        ("tree-x.txt", good.replace("\n", "\r\n")),
        (
            "forest-x.txt",
            good.replacen("kind: tree", "kind: forest", 1),
        ),
        ("tree-x.txt", format!("{good}colour: blue\n")),
        ("tree-x.txt", format!("{good}canonical: yes\n")),
        ("tree-x.txt", good.replacen("canonical: yes\n", "", 1)),
        (
            "tree-x.txt",
            good.replacen("canonical: yes", "canonical: no", 1),
        ),
        ("tree-x.txt", format!("{good}reason: ok cases have none\n")),
        ("tree-x.txt", format!("{good}Key: upper case\n")),
        ("tree-x.txt", format!("{good}no separator\n")),
        ("tree-x.txt", good.replacen("7b22", "7B22", 1)),
        ("seal-x.txt", good.clone()),
        ("tree-X.txt", good.clone()),
        (
            "tree-x.txt",
            good.replacen("expect: ok", "expect: error", 1),
        ),
    ];
    for (name, text) in bad {
        assert!(
            check_vector(name, &text).is_err(),
            "accepted {name}:\n{text}"
        );
    }
}

fn check_etcd_digest(v: &Vector) -> Result<(), String> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for line in v.all("kv") {
        let k = line
            .split_once(' ')
            .ok_or("kv is '<key hex> <value hex>'")?
            .0;
        keys.push(hex::decode(k).map_err(|e| e.to_string())?);
    }
    let ascending = keys.windows(2).all(|w| w[0] < w[1]);
    if !v.ok {
        v.keys(&[], &[], &["kv"])?;
        ensure!(!ascending, "the keys are ascending: a digest is defined");
        return Ok(());
    }
    v.keys(&["count", "digest"], &[], &["kv"])?;
    ensure!(ascending, "keys out of order");
    let mut digest = KeyspaceDigest::new();
    for line in v.all("kv") {
        let (k, val) = line
            .split_once(' ')
            .ok_or("kv is '<key hex> <value hex>'")?;
        let dec = |t: &str| hex::decode(t).map_err(|e| e.to_string());
        digest.add(&dec(k)?, &value_hash(&dec(val)?));
    }
    ensure!(
        digest.count().to_string() == v.text("count")?,
        "count differs"
    );
    ensure!(
        digest.finish().0 == v.array::<32>("digest")?,
        "digest differs"
    );
    Ok(())
}
