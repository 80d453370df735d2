#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each; set
# FUZZ_SECONDS), with corpora seeded from format-spec/vectors, and fails on
# the first crash. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and
# a nightly toolchain, or RUSTC_BOOTSTRAP=1 on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-30}
TOOLCHAIN=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
# Seed corpora: the vectors' stored bytes, per target that decodes them.
python3 - <<'PY'
import os, pathlib
vectors = pathlib.Path("format-spec/vectors")
seeds = {  # vector kind -> (target, field, how)
    "manifest": ("manifest", "json", "text"),
    "lock": ("lock", "json", "text"),
    "config": ("config", "json", "text"),
    "index": ("index_file", "plaintext", "hex"),
    "pack": ("pack_header", "header_plaintext", "hex"),
    "key": ("key_file", "key_file", "text"),
    "seal": ("seal", "sealed", "hex"),
    "tree": ("tree", "tree", "text"),
}
for path in sorted(vectors.glob("*.txt")):
    fields = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, value)
    kind = fields.get("kind")
    if kind not in seeds:
        continue
    target, field, how = seeds[kind]
    if field not in fields:
        continue
    data = bytes.fromhex(fields[field]) if how == "hex" else fields[field].encode()
    out = pathlib.Path("fuzz/corpus") / target
    out.mkdir(parents=True, exist_ok=True)
    (out / path.stem).write_bytes(data)
for target, samples in {
    "route": ["/", "/metrics", "/a/config", "/alice/prod/data/", "/r/keys/" + "0" * 64, "/../x"],
    "range": ["\0" * 8 + "bytes=0-", "\x10" + "\0" * 7 + "bytes=-5", "\xff" * 8 + "bytes=3-9"],
    "basic_auth": ["Basic YWxpY2U6c2VjcmV0", "Basic ", "Bearer x"],
    "etcd_gateway": [
        '{"header":{"revision":"42"},"kvs":[{"key":"L2E=","value":"eA==","mod_revision":"7","version":"1"}],"more":true}',
        '{"header":{"cluster_id":"1","member_id":"2","revision":"3"},"version":"3.4.23","leader":"2"}',
        '{"members":[{"ID":"9","name":"n0","peerURLs":["http://127.0.0.1:2380"]}]}',
    ],
    "k8s_value": [
        "k8s\0\x0a\x0b\x0a\x02v1\x12\x03Pod\x12\x02\xff\x00",
        '{"apiVersion":"example.com/v1","kind":"Foo","metadata":{"labels":{"app":"web"}}}',
        "/registry/deployments/default/web",
        "/registry/example.com/foos/ns/a",
    ],
}.items():
    out = pathlib.Path("fuzz/corpus") / target
    out.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(samples):
        (out / f"seed-{i}").write_bytes(s.encode("latin-1"))
PY
for target in $(cargo "${TOOLCHAIN[@]}" fuzz list --fuzz-dir fuzz); do
    echo "== fuzz $target (${SECONDS_EACH}s)"
    cargo "${TOOLCHAIN[@]}" fuzz run --fuzz-dir fuzz "$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=0 2>&1 | tail -n 3
done
