#!/usr/bin/env bash
# Benchmark egress-proxy against a direct connection and against mitmproxy,
# in one run, on loopback: the same HTTPS workload (keep-alive GETs of a
# small body over 16 connections, over 1 connection for latency, and 1 MiB
# bodies over 4 connections) against an nginx origin with its own CA.
#
#   bench/egress-proxy.sh            # DURATION=10 by default (seconds per run)
#
# Needs: nginx, openssl, python3 and mitmdump (scripts/test-env installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${DURATION:-10}
warmup=${WARMUP:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
eval "$(scripts/test-env)"
mitmdump=${BOTTLE_TEST_MITMDUMP:?run scripts/test-env}

echo "==> building release binaries" >&2
cargo build --release --locked -q -p egress-proxy --bin egress-proxy
loadgen=$(cargo bench --locked -q -p egress-proxy --bench loadgen --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="loadgen" and m.get("executable"): print(m["executable"])')
proxy_bin="$CARGO_TARGET_DIR/release/egress-proxy"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

echo "==> origin: nginx with its own CA" >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-origin-ca \
    -keyout "$work/origin-ca-key.pem" -out "$work/origin-ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$work/origin-key.pem" -out "$work/origin.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/origin.csr" -CA "$work/origin-ca.pem" -CAkey "$work/origin-ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/origin.pem" 2>/dev/null
mkdir -p "$work/www/files"
head -c 1048576 /dev/urandom > "$work/www/files/1mib"
origin_port=$(port)
cat > "$work/nginx.conf" <<NGINX
daemon off; master_process off; worker_processes 1;
error_log $work/nginx-error.log warn; pid $work/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp-body; proxy_temp_path $work/tmp-proxy;
    fastcgi_temp_path $work/tmp-fastcgi; uwsgi_temp_path $work/tmp-uwsgi; scgi_temp_path $work/tmp-scgi;
    keepalive_requests 10000000; sendfile on;
    server {
        listen 127.0.0.1:$origin_port ssl http2;
        ssl_certificate $work/origin.pem; ssl_certificate_key $work/origin-key.pem;
        root $work/www;
        location /small { default_type text/plain; return 200 "a small response body of about one hundred bytes, like a typical JSON API answer {\"ok\":true}\n"; }
        location /files/ { }
    }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
wait_port "$origin_port"

echo "==> egress-proxy (release)" >&2
"$proxy_bin" ca init --out "$work/ca" >/dev/null
cat > "$work/routes.yaml" <<ROUTES
routes:
  - host: localhost
    port: $origin_port
    paths: [/small, /files/]
    methods: [GET]
    auth: {scheme: bearer, token_env: BENCH_TOKEN}
ROUTES
proxy_port=$(port)
env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy BENCH_TOKEN=bench RUST_LOG=warn \
    "$proxy_bin" run --listen "127.0.0.1:$proxy_port" --routes "$work/routes.yaml" \
    --ca-cert "$work/ca/ca.pem" --ca-key "$work/ca/ca-key.pem" --trust-ca "$work/origin-ca.pem" \
    --audit-log "$work/audit.jsonl" & proxy_pid=$!; pids+=($proxy_pid)
wait_port "$proxy_port"

echo "==> mitmdump (mitmproxy) as the alternative" >&2
mitm_port=$(port)
env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy \
    "$mitmdump" -q --listen-host 127.0.0.1 --listen-port "$mitm_port" --set confdir="$work/mitm" \
    --set ssl_verify_upstream_trusted_ca="$work/origin-ca.pem" & mitm_pid=$!; pids+=($mitm_pid)
wait_port "$mitm_port"
for _ in $(seq 1 100); do [ -f "$work/mitm/mitmproxy-ca-cert.pem" ] && break; sleep 0.1; done

run() { # label target workload connections -> JSON line
    local target=$1 path=$2 conns=$3 args=()
    case $target in
        direct) args=(--cacert "$work/origin-ca.pem") ;;
        egress-proxy) args=(--cacert "$work/ca/ca.pem" --proxy "127.0.0.1:$proxy_port") ;;
        mitmproxy) args=(--cacert "$work/mitm/mitmproxy-ca-cert.pem" --proxy "127.0.0.1:$mitm_port") ;;
    esac
    "$loadgen" --url "https://localhost:$origin_port$path" "${args[@]}" \
        --connections "$conns" --duration "$duration" --warmup "$warmup"
}
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }

results="$work/results"
: > "$results"
for workload in "small 16 /small" "latency 1 /small" "1mib 4 /files/1mib"; do
    set -- $workload
    for target in direct egress-proxy mitmproxy; do
        echo "==> $1 ($2 connections) via $target" >&2
        printf '%s %s %s\n' "$1" "$target" "$(run "$target" "$3" "$2")" >> "$results"
    done
done

python3 - "$results" "$(hwm $proxy_pid)" "$(hwm $mitm_pid)" "$duration" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    w, t, j = line.split(" ", 2)
    rows[(w, t)] = json.loads(j)
proxy_rss, mitm_rss, duration = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"duration {duration}s per run, loopback, {open('/proc/cpuinfo').read().count('processor')} cores\n")
print("| workload | via | req/s | p50 ms | p99 ms | MiB/s |")
print("|---|---|---:|---:|---:|---:|")
names = {"small": "small body, 16 conns", "latency": "small body, 1 conn", "1mib": "1 MiB body, 4 conns"}
for w in ["small", "latency", "1mib"]:
    for t in ["direct", "egress-proxy", "mitmproxy"]:
        r = rows[(w, t)]
        print(f"| {names[w]} | {t} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['mib_s']:.1f} |")
d, e, m = (rows[("small", t)] for t in ["direct", "egress-proxy", "mitmproxy"])
ld, le = rows[("latency", "direct")], rows[("latency", "egress-proxy")]
bd, be = rows[("1mib", "direct")], rows[("1mib", "egress-proxy")]
print()
print(f"egress-proxy / direct throughput (16 conns): {e['rps']/d['rps']:.2f}x   (target >= 0.5x)")
print(f"egress-proxy / mitmproxy throughput (16 conns): {e['rps']/max(m['rps'],1e-9):.0f}x   (target >= 100x)")
print(f"added p50 latency at 1 connection: {le['p50_ms']-ld['p50_ms']:.3f} ms   (target <= 0.2 ms)")
print(f"1 MiB streaming egress-proxy / direct: {be['mib_s']/bd['mib_s']:.2f}x   (target >= 0.7x)")
print(f"egress-proxy peak RSS (VmHWM): {proxy_rss} MiB   (target <= 20 MiB); mitmdump: {mitm_rss} MiB")
PY
