"""What the cold-path benchmark runs each function from: a copy of its bundle and its layers'
packages, with unchecked-hash bytecode for every module or with none, that the timed programs
really import from."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from bench.cold import SHIPPED, SOURCES, _environment, stage
from contracts.topology import WELCOME_NOTIFIER


def test_the_copies_hold_bytecode_for_every_module_or_none(tmp_path: Path) -> None:
    shipped = stage(WELCOME_NOTIFIER, tmp_path / SHIPPED, SHIPPED)
    sources = stage(WELCOME_NOTIFIER, tmp_path / SOURCES, SOURCES)
    modules = sorted(shipped.rglob("*.py"))
    assert any(p.parts[-3:-1] == ("services", "welcome_notifier") for p in modules)
    assert any("aws_lambda_powertools" in p.parts for p in modules)  # the layer's package
    for source in modules:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[4:8], "little") == 0b01, source  # unchecked hash
    assert not list(sources.rglob("*.pyc"))


def test_the_handler_is_imported_from_the_copy_and_writes_no_bytecode(tmp_path: Path) -> None:
    sources = stage(WELCOME_NOTIFIER, tmp_path / SOURCES, SOURCES)
    probe = (
        "import services.welcome_notifier.handler as h, aws_lambda_powertools as p; "
        "print(h.__file__); print(p.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=sources,
        env=_environment(WELCOME_NOTIFIER),
        check=True,
        capture_output=True,
        text=True,
    )
    assert all(Path(line).is_relative_to(sources) for line in result.stdout.split())
    assert not list(sources.rglob("*.pyc"))  # PYTHONDONTWRITEBYTECODE, as on Lambda


def test_a_missed_cold_path_says_why_from_its_own_profile_and_a_met_one_is_left_alone() -> None:
    from bench.cold import GOAL, explained
    from bench.report import Measurement

    spread = {"p25": 0.2, "p75": 0.22}
    notes = {
        "phases": {"import_handler_module_ms": 9.1, "first_call_clients_ms": 64.1,
                   "same_clients_after_import_boto3_ms": 43.1},
        "extra_imports_ms": {"aws_lambda_powertools": 4.8, "contracts": 2.1},
        "handler_cpu_s": spread, "baseline_cpu_s": {"p25": 0.17, "p75": 0.19},
    }  # fmt: skip
    missed = Measurement("cold path: X", "s", 0.2145, 0.1786, goal=GOAL, notes=notes)
    met = Measurement("cold path: Y", "s", 0.18, 0.17, goal=GOAL, notes=notes)

    why = explained(missed).notes["why"]
    assert why.startswith("over the goal by 0.001")
    assert "aws_lambda_powertools 4.8 ms" in why and "64.1 ms against 43.1 ms" in why
    assert "why" not in explained(met).notes
