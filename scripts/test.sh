#!/usr/bin/env bash
# Builds and runs every test: under AddressSanitizer + UBSan, under
# ThreadSanitizer, then the default (RelWithDebInfo) build, whose CTest summary
# ends the output. Installs its own Debian packages. About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

presets=("$@")
if ((${#presets[@]} == 0)); then presets=(asan tsan default); fi
for preset in "${presets[@]}"; do
  echo "== $preset =="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset"
done
