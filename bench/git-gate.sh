#!/usr/bin/env bash
# git-gate benchmark: the gate side by side with plain git over ssh, in one run.
#
#   bench/git-gate.sh [COMMITS] [FILES] [CORPUS_MB]
#
# Generates a repository (default 3000 commits, 5000 files), serves it from a
# loopback sshd, and measures with the real git client:
#   * clone: direct over ssh vs through the gate with a warm mirror
#   * fetch: nothing new, and one new upstream commit; direct vs gate
#   * push of a large change (new branch, 2000 files): direct vs gate (scanned)
#   * scanner throughput: `git-gate scan` over a generated source corpus
# Each timing is the median of 7 runs. Needs git, openssh-server and cargo.
# Ends with the targets (warm clone <= 1.3x direct; scanner >= 100 MB/s), each met or not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
commits=${1:-3000}
files=${2:-5000}
corpus_mb=${3:-256}
runs=7
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

echo "building git-gate (release)..." >&2
cargo build --release -q --manifest-path "$root/Cargo.toml" -p git-gate --bin git-gate --example bench_data
gate_bin=$CARGO_TARGET_DIR/release/git-gate
gen=$CARGO_TARGET_DIR/release/examples/bench_data
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$sshd_bin" ] || { echo "sshd not found; run scripts/test-env" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; exit 1; }
now_ns() { date +%s%N; }

# --- upstream: a real sshd on loopback ---------------------------------------------------------
mkdir -p "$work/sshd" "$work/up" "$work/home"
ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/host" -C host
ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/client" -C client
cp "$work/sshd/client.pub" "$work/sshd/authorized_keys"
user=$(id -un)
ssh_port=$(free_port)
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
cat >"$work/sshd/config" <<EOF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/sshd/host
PidFile $work/sshd/pid
AuthorizedKeysFile $work/sshd/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $user
AcceptEnv GIT_PROTOCOL
MaxStartups 100
# An empty HOME: the login shell skips the account's startup files, as on a
# hosting service's git account (here they would add ~200 ms to every session).
SetEnv HOME=$work/sshd/home
EOF
mkdir -p "$work/sshd/home"
"$sshd_bin" -D -e -f "$work/sshd/config" 2>"$work/sshd/log" &
pids+=($!)
wait_port "$ssh_port"
host_key=$(cut -d' ' -f1,2 "$work/sshd/host.pub")
echo "[127.0.0.1]:$ssh_port $host_key" >"$work/sshd/known_hosts"
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.invalid GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_SSH_COMMAND="ssh -F /dev/null -i $work/sshd/client -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$work/sshd/known_hosts"

echo "generating a repository: $commits commits, $files files..." >&2
git init -q --bare -b main "$work/up/app.git"
"$gen" repo "$commits" "$files" | git -C "$work/up/app.git" fast-import --quiet
git -C "$work/up/app.git" repack -adq
cp -a "$work/up/app.git" "$work/up/direct.git"
cp -a "$work/up/app.git" "$work/up/gated.git"
repo_mb=$(du -sm "$work/up/app.git" | cut -f1)

# --- the gate ------------------------------------------------------------------------------
gate_port=$(free_port)
cat >"$work/git-gate.yaml" <<EOF
listen: 127.0.0.1:$gate_port
data_dir: $work/gate-data
audit_log: $work/audit.jsonl
repos:
  - name: app
    upstream: ssh://$user@127.0.0.1:$ssh_port$work/up/app.git
    identity_file: $work/sshd/client
    known_host_key: "$host_key"
  - name: gated
    upstream: ssh://$user@127.0.0.1:$ssh_port$work/up/gated.git
    identity_file: $work/sshd/client
    known_host_key: "$host_key"
EOF
RUST_LOG=warn "$gate_bin" run --config "$work/git-gate.yaml" 2>"$work/gate.log" &
pids+=($!)
wait_port "$gate_port"
direct_url="ssh://$user@127.0.0.1:$ssh_port$work/up"
gate_url="git://127.0.0.1:$gate_port"
git ls-remote "$gate_url/app.git" >/dev/null
git ls-remote "$gate_url/gated.git" >/dev/null

