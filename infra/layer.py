"""The functions' dependency layers, built without Docker from the project's runtime requirements.

pip is asked for wheels of the Lambda platform (manylinux aarch64, the runtime's CPython), so a
native module such as ``pydantic_core`` matches the functions, not this machine. boto3 is left
out: the Lambda Python runtime ships it. Run ``python -m infra.layer`` (``make layer``) before
synth; it needs the package registry, synth itself needs no network.

Three layers, so a function carries only what it imports: ``powertools`` (every function),
``models`` (pydantic: the functions that import the contracts' models) and ``crypto``
(cryptography, with cffi: the functions that seal or open personal data). Which a function gets
is declared on its ``FunctionSpec.layers``; the Cognito trigger's bundle carries no pydantic.

Each layer ships unchecked-hash bytecode compiled by the runtime's Python (``infra.bytecode``),
not the ``__pycache__`` pip writes with this machine's Python; without a 3.14 interpreter it
ships sources only, under another directory name.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement

from contracts.topology import LAYERS, Layer
from infra.bytecode import LAYER_ROOT, compile_tree, runtime_python_version

ROOT: Final = Path(__file__).resolve().parent.parent
PYTHON_VERSION: Final = "3.14"  # keep equal to the functions' runtime (infra/parts/functions.py)
PLATFORM: Final = "manylinux2014_aarch64"  # keep equal to the functions' architecture (arm64)
PROVIDED_BY_RUNTIME: Final = frozenset({"boto3"})
#: Which runtime requirements (by distribution name) each layer holds.
CONTENTS: Final[dict[Layer, frozenset[str]]] = {
    "powertools": frozenset({"aws-lambda-powertools"}),
    "models": frozenset({"pydantic"}),
    "crypto": frozenset({"cryptography"}),
}
LAYOUT: Final = "4"  # bump when build() changes what goes into a layer


class LayerNotBuiltError(FileNotFoundError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"the dependency layer is not built at {path}: run `make layer` first")


class LayerConflictError(ValueError):
    def __init__(self, conflicts: dict[str, set[str]]) -> None:
        shown = ", ".join(
            f"{name} {sorted(versions)}" for name, versions in sorted(conflicts.items())
        )
        super().__init__(
            f"the layers ship different versions of {shown}: a function would see whichever "
            "layer Lambda merges last; pin the shared distribution in pyproject.toml"
        )


class UnplacedRequirementError(ValueError):
    def __init__(self, names: set[str]) -> None:
        super().__init__(
            f"runtime requirement(s) {sorted(names)} belong to no layer: add them to "
            "infra.layer.CONTENTS (or to PROVIDED_BY_RUNTIME)"
        )


def requirements(layer: Layer) -> list[str]:
    """The pinned runtime requirements (pyproject.toml) that ``layer`` holds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(spec) for spec in project["dependencies"]]
    unplaced = {r.name for r in wanted} - PROVIDED_BY_RUNTIME - set().union(*CONTENTS.values())
    if unplaced:
        raise UnplacedRequirementError(unplaced)
    return sorted(str(r) for r in wanted if r.name in CONTENTS[layer])


def layer_dir(layer: Layer) -> Path:
    """Where ``layer`` for the current requirements lives; the name changes with them."""
    bytecode = f"bytecode {runtime_python_version() or 'none'}"
    key = "\n".join([LAYOUT, layer, PYTHON_VERSION, PLATFORM, bytecode, *requirements(layer)])
    return ROOT / "build" / "layer" / f"{layer}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def built_layer(layer: Layer) -> Path:
    path = layer_dir(layer)
    if not (path / "python").is_dir():
        raise LayerNotBuiltError(path)
    return path


def build_all() -> dict[Layer, Path]:
    built = {layer: build(layer) for layer in LAYERS}
    check_shared_distributions_agree(built.values())
    return built


def distributions(layer: Path) -> dict[str, str]:
    """The distributions a built layer holds: name -> version, read from its dist-info names."""
    found = (
        info.name.removesuffix(".dist-info") for info in (layer / "python").glob("*.dist-info")
    )
    return dict(name.rsplit("-", 1) for name in found)


def check_shared_distributions_agree(layers: Iterable[Path]) -> None:
    """Refuse layers that ship one distribution at different versions.

    Lambda merges a function's layers into /opt in the order the function lists them, a later
    layer's files replacing an earlier one's ("Adding layers to functions", Lambda developer
    guide), and CDK sorts a function's layers by construct path when the feature flag
    ``@aws-cdk/aws-lambda:recognizeLayerVersion`` is on (``Function.renderLayers`` in
    aws-cdk-lib; brefphp/constructs#6 ran into it): our template lists ``models`` before
    ``powertools`` whatever ``FunctionSpec.layers`` says. Both layers ship ``typing_extensions``,
    so the order is harmless only while they ship the same version of it, which this checks.
    """
    versions: dict[str, set[str]] = {}
    for layer in layers:
        for name, version in distributions(layer).items():
            versions.setdefault(name, set()).add(version)
    conflicts = {name: found for name, found in versions.items() if len(found) > 1}
    if conflicts:
        raise LayerConflictError(conflicts)


def build(layer: Layer) -> Path:
    path = layer_dir(layer)
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
            *requirements(layer),
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
    compile_tree(python, LAYER_ROOT)
    staging.rename(path)  # all or nothing: a half-built layer is never used
    return path


if __name__ == "__main__":
    for built in build_all().values():
        print(built)
