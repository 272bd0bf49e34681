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
# redis-cli, redis-benchmark. Each case runs paired with the bare script and
# the table gives medians over the rounds (the host is shared and noisy).
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

# Each case is measured right after the bare script, in pairs, so that the
# host's noise (which moves both by up to 2x here) cancels in the ratio; the
# table gives the median over the rounds of each pair's figures and ratio.
declare -A runs
keep() { runs[$1]="${runs[$1]:-} $2"; }
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
bare_args=(1 'k:__rand_int__' decide '' 1 0 gcra 1 1000000 1000000 1000000)
for _ in $(seq "$rounds"); do
  while read -r name algorithm count period; do
    for mode in evalsha fcall; do
      # The bare script takes (and ignores) the same arguments: passing them
      # is part of any call, not of the decision.
      cli FLUSHALL >/dev/null
      if [ $mode = evalsha ]; then
        b=$(measure evalsha EVALSHA "$bare_sha" "${bare_args[@]}")
      else
        b=$(measure fcall FCALL leaksnek_bare "${bare_args[@]}")
      fi
      cli FLUSHALL >/dev/null
      if [ $mode = evalsha ]; then
        c=$(measure evalsha EVALSHA "$sha" 1 "k:__rand_int__" decide '' 1 0 "$algorithm" 1 "$count" "$period" "$count")
      else
        c=$(measure fcall FCALL leaksnek_bench 1 "k:__rand_int__" decide '' 1 0 "$algorithm" 1 "$count" "$period" "$count")
      fi
      keep "$mode bare" "$b"
      keep "$mode $name" "$c"
      keep "$mode $name ratio" "$(awk "BEGIN{print $c / $b}")"
    done
  done <<<"$cases"
done

echo "calls per run: $calls, pipeline 16, 1 client, 1000 keys; medians of $rounds rounds, each case paired with a bare run"
printf '%-16s %14s %8s %14s %8s\n' case 'evalsha us' ratio 'fcall us' ratio
printf '%-16s %14s %8s %14s %8s\n' bare "$(median "${runs["evalsha bare"]}")" 1.00 "$(median "${runs["fcall bare"]}")" 1.00
for name in $(cut -d' ' -f1 <<<"$cases"); do
  printf '%-16s %14s %8.2f %14s %8.2f\n' "$name" "$(median "${runs["evalsha $name"]}")" \
    "$(median "${runs["evalsha $name ratio"]}")" "$(median "${runs["fcall $name"]}")" "$(median "${runs["fcall $name ratio"]}")"
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