# --- measurement helpers ---------------------------------------------------------------------
# time_ms CMD: run CMD once (eval'd); print its wall time in ms.
time_ms() {
    local s e
    s=$(now_ns)
    eval "$1" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
    e=$(now_ns)
    echo $(((e - s) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
# pair SETUP_A CMD_A SETUP_B CMD_B: run A and B $runs times each, alternating which goes first
# (so load on the machine and the previous run's disk writeback hit both alike); setups are
# untimed and end with `sync`. Prints "median_A median_B" in ms.
pair() {
    local a=() b=() i
    for i in $(seq "$runs"); do
        if ((i % 2)); then
            eval "$1; sync" >/dev/null 2>&1; a+=("$(time_ms "$2")")
            eval "$3; sync" >/dev/null 2>&1; b+=("$(time_ms "$4")")
        else
            eval "$3; sync" >/dev/null 2>&1; b+=("$(time_ms "$4")")
            eval "$1; sync" >/dev/null 2>&1; a+=("$(time_ms "$2")")
        fi
    done
    echo "$(median "${a[@]}") $(median "${b[@]}")"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
results=()
row() { results+=("$(printf '%-34s %9s ms %9s ms %8s' "$1" "$2" "$3" "$(ratio "$3" "$2")")"); }

echo "measuring clones..." >&2
read -r c_direct c_gate < <(pair "rm -rf $work/cd" "git clone -q $direct_url/app.git $work/cd" \
    "rm -rf $work/cg" "git clone -q $gate_url/app.git $work/cg")
row "clone (warm mirror)" "$c_direct" "$c_gate"
read -r n_direct n_gate < <(pair "rm -rf $work/nd" "git clone -q --no-checkout $direct_url/app.git $work/nd" \
    "rm -rf $work/ng" "git clone -q --no-checkout $gate_url/app.git $work/ng")
row "clone --no-checkout (transfer only)" "$n_direct" "$n_gate"

echo "measuring fetches..." >&2
git clone -q "$direct_url/app.git" "$work/fd"
git clone -q "$gate_url/app.git" "$work/fg"
git clone -q "$work/up/app.git" "$work/oob"
read -r f_direct f_gate < <(pair ":" "git -C $work/fd fetch -q" ":" "git -C $work/fg fetch -q")
row "fetch, nothing new" "$f_direct" "$f_gate"
n=0
new_commit() { n=$((n + 1)); echo "$n" >"$work/oob/oob.txt"; git -C "$work/oob" commit -qam "oob $n" 2>/dev/null || { git -C "$work/oob" add oob.txt; git -C "$work/oob" commit -qm "oob $n"; }; git -C "$work/oob" push -q origin main; }
read -r f1_direct f1_gate < <(pair "new_commit" "git -C $work/fd fetch -q" "new_commit" "git -C $work/fg fetch -q")
row "fetch, one new upstream commit" "$f1_direct" "$f1_gate"

echo "measuring pushes of a large change..." >&2
git clone -q "$direct_url/direct.git" "$work/pd"
git clone -q "$gate_url/gated.git" "$work/pg"
# Each run pushes a new branch carrying a fresh 2000-file change (same content both ways).
prepare_change() { # clone, run number
    git -C "$1" checkout -q -B "big$2" origin/main
    rm -rf "$1/generated"
    "$gen" change "$1" 2000 "$2"
    git -C "$1" add -A
    git -C "$1" commit -qm "large change $2"
}
ka=0 kb=0
read -r p_direct p_gate < <(pair 'ka=$((ka+1)); prepare_change $work/pd $ka' 'git -C $work/pd push -q origin big$ka' \
    'kb=$((kb+1)); prepare_change $work/pg $kb' 'git -C $work/pg push -q origin big$kb')
change_mb=$(du -sm "$work/pg/generated" | cut -f1)
row "push, new branch (${change_mb} MB change)" "$p_direct" "$p_gate"
scan_stats=$(grep '"event":"push"' "$work/audit.jsonl" | python3 -c '
import json, statistics, sys
recs = [json.loads(l) for l in sys.stdin]
kib = statistics.median(r["scan"]["bytes"] // 1024 for r in recs)
ms = statistics.median(r["scan"]["duration_ms"] for r in recs)
fwd = statistics.median(r["forward"]["duration_ms"] for r in recs)
print(f"{kib:.0f} KiB scanned in {ms:.0f} ms, forwarded upstream in {fwd:.0f} ms")')

echo "measuring scanner throughput (${corpus_mb} MB corpus)..." >&2
"$gen" corpus "$corpus_mb" >"$work/corpus.rs"
corpus_bytes=$(stat -c %s "$work/corpus.rs")
scan_runs=()
for _ in $(seq "$runs"); do scan_runs+=("$(time_ms "'$gate_bin' scan '$work/corpus.rs' || [ \$? = 1 ]")"); done
s_ms=$(median "${scan_runs[@]}")
findings=$("$gate_bin" scan "$work/corpus.rs" | wc -l || true)
mbps=$(python3 -c "print(f'{$corpus_bytes/1e6/($s_ms/1000):.0f}')")

echo
echo "git-gate benchmark: $commits commits, $files files (${repo_mb} MB packed), $(nproc) cores, median of $runs"
printf '%-34s %12s %12s %8s\n' "operation" "direct ssh" "via gate" "ratio"
printf '%s\n' "${results[@]}"
echo "inside the gate, per push (median): $scan_stats"
sync_stats=$(grep '"event":"fetch"' "$work/audit.jsonl" | python3 -c '
import json, statistics, sys
recs = [json.loads(l)["sync"] for l in sys.stdin]
for kind in ("skipped", "fetched"):
    d = [r["duration_ms"] for r in recs if r["result"] == kind]
    if d:
        print(f"{kind} {statistics.median(d):.0f} ms (n={len(d)})", end="; ")
')
echo "upstream sync before each request (median): ${sync_stats%; }"
echo "scanner: $((corpus_bytes / 1000000)) MB in ${s_ms} ms = ${mbps} MB/s ($findings planted findings)"

verdict() { python3 -c "print('met' if $1 else 'NOT met')"; }
clone_ratio=$(python3 -c "print(f'{$c_gate/$c_direct:.2f}')")
echo
echo "targets:"
printf '  %-34s %-12s %s\n' "warm clone <= 1.3x direct" "${clone_ratio}x" "$(verdict "$clone_ratio <= 1.3")"
printf '  %-34s %-12s %s\n' "scanner >= 100 MB/s" "${mbps} MB/s" "$(verdict "$mbps >= 100")"
