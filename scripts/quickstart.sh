#!/usr/bin/env bash
# Builds the leaksnek command line and starts its main job: the HTTP rate
# limit service on the in-memory storage, with the policies of
# examples/serve.toml, on 127.0.0.1:8080 (Ctrl-C or SIGTERM stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target leaksnek_exe
exec ./build/default/leaksnek serve --config examples/serve.toml "$@"
