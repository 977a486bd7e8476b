#!/usr/bin/env bash
# Time to a usable sandbox: `bottle start AGENT --yes -- true` (render, CAs,
# compose up, sidecar readiness, provisioning, exec, teardown) side by side
# with what a user would otherwise run, `docker run --rm IMAGE true` (no
# sandbox at all), and a bare `docker-compose up -d` + `down` of the same
# rendered project (bottle's orchestration cost without its checks).
# `bottle render` writes that project with freshly minted CAs but no token
# files, so egress-proxy may exit early there; it still measures container
# creation and removal.
#
#   bench/launcher.sh [RUNS]          # default 5; needs `bottle images build` done
#
# Uses target/release/bottle (cargo build --release -p launcher). Prints
# the median wall time of each and the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs="${1:-5}"
bottle="${BOTTLE_BIN:-$root/target/release/bottle}"
[ -x "$bottle" ] || { echo "build first: cargo build --release -p launcher" >&2; exit 1; }
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/bottles" "$home/agents"
cat > "$home/bottles/bench.md" <<'MD'
---
egress:
  routes:
    - host: api.example.com
      auth: { scheme: bearer, token_ref: BENCH_TOKEN }
  pipelock: false
supervise: true
---
MD
printf -- '---\nbottle: bench\n---\n' > "$home/agents/bench.md"
export BOTTLE_HOME="$home" BENCH_TOKEN=bench-token

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() { # command...
    for _ in $(seq "$runs"); do
        local t0; t0=$(now)
        "$@" >/dev/null 2>&1
        awk -v a="$(now)" -v b="$t0" 'BEGIN {print a - b}'
    done | median
}

"$bottle" start bench --yes -- true >/dev/null 2>&1 # warm caches
bottle_s=$(time_runs "$bottle" start bench --yes -- true)
docker_s=$(time_runs docker run --rm bottle-agent:latest true)
"$bottle" render bench --out "$home/rendered" >/dev/null
if docker compose version >/dev/null 2>&1; then dc="docker compose"; else dc="docker-compose"; fi
project="$dc -p bench-raw -f $home/rendered/docker-compose.yml"
compose_s=$(time_runs sh -c "$project up -d && $project down --timeout 5")
$project down --timeout 5 >/dev/null 2>&1 || true

printf '%-44s %8s\n' "command (median of $runs)" "seconds"
printf '%-44s %8.2f\n' "docker run --rm bottle-agent true" "$docker_s"
printf '%-44s %8.2f\n' "docker-compose up -d + down (same project)" "$compose_s"
printf '%-44s %8.2f\n' "bottle start --yes -- true" "$bottle_s"
awk -v b="$bottle_s" -v d="$docker_s" -v c="$compose_s" \
    'BEGIN {printf "bottle / docker run: %.1fx   bottle / compose up+down: %.2fx\n", b / d, b / c}'
