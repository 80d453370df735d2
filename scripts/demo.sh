#!/usr/bin/env bash
# Builds snap, makes a small sample platform (a config folder with
# certificates, two git repositories on a local "git server", a data folder,
# and, when Debian's etcd-server is installed, a local etcd holding
# Kubernetes-like keys), names it in a platform profile, backs it all up into
# one snapshot in an embedded local repository, breaks every part, and
# restores the platform in place from that snapshot, checking every byte,
# ref and key.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${SNAP_DEMO_DIR:-/tmp/snap-demo}
if [ -f "$work/etcd.pid" ]; then kill "$(cat "$work/etcd.pid")" 2>/dev/null || true; fi
rm -rf "$work"
mkdir -p "$work"
echo "== building snap (release)"
cargo build --release --quiet
snap="$PWD/target/release/snap"
export GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.invalid \
  GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid

platform="$work/platform"
mkdir -p "$platform"/{etc/app,etc/pki/private,var/data,git}
cat > "$platform/etc/app/config.yaml" <<'YAML'
cluster: demo
replicas: 3
endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
YAML
echo "127.0.0.1 localhost" > "$platform/etc/hosts"
head -c 2048 /dev/urandom > "$platform/etc/pki/private/server.key"
chmod 600 "$platform/etc/pki/private/server.key"
head -c 1200 /dev/urandom | base64 > "$platform/etc/pki/server.crt"
ln -s ../pki/server.crt "$platform/etc/app/tls.crt"
echo "scratch" > "$platform/etc/app/config.yaml.swp"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$platform/var/data/blobstore.bin"
seq 1 200000 > "$platform/var/data/events.log"

# The git server: two bare repositories, filled from work trees.
for name in apps infra; do
  git init -q --bare -b main "$platform/git/$name.git"
  git clone -q "$platform/git/$name.git" "$work/clone-$name" 2>/dev/null
  for i in 1 2 3; do
    echo "$name change $i" >> "$work/clone-$name/README.md"
    git -C "$work/clone-$name" add README.md
    git -C "$work/clone-$name" commit -qm "$name: change $i"
  done
  git -C "$work/clone-$name" tag -a v1 -m "release 1"
  git -C "$work/clone-$name" branch feature
  git -C "$work/clone-$name" push -q --all origin
  git -C "$work/clone-$name" push -q --tags origin
done

# The cluster state: a local etcd on free ports, stopped when the demo ends.
etcd_section=""
if command -v etcd >/dev/null; then
  read -r client_port peer_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
  etcd --name demo --data-dir "$work/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "demo=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
  echo $! > "$work/etcd.pid"
  trap 'kill $(cat "$work/etcd.pid") 2>/dev/null || true' EXIT
  etcd_api="http://127.0.0.1:$client_port/v3"
  for _ in $(seq 100); do
    curl -sf -X POST -d '{}' "$etcd_api/maintenance/status" >/dev/null 2>&1 && break
    sleep 0.1
  done
  put() { curl -sf -X POST -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\",\"value\":\"$(printf %s "$2" | base64 -w0)\"}" "$etcd_api/kv/put" >/dev/null; }
  # Keys as kube-apiserver writes them (JSON here, for readability).
  for ns in default shop; do
    for i in 1 2 3; do
      put "/registry/pods/$ns/web-$i" "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-$i\",\"namespace\":\"$ns\"}}"
    done
  done
  etcd_section="[etcd]
location = \"etcd://127.0.0.1:$client_port\""
  echo "== etcd running at 127.0.0.1:$client_port with 6 pods"
else
  echo "== etcd not installed (apt-get install etcd-server): the demo leaves the cluster state out"
fi

# The platform profile (examples/platform.toml documents every setting).
cat > "$work/platform.toml" <<TOML
name = "demo"

[repository]
location = "repo"                     # relative to this file: $work/repo
password_file = "password"

[snapshot]
tags = ["demo"]

$etcd_section

[git]
path = "platform/git"
push = "file://$platform/git/{repo}.git"

[[files]]
path = "platform/etc"
exclude = ["*.swp"]

[[files]]
path = "platform/var/data"
TOML
echo "demo password" > "$work/password"
cat "$work/platform.toml"

# What the platform holds now, to compare with after the restore.
state() {
  (cd "$platform" && find etc var -path '*.swp' -prune -o -print0 | sort -z | xargs -0 stat -c '%n %a %s' &&
   find etc var -type f ! -name '*.swp' -print0 | sort -z | xargs -0 sha256sum)
  for name in apps infra; do git --git-dir "$platform/git/$name.git" for-each-ref --format="$name %(refname) %(objectname)"; done
  git --git-dir "$platform/git/apps.git" symbolic-ref HEAD
  if [ -n "$etcd_section" ]; then
    curl -sf -X POST -d "{\"key\":\"AA==\",\"range_end\":\"AA==\"}" "$etcd_api/kv/range" |
      python3 -c 'import json,sys,base64; [print(base64.b64decode(k["key"]).decode(), base64.b64decode(k["value"]).decode()) for k in json.load(sys.stdin).get("kvs",[])]'
  fi
}
state > "$work/state-before"

snapp() { "$snap" --password-file "$work/password" -r "$work/repo" "$@"; }
echo "== snap init"
snapp init
echo "== snap backup --profile platform.toml"
"$snap" backup --profile "$work/platform.toml"
first=$(snapp snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"][:8])')
echo "== the manifest lists each source with its kind, version and resource count"
snapp cat snapshot "$first" | python3 -c 'import json,sys; [print("  ", s["kind"], s["location"], s.get("version", ""), s["resources"]) for s in json.load(sys.stdin)["sources"]]'

echo "== breaking the platform"
rm -f "$platform/etc/pki/private/server.key"
echo "replicas: 0" > "$platform/etc/app/config.yaml"
echo "stray" > "$platform/etc/app/left-over.conf"
head -c 4096 /dev/urandom > "$platform/var/data/blobstore.bin"
git -C "$work/clone-apps" reset -q --hard HEAD~2
git -C "$work/clone-apps" push -q --force origin main
git -C "$work/clone-apps" push -q origin :refs/tags/v1 HEAD:refs/heads/hotfix
echo "   files: a key deleted, a config changed, a stray file added, data overwritten"
echo "   git: apps main rewound by two commits, tag v1 deleted, branch hotfix added"
if [ -n "$etcd_section" ]; then
  curl -sf -X POST -d "{\"key\":\"$(printf /registry/pods/shop/ | base64 -w0)\",\"range_end\":\"$(printf /registry/pods/shop0 | base64 -w0)\"}" \
    "$etcd_api/kv/deleterange" >/dev/null
  put /registry/pods/default/web-1 '{"kind":"Pod","broken":true}'
  put /registry/pods/default/intruder '{"kind":"Pod"}'
  echo "   etcd: namespace shop deleted, web-1 changed, a pod added"
fi

echo "== snap backup --profile platform.toml (the broken state)"
"$snap" backup --profile "$work/platform.toml" --quiet
echo "== snap diff $first latest"
snapp diff "$first" latest
echo "== snap restore $first --profile platform.toml --dry-run (the whole plan; nothing changes)"
"$snap" restore "$first" --profile "$work/platform.toml" --dry-run
echo "== snap restore $first --profile platform.toml"
"$snap" restore "$first" --profile "$work/platform.toml"
state > "$work/state-after"
diff "$work/state-before" "$work/state-after"
echo "== the platform is back: every file, mode, ref and key as before the breakage"
echo "== snap check --read-data"
snapp check --read-data
echo "   profile: $work/platform.toml   repository: $work/repo"
