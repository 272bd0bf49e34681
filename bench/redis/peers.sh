#!/usr/bin/env bash
# Ours against a peer on Redis, in one run: rate-limiter-flexible (Node,
# RateLimiterRedis over ioredis, from npm) and the server's ceiling on one
# redis-server started here (free loopback port, --save "" --appendonly no),
# then ours (build/default/bench/leaksnek_redis_bench).
#
#   ceiling: a "bare-commands" script, exactly the commands of one of our
#            decisions (TIME, HMGET key 1.l 1.u, HSET key 1.l v 1.u v,
#            PEXPIRE key 60000, a 7-element reply), SCRIPT LOADed and called
#            with EVALSHA by redis-benchmark -c 1 -P 1 (N1 requests) and
#            -c 1 -P 16 (N64 requests);
#   rlf:     rlf_bench.js, one decision at a time (N1) and 64 in flight (N64);
#   ours' script on this same Redis: our decision script, taken from the
#            build (build/default/generated/decide_script.cpp), loaded as a
#            Redis Function the way the client loads it, called with FCALL by
#            redis-benchmark (GCRA and fixed window, -P 1 and -P 16): the
#            server's side of a decision, without our client;
#   ours:    the C++ benchmark binary, which cannot be pointed at a server: it
#            starts its own redis-server (the same binary, on this machine, in
#            this run) and measures sync try_acquire (GCRA, fixed window),
#            async GCRA with 64 in flight (there is no async fixed-window
#            case) and its own ceiling (a similar script without TIME).
# The machine is noisy and one-at-a-time figures swing 2-4x within minutes,
# so the ceiling, rlf and ours' sync/async cases run interleaved in ROUNDS
# rounds (ceiling, rlf, ours; default 3) and the table takes the median of
# each; ours' function and the binary's own ceilings (BM_Redis*, slow) run
# once, after the rounds.
# Server time per request comes from INFO commandstats before and after
# (the script lines: eval/evalsha/fcall, inner commands included).
# Then a table of ours / rlf / ceiling.
#
# Usage: bench/redis/peers.sh [N1 [N64 [ROUNDS]]]   (defaults 20000, 100000, 3)
# npm packages (bench/redis/package.json) go to
# ${XDG_CACHE_HOME:-$HOME/.cache}/leaksnek-bench-npm, installed once.
# LEAKSNEK_REDIS_BENCH overrides the binary's path.
set -euo pipefail

