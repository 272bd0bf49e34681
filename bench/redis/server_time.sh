#!/usr/bin/env bash
# Redis server time of one decision script call, per algorithm, against a bare
# script doing the same commands (TIME, HMGET, HSET, PEXPIRE, a 7-element
# reply), measured in the same run: usec_per_call from INFO commandstats, which
# counts the script's own commands too. Both as EVALSHA and as FCALL (the
# Redis Functions library production uses). Then one sliding-log denial on a
# 100,000-entry log, timed by SLOWLOG.
#
# usage: bench/redis/server_time.sh [calls per run, 50000] [rounds, 3]
# Starts its own redis-server on a free port; needs redis-server,
# redis-cli, redis-benchmark. Each figure is the best of the rounds (the host
# is shared: the least disturbed run is the closest to the script's cost).
set -euo pipefail

calls=${1:-50000}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
while redis-cli -p "$port" ping >/dev/null 2>&1; do port=$((port + 1)); done

cleanup() {
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port "$port" --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/pid" --dir "$dir" --logfile "$dir/log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
cli() { redis-cli -p "$port" "$@"; }

# The script as CMake joins it, and its library form: the last line
# (`return decide(KEYS, ARGV)`) replaced by the registration.
# LEAKSNEK_SCRIPT: another joined script to measure (e.g. an older version).
if [ -n "${LEAKSNEK_SCRIPT:-}" ]; then
  cp "$LEAKSNEK_SCRIPT" "$dir/decide.lua"
else
  for part in preamble numbers bucket fixed_window sliding_window sliding_log decide; do
    cat "$root/src/redis/script/$part.lua"
  done >"$dir/decide.lua"
fi
if [ "$(tail -n 1 "$dir/decide.lua")" != 'return decide(KEYS, ARGV)' ]; then
  echo "the script's last line is not 'return decide(KEYS, ARGV)'" >&2
  exit 1
fi
{
  echo '#!lua name=leaksnek_bench'
  sed '$d' "$dir/decide.lua"
  cat <<'EOF'
redis.register_function('leaksnek_bench', function(keys, args) return decide(keys, args) end)
-- Fills a sliding log: args[1] calls of cost 1 at times args[2] + k * args[3] us.
redis.register_function('leaksnek_bench_fill', function(keys, args)
  local n, t0, step = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  local a = {'decide', '', '1', '0', 'sliding-log', '1', args[4], args[5], args[4]}
  for k = 1, n do
    a[2] = string.format('%.0f', t0 + k * step)
    decide(keys, a)
  end
  return n
end)
EOF
} >"$dir/library.lua"

bare_body='local t = redis.call("TIME")
local v = redis.call("HMGET", KEYS[1], "1.l", "1.u")
redis.call("HSET", KEYS[1], "1.l", "1000", "1.u", t[1] .. t[2])
redis.call("PEXPIRE", KEYS[1], 1000)
return {1, 1000000, 999999, 0, 1000, 0, 1}'
sha=$(cli -x SCRIPT LOAD <"$dir/decide.lua")
bare_sha=$(cli SCRIPT LOAD "$bare_body")
loaded=$(cli -x FUNCTION LOAD REPLACE <"$dir/library.lua")
loaded+=" $(printf '#!lua name=leaksnek_bare\nredis.register_function("leaksnek_bare", function(KEYS, ARGV)\n%s\nend)\n' \
  "$bare_body" | cli -x FUNCTION LOAD REPLACE)"
if [ "$loaded" != 'leaksnek_bench leaksnek_bare' ]; then
  echo "FUNCTION LOAD failed: $loaded" >&2
  exit 1
fi

# usec per call of one redis-benchmark run of `command...` (its stat: $1).
measure() {
  local stat=$1
  shift
  cli CONFIG RESETSTAT >/dev/null
  redis-benchmark -p "$port" -n "$calls" -c 1 -P 16 -r 1000 "$@" >/dev/null
  cli INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$stat:.*usec_per_call=\([0-9.]*\).*/\1/p"
}

# Mostly allowed (a big limit over 1,000 keys): the full path, with writes.
# name | algorithm | limit count | period us
cases='gcra gcra 1000000 1000000
token-bucket token-bucket 1000000 1000000
leaky-bucket leaky-bucket 1000000 1000000
fixed-window fixed-window 1000000 1000000
sliding-window sliding-window 1000000 1000000
sliding-log sliding-log 1000000 1000000
gcra-denied gcra 1 3600000000'

declare -A best
keep_best() {
  local k=$1 v=$2
  if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($v < ${best[$k]})}"; then best[$k]=$v; fi
}
for _ in $(seq "$rounds"); do
  cli FLUSHALL >/dev/null
  # The bare script takes (and ignores) the same arguments: passing them is
  # part of any call, not of the decision.
  keep_best "evalsha bare" "$(measure evalsha EVALSHA "$bare_sha" 1 'k:__rand_int__' decide '' 1 0 gcra 1 1000000 1000000 1000000)"
  keep_best "fcall bare" "$(measure fcall FCALL leaksnek_bare 1 'k:__rand_int__' decide '' 1 0 gcra 1 1000000 1000000 1000000)"
  while read -r name algorithm count period; do
    cli FLUSHALL >/dev/null
    keep_best "evalsha $name" "$(measure evalsha EVALSHA "$sha" 1 "k:__rand_int__" decide '' 1 0 \
      "$algorithm" 1 "$count" "$period" "$count")"
    cli FLUSHALL >/dev/null
    keep_best "fcall $name" "$(measure fcall FCALL leaksnek_bench 1 "k:__rand_int__" decide '' 1 0 \
      "$algorithm" 1 "$count" "$period" "$count")"
  done <<<"$cases"
