#!/usr/bin/env bash
# Peer comparison: snap versus restic on the same generated corpus.
#
# Usage: benches/compare.sh [--size-gib N] [--workdir DIR] [--corpus DIR]
#                           [--seed N] [--tools "snap restic"] [--keep]
#
#   --size-gib N   corpus size (default 1.5; 2.0 for --shape platform)
#   --shape S      mixed (benches/gen_corpus.py, default) or platform
#                  (benches/gen_platform.py: ~75k mostly small files)
#   --seed N       corpus seed (default 1)
#   --workdir DIR  where corpus, repositories, restores and logs go; must be
#                  empty or absent (default: a new dir under ${TMPDIR:-/var/tmp})
#   --corpus DIR   use this existing tree instead of generating one (never deleted)
#   --tools LIST   which tools to run, in order (default "snap restic")
#   --keep         keep the work directory (default: removed on exit)
#
# Environment:
#   SNAP_BIN         snap binary (default ./target/release/snap; built with
#                    `cargo build --release` if missing)
#   RESTIC_BIN       restic binary (default: restic on PATH; apt-installed if missing)
#   SNAP_PASSWORD, RESTIC_PASSWORD   repository passwords (default: a fixed test one)
#
# Per tool and on the same corpus: init a fresh repository; drop the page
# cache; first backup; drop cache; second backup of the unchanged tree; drop
# cache; full restore into an empty directory followed by `sync` (timed as
# one step).  Each step reports wall time, user+sys CPU and peak RSS from
# /usr/bin/time.  Restores are checked byte-for-byte against the corpus
# (diff -r); a mismatch makes the script exit non-zero after the report.
# Dropping the page cache needs a writable /proc/sys/vm/drop_caches (root,
# not in most containers); without it the script warns and the backup
# numbers are warm-cache numbers.
set -euo pipefail
export LC_ALL=C  # "." decimal point for printf/awk

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

SIZE_GIB=""
SHAPE=mixed
SEED=1
WORKDIR=""
CORPUS=""
TOOLS="snap restic"
KEEP=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "compare.sh: error: $*" >&2; exit 1; }
warn() { echo "compare.sh: warning: $*" >&2; }
log() { echo "==> $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --size-gib) SIZE_GIB=${2:?--size-gib needs a value}; shift 2 ;;
        --shape) SHAPE=${2:?--shape needs a value}; shift 2 ;;
        --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
        --workdir) WORKDIR=${2:?--workdir needs a value}; shift 2 ;;
        --corpus) CORPUS=${2:?--corpus needs a value}; shift 2 ;;
        --tools) TOOLS=${2:?--tools needs a value}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for t in $TOOLS; do
    [[ $t == snap || $t == restic ]] || die "--tools: unknown tool '$t'"
done
case "$SHAPE" in
    mixed) GENERATOR=gen_corpus.py; SIZE_GIB=${SIZE_GIB:-1.5} ;;
    platform) GENERATOR=gen_platform.py; SIZE_GIB=${SIZE_GIB:-2.0} ;;
    *) die "--shape: mixed or platform, not '$SHAPE'" ;;
esac
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- prerequisites

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=sudo; fi
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "$1 is missing and apt-get is not available; install it by hand"
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

TIME_BIN=/usr/bin/time
[[ -x $TIME_BIN ]] || apt_install time
command -v python3 >/dev/null || die "python3 is needed to generate the corpus"

SNAP_BIN=${SNAP_BIN:-$REPO_ROOT/target/release/snap}
if has_tool snap; then
    if [[ ! -x $SNAP_BIN ]]; then
        [[ $SNAP_BIN == "$REPO_ROOT/target/release/snap" ]] || die "SNAP_BIN=$SNAP_BIN is not executable"
        log "building snap (cargo build --release)"
        (cd "$REPO_ROOT" && cargo build --release)
    fi
    SNAP_BIN=$(realpath "$SNAP_BIN")
fi

RESTIC_BIN=${RESTIC_BIN:-restic}
if has_tool restic; then
    if ! command -v "$RESTIC_BIN" >/dev/null; then
        [[ $RESTIC_BIN == restic ]] || die "RESTIC_BIN=$RESTIC_BIN not found"
        apt_install restic
    fi
    RESTIC_BIN=$(command -v "$RESTIC_BIN")
fi

export SNAP_PASSWORD=${SNAP_PASSWORD:-snap-bench-password}
export RESTIC_PASSWORD=${RESTIC_PASSWORD:-snap-bench-password}

# ---------------------------------------------------------------- work dir

