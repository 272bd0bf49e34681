#!/usr/bin/env bash
# wrk against `leaksnek serve` (memory storage, and Redis) and, in the same run,
# nginx with limit_req answering the same requests: requests per second, p99
# latency and server CPU time per request. Loopback, keep-alive, 64
# connections, one hot key and 100,000 keys. Installs nginx, wrk and
# redis-server (Debian) if missing; needs the release build:
#   cmake --preset release && cmake --build --preset release --target leaksnek_exe
# Usage: bash bench/http/run.sh [SECONDS] [THREADS...]   (default 10 s per case, 1 thread)
# With THREADS (e.g. 1 2 4 8): for each N, `serve --threads N` against nginx
# with N workers, on the memory storage; on a machine with at least 2N cores
# the servers are pinned to cores 0..N-1 and wrk (N threads, 32N connections)
# to the others.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift || true
thread_counts=("$@")
for package in nginx wrk redis-server; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
done
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"' EXIT

# The same limit everywhere: 1,000,000 per second (never denies under this
# load, so every request does the full decision), per key.
cat >"$work/serve.toml" <<TOML
[policies.bench]
algorithm = "gcra"
limit = "1000000/s"
TOML

nginx_conf() {  # WORKERS
cat <<NGINX
worker_processes $1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  limit_req_zone \$arg_key zone=bench:64m rate=1000000r/s;
  server {
    listen 127.0.0.1:18081;
    # return runs before limit_req: hand off to a named location so the limit applies.
    location /v1/acquire { limit_req zone=bench burst=1000000 nodelay; try_files /nonexistent @ok; }
    location @ok { return 200 '{"allowed":true}'; }
  }
}
NGINX
}
nginx_conf 1 >"$work/nginx.conf"

cat >"$work/keys.lua" <<'LUA'
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/acquire?policy=bench&key=k" .. (counter % 100000))
end
LUA

cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
hz=$(getconf CLK_TCK)

wrk_threads=1 wrk_connections=64 wrk_prefix=()
run_case() {  # name "pids" url [script]
  local name=$1 pids=$2 url=$3 script=${4:-}
  local before after requests
  # shellcheck disable=SC2086
  before=$(cpu_ticks $pids)
  local args=(-t"$wrk_threads" -c"$wrk_connections" -d"${seconds}s" --latency)
  if [[ -n $script ]]; then args+=(-s "$script"); fi
  "${wrk_prefix[@]}" wrk "${args[@]}" "$url" >"$work/out"
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  requests=$(awk '/requests in/ {print $1}' "$work/out")
  printf '%-28s %12s req/s   p99 %8s   %6.1f us CPU/request\n' "$name" \
    "$(awk '/Requests\/sec/ {print $2}' "$work/out")" "$(awk '$1 == "99%" {print $2}' "$work/out")" \
    "$(echo "($after - $before) * 1000000 / $hz / $requests" | bc -l)"
}

