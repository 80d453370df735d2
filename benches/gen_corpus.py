#!/usr/bin/env python3
"""Generate a deterministic, realistic "platform" tree for backup benchmarks.

Usage:
    benches/gen_corpus.py DEST [--size-gib 1.5] [--seed 1]

The tree mimics a small server / monorepo checkout and mixes the data shapes a
backup tool meets in practice.  Shares of the requested total size:

    16%  small text files (source code, YAML, JSON, configs; log-uniform 1-20 KiB,
         tens of thousands of files at the default size) under services/*/
     5%  git loose objects (zlib-compressed, effectively incompressible small
         files) under services/*/.git/objects/xx/
    14%  log files (repetitive timestamped lines, highly compressible;
         10-50 MiB each at the default size) under var/log/
    13%  one database-like file (8 KiB pages, partially compressible;
         200 MiB at the default size) under var/lib/
    40%  large random binaries (incompressible; 50-200 MiB each at the default
         size) under opt/releases/
    12%  duplicates: byte-identical copies of large files and of whole
         directories, under backup/

File sizes scale with --size-gib, so a small corpus keeps the same mix.
Output is a pure function of (--size-gib, --seed): every byte comes from one
random.Random(seed) stream consumed in a fixed order.  File modification times
are left as written.  Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import struct
import sys
import time
import zlib

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_GIB = 1.5

# Shares of the total size; they add up to 1.0.
SHARE_TEXT = 0.16
SHARE_GIT = 0.05
SHARE_LOGS = 0.14
SHARE_DB = 0.13
SHARE_BIN = 0.40
SHARE_DUP = 0.12

WRITE_CHUNK = 8 * MIB  # large writes for big files


class Corpus:
    """Tracks what has been written so far (for budgets and the summary)."""

    def __init__(self, root: str, rng: random.Random, scale: float):
        self.root = root
        self.rng = rng
        self.scale = scale  # requested size / default size
        self.files = 0
        self.bytes = 0
        self.by_kind: dict[str, list[int]] = {}

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def scaled(self, lo: int, hi: int) -> int:
        """A size drawn uniformly from [lo, hi] scaled to the corpus size."""
        size = self.rng.randint(lo, hi) * self.scale
        return max(16 * KIB, int(size))

    def account(self, kind: str, n_files: int, n_bytes: int) -> None:
        self.files += n_files
        self.bytes += n_bytes
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0] += n_files
        entry[1] += n_bytes

    def write(self, kind: str, rel: str, data: bytes) -> None:
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        self.account(kind, 1, len(data))

    def write_stream(self, kind: str, rel: str, chunks) -> int:
        """Write an iterable of byte chunks to one file with a large buffer."""
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        n = 0
        with open(full, "wb", buffering=WRITE_CHUNK) as f:
            for chunk in chunks:
                f.write(chunk)
                n += len(chunk)
        self.account(kind, 1, n)
        return n


# --------------------------------------------------------------------------
# Vocabulary and line pools.  Built once from the seeded RNG; files are then
# assembled by sampling lines, which is fast (rng.choices + join).
# --------------------------------------------------------------------------

SYLLABLES = (
    "ar be co da el fa go hi in jo ka li mo na or pa qu ra si ta ul ve wi xo "
    "yu ze st tr pl cr nd ch sh th ph ex un re de pre pro con ser net api "
    "data user auth cache store queue node pod job task event log conf"
).split()

KEYWORDS = [
    "replicas", "image", "port", "timeout", "retries", "enabled", "endpoint",
    "namespace", "labels", "env", "limits", "requests", "memory", "cpu",
    "volume", "path", "host", "user", "level", "format", "interval", "backoff",
]


def make_words(rng: random.Random, n: int) -> list[str]:
    words = set()
    while len(words) < n:
        k = rng.randint(1, 3)
        words.add("".join(rng.choice(SYLLABLES) for _ in range(k)))
    return sorted(words)


def make_pools(rng: random.Random) -> dict[str, list[str]]:
    """Line pools per file type.  Each pool holds a few thousand lines."""
    w = make_words(rng, 3000)

    def ident() -> str:
        return "_".join(rng.choice(w) for _ in range(rng.randint(1, 3)))

    def camel() -> str:
        return "".join(rng.choice(w).capitalize() for _ in range(rng.randint(1, 3)))

    def ind(level_max: int = 4) -> str:
        return "    " * rng.randint(0, level_max)

    def num() -> str:
        return str(rng.choice([0, 1, 2, 8, 10, 16, 30, 64, 100, 256, 1000, rng.randint(0, 99999)]))

    py = []
    for _ in range(6000):
        t = rng.randrange(10)
        if t == 0:
            py.append(f"def {ident()}(self, {ident()}, {ident()}={num()}):")
        elif t == 1:
            py.append(f"{ind()}{ident()} = self.{ident()}.{ident()}({ident()}, {num()})")
        elif t == 2:
            py.append(f"{ind()}if {ident()} is not None and len({ident()}) > {num()}:")
        elif t == 3:
            py.append(f"{ind()}return {ident()}.get(\"{ident()}\", {num()})")
        elif t == 4:
            py.append(f"{ind()}# {' '.join(rng.choice(w) for _ in range(rng.randint(3, 10)))}")
        elif t == 5:
            py.append(f"from {ident()}.{ident()} import {camel()}, {ident()}")
        elif t == 6:
            py.append(f"class {camel()}({camel()}):")
        elif t == 7:
            py.append(f"{ind()}raise {camel()}Error(f\"{ident()} failed: {{{ident()}}}\")")
        elif t == 8:
            py.append(f"{ind()}for {ident()} in self.{ident()}[{num()}:]:")
        else:
            py.append("")

    rs = []
    for _ in range(6000):
        t = rng.randrange(10)
        if t == 0:
            rs.append(f"pub fn {ident()}(&self, {ident()}: &{camel()}) -> Result<{camel()}, Error> {{")
        elif t == 1:
            rs.append(f"{ind()}let {ident()} = {ident()}.{ident()}()?.{ident()}({num()});")
        elif t == 2:
            rs.append(f"{ind()}if {ident()}.len() > {num()} {{")
        elif t == 3:
            rs.append(f"{ind()}}}")
        elif t == 4:
            rs.append(f"{ind()}// {' '.join(rng.choice(w) for _ in range(rng.randint(3, 10)))}")
        elif t == 5:
            rs.append(f"use crate::{ident()}::{{{camel()}, {camel()}}};")
        elif t == 6:
            rs.append(f"#[derive(Debug, Clone)]\npub struct {camel()} {{ {ident()}: u{rng.choice([8, 16, 32, 64])}, }}")
        elif t == 7:
            rs.append(f"{ind()}match {ident()} {{ {camel()}::{camel()} => {num()}, _ => {num()} }}")
        elif t == 8:
            rs.append(f"{ind()}Ok({camel()} {{ {ident()}, {ident()}: {num()} }})")
        else:
            rs.append("")

    go = []
    for _ in range(4000):
        t = rng.randrange(8)
        if t == 0:
            go.append(f"func ({ident()[:1]} *{camel()}) {camel()}(ctx context.Context, {ident()} string) error {{")
        elif t == 1:
            go.append(f"\t{ident()}, err := {ident()}.{camel()}(ctx, {num()})")
        elif t == 2:
            go.append("\tif err != nil {\n\t\treturn fmt.Errorf(\"%s: %w\", \"" + ident() + "\", err)\n\t}")
        elif t == 3:
            go.append(f"\t// {' '.join(rng.choice(w) for _ in range(rng.randint(3, 10)))}")
        elif t == 4:
            go.append(f"type {camel()} struct {{\n\t{camel()} int `json:\"{ident()}\"`\n}}")
        elif t == 5:
            go.append("}")
        elif t == 6:
            go.append(f"\t{ident()} := make(map[string]{camel()}, {num()})")
        else:
            go.append("")

    yaml = []
    for _ in range(5000):
        t = rng.randrange(6)
        pad = "  " * rng.randint(0, 4)
        if t == 0:
            yaml.append(f"{pad}{rng.choice(KEYWORDS)}: {num()}")
        elif t == 1:
            yaml.append(f"{pad}{ident()}: \"{ident()}-{rng.choice(w)}\"")
        elif t == 2:
            yaml.append(f"{pad}- name: {ident()}\n{pad}  value: \"{rng.choice(w)}\"")
        elif t == 3:
            yaml.append(f"{pad}{rng.choice(KEYWORDS)}:")
        elif t == 4:
            yaml.append(f"{pad}image: registry.example.internal/{ident()}:{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}")
        else:
            yaml.append(f"{pad}# {' '.join(rng.choice(w) for _ in range(rng.randint(2, 8)))}")

    js = []
    for _ in range(5000):
        t = rng.randrange(5)
        if t == 0:
            js.append(f"  \"{ident()}\": {num()}")
        elif t == 1:
            js.append(f"  \"{ident()}\": \"{ident()}\"")
        elif t == 2:
            js.append(f"  \"{ident()}\": [{num()}, {num()}, {num()}]")
        elif t == 3:
            js.append(f"  \"{ident()}\": {{\"{rng.choice(KEYWORDS)}\": {num()}, \"{ident()}\": {str(rng.random() < 0.5).lower()}}}")
        else:
            js.append(f"  \"{ident()}\": null")

    conf = []
    for _ in range(3000):
        t = rng.randrange(4)
        if t == 0:
            conf.append(f"[{ident()}]")
        elif t == 1:
            conf.append(f"{ident()} = {num()}")
        elif t == 2:
            conf.append(f"{ident()}.{rng.choice(KEYWORDS)} = {rng.choice(w)}")
        else:
            conf.append(f"; {' '.join(rng.choice(w) for _ in range(rng.randint(2, 8)))}")

    md = [" ".join(rng.choice(w) for _ in range(rng.randint(4, 16))) for _ in range(3000)]
    md += [f"## {camel()}" for _ in range(200)] + [""] * 400

    pools = {"py": py, "rs": rs, "go": go, "yaml": yaml, "json": js, "conf": conf, "md": md}
    # Mean encoded line length (+1 for the newline) per pool, to size files.
    avg = {k: sum(len(x) + 1 for x in v) / len(v) for k, v in pools.items()}
    return {**pools, "_words": w, "_avg": avg}


# Extension -> (pool, comment prefix, weight)
TEXT_KINDS = [
    ("py", "py", "#", 20),
    ("rs", "rs", "//", 20),
    ("go", "go", "//", 15),
    ("yaml", "yaml", "#", 20),
    ("json", "json", None, 10),
    ("conf", "conf", ";", 8),
    ("md", "md", "<!--", 7),
]


def text_file(rng: random.Random, pools, ext: str, size: int) -> bytes:
    """Assemble a text file of roughly `size` bytes from a line pool."""
    pool_name, comment = next((p, c) for e, p, c, _ in TEXT_KINDS if e == ext)
    pool = pools[pool_name]
    n = max(1, round(size / pools["_avg"][pool_name]))
    tag = rng.getrandbits(64)  # makes every file unique, as real files are
    if ext == "json":
        # Valid JSON: one object, the first key being the unique tag.
        return ('{\n  "_id": "%016x",\n%s\n}\n' % (tag, ",\n".join(rng.choices(pool, k=n)))).encode()
    body = "\n".join(rng.choices(pool, k=n))
    if comment == "<!--":
        return f"<!-- id {tag:016x} -->\n{body}\n".encode()
    return f"{comment} id {tag:016x}\n{body}\n".encode()


# --------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------

def gen_text_and_git(c: Corpus, pools, text_budget: int, git_budget: int) -> list[str]:
    """Service repositories: working-tree text files plus .git loose objects.

    Returns the relative paths of the service directories (for duplicates).
    """
    rng = c.rng
    words = pools["_words"]
    n_services = max(2, min(16, int(12 * c.scale ** 0.5) + 1))
    services = []
    while len(services) < n_services:
        name = f"{rng.choice(words)}-{rng.choice(['api', 'worker', 'gateway', 'sched', 'ingest', 'web', 'billing', 'auth'])}"
        if name not in services:
            services.append(name)
    exts = [e for e, _, _, _ in TEXT_KINDS]
    weights = [w for _, _, _, w in TEXT_KINDS]
    subdirs = ["src", "src/internal", "src/handlers", "src/models", "lib", "config",
               "deploy/k8s", "deploy/helm/templates", "docs", "tests", "scripts", "proto"]

    dirs = []
    for si, svc in enumerate(services):
        svc_text = text_budget // n_services + (text_budget % n_services if si == 0 else 0)
        svc_git = git_budget // n_services + (git_budget % n_services if si == 0 else 0)
        contents: list[bytes] = []
        written = 0
        counter = 0
        while written < svc_text:
            size = int(KIB * 20 ** rng.random())  # log-uniform in [1 KiB, 20 KiB)
            ext = rng.choices(exts, weights)[0]
            sub = rng.choice(subdirs)
            # Spread files over nested module directories (~30 files each).
            module = f"{rng.choice(words)}{counter // 30}"
            data = text_file(rng, pools, ext, size)
            c.write("text", os.path.join("services", svc, sub, module, f"{rng.choice(words)}_{counter}.{ext}"), data)
            contents.append(data)
            written += len(data)
            counter += 1
        gen_git(c, svc, contents, svc_git)
        dirs.append(os.path.join("services", svc))

    # A few top-level config files (etc/), small and numerous-ish.
    for i in range(max(20, int(400 * c.scale))):
        ext = rng.choice(["conf", "yaml", "json"])
        data = text_file(rng, pools, ext, int(KIB * 8 ** rng.random()))
        c.write("text", os.path.join("etc", rng.choice(["app", "nginx", "systemd", "cron.d", "ssl", "monitoring"]), f"{rng.choice(words)}-{i}.{ext}"), data)
    return dirs


def git_loose(c: Corpus, svc: str, kind: str, payload: bytes) -> int:
    """Write one loose object exactly as git does (zlib level 1, sha1 name)."""
    raw = f"{kind} {len(payload)}\0".encode() + payload
    sha = hashlib.sha1(raw).hexdigest()
    comp = zlib.compress(raw, 1)  # git's core.loosecompression default is 1
    c.write("git", os.path.join("services", svc, ".git", "objects", sha[:2], sha[2:]), comp)
    return len(comp)


def gen_git(c: Corpus, svc: str, contents: list[bytes], budget: int) -> None:
    rng = c.rng
    # Minimal repository skeleton.
    c.write("git", os.path.join("services", svc, ".git", "HEAD"), b"ref: refs/heads/main\n")
    c.write("git", os.path.join("services", svc, ".git", "config"),
            b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n")
    used = 0
    # Blobs of the current working tree, while the budget lasts.
    for data in contents:
        if used >= budget:
            break
        used += git_loose(c, svc, "blob", data)
    # Older versions of files (a few lines changed) plus commits, until full.
    commit_no = 0
    while used < budget and contents:
        base = rng.choice(contents).split(b"\n")
        for _ in range(rng.randint(1, 5)):
            i = rng.randrange(len(base))
            base[i] = b"%x changed in %d" % (rng.getrandbits(48), commit_no)
        used += git_loose(c, svc, "blob", b"\n".join(base))
        if rng.random() < 0.2:
            msg = (f"tree {rng.getrandbits(160):040x}\nauthor Dev <dev@example.internal> "
                   f"{1_700_000_000 + commit_no * 3600} +0000\n\nchange {commit_no}\n").encode()
            used += git_loose(c, svc, "commit", msg)
            commit_no += 1
    head = f"{rng.getrandbits(160):040x}\n".encode()
    c.write("git", os.path.join("services", svc, ".git", "refs", "heads", "main"), head)


LEVELS = ["INFO"] * 14 + ["DEBUG"] * 4 + ["WARN"] * 2 + ["ERROR"]
METHODS = ["GET"] * 6 + ["POST"] * 3 + ["PUT", "DELETE"]
STATUSES = ["200"] * 20 + ["201", "204", "301", "304", "400", "401", "404", "404", "500", "503"]


def log_chunks(rng: random.Random, words: list[str], svc: str, size: int):
    """Yield ~1 MiB chunks of access/application log lines totalling `size`."""
    paths = [f"/api/v{rng.randint(1, 3)}/{rng.choice(words)}/{rng.choice(words)}" for _ in range(300)]
    messages = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(200)]
    t = 1_714_521_600 + rng.randint(0, 86400 * 30)  # some time in May 2024
    left = size
    while left > 0:
        lines = []
        n = 0
        while n < MIB and n < left:
            t += rng.randint(0, 1)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            # Batch random draws per second of log time for speed.
            for _ in range(rng.randint(1, 12)):
                if rng.random() < 0.8:
                    line = (f"{ts}.{rng.randint(0, 999):03d}Z INFO  [{svc}] request_id={rng.getrandbits(48):012x} "
                            f"method={rng.choice(METHODS)} path={rng.choice(paths)} status={rng.choice(STATUSES)} "
                            f"duration_ms={rng.randint(1, 400)} bytes={rng.randint(0, 65536)}\n")
                else:
                    line = (f"{ts}.{rng.randint(0, 999):03d}Z {rng.choice(LEVELS):5s} [{svc}] "
                            f"{rng.choice(messages)} worker={rng.randint(0, 15)}\n")
                lines.append(line)
                n += len(line)
        chunk = "".join(lines).encode()[:left]
        left -= len(chunk)
        yield chunk


def gen_logs(c: Corpus, words: list[str], budget: int) -> list[str]:
    rng = c.rng
    out = []
    i = 0
    while budget > 0:
        size = min(budget, c.scaled(10 * MIB, 50 * MIB))
        if budget - size < 4 * MIB * c.scale:  # fold a tiny remainder into this file
            size = budget
        svc = rng.choice(words)
        rel = os.path.join("var", "log", svc, f"{svc}.log.{i}" if i else f"{svc}.log")
        budget -= c.write_stream("logs", rel, log_chunks(rng, words, svc, size))
        out.append(rel)
        i += 1
    return out


PAGE = 8 * KIB


def db_chunks(rng: random.Random, words: list[str], size: int):
    """8 KiB pages: header, rows of structured records, opaque blobs, free space.

    Roughly: 10% of pages empty (zeroed, as after deletes), the rest filled
    with a mix of compressible row text and incompressible column data.
    """
    rows = [f"{rng.choice(words)}|{rng.choice(words)}@example.internal|{rng.choice(KEYWORDS)}|"
            f"{rng.randint(0, 10**6)}|active|".encode() for _ in range(4000)]
    n_pages = size // PAGE
    page_no = 0
    while page_no < n_pages:
        buf = []
        for _ in range(min(128, n_pages - page_no)):  # 1 MiB per chunk
            lsn = rng.getrandbits(48)
            hdr = struct.pack("<IQHH", page_no, lsn, 0, 0)  # page no, LSN, flags, checksum(unused)
            if rng.random() < 0.10:
                page = hdr + bytes(PAGE - len(hdr))
            else:
                body = []
                n = len(hdr)
                fill = rng.randint(PAGE // 2, PAGE - 256)
                while n < fill:
                    # Row: fixed binary header (id, timestamps) + text fields,
                    # sometimes followed by an opaque (random) column value.
                    row = struct.pack("<QII", rng.getrandbits(64), 1_700_000_000 + rng.getrandbits(24),
                                      rng.getrandbits(16)) + rng.choice(rows)
                    if rng.random() < 0.35:
                        row += rng.randbytes(rng.randint(32, 160))
                    body.append(row)
                    n += len(row)
                page = (hdr + b"".join(body))[:fill]
                page += bytes(PAGE - len(page))  # free space at the page end
            buf.append(page)
            page_no += 1
        yield b"".join(buf)


def gen_db(c: Corpus, words: list[str], budget: int) -> str:
    rel = os.path.join("var", "lib", "platformdb", "main.db")
    c.write_stream("database", rel, db_chunks(c.rng, words, max(PAGE, budget)))
    return rel


def random_chunks(rng: random.Random, size: int):
    left = size
    while left > 0:
        n = min(WRITE_CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def gen_binaries(c: Corpus, words: list[str], budget: int) -> list[tuple[str, int]]:
    rng = c.rng
    out = []
    while budget > 0:
        size = min(budget, c.scaled(50 * MIB, 200 * MIB))
        if budget - size < 16 * MIB * c.scale:
            size = budget
        name = f"{rng.choice(words)}-{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        rel = os.path.join("opt", "releases", name, rng.choice([f"{name}.bin", f"{name}.tar.zst", f"{name}.img"]))
        budget -= c.write_stream("binaries", rel, random_chunks(rng, size))
        out.append((rel, size))
    return out


def tree_size(path: str) -> tuple[int, int]:
    files = total = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            files += 1
            total += os.path.getsize(os.path.join(dirpath, n))
    return files, total


def gen_duplicates(c: Corpus, budget: int, binaries, logs, service_dirs) -> None:
    """Byte-identical copies of whole directories and of large files."""
    rng = c.rng
    candidates = []
    # One or two service trees (with their .git) copied, as in a stale checkout.
    for d in rng.sample(service_dirs, min(2, len(service_dirs))):
        candidates.append(("dir", d))
    # Large files: a release artifact kept twice, a rotated log copied.
    for rel, _ in sorted(binaries, key=lambda b: b[1]):
        candidates.append(("file", rel))
    for rel in logs[:2]:
        candidates.append(("file", rel))
    left = budget
    for kind, rel in candidates:
        src = c.path(rel)
        files, size = tree_size(src) if kind == "dir" else (1, os.path.getsize(src))
        if size > left:
            continue
        dst = c.path("backup", "old", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if kind == "dir":
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        c.account("duplicates", files, size)
        left -= size


# --------------------------------------------------------------------------

def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", help="output directory (must not exist or be empty)")
    ap.add_argument("--size-gib", type=float, default=DEFAULT_GIB, help="approximate total size (default 1.5)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = ap.parse_args()

    if args.size_gib <= 0:
        ap.error("--size-gib must be positive")
    if os.path.exists(args.dest) and os.listdir(args.dest):
        ap.error(f"{args.dest} exists and is not empty")
    os.makedirs(args.dest, exist_ok=True)

    total = int(args.size_gib * GIB)
    rng = random.Random(args.seed)
    c = Corpus(os.path.abspath(args.dest), rng, args.size_gib / DEFAULT_GIB)
    started = time.monotonic()

    pools = make_pools(rng)
    words = pools["_words"]
    service_dirs = gen_text_and_git(c, pools, int(total * SHARE_TEXT), int(total * SHARE_GIT))
    logs = gen_logs(c, words, int(total * SHARE_LOGS))
    gen_db(c, words, int(total * SHARE_DB))
    binaries = gen_binaries(c, words, int(total * SHARE_BIN))
    # Duplicates fill whatever is left of the requested total.
    gen_duplicates(c, total - c.bytes, binaries, logs, service_dirs)

    elapsed = time.monotonic() - started
    print(f"corpus: {c.root} (seed {args.seed}, requested {args.size_gib} GiB)")
    for kind, (n, b) in c.by_kind.items():
        print(f"  {kind:<11} {n:>8} files {human(b):>11}")
    print(f"total: {c.files} files, {c.bytes} bytes ({human(c.bytes)}) in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
