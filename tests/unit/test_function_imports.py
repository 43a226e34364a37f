"""A function's declared layers match what its handler imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.topology import FUNCTIONS, FunctionSpec

PROBE = (
    "import sys, {module}; "
    "print(any(m == 'pydantic' or m.startswith('pydantic.') for m in sys.modules))"
)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_a_function_imports_pydantic_exactly_when_it_attaches_the_models_layer(
    spec: FunctionSpec,
) -> None:
    """Without the layer the import fails on Lambda; with it unused, the bundle is dead weight.
    Fresh interpreter per function: what this test process imported does not count."""
    module = spec.handler.rpartition(".")[0]
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": ""},
    )
    assert result.stdout.strip() == str("models" in spec.layers)