if [[ -z $WORKDIR ]]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/var/tmp}/snap-bench.XXXXXX")
else
    mkdir -p "$WORKDIR"
    [[ -z $(ls -A "$WORKDIR") ]] || die "--workdir $WORKDIR is not empty"
fi
WORKDIR=$(realpath "$WORKDIR")

cleanup() {
    local rc=$?
    if [[ $KEEP -eq 1 ]]; then
        echo "work directory kept: $WORKDIR" >&2
    else
        # The work dir was empty or new, so everything in it is ours; a
        # --corpus given by the user lives outside it and is not touched.
        rm -rf -- "$WORKDIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LOGDIR=$WORKDIR/logs
mkdir -p "$LOGDIR"

if [[ -n $CORPUS ]]; then
    [[ -d $CORPUS ]] || die "--corpus $CORPUS is not a directory"
    CORPUS=$(realpath "$CORPUS")
    CORPUS_DESC="existing tree $CORPUS"
else
    CORPUS_DESC="$GENERATOR --size-gib $SIZE_GIB --seed $SEED"
    CORPUS=$WORKDIR/corpus
    log "generating corpus ($GENERATOR, $SIZE_GIB GiB, seed $SEED) in $CORPUS"
    python3 "$SCRIPT_DIR/$GENERATOR" "$CORPUS" --size-gib "$SIZE_GIB" --seed "$SEED"
fi
# Sum of regular file sizes (du -sb would add directory sizes).
read -r CORPUS_FILES CORPUS_BYTES < <(find "$CORPUS" -type f -printf '%s\n' | awk '{n++; b += $1} END {print n + 0, b + 0}')

# Rough space check: corpus + two repositories + one restore at a time.
avail=$(df -PB1 "$WORKDIR" | awk 'NR==2 {print $4}')
if (( avail < 3 * CORPUS_BYTES )); then
    warn "only $((avail >> 20)) MiB free in $WORKDIR; about $((3 * CORPUS_BYTES >> 20)) MiB needed"
fi

# ---------------------------------------------------------------- measurement

DROP_WARNED=0
drop_caches() {
    sync
    if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        if [[ $DROP_WARNED -eq 0 ]]; then
            warn "cannot write /proc/sys/vm/drop_caches: page cache NOT dropped, runs are warm-cache"
            DROP_WARNED=1
        fi
    fi
}

# Results, keyed "tool:step" -> "wall user sys maxrss_kib".
declare -A RES
# run_step TOOL STEP CMD...: run CMD under /usr/bin/time, record and print.
run_step() {
    local tool=$1 step=$2; shift 2
    local tfile=$LOGDIR/$tool-$step.time out=$LOGDIR/$tool-$step.log wall user sys rss
    if ! "$TIME_BIN" -f '%e %U %S %M' -o "$tfile" "$@" >"$out" 2>&1; then
        echo "---- $tool $step failed: $* (last lines of $out; --keep keeps the logs)" >&2
        tail -n 30 "$out" >&2 || true
        exit 1
    fi
    # /usr/bin/time may prepend "Command exited..." lines; the numbers are last.
    RES[$tool:$step]=$(tail -n 1 "$tfile")
    read -r wall user sys rss <<<"${RES[$tool:$step]}"
    printf '    %-7s %-8s wall %8.2fs  cpu %8.2fs (user %.2f + sys %.2f)  peak RSS %7.1f MiB\n' \
        "$tool" "$step" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" \
        "$user" "$sys" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
}

# tool_cmd TOOL REPO ARGS...: set the array CMD to the tool's command line.
# restic keeps its local cache inside the work dir (it is part of how restic
# normally runs, and makes its unchanged re-backup faster).
tool_cmd() {
    local tool=$1 repo=$2; shift 2
    case "$tool" in
        snap) CMD=("$SNAP_BIN" -r "$repo" "$@") ;;
        restic) CMD=("$RESTIC_BIN" -r "$repo" --cache-dir "$WORKDIR/restic-cache" "$@") ;;
    esac
}

declare -A REPO_BYTES VERIFY
FAILED=0

