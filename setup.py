"""Builds the leaksnek Python package: the seed's API (python/leaksnek) on the C++ core.

pip install --no-build-isolation .   (Debian 12: python3-pybind11 or pybind11-dev, python3-dev)
"""
import os

from setuptools import Extension, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def pybind11_include() -> str:
    # Debian's python3-pybind11 serves /usr/bin/python3; another Python (a
    # pyenv build) finds pybind11-dev's headers in /usr/include instead.
    try:
        import pybind11

        return pybind11.get_include()
    except ImportError:
        if os.path.exists("/usr/include/pybind11/pybind11.h"):
            return "/usr/include"
        raise RuntimeError("pybind11 not found: apt-get install pybind11-dev python3-pybind11") from None


def decide_script() -> str:
    # The Redis decision script, joined from its parts as CMakeLists.txt does.
    parts = ["preamble", "numbers", "bucket", "fixed_window", "sliding_window", "sliding_log", "decide"]
    lua = "".join(open(os.path.join(ROOT, "src/redis/script", f"{part}.lua")).read() for part in parts)
    template = open(os.path.join(ROOT, "src/redis/decide_script.cpp.in")).read()
    target = os.path.join("build", "python-generated", "decide_script.cpp")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    text = template.replace("@DECIDE_LUA@", lua)
    if not os.path.exists(target) or open(target).read() != text:
        with open(target, "w") as out:
            out.write(text)
    return target


REDIS_SOURCES = [f"src/redis/{name}.cpp" for name in ["client", "cluster", "leases", "session", "sha1", "storage"]]

extension = Extension(
    "leaksnek._leaksnek",
    sources=["python/src/module.cpp", "src/rate_limit.cpp", "src/storage_error.cpp", *REDIS_SOURCES, decide_script()],
    include_dirs=[pybind11_include(), os.path.join(ROOT, "include")],
    libraries=["hiredis"],
    language="c++",
    extra_compile_args=["-std=c++20", "-O2", "-fvisibility=hidden", "-g0"],
)

setup(
    ext_modules=[extension],
    package_dir={"": "python"},
)
