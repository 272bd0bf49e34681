#!/usr/bin/env bash
# Fails when a tracked C++ file is not formatted per .clang-format.
set -euo pipefail
cd "$1"
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find include src tools tests bench examples -name '*.[ch]pp')
clang-format --dry-run --Werror $files
