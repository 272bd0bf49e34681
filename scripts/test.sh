#!/usr/bin/env bash
# Builds and runs the tests: every test under AddressSanitizer + UBSan; the
# tests that run threads or asynchronous I/O (label "threads") under
# ThreadSanitizer; then every test in the default (RelWithDebInfo) build,
# then the Python package's pytest suite (scripts/python_test.sh). Installs
# its own Debian packages.
# About 26 minutes on 2 cores from a fresh clone (see README, "Building and
# testing"). `bash scripts/test.sh asan` runs one configuration (`python`: the Python tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

presets=("$@")
if ((${#presets[@]} == 0)); then presets=(asan tsan default python); fi
for preset in "${presets[@]}"; do
  echo "== $preset =="
  start=$SECONDS
  if [[ $preset == python ]]; then  # the Python package, built with Debian's Python (see README, "Python")
    bash scripts/python_test.sh
    echo "== $preset: $((SECONDS - start)) s =="
    continue
  fi
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset"
  echo "== $preset: $((SECONDS - start)) s =="
done
