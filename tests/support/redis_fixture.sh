#!/usr/bin/env bash
# Starts (start PORT DIR) or stops (stop PORT) a throwaway redis-server on a
# loopback port, for tests that need one running around them.
set -euo pipefail
case "$1" in
  start)
    redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true  # a leftover from an interrupted run
    redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$3/redis-$2.pid" --logfile "$3/redis-$2.log"
    for _ in $(seq 1 500); do
      if [[ $(redis-cli -p "$2" ping 2>/dev/null) == PONG ]]; then exit 0; fi
      sleep 0.01
    done
    echo "redis-server did not start on port $2" >&2
    exit 1
    ;;
  stop)
    redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true
    ;;
esac
