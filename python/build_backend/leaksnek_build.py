"""The package's PEP 517 build backend: setuptools builds the files, this module writes the wheel.

setuptools before 70.1 (Debian 12 has 66, a pyenv 3.11 has 65) needs the `wheel` package for
bdist_wheel, which a venv of a Python other than Debian's lacks and which no index here serves. A
wheel is a zip of the built files and a .dist-info folder (PEP 427), written here with the standard
library alone, so `pip install --no-build-isolation .` works with whichever Python runs it. The
project's metadata is read from pyproject.toml; sdists and editable installs are setuptools'.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from pathlib import Path

from setuptools import build_meta as _setuptools

ROOT = Path(__file__).resolve().parents[2]

get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist
build_sdist = _setuptools.build_sdist
get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
build_editable = _setuptools.build_editable


def get_requires_for_build_wheel(config_settings: object = None) -> list[str]:
    return []  # setuptools, already here: this module imports it


def _project() -> dict[str, object]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _dist_name() -> str:
    project = _project()
    name = re.sub(r"[-_.]+", "_", str(project["name"])).lower()  # PEP 427's escaping
    return f"{name}-{project['version']}"


def _tag() -> str:
    """This interpreter's tag for a wheel holding a C extension, e.g. cp311-cp311-linux_x86_64."""
    if sys.implementation.name != "cpython":
        raise RuntimeError("leaksnek's extension is built for CPython only")
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{python}-{python}{getattr(sys, 'abiflags', '')}-{platform}"


def _write_metadata(dist_info: Path) -> None:
    project = _project()
    if project.get("dependencies") or project.get("optional-dependencies"):
        raise RuntimeError("leaksnek_build writes no Requires-Dist: teach it before adding dependencies")
    dist_info.mkdir(parents=True, exist_ok=True)
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
    ]
    license_text = project.get("license")
    if isinstance(license_text, dict) and "text" in license_text:
        lines.append(f"License: {license_text['text']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    (dist_info / "METADATA").write_text("\n".join(lines) + "\n")
    (dist_info / "WHEEL").write_text(
        f"Wheel-Version: 1.0\nGenerator: leaksnek_build\nRoot-Is-Purelib: false\nTag: {_tag()}\n"
    )
    (dist_info / "top_level.txt").write_text("leaksnek\n")


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: object = None) -> str:
    name = f"{_dist_name()}.dist-info"
    _write_metadata(Path(metadata_directory) / name)
    return name


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(wheel_directory: str, config_settings: object = None, metadata_directory: str | None = None) -> str:
    dist = _dist_name()
    wheel_name = f"{dist}-{_tag()}.whl"
    with tempfile.TemporaryDirectory() as scratch:
        lib = Path(scratch) / "lib"
        # setup.py compiles the extension and copies the package (build_py, build_ext).
        subprocess.run(
            [sys.executable, "setup.py", "build", "--build-lib", str(lib), "--build-temp", str(Path(scratch) / "temp")],
            cwd=ROOT,
            check=True,
            stdout=sys.stderr,  # pip shows a build's output when it fails; a backend's stdout is pip's
        )
        dist_info = Path(scratch) / f"{dist}.dist-info"
        _write_metadata(dist_info)
        records: list[str] = []
        with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
            for root, prefix in ((lib, ""), (dist_info, f"{dist}.dist-info/")):
                for path in sorted(p for p in root.rglob("*") if p.is_file()):
                    if "__pycache__" in path.parts:
                        continue
                    arcname = prefix + path.relative_to(root).as_posix()
                    data = path.read_bytes()
                    wheel.writestr(arcname, data)
                    records.append(_record_line(arcname, data))
            record = f"{dist}.dist-info/RECORD"
            records.append(f"{record},,")
            wheel.writestr(record, "\n".join(records) + "\n")
    return wheel_name