N1=${1:-20000}
N64=${2:-100000}
ROUNDS=${3:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OURS=${LEAKSNEK_REDIS_BENCH:-$ROOT/build/default/bench/leaksnek_redis_bench}
GENERATED=$(dirname "$(dirname "$OURS")")/generated/decide_script.cpp
NPM_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/leaksnek-bench-npm

if [[ ! -x $OURS ]]; then
  echo "peers.sh: $OURS does not exist: build it first (cmake --preset default && cmake --build --preset default)" >&2
  exit 1
fi
for tool in redis-server redis-cli redis-benchmark node npm; do
  command -v "$tool" >/dev/null || { echo "peers.sh: $tool is not installed" >&2; exit 1; }
done

# The peer's packages, outside git; reinstalled only when package.json changes.
if ! cmp -s "$HERE/package.json" "$NPM_DIR/package.json" || [[ ! -d $NPM_DIR/node_modules/rate-limiter-flexible ]]; then
  mkdir -p "$NPM_DIR"
  cp "$HERE/package.json" "$NPM_DIR/package.json"
  echo "# npm install into $NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error >&2
fi
export NODE_PATH=$NPM_DIR/node_modules

WORK=$(mktemp -d)
REDIS_PID=
cleanup() {
  [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --logfile "$WORK/redis.log" --daemonize no &
REDIS_PID=$!
for _ in $(seq 100); do
  [[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && break
  sleep 0.05
done
[[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] || { echo "peers.sh: redis-server did not start" >&2; exit 1; }
cli() { redis-cli -p "$PORT" "$@"; }

echo "# $(date -u +%FT%TZ) $(uname -n), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# redis-server $(redis-server --version | grep -o 'v=[^ ]*') at $(command -v redis-server), port $PORT; node $(node --version);" \
  "rate-limiter-flexible $(node -p 'require("rate-limiter-flexible/package.json").version')," \
  "ioredis $(node -p 'require("ioredis/package.json").version')"
echo "# N1=$N1 (one at a time, -P 1), N64=$N64 (64 in flight, -P 16), $ROUNDS rounds"
echo "# ours: $OURS, built $(date -u -r "$OURS" +%FT%TZ)"
# Other work on this machine skews every figure: name it.
busy=$(top -bn2 -d0.5 -w200 | awk '/^top -/ {frame++} frame == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 20 && $12 != "top" {printf "%s %s%%, ", $12, $9}')
echo "# other processes busy at the start (>= 20% CPU): ${busy:-none}"

# usec spent in script commands (eval*, fcall*) so far, inner commands included.
script_usec() {
  cli info commandstats | tr -d '\r' |
    awk -F'[:,=]' '/^cmdstat_(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro):/ {s += $5} END {printf "%d\n", s}'
}

# bench NAME REQUESTS PIPELINE COMMAND...: redis-benchmark -c 1; prints
# "NAME requests_per_s us_per_request server_us_per_request".
bench() {
  local name=$1 n=$2 pipeline=$3
  shift 3
  local before after rps
  before=$(script_usec)
  rps=$(redis-benchmark -p "$PORT" -c 1 -n "$n" -P "$pipeline" -q "$@" 2>/dev/null | tr '\r' '\n' |
    awk '/requests per second/ {for (i = 2; i <= NF; i++) if ($i == "requests") v = $(i - 1)} END {print v}')
  after=$(script_usec)
  awk -v name="$name" -v rps="$rps" -v us=$((after - before)) -v n="$n" \
    'BEGIN {printf "%s %.1f %.2f %.2f\n", name, rps, (rps > 0 ? 1e6 / rps : 0), us / n}'
}

# The same key and arguments as our GCRA decision in redis_bench.cpp.
ARGS=(decide '' 1 0 gcra 1 1000000000 1000000 1000000000)

BARE="local t = redis.call('TIME')
local v = redis.call('HMGET', KEYS[1], '1.l', '1.u')
redis.call('HSET', KEYS[1], '1.l', ARGV[3], '1.u', ARGV[4])
redis.call('PEXPIRE', KEYS[1], 60000)
return {'1', ARGV[7], '99', '0', '1000000', '0', t[1]}"
BARE_SHA=$(cli script load "$BARE")
cli evalsha "$BARE_SHA" 1 leaksnek:bench:ceiling "${ARGS[@]}" >/dev/null

# ours FILTER: the binary's cases matching FILTER; prints
# "ours NAME decisions_per_s us_per_decision" (requests for BM_Redis*).
ours() {
  echo "## ours: $OURS --benchmark_filter='$1' (on its own redis-server: $(command -v redis-server), same binary, this machine, this run)"
  "$OURS" --benchmark_filter="$1" --benchmark_out="$WORK/ours.json" --benchmark_out_format=json 2>&1 |
    grep -E '^BM_' || true
  node -e '
    for (const b of require(process.argv[1]).benchmarks) {
      const rate = b.decisions_per_s ?? b.requests_per_s;
      if (rate !== undefined) console.log(`ours ${b.name} ${rate.toFixed(1)} ${(1e6 / rate).toFixed(2)}`);
    }' "$WORK/ours.json"
}
OURS_FILTER='BM_SyncTryAcquire<(Gcra|FixedWindow)>|BM_AsyncPipelined<Gcra>/64'
if "$OURS" --benchmark_list_tests | grep -q '^BM_AsyncPipelined<FixedWindow>/64'; then
  OURS_FILTER='BM_SyncTryAcquire<(Gcra|FixedWindow)>|BM_AsyncPipelined<(Gcra|FixedWindow)>/64'
fi

for round in $(seq "$ROUNDS"); do
  echo "# ---- round $round of $ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "## ceiling: bare-commands script, EVALSHA, redis-benchmark -c 1 (name rps us/request server_us/request)"
  bench ceiling_P1 "$N1" 1 EVALSHA "$BARE_SHA" 1 leaksnek:bench:ceiling "${ARGS[@]}"
  bench ceiling_P16 "$N64" 16 EVALSHA "$BARE_SHA" 1 leaksnek:bench:ceiling "${ARGS[@]}"
  echo "## rate-limiter-flexible (mode decisions/s us/decision server time)"
  node "$HERE/rlf_bench.js" --port "$PORT" --n1 "$N1" --n64 "$N64" --inflight 64
  ours "$OURS_FILTER"
done | tee "$WORK/results.txt"

echo "# ---- once, load $(cut -d' ' -f1-3 /proc/loadavg)"
{
  # Ours' decision script as a Redis Function, as src/redis/sha1.cpp builds it.
  if [[ -f $GENERATED ]]; then
    echo "## ours' decision function (from $GENERATED) under redis-benchmark FCALL on this Redis"
    # The library src/redis/sha1.cpp builds: the body, then the last line's
    # "return NAME(KEYS, ARGV)" registered as a function.
    node -e '
      const text = require("fs").readFileSync(process.argv[1], "utf8");
      let body = text.slice(text.indexOf("R\"leaksnek_lua(") + 15, text.indexOf(")leaksnek_lua\"")).replace(/\n+$/, "");
      const start = body.lastIndexOf("\n") + 1;
      const m = /^return (\w+)\(KEYS, ARGV\)$/.exec(body.slice(start));
      if (!m) process.exit(1);
      process.stdout.write("#!lua name=leaksnek_peers\n" + body.slice(0, start) +
        `redis.register_function("leaksnek_peers_decide", function(keys, args) return ${m[1]}(keys, args) end)\n`);
    ' "$GENERATED" >"$WORK/library.lua" && entry=yes || entry=
    if [[ -n $entry ]]; then
      cli -x function load replace <"$WORK/library.lua" >/dev/null
      for algorithm in gcra fixed-window; do
        a=("${ARGS[@]}")
        a[4]=$algorithm
        allowed=$(cli fcall leaksnek_peers_decide 1 "leaksnek:bench:$algorithm" "${a[@]}" | sed -n 1p)
        [[ $allowed == 1 ]] || echo "# warning: $algorithm decision not allowed: $allowed"
        bench "ours_function_${algorithm}_P1" "$N1" 1 FCALL leaksnek_peers_decide 1 "leaksnek:bench:$algorithm" "${a[@]}"
        bench "ours_function_${algorithm}_P16" "$N64" 16 FCALL leaksnek_peers_decide 1 "leaksnek:bench:$algorithm" "${a[@]}"
      done
    else
      echo "# skipped: no 'return NAME(KEYS, ARGV)' entry line in $GENERATED"
    fi
  fi
} | tee -a "$WORK/results.txt"

cli shutdown nosave >/dev/null 2>&1 || true
wait "$REDIS_PID" 2>/dev/null || true
REDIS_PID=
ours 'BM_Redis' | tee -a "$WORK/results.txt"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The table.
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").map((l) => l.split(" "));
  // The median over the rounds of the lines that match.
  const get = (pred) => {
    const v = lines.filter(pred).map((l) => Number(l[l[0] === "ours" || l[0] === "rlf" ? 2 : 1])).sort((a, b) => a - b);
    return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const ours = (re) => get((l) => l[0] === "ours" && re.test(l[1]));
  const rlf = (mode) => get((l) => l[0] === "rlf" && l[1] === mode);
  const plain = (name) => get((l) => l[0] === name);
  const rows = [
    ["sync, one at a time", ours(/^BM_SyncTryAcquire<Gcra>/), ours(/^BM_SyncTryAcquire<FixedWindow>/), rlf("one_at_a_time"),
     plain("ceiling_P1"), ours(/^BM_RedisCeiling\/1\//), 0.9],
    ["async, 64 in flight", ours(/^BM_AsyncPipelined<Gcra>\/64/), ours(/^BM_AsyncPipelined<FixedWindow>\/64/), rlf("in_flight_64"),
     plain("ceiling_P16"), ours(/^BM_RedisCeiling\/16\//), 0.7],
  ];
  const f = (x) => Number.isFinite(x) ? `${Math.round(x)}/s ${(1e6 / x).toFixed(1)}us` : "n/a";
  const r = (a, b, target) => Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}x${a / b >= target ? "" : "!"}` : "n/a";
  console.log("## table: medians over the rounds (decisions/s and us per decision; ratio = ours/other by rate; ! = under the target:" +
    " 1.0x of rlf, 0.9x of the -P 1 ceiling sync, 0.7x of the -P 16 ceiling async)");
  console.log("## ceiling = bare-commands script on the shared Redis (-P 1 sync, -P 16 async);" +
    " own ceiling = the binary\u0027s similar script (no TIME) on its own redis-server, run once");
  console.log(["mode", "ours GCRA", "ours fixed window", "rlf", "ceiling", "own ceiling", "GCRA/rlf", "FW/rlf",
    "GCRA/ceiling", "FW/ceiling", "GCRA/own", "FW/own"].join(" | "));
  for (const [mode, g, w, p, c, own, t] of rows)
    console.log([mode, f(g), f(w), f(p), f(c), f(own), r(g, p, 1), r(w, p, 1), r(g, c, t), r(w, c, t), r(g, own, t), r(w, own, t)].join(" | "));
  // Server time per decision on the shared Redis (INFO commandstats, script lines).
  const server = (pred, field) => {
    const v = lines.filter(pred).map((l) => Number(field(l))).sort((a, b) => a - b);
    return v.length === 0 ? "n/a" : v[Math.floor((v.length - 1) / 2)].toFixed(2);
  };
  const named = (name) => server((l) => l[0] === name, (l) => l[3]);
  const rlfServer = (mode) => server((l) => l[0] === "rlf" && l[1] === mode, (l) => l[5].split("=")[1]);
  console.log("## server time per decision on the shared Redis, us (INFO commandstats: the script, inner commands included; median)");
  console.log("mode | ours function GCRA | ours function fixed window | rlf | bare-commands ceiling");
  console.log(["sync (-P 1)", named("ours_function_gcra_P1"), named("ours_function_fixed-window_P1"), rlfServer("one_at_a_time"), named("ceiling_P1")].join(" | "));
  console.log(["async (-P 16, 64 in flight)", named("ours_function_gcra_P16"), named("ours_function_fixed-window_P16"), rlfServer("in_flight_64"), named("ceiling_P16")].join(" | "));
' "$WORK/results.txt"
