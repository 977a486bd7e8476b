#!/usr/bin/env bash
# Benchmark supervise side by side with what a user would otherwise use, in one run:
#
#  1. MCP tool calls: supervise vs an MCP server on the official Python SDK
#     (bench/supervise-python-mcp.py), both stateless Streamable HTTP on
#     loopback, the same `list-egress-routes` call over 8 keep-alive connections
#     and over 1 (latency). supervise also parses and re-renders the routes.
#  2. Reading the queue: `supervise queue list --json` vs `jq -s` over the
#     same 2000 proposal files.
#  3. Decision latency: how long a waiting call takes to return after the
#     operator's answer is written (bounded by the 250 ms poll interval).
#
#   bench/supervise.sh            # DURATION=10 seconds per load run by default
#
# Needs: python3, jq and the Python MCP SDK (scripts/test-env installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${DURATION:-10}
warmup=${WARMUP:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
eval "$(scripts/test-env)"
python=${BOTTLE_TEST_MCP_PYTHON:?run scripts/test-env}

echo "==> building release binaries" >&2
cargo build --release --locked -q -p supervise --bin supervise
loadgen=$(cargo bench --locked -q -p supervise --bench mcp_load --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="mcp_load" and m.get("executable"): print(m["executable"])')
supervise="$CARGO_TARGET_DIR/release/supervise"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

mkdir -p "$work/current" "$work/queue" "$work/listq"
python3 - "$work/current/routes.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("routes:\n")
    for i in range(20):
        f.write(f"  - host: api{i}.example.com\n    paths: [/v1/, /v2/]\n    methods: [GET, POST]\n"
                f"    auth: {{scheme: bearer, token_env: TOKEN_{i}}}\n")
PY

echo "==> supervise (release) and the Python SDK server" >&2
sv_port=$(port)
RUST_LOG=warn "$supervise" run --listen "127.0.0.1:$sv_port" --queue "$work/queue" \
    --current-config "$work/current" --decision-timeout 60 & pids+=($!)
py_port=$(port)
env -u HTTP_PROXY -u http_proxy "$python" bench/supervise-python-mcp.py "$py_port" "$work/current/routes.yaml" \
    2>"$work/python.log" & pids+=($!)
wait_port "$sv_port"
wait_port "$py_port"

load() { "$loadgen" calls --url "http://127.0.0.1:$1/mcp" --tool list-egress-routes \
    --connections "$2" --duration "$duration" --warmup "$warmup"; }
echo "==> list-egress-routes, 8 connections" >&2
sv8=$(load "$sv_port" 8); py8=$(load "$py_port" 8)
echo "==> list-egress-routes, 1 connection" >&2
sv1=$(load "$sv_port" 1); py1=$(load "$py_port" 1)

echo "==> queue of 2000 proposals: supervise queue list --json vs jq -s" >&2
python3 - "$work/listq" <<'PY'
import json, os, sys
d = sys.argv[1]
for i in range(2000):
    pid = f"20260101-{i // 60 % 24:02d}{i % 60:02d}00-b{i:05d}"
    json.dump({"version": 1, "id": pid, "tool": "egress-block", "target": "routes.yaml",
               "created_at": f"2026-01-01T00:00:{i % 60:02d}.000Z", "justification": f"bench proposal {i}",
               "content": "routes:\n" + "  - host: a.example.com\n" * 40},
              open(os.path.join(d, f"{pid}.proposal.json"), "w"))
PY
TIMEFORMAT=%R
runs=10
sv_list=$( { time (for _ in $(seq $runs); do "$supervise" queue list --queue "$work/listq" --json >/dev/null; done) ; } 2>&1 )
jq_list=$( { time (for _ in $(seq $runs); do jq -s 'map({id, tool, created_at, justification})' "$work"/listq/*.proposal.json >/dev/null; done) ; } 2>&1 )

echo "==> decision latency (answer written -> waiting call returns)" >&2
decision=$("$loadgen" decision --url "http://127.0.0.1:$sv_port/mcp" --queue "$work/queue" --rounds 20)

python3 - "$sv8" "$py8" "$sv1" "$py1" "$sv_list" "$jq_list" "$runs" "$decision" <<'PY'
import json, sys
sv8, py8, sv1, py1 = (json.loads(a) for a in sys.argv[1:5])
sv_list, jq_list, runs = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
decision = json.loads(sys.argv[8])
print("| workload | supervise | Python MCP SDK | ratio |")
print("|---|---|---|---|")
print(f"| list-egress-routes, 8 conns, req/s | {sv8['rps']:.0f} | {py8['rps']:.0f} | {sv8['rps']/py8['rps']:.1f}x |")
print(f"| list-egress-routes, 8 conns, p99 ms | {sv8['p99_ms']:.2f} | {py8['p99_ms']:.2f} | {py8['p99_ms']/sv8['p99_ms']:.1f}x |")
print(f"| list-egress-routes, 1 conn, p50 ms | {sv1['p50_ms']:.2f} | {py1['p50_ms']:.2f} | {py1['p50_ms']/sv1['p50_ms']:.1f}x |")
print(f"| errors (both runs) | {sv8['errors'] + sv1['errors']} | {py8['errors'] + py1['errors']} | |")
print()
print("| workload | supervise queue list --json | jq -s | ratio |")
print("|---|---|---|---|")
print(f"| 2000 proposals, ms per listing | {sv_list/runs*1000:.0f} | {jq_list/runs*1000:.0f} | {jq_list/sv_list:.1f}x |")
print()
print(f"Decision latency over {decision['rounds']} rounds: p50 {decision['answer_to_return_p50_ms']:.0f} ms, "
      f"max {decision['answer_to_return_max_ms']:.0f} ms after the answer is written.")
PY
