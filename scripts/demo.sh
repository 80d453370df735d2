#!/usr/bin/env bash
# Builds snap, makes a small sample platform (config files, certificates, a git
# repository, some data), backs it up into an embedded local repository, breaks
# the platform, and restores it from the first snapshot, checking every byte.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${SNAP_DEMO_DIR:-/tmp/snap-demo}
rm -rf "$work"
mkdir -p "$work"
echo "== building snap (release)"
cargo build --release --quiet
snap="$PWD/target/release/snap"

platform="$work/platform"
mkdir -p "$platform"/{etc/app,etc/ssl/private,var/data,repos}
cat > "$platform/etc/app/config.yaml" <<'YAML'
cluster: demo
replicas: 3
endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
YAML
echo "127.0.0.1 localhost" > "$platform/etc/hosts"
head -c 2048 /dev/urandom > "$platform/etc/ssl/private/server.key"
chmod 600 "$platform/etc/ssl/private/server.key"
head -c 1200 /dev/urandom | base64 > "$platform/etc/ssl/server.crt"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$platform/var/data/blobstore.bin"
seq 1 200000 > "$platform/var/data/events.log"
ln -s ../etc/app/config.yaml "$platform/var/config-link"
if command -v git >/dev/null; then
  git -c init.defaultBranch=main init -q "$platform/repos/app"
  echo "# app" > "$platform/repos/app/README.md"
  git -C "$platform/repos/app" add README.md
  git -C "$platform/repos/app" -c user.name=demo -c user.email=demo@example.invalid commit -qm "first commit"
fi
cp -a "$platform" "$work/original"

export SNAP_REPOSITORY="$work/repo" SNAP_PASSWORD="demo password"
echo "== snap init"
"$snap" init
echo "== snap backup (first)"
"$snap" backup "$platform" --tag demo
first=$("$snap" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')

echo "== breaking the platform"
rm -f "$platform/etc/ssl/private/server.key"
echo "replicas: 0" > "$platform/etc/app/config.yaml"
head -c 4096 /dev/urandom > "$platform/var/data/blobstore.bin"

echo "== snap backup (second, of the broken state)"
"$snap" backup "$platform" --tag broken
echo "== snap snapshots"
"$snap" snapshots
echo "== snap diff (what the breakage changed)"
"$snap" diff "${first:0:8}" latest
echo "== snap restore ${first:0:8} (the good state)"
"$snap" restore "${first:0:8}" --target "$work/restore"
diff -r "$work/original" "$work/restore$platform"
echo "== restored platform is identical to the original, byte for byte"
echo "== snap check --read-data"
"$snap" check --read-data
echo "   repository: $work/repo   restore: $work/restore$platform"
