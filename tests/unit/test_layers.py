"""The layers of ``userpipe/`` point one way: ``local/`` and ``ops/`` both stand on the shared
AWS-reading layer (``userpipe/aws``), never on each other, and the operator commands never
reach into a function's code. Waiting for the queues to drain is written once.

Read from the source with ``ast`` (every ``import``, at module level or inside a function),
so a lazy import inside a function counts like any other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Where the one drain routine lives, and where a second one would be a copy of it.
DRAIN_HOME = ("userpipe/aws/queues.py", "wait_until_drained")
DRAIN_SEARCHED = ("userpipe", "bench", "tests")


def modules(folder: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def imported(module: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in ``tree``; relative imports resolved."""
    package = module.removesuffix(".py").split("/")[:-1]  # the package the module is in
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package[: len(package) - (node.level - 1)]
                base = ".".join([*stem, base] if base else stem)
            yield node.lineno, base
            for alias in node.names:  # ``from userpipe import ops`` imports userpipe.ops
                yield node.lineno, f"{base}.{alias.name}"


def crossings(folder: str, forbidden: str) -> list[str]:
    found = []
    for module, tree in modules(folder):
        for line, name in imported(module, tree):
            if name == forbidden or name.startswith(forbidden + "."):
                found.append(f"{module}:{line} imports {name}")
    return sorted(set(found))


@pytest.mark.parametrize(
    ("folder", "forbidden", "why"),
    [
        ("userpipe/local", "userpipe.ops", "the local stack stands on userpipe/aws, not on ops"),
        ("userpipe/ops", "services", "operator commands reach a function's code via userpipe/aws"),
        ("userpipe/aws", "userpipe.ops", "the shared layer is below ops"),
        ("userpipe/aws", "userpipe.local", "the shared layer is below local"),
        ("userpipe/aws", "userpipe.cli", "the shared layer is below the command line"),
        ("services", "userpipe", "a function's bundle holds contracts/ and its own code only"),
        ("contracts", "userpipe", "contracts/ is the bottom layer"),
    ],
)
def test_imports_point_down_the_layers(folder: str, forbidden: str, why: str) -> None:
    found = crossings(folder, forbidden)
    assert not found, f"{why}:\n" + "\n".join(found)


def queue_waits() -> list[str]:
    found = []
    for folder in DRAIN_SEARCHED:
        for module, tree in modules(folder):
            for node in ast.walk(tree):
                is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                if is_function and "drain" in node.name.lower():  # type: ignore[union-attr]
                    found.append(f"{module}:{node.lineno} {node.name}")  # type: ignore[union-attr]
    return found


def test_waiting_for_empty_queues_is_written_once() -> None:
    module, name = DRAIN_HOME
    found = queue_waits()
    assert [(d.split(":")[0], d.split(" ")[1]) for d in found] == [(module, name)], "\n".join(found)


def test_the_check_sees_an_import_inside_a_function() -> None:
    """The guard can fail: a lazy import counts like one at the top of a module."""
    tree = ast.parse("def f():\n    from userpipe.ops.status import collect\n")
    assert (2, "userpipe.ops.status") in list(imported("userpipe/local/x.py", tree))
    tree = ast.parse("from ..ops import status\n")
    assert (1, "userpipe.ops.status") in list(imported("userpipe/local/x.py", tree))