if ((${#thread_counts[@]} > 0)); then
  cores=$(nproc)
  for n in "${thread_counts[@]}"; do
    server_prefix=() wrk_prefix=()
    if ((cores >= 2 * n)); then
      server_prefix=(taskset -c "0-$((n - 1))") wrk_prefix=(taskset -c "$n-$((cores - 1))")
    fi
    wrk_threads=$n wrk_connections=$((n > 1 ? 32 * n : 64))
    nginx_conf "$n" >"$work/nginx.conf"
    "${server_prefix[@]}" nginx -c "$work/nginx.conf"
    "${server_prefix[@]}" ./build/release/leaksnek serve --config "$work/serve.toml" --listen 127.0.0.1:18080 \
      --threads "$n" >"$work/serve.out" &
    serve_pid=$!
    sleep 0.5
    workers=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')
    echo "wrk -t$wrk_threads -c$wrk_connections -d${seconds}s, loopback, $cores cores, servers on ${server_prefix[*]:-any core}"
    run_case "nginx limit_req x$n, hot key" "$workers" "http://127.0.0.1:18081/v1/acquire?policy=bench&key=hot"
    run_case "leaksnek --threads $n, hot key" "$serve_pid" "http://127.0.0.1:18080/v1/acquire?policy=bench&key=hot"
    run_case "nginx limit_req x$n, 100k keys" "$workers" "http://127.0.0.1:18081" "$work/keys.lua"
    run_case "leaksnek --threads $n, 100k keys" "$serve_pid" "http://127.0.0.1:18080" "$work/keys.lua"
    kill "$serve_pid"
    nginx -s stop -c "$work/nginx.conf" 2>/dev/null
    wait "$serve_pid" || true
    sleep 0.5
  done
  exit 0
fi

# The memory cases: on 2 cores or more, the server on core 0 and wrk on core 1
# (where the scheduler puts them moved the figures by 1.3x between runs).
pin=() wrk_pin=()
if (($(nproc) >= 2)); then pin=(taskset -c 0) wrk_pin=(taskset -c 1); fi
"${pin[@]}" ./build/release/leaksnek serve --config "$work/serve.toml" --listen 127.0.0.1:18080 --threads 1 \
  >"$work/serve.out" &
serve_pid=$!
redis-server --port 18379 --save "" --appendonly no --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
sleep 0.5
./build/release/leaksnek serve --config "$work/serve.toml" --listen 127.0.0.1:18082 --threads 1 \
  --storage redis://127.0.0.1:18379 >"$work/serve-redis.out" &
serve_redis_pid=$!
"${pin[@]}" nginx -c "$work/nginx.conf"
sleep 0.5
nginx_pid=$(cat "$work/nginx.pid")
nginx_worker=$(pgrep -P "$nginx_pid" | head -1)

echo "wrk -t1 -c64 -d${seconds}s, loopback, $(nproc) cores; memory cases: servers on ${pin[*]:-any core}, wrk on ${wrk_pin[*]:-any core}"
wrk_prefix=("${wrk_pin[@]}")
run_case "nginx limit_req, hot key" "$nginx_worker" "http://127.0.0.1:18081/v1/acquire?policy=bench&key=hot"
run_case "leaksnek memory, hot key" "$serve_pid" "http://127.0.0.1:18080/v1/acquire?policy=bench&key=hot"
run_case "nginx limit_req, 100k keys" "$nginx_worker" "http://127.0.0.1:18081" "$work/keys.lua"
run_case "leaksnek memory, 100k keys" "$serve_pid" "http://127.0.0.1:18080" "$work/keys.lua"
wrk_prefix=()  # Redis, serve and wrk share the cores as the scheduler likes
run_case "leaksnek redis, hot key" "$serve_redis_pid" "http://127.0.0.1:18082/v1/acquire?policy=bench&key=hot"
run_case "leaksnek redis, 100k keys" "$serve_redis_pid" "http://127.0.0.1:18082" "$work/keys.lua"

# The server-side ceiling: redis-benchmark replaying serve's own EVALSHA on
# one connection with 64 in flight (redis-benchmark -c 1 -P 64), the command
# captured with MONITOR from one request to serve.
redis-cli -p 18379 MONITOR >"$work/monitor" &
monitor_pid=$!
sleep 0.3
exec 3<>/dev/tcp/127.0.0.1/18082
printf 'GET /v1/acquire?policy=bench&key=ceiling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
cat <&3 >/dev/null
exec 3>&-
sleep 0.3
kill "$monitor_pid"
mapfile -t command < <(python3 - "$work/monitor" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    args = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    if args and args[0].upper() == "EVALSHA":
        print("\n".join(args))
        break
PY
)
if ((${#command[@]} > 0)); then
  ceiling=$(redis-benchmark -p 18379 -c 1 -P 64 -n 400000 -q "${command[@]}" | tr '\r' '\n' |
    awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($i == "requests") print $(i - 1)}' | tail -1)
  printf '%-28s %12s decisions/s (redis-benchmark -c 1 -P 64 running serve'"'"'s EVALSHA)\n' "Redis ceiling" "$ceiling"
fi
kill "$redis_pid" "$serve_pid" "$serve_redis_pid"
