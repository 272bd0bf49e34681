#!/usr/bin/env bash
# Installs the Debian 12 packages leaksnek builds with, and any named as
# arguments (scripts/python_test.sh names the Python package's), if any is
# missing. Run by the other scripts; safe to run again.
set -euo pipefail

packages=(cmake ninja-build g++ clang-format pkg-config libgtest-dev libgmock-dev libbenchmark-dev libboost1.81-dev
  libhiredis-dev redis-server redis-tools libboost-json1.81-dev libboost-url1.81-dev libtomlplusplus-dev
  libyaml-cpp-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