done

echo "calls per run: $calls, pipeline 16, 1 client, 1000 keys; best of $rounds rounds"
printf '%-16s %14s %8s %14s %8s\n' case 'evalsha us' ratio 'fcall us' ratio
for name in bare $(cut -d' ' -f1 <<<"$cases"); do
  e=${best["evalsha $name"]} f=${best["fcall $name"]}
  printf '%-16s %14s %8.2f %14s %8.2f\n' "$name" "$e" "$(awk "BEGIN{print $e / ${best["evalsha bare"]}}")" \
    "$f" "$(awk "BEGIN{print $f / ${best["fcall bare"]}}")"
done

# A 100,000-entry sliding log (100,000 per hour, cost 1 each, 30 ms apart),
# filled through the script itself, then denials of large costs.
t0=1790000000000000
cli FLUSHALL >/dev/null
for chunk in $(seq 0 9); do
  cli FCALL leaksnek_bench_fill 1 biglog 10000 $((t0 + chunk * 10000 * 30000)) 30000 100000 3600000000 >/dev/null
done
now=$((t0 + 100000 * 30000 + 1))
echo
echo "sliding log of 100,000 entries (hash fields: $(cli HLEN biglog)); server time of one denial, us:"
echo "(first: one call alone, caches cold; warm: the mean of 500 pipelined, when the first took under 10 ms)"
printf '%-12s %-8s %10s %10s   %s\n' cost command first warm reply
for cost in 100000 50000 1; do
  for how in evalsha fcall; do
    if [ "$how" = evalsha ]; then call=(EVALSHA "$sha"); else call=(FCALL leaksnek_bench); fi
    args=(1 biglog decide "$now" "$cost" 0 sliding-log 1 100000 3600000000 100000)
    cli CONFIG RESETSTAT >/dev/null
    reply=$(cli "${call[@]}" "${args[@]}" | tr '\n' ' ')
    first=$(cli INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$how:calls=1,usec=\([0-9]*\),.*/\1/p")
    warm=-
    if [ "$first" -lt 10000 ]; then
      cli CONFIG RESETSTAT >/dev/null
      redis-benchmark -p "$port" -n 500 -c 1 -P 16 "${call[@]}" "${args[@]}" >/dev/null
      warm=$(cli INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$how:.*usec_per_call=\([0-9.]*\).*/\1/p")
    fi
    printf '%-12s %-8s %10s %10s   %s\n' "$cost" "$how" "$first" "$warm" "$reply"
  done
done
