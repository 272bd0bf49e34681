#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (Debian's clang and libclang-rt-14-dev)
# and runs each for SECONDS (default 60): the configuration parser and the
# HTTP request handling of `leaksnek serve`. Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
for package in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
done
seconds=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in config request; do
  mkdir -p "build/fuzz/corpus/$target"  # grows here; fuzz/corpus/$target holds the seeds
  "build/fuzz/fuzz/${target}_fuzz" -max_total_time="$seconds" "build/fuzz/corpus/$target" "fuzz/corpus/$target"
done
