#!/usr/bin/env python3
"""Generate a deterministic small-file-heavy "platform" tree (issue 16's shape).

Usage:
    benches/gen_platform.py DEST [--size-gib 2.0] [--seed 1]

What a control-plane node or a platform's state folder holds, by count mostly
small files: at the default size about 75,000 files, all but a few hundred
under 64 KiB, about 2 GB in all, some 13% duplicates:

    Kubernetes manifests and secrets (YAML, 0.3-8 KiB)   etc/kubernetes/, manifests/
    configuration files (conf, json, ini; 0.2-20 KiB)    etc/
    certificates and keys (PEM, 1-4 KiB)                 etc/pki/
    git loose objects (zlib, incompressible; 0.1-16 KiB) srv/git/*/objects/
    git packs (incompressible; 4-40 MiB)                 srv/git/*/objects/pack/
    logs (compressible; 5-30 MiB)                        var/log/
    an etcd database (8 KiB pages)                       var/lib/etcd/member/snap/db
    container image layers (incompressible; 10-60 MiB)   var/lib/containers/
    a VM image (sparse-ish: zeros with random extents)   var/lib/libvirt/images/
    a SQL dump (text, compressible)                      var/backups/
    duplicates: copies of layers and of a manifest tree  var/lib/containers/copies/, manifests-old/

Output is a pure function of (--size-gib, --seed). Uses gen_corpus.py's line
pools and data shapes; only the Python standard library.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus as gc  # noqa: E402

KIB, MIB, GIB = gc.KIB, gc.MIB, gc.GIB
DEFAULT_GIB = 2.0


def log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def pem(rng: random.Random, size: int) -> bytes:
    import base64

    body = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    kind = rng.choice(["CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY"])
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n".encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest")
    ap.add_argument("--size-gib", type=float, default=DEFAULT_GIB)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if os.path.exists(args.dest) and os.listdir(args.dest):
        print(f"{args.dest} is not empty", file=sys.stderr)
        return 1
    scale = args.size_gib / DEFAULT_GIB
    rng = random.Random(args.seed)
    c = gc.Corpus(args.dest, rng, scale)
    pools = gc.make_pools(rng)
    words = gc.make_words(rng, 2000)
    n = lambda count: max(1, int(count * scale))  # noqa: E731

    # Kubernetes manifests and secrets.
    for i in range(n(30_000)):
        ns = words[i % 97]
        kind = rng.choice(["deployment", "service", "configmap", "secret", "ingress", "role"])
        rel = os.path.join("etc", "kubernetes", "manifests", ns, f"{kind}-{words[(i * 7) % len(words)]}-{i}.yaml")
        c.write("manifests", rel, gc.text_file(rng, pools, "yaml", log_uniform(rng, 300, 8 * KIB)))
    # Configuration files.
    for i in range(n(8_000)):
        ext = rng.choice(["conf", "json", "ini", "toml"])
        ext = ext if any(e == ext for e, *_ in gc.TEXT_KINDS) else "yaml"
        rel = os.path.join("etc", words[i % 211], f"{words[(i * 13) % len(words)]}-{i}.{ext}")
        c.write("configs", rel, gc.text_file(rng, pools, ext, log_uniform(rng, 200, 20 * KIB)))
    # Certificates and keys.
    for i in range(n(4_000)):
        rel = os.path.join("etc", "pki", words[i % 53], f"{words[(i * 3) % len(words)]}-{i}.pem")
        c.write("pki", rel, pem(rng, rng.randint(1 * KIB, 3 * KIB)))
    # Git repositories: loose objects and packs.
    for i in range(n(30_000)):
        repo = words[i % 40]
        payload = rng.randbytes(log_uniform(rng, 100, 16 * KIB))
        gc.git_loose(c, os.path.join("..", "srv", "git", repo), "blob", payload)
    for i in range(n(20)):
        rel = os.path.join("srv", "git", words[i % 40], "objects", "pack", f"pack-{rng.getrandbits(160):040x}.pack")
        c.write_stream("git packs", rel, gc.random_chunks(rng, int(rng.randint(4 * MIB, 40 * MIB) * scale)))
    # Logs.
    for i in range(n(30)):
        svc = words[i % len(words)]
        rel = os.path.join("var", "log", svc, f"{svc}.log")
        size = int(rng.randint(5 * MIB, 30 * MIB) * scale)
        c.write_stream("logs", rel, gc.log_chunks(rng, words, svc, size))
    # etcd's database.
    c.write_stream("etcd db", os.path.join("var", "lib", "etcd", "member", "snap", "db"),
                   gc.db_chunks(rng, words, int(150 * MIB * scale)))
    # Container image layers.
    layers = []
    for i in range(n(10)):
        rel = os.path.join("var", "lib", "containers", "layers", f"sha256-{rng.getrandbits(128):032x}.tar.gz")
        c.write_stream("image layers", rel, gc.random_chunks(rng, int(rng.randint(10 * MIB, 60 * MIB) * scale)))
        layers.append(rel)
    # A VM image: zeros with random extents (a thin-provisioned disk).
    def vm_chunks(size: int):
        left = size
        while left > 0:
            k = min(4 * MIB, left)
            yield rng.randbytes(k) if rng.random() < 0.3 else bytes(k)
            left -= k
    c.write_stream("vm image", os.path.join("var", "lib", "libvirt", "images", "vm.img"),
                   vm_chunks(int(400 * MIB * scale)))
    # A SQL dump.
    def sql_chunks(size: int):
        left = size
        rows = [f"INSERT INTO {w} VALUES ({i}, '{w}@example.internal', 'active', {i * 37 % 1000});\n"
                for i, w in enumerate(words)]
        while left > 0:
            chunk = "".join(rng.choices(rows, k=20_000)).encode()[:left]
            left -= len(chunk)
            yield chunk
    c.write_stream("sql dump", os.path.join("var", "backups", "platform.sql"), sql_chunks(int(200 * MIB * scale)))
    # Duplicates: copies of layers, and an old copy of a manifest tree.
    for rel in layers[: len(layers) // 2 + 1]:
        dst = os.path.join("var", "lib", "containers", "copies", os.path.basename(rel))
        os.makedirs(c.path(os.path.dirname(dst)), exist_ok=True)
        shutil.copyfile(c.path(rel), c.path(dst))
        c.account("duplicates", 1, os.path.getsize(c.path(dst)))
    src = c.path("etc", "kubernetes", "manifests", words[0])
    dst = c.path("etc", "kubernetes", "manifests-old", words[0])
    shutil.copytree(src, dst)
    files, size = gc.tree_size(dst)
    c.account("duplicates", files, size)

    print(f"{c.files} files, {gc.human(c.bytes)} in {args.dest}")
    for kind, (files, size) in sorted(c.by_kind.items()):
        print(f"  {kind:14s} {files:7d} files {gc.human(size):>10s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