bench_tool() {
    local tool=$1
    local repo=$WORKDIR/repo-$tool restore=$WORKDIR/restore-$tool
    log "$tool: $("${tool}_version")"

    tool_cmd "$tool" "$repo" init
    run_step "$tool" init "${CMD[@]}"

    drop_caches
    tool_cmd "$tool" "$repo" backup "$CORPUS"  # absolute path
    run_step "$tool" backup1 "${CMD[@]}"

    drop_caches
    run_step "$tool" backup2 "${CMD[@]}"      # unchanged tree

    mkdir "$restore"
    drop_caches
    tool_cmd "$tool" "$repo" restore latest --target "$restore"
    # The restore and the final sync are timed together, as one step.
    run_step "$tool" restore sh -c '"$@" && sync' sh "${CMD[@]}"

    REPO_BYTES[$tool]=$(du -sb "$repo" | cut -f1)
    printf '    %-7s repository size %s bytes (%.1f MiB)\n' "$tool" "${REPO_BYTES[$tool]}" \
        "$(awk -v b="${REPO_BYTES[$tool]}" 'BEGIN {print b / 1048576}')"

    # Both tools restore absolute paths beneath the target.
    if diff -r --no-dereference -q "$restore$CORPUS" "$CORPUS" >"$LOGDIR/$tool-diff.log" 2>&1; then
        VERIFY[$tool]=ok
        echo "    $tool restore is byte-identical to the corpus"
    else
        VERIFY[$tool]=MISMATCH
        FAILED=1
        echo "    $tool restore DIFFERS from the corpus (first lines of $LOGDIR/$tool-diff.log):" >&2
        head -n 20 "$LOGDIR/$tool-diff.log" >&2
    fi
    rm -rf -- "$restore"  # free the space before the next tool
}

snap_version() { { "$SNAP_BIN" --version 2>/dev/null || echo "snap ($SNAP_BIN)"; } | head -n 1; }
restic_version() { "$RESTIC_BIN" version 2>/dev/null | head -n 1; }

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
MACHINE="$(nproc) cores${CPU_MODEL:+ ($CPU_MODEL)}, $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), $(df -PT "$WORKDIR" | awk 'NR==2 {print $2}') on $(df -P "$WORKDIR" | awk 'NR==2 {print $1}')"
log "machine: $MACHINE"
log "corpus: $CORPUS ($CORPUS_FILES files, $CORPUS_BYTES bytes)"

VERSIONS=""
for tool in $TOOLS; do VERSIONS+="${VERSIONS:+, }$("${tool}_version")"; done

for tool in $TOOLS; do
    log "benchmarking $tool"
    bench_tool "$tool"
done

# ---------------------------------------------------------------- report

# Report helpers.  Each prints a value, or "-" / "n/a" / nothing when a
# number is missing (e.g. a tool that was not run).
# field TOOL STEP N: Nth recorded number (1 wall, 2 user, 3 sys, 4 RSS KiB).
field() {
    local v=${RES[$1:$2]:-}
    if [[ -n $v ]]; then awk -v n="$3" '{print $n}' <<<"$v"; fi
}
cpu() {  # user + sys seconds
    local u s
    u=$(field "$1" "$2" 2); s=$(field "$1" "$2" 3)
    if [[ -n $u ]]; then awk -v u="$u" -v s="$s" 'BEGIN {print u + s}'; fi
}
mib() {  # peak RSS in MiB
    local k
    k=$(field "$1" "$2" 4)
    if [[ -n $k ]]; then awk -v k="$k" 'BEGIN {print k / 1024}'; fi
}
speed() {  # restic wall / snap wall for STEP
    local sw rw
    sw=$(field snap "$1" 1); rw=$(field restic "$1" 1)
    if [[ -n $sw && -n $rw ]]; then awk -v a="$rw" -v b="$sw" 'BEGIN {if (b > 0) print a / b}'; fi
}
fmt() {  # fmt VALUE PRINTF-FORMAT
    if [[ -n $1 ]]; then awk -v x="$1" -v f="$2" 'BEGIN {printf f, x}'; else echo "-"; fi
}
bytes_mib() {
    if [[ -n $1 ]]; then awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; else echo "-"; fi
}
ratio() {  # ratio A B -> "A/Bx"
    if [[ -n $1 && -n $2 ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "-"}'
    else
        echo "-"
    fi
}
check_ge() {
    if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "PASS" : "FAIL"}'; else echo "n/a"; fi
}
check_le() {
    if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN {print (a <= b) ? "PASS" : "FAIL"}'; else echo "n/a"; fi
}
verdict() { echo "${1:-n/a}"; }

# Targets (see benches/README.md): minimum speedup (restic wall / snap wall).
declare -A TARGET=([backup1]=3.0 [backup2]=2.5 [restore]=1.7)
STEPS="init backup1 backup2 restore"
declare -A LABEL=([init]="init" [backup1]="first backup" [backup2]="unchanged re-backup" [restore]="restore + sync")

