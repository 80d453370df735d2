#!/usr/bin/env bash
# Builds snap, makes a small sample platform (config files, certificates, a git
# repository, some data, and, when Debian's etcd-server is installed, a local
# etcd holding Kubernetes-like keys), backs it up into an embedded local
# repository, breaks the platform, and restores it from the first snapshot,
# checking every byte and every key.
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

# The cluster state: a local etcd on free ports, stopped when the demo ends.
etcd_url=""
if command -v etcd >/dev/null; then
  read -r client_port peer_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
  etcd --name demo --data-dir "$work/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "demo=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  trap 'kill $etcd_pid 2>/dev/null || true' EXIT
  etcd_url="etcd://127.0.0.1:$client_port"
  for _ in $(seq 100); do
    curl -sf -X POST -d '{}' "http://127.0.0.1:$client_port/v3/maintenance/status" >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Keys as kube-apiserver writes them (JSON here, for readability).
  for ns in default shop; do
    for i in 1 2 3; do
      key=$(printf '/registry/pods/%s/web-%s' "$ns" "$i" | base64 -w0)
      value=$(printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%s","namespace":"%s"}}' "$i" "$ns" | base64 -w0)
      curl -sf -X POST -d "{\"key\":\"$key\",\"value\":\"$value\"}" "http://127.0.0.1:$client_port/v3/kv/put" >/dev/null
    done
  done
  echo "== etcd running at $etcd_url with 6 pods"
else
  echo "== etcd not installed (apt-get install etcd-server): the demo skips the cluster state"
fi

export SNAP_REPOSITORY="$work/repo" SNAP_PASSWORD="demo password"
echo "== snap init"
"$snap" init
echo "== snap backup (first)"
"$snap" backup "$platform" $etcd_url --tag demo
first=$("$snap" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')

echo "== breaking the platform"
rm -f "$platform/etc/ssl/private/server.key"
echo "replicas: 0" > "$platform/etc/app/config.yaml"
head -c 4096 /dev/urandom > "$platform/var/data/blobstore.bin"
if [ -n "$etcd_url" ]; then
  curl -sf -X POST -d "{\"key\":\"$(printf /registry/pods/shop/ | base64 -w0)\",\"range_end\":\"$(printf /registry/pods/shop0 | base64 -w0)\"}" \
    "http://127.0.0.1:$client_port/v3/kv/deleterange" >/dev/null
  echo "   (and deleted every pod of namespace shop from etcd)"
fi

echo "== snap backup (second, of the broken state)"
"$snap" backup "$platform" $etcd_url --tag broken
echo "== snap snapshots"
"$snap" snapshots
echo "== snap diff (what the breakage changed)"
"$snap" diff "${first:0:8}" latest
echo "== snap restore ${first:0:8} (the good state)"
"$snap" restore "${first:0:8}" --target "$work/restore"
diff -r "$work/original" "$work/restore$platform"
echo "== restored platform is identical to the original, byte for byte"
if [ -n "$etcd_url" ]; then
  echo "== snap restore ${first:0:8} --to $etcd_url --dry-run"
  "$snap" restore "${first:0:8}" --to "$etcd_url" --dry-run
  echo "== snap restore ${first:0:8} --to $etcd_url (verified by key count and digest)"
  "$snap" restore "${first:0:8}" --to "$etcd_url" --audit "$work/etcd-audit.jsonl"
  echo "   audit of the changes: $work/etcd-audit.jsonl"
fi
echo "== snap check --read-data"
"$snap" check --read-data
echo "   repository: $work/repo   restore: $work/restore$platform"
