#!/usr/bin/env bash
# Builds the leaksnek command line and runs its main job on the sample trace:
# what would GCRA at 10/s with bursts of 20 do to this minute of traffic?
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target leaksnek_exe
./build/default/leaksnek simulate --algorithm gcra --limit 10/s --burst 20 --summary examples/sample-trace.csv