echo
echo "Side by side (wall times in seconds; speedup = restic wall / snap wall):"
printf '%-20s | %10s | %11s | %8s | %12s | %14s\n' step "snap wall" "restic wall" speedup "snap RSS MiB" "restic RSS MiB"
printf '%s\n' "---------------------+------------+-------------+----------+--------------+---------------"
for s in $STEPS; do
    sw=$(field snap "$s" 1); rw=$(field restic "$s" 1)
    printf '%-20s | %10s | %11s | %8s | %12s | %14s\n' "${LABEL[$s]}" \
        "$(fmt "$sw" %.2f)" "$(fmt "$rw" %.2f)" "$(ratio "$rw" "$sw")" \
        "$(fmt "$(mib snap "$s")" %.1f)" "$(fmt "$(mib restic "$s")" %.1f)"
done
# The first backup's CPU: seconds per GB of corpus, and cores kept busy.
for tool in snap restic; do
    c=$(cpu "$tool" backup1); w=$(field "$tool" backup1 1)
    if [[ -n $c && -n $w ]]; then
        printf '%-20s | %s\n' "$tool first backup" "$(awk -v c="$c" -v w="$w" -v b="$CORPUS_BYTES" 'BEGIN {printf "%.2f CPU-s per GB, %.2f cores busy", c / (b / 1e9), c / w}')"
    fi
done
# Repository row: its third column is the size ratio snap / restic.
printf '%-20s | %10s | %11s | %8s |\n' "repo MiB (snap/rst)" \
    "$(bytes_mib "${REPO_BYTES[snap]:-}")" "$(bytes_mib "${REPO_BYTES[restic]:-}")" \
    "$(ratio "${REPO_BYTES[snap]:-}" "${REPO_BYTES[restic]:-}")"

# Target checks (informational; only a restore mismatch fails the script).
# max_rss TOOL: largest peak RSS (MiB) over all steps, or "".
max_rss() {
    local s m max=""
    for s in $STEPS; do
        m=$(mib "$1" "$s")
        if [[ -n $m ]]; then max=$(awk -v a="$m" -v b="${max:-0}" 'BEGIN {print (a > b) ? a : b}'); fi
    done
    echo "$max"
}

# Markdown, ready to paste into benches/README.md.
echo
echo "Markdown:"
echo
echo "Machine: $MACHINE. Corpus: $CORPUS_DESC ($CORPUS_FILES files, $(awk -v b="$CORPUS_BYTES" 'BEGIN {printf "%.2f GiB", b / 1073741824}')). Versions: $VERSIONS. Page cache dropped between steps: $([[ $DROP_WARNED -eq 0 ]] && echo yes || echo "no (warm cache)"). $(date -u +%Y-%m-%d)."
echo
echo "| step | snap wall (s) | restic wall (s) | speedup | target | snap CPU (s) | restic CPU (s) | snap RSS (MiB) | restic RSS (MiB) |"
echo "|---|---:|---:|---:|---|---:|---:|---:|---:|"
for s in $STEPS; do
    sw=$(field snap "$s" 1); rw=$(field restic "$s" 1)
    tgt="-"
    if [[ -n ${TARGET[$s]:-} ]]; then tgt=">= ${TARGET[$s]}x: $(check_ge "$(speed "$s")" "${TARGET[$s]}")"; fi
    echo "| ${LABEL[$s]} | $(fmt "$sw" %.2f) | $(fmt "$rw" %.2f) | $(ratio "$rw" "$sw") | $tgt | $(fmt "$(cpu snap "$s")" %.2f) | $(fmt "$(cpu restic "$s")" %.2f) | $(fmt "$(mib snap "$s")" %.1f) | $(fmt "$(mib restic "$s")" %.1f) |"
done
echo
echo "| check | snap | restic | target |"
echo "|---|---:|---:|---|"
echo "| peak RSS, any step (MiB) | $(fmt "$(max_rss snap)" %.1f) | $(fmt "$(max_rss restic)" %.1f) | <= 100: $(check_le "$(max_rss snap)" 100) |"
echo "| repository size (MiB) | $(bytes_mib "${REPO_BYTES[snap]:-}") | $(bytes_mib "${REPO_BYTES[restic]:-}") | <= restic: $(check_le "${REPO_BYTES[snap]:-}" "${REPO_BYTES[restic]:-}") |"
echo "| restore byte-identical | $(verdict "${VERIFY[snap]:-}") | $(verdict "${VERIFY[restic]:-}") | required |"

if [[ $FAILED -ne 0 ]]; then
    die "a restore differs from the corpus (see above)"
fi
