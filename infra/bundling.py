"""Each function's code asset: ``contracts/``, ``services/shared/`` (the code every function
runs) and its own service package, nothing else.

Staged into ``build/functions/<id>/`` at synth time by plain file copies (no Docker), then
compiled to unchecked-hash bytecode for the runtime's Python (``infra.bytecode``: Lambda cannot
write ``__pycache__`` in ``/var/task``, so without it every cold start compiles). The copies
leave out the working tree's ``__pycache__``: those are this machine's Python's, timestamp-based
and different on every machine. Copy and compilation are deterministic, so an unchanged
function keeps its asset hash and is not redeployed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from contracts.topology import FunctionSpec
from infra.bytecode import FUNCTION_ROOT, compile_tree

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
    compile_tree(target, FUNCTION_ROOT)
    return target
