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
#: Functions whose cold path imports no pydantic but which import it later, from the module
#: named here (so they still attach the models layer): the user API reads an audit trail, or a
#: User item off the plain fast path (``contracts.user_view``), through the read models.
ON_FIRST_USE = {"UserApi": "contracts.audit_model"}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_a_function_imports_pydantic_exactly_when_it_attaches_the_models_layer(
    spec: FunctionSpec,
) -> None:
    """Without the layer the import fails on Lambda; with it unused, the bundle is dead weight.
    Fresh interpreter per function: what this test process imported does not count."""
    module = spec.handler.rpartition(".")[0]
    imported = {
        name: subprocess.run(
            [sys.executable, "-c", PROBE.format(module=name)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
            env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": ""},
        ).stdout.strip()
        for name in (module, ON_FIRST_USE.get(spec.id, module))
    }
    later = ON_FIRST_USE.get(spec.id)
    assert imported[module] == str("models" in spec.layers and later is None)
    if later is not None:
        assert "models" in spec.layers and imported[later] == "True"
