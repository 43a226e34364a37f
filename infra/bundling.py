"""Each function's code asset: ``contracts/``, ``services/shared/`` (the code every function
runs) and its own service package, nothing else.

Staged into ``build/functions/<id>/`` at synth time by plain file copies (no Docker). The copy
is deterministic, so an unchanged function keeps its asset hash and is not redeployed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from contracts.topology import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
#: What every function runs besides its own package (not a function: it has no handler).
SHARED = "services/shared"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")


def function_code(spec: FunctionSpec) -> Path:
    target = ROOT / "build" / "functions" / spec.id
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "contracts", target / "contracts", ignore=_SKIP)
    service = ROOT / spec.source_dir
    if not (service / "handler.py").is_file():
        raise FileNotFoundError(f"{spec.id}: no handler at {service / 'handler.py'}")
    shutil.copytree(service, target / spec.source_dir, ignore=_SKIP)
    shutil.copytree(ROOT / SHARED, target / SHARED, ignore=_SKIP)
    shutil.copy2(ROOT / "services" / "__init__.py", target / "services" / "__init__.py")
    return target
