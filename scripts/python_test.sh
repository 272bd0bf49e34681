#!/usr/bin/env bash
# Builds the Python package and runs its tests (python/tests) with Debian's
# Python, /usr/bin/python3: installs the Debian packages it needs if missing
# (scripts/deps.sh), makes a fresh venv in build/python-venv
# (--system-site-packages, for Debian's pybind11, pytest, redis and limits),
# pip-installs the package (--no-build-isolation: nothing downloaded) and runs
# pytest. The extension compiles the C++ files it needs (core and sync Redis)
# at -O2: about a minute on 2 cores. Arguments go to pytest (e.g. -k seed).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh python3-dev python3-venv python3-pip python3-setuptools pybind11-dev python3-pybind11 \
  python3-pytest python3-redis python3-limits

venv=build/python-venv
# setuptools rebuilds only when a listed source changed; the core is headers.
rm -rf "$venv" build/lib.* build/temp.* build/bdist.* build/python-target
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --no-build-isolation --no-deps --quiet .
# The other way: --target, then import from there, with the Python a user
# runs (the first python3 on the PATH: Debian's on a plain Debian 12, a pyenv
# build on some machines, without the `wheel` package; the package's own
# build backend needs none).
user_python=$(command -v python3 || echo /usr/bin/python3)
if ! "$user_python" -c 'import sys, pip, setuptools; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "$user_python lacks pip or setuptools (or is older than 3.11): --target with /usr/bin/python3 instead"
  user_python=/usr/bin/python3
fi
"$user_python" -m pip install --no-build-isolation --no-deps --quiet --target build/python-target .
PYTHONPATH=build/python-target "$user_python" -c \
  "from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter; from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.memory_storage import MemoryStorage
limiter = LeakyBucketLimiter[str](rate_limit=rl('1/m'), rate_storage=MemoryStorage())
assert not limiter.limit_exceeded('k') and limiter.limit_exceeded('k')"
echo "installed with --target and imported by $user_python ($("$user_python" --version))"
# From outside the source tree, so that the installed package is the one tested.
cd build
"../$venv/bin/python" -m pytest -q -p no:cacheprovider ../python/tests "$@"
