#!/usr/bin/env bash
# Builds and runs the tests: every test under AddressSanitizer + UBSan; the
# tests that run threads or asynchronous I/O (label "threads") under
# ThreadSanitizer; then every test in the default (RelWithDebInfo) build,
# whose CTest summary ends the output. Installs its own Debian packages.
# About 26 minutes on 2 cores from a fresh clone (see README, "Building and
# testing"). `bash scripts/test.sh asan` runs one configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

presets=("$@")
if ((${#presets[@]} == 0)); then presets=(asan tsan default); fi
for preset in "${presets[@]}"; do
  echo "== $preset =="
  start=$SECONDS
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset"
  echo "== $preset: $((SECONDS - start)) s =="
done
