"""The functions' dependency layer, built without Docker from the project's runtime requirements.

pip is asked for wheels of the Lambda platform (manylinux aarch64, the runtime's CPython), so a
native module such as ``pydantic_core`` matches the functions, not this machine. boto3 is left
out: the Lambda Python runtime ships it. Run ``python -m infra.layer`` (``make layer``) before
synth; it needs the package registry, synth itself needs no network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement

ROOT: Final = Path(__file__).resolve().parent.parent
PYTHON_VERSION: Final = "3.14"  # keep equal to the functions' runtime (infra/parts/functions.py)
PLATFORM: Final = "manylinux2014_aarch64"  # keep equal to the functions' architecture (arm64)
PROVIDED_BY_RUNTIME: Final = frozenset({"boto3"})
LAYOUT: Final = "2"  # bump when build() changes what goes into the layer


class LayerNotBuiltError(FileNotFoundError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"the dependency layer is not built at {path}: run `make layer` first")


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return sorted(
        spec
        for spec in project["dependencies"]
        if Requirement(spec).name not in PROVIDED_BY_RUNTIME
    )


def layer_dir() -> Path:
    """Where the layer for the current requirements lives; the name changes with them."""
    key = "\n".join([LAYOUT, PYTHON_VERSION, PLATFORM, *requirements()])
    return ROOT / "build" / "layer" / hashlib.sha256(key.encode()).hexdigest()[:16]


def built_layer() -> Path:
    path = layer_dir()
    if not (path / "python").is_dir():
        raise LayerNotBuiltError(path)
    return path


def build() -> Path:
    path = layer_dir()
    if (path / "python").is_dir():
        return path
    staging = path.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(  # noqa: S603 - fixed arguments, our own requirements
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--platform",
            PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--target",
            str(staging / "python"),
            *requirements(),
        ],
        check=True,
    )
    # Keep only what imports at run time, and nothing that names this machine: console scripts
    # carry the building interpreter's path in their shebang (and RECORD their hashes), which
    # would give every machine a different layer hash and a needless redeploy.
    python = staging / "python"
    shutil.rmtree(python / "bin", ignore_errors=True)
    for cache in python.rglob("__pycache__"):
        shutil.rmtree(cache)
    for record in python.glob("*.dist-info/RECORD"):
        record.unlink()
    staging.rename(path)  # all or nothing: a half-built layer is never used
    return path


if __name__ == "__main__":
    print(build())
