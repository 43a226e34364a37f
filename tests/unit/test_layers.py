"""The layers point one way: ``contracts/`` at the bottom, doing no I/O; ``services/shared``
(what every function's bundle ships) on contracts, the standard library and boto3 alone; in
``userpipe/``, ``local/`` and ``ops/`` both stand on the shared AWS-reading layer
(``userpipe/aws``), never on each other, and the operator commands never reach into a
function's code. Waiting for the queues to drain is written once.

Read from the source with ``ast`` (every ``import``, at module level or inside a function),
so a lazy import inside a function counts like any other."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from contracts.topology import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
#: Where the one drain routine lives, and where a second one would be a copy of it.
DRAIN_HOME = ("userpipe/aws/queues.py", "wait_until_drained")
DRAIN_SEARCHED = ("userpipe", "bench", "tests")
#: What would make a contracts/ module do I/O: an AWS client (or its type stubs), a network
#: library, or ``services/shared`` (and any function's code) that holds the I/O instead.
IO_MODULES = (
    "boto3",
    "botocore",
    "mypy_boto3_",  # a prefix: one stub package per AWS service
    "aioboto3",
    "requests",
    "urllib3",
    "urllib.request",
    "http.client",
    "socket",
    "ssl",
    "services",
)
SHARED = "services/shared"
#: Beyond the standard library, all ``services/shared`` may import: it ships in every bundle,
#: where only these (and the function's layers, which not every function attaches) exist.
SHARED_MAY_IMPORT = ("contracts", "services.shared", "boto3", "botocore", "mypy_boto3_")
#: A shared module that stands on one layer's package, by name: only the functions that attach
#: that layer may import it. Everything else in ``services/shared`` keeps to the list above.
SHARED_ON_A_LAYER = {"services/shared/sealing.py": "cryptography"}  # the "crypto" layer


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
        (
            "services",
            "userpipe",
            "a function's bundle holds contracts/, services/shared and its code",
        ),
        ("contracts", "userpipe", "contracts/ is the bottom layer"),
    ],
)
def test_imports_point_down_the_layers(folder: str, forbidden: str, why: str) -> None:
    found = crossings(folder, forbidden)
    assert not found, f"{why}:\n" + "\n".join(found)


def _is(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` or inside it; a prefix ending in ``_`` matches by its start."""
    if prefix.endswith("_"):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def io_imports(found: Iterable[tuple[str, ast.Module]]) -> list[str]:
    return sorted(
        {
            f"{module}:{line} imports {name}"
            for module, tree in found
            for line, name in imported(module, tree)
            if any(_is(name, io) for io in IO_MODULES)
        }
    )


def foreign_imports(found: Iterable[tuple[str, ast.Module]]) -> list[str]:
    """Imports of neither the standard library nor ``SHARED_MAY_IMPORT`` (nor, in a module of
    ``SHARED_ON_A_LAYER``, its layer's package)."""
    return sorted(
        {
            f"{module}:{line} imports {name}"
            for module, tree in found
            for line, name in imported(module, tree)
            if name.split(".")[0] not in sys.stdlib_module_names
            and not any(_is(name, allowed) for allowed in SHARED_MAY_IMPORT)
            and not (module in SHARED_ON_A_LAYER and _is(name, SHARED_ON_A_LAYER[module]))
        }
    )


def test_contracts_do_no_io() -> None:
    """contracts/ holds shapes and the wiring declaration; a call that reaches AWS or the
    network belongs in ``services/shared`` (or a function), where handlers import it."""
    found = io_imports(modules("contracts"))
    assert not found, "contracts/ does no I/O:\n" + "\n".join(found)


def test_shared_code_stands_on_contracts_the_standard_library_and_boto3_only() -> None:
    """Every function ships it: an import of userpipe/, of a function, or of a package in a
    layer would fail in some function's bundle, or pull another function's code into all."""
    found = foreign_imports(modules(SHARED))
    assert not found, f"{SHARED} imports beyond {SHARED_MAY_IMPORT}:\n" + "\n".join(found)


def test_shared_code_is_no_function() -> None:
    """It has no handler, and no declared function points at it."""
    assert not (ROOT / SHARED / "handler.py").exists()
    assert SHARED not in {spec.source_dir for spec in FUNCTIONS}


def test_the_io_and_shared_code_checks_can_fail() -> None:
    """The guards see what they are for, lazy imports and type-only ones included."""
    contract = ast.parse(
        "import socket\n"
        "if TYPE_CHECKING:\n    from mypy_boto3_dynamodb import DynamoDBClient\n"
        "def f():\n    import boto3\n    from services.shared import partial_batch\n"
    )
    assert io_imports([("contracts/x.py", contract)]) == [
        "contracts/x.py:1 imports socket",
        "contracts/x.py:3 imports mypy_boto3_dynamodb",
        "contracts/x.py:3 imports mypy_boto3_dynamodb.DynamoDBClient",
        "contracts/x.py:5 imports boto3",
        "contracts/x.py:6 imports services.shared",
        "contracts/x.py:6 imports services.shared.partial_batch",
    ]
    shared = ast.parse(
        "import json, boto3\nfrom contracts.dynamodb import Item\n"
        "from userpipe.aws import clients\nfrom services.user_api import store\n"
        "import pydantic\n"
    )
    assert foreign_imports([("services/shared/x.py", shared)]) == [
        "services/shared/x.py:3 imports userpipe.aws",
        "services/shared/x.py:3 imports userpipe.aws.clients",
        "services/shared/x.py:4 imports services.user_api",
        "services/shared/x.py:4 imports services.user_api.store",
        "services/shared/x.py:5 imports pydantic",
    ]
    layered = ast.parse("from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n")
    assert foreign_imports([("services/shared/sealing.py", layered)]) == []
    assert foreign_imports([("services/shared/x.py", layered)]) == [
        "services/shared/x.py:1 imports cryptography.hazmat.primitives.ciphers.aead",
        "services/shared/x.py:1 imports cryptography.hazmat.primitives.ciphers.aead.AESGCM",
    ]


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
