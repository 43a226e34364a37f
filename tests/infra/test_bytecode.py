"""What the assets ship for the runtime's Python: unchecked-hash bytecode of CPython 3.14 for
every module, naming the file where Lambda puts it, the same bytes on every build — or, with no
3.14 interpreter, sources only and a warning (never this machine's bytecode)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topology import CONFIRM_TRIGGER, USER_API
from infra import bytecode
from infra.bundling import function_code
from infra.bytecode import (
    FUNCTION_ROOT,
    LAYER_ROOT,
    RUNTIME_MAGIC,
    NotTheRuntimePythonError,
    RuntimePythonMissingWarning,
    compile_tree,
    fetch,
    runtime_python,
)
from infra.layer import build_all
from tests.infra.conftest import Synthesized

#: Run by the runtime's interpreter over a tree: what is wrong with its bytecode, if anything.
#: Only CPython 3.14 can compute 3.14's source hash (its key is the magic number).
CHECK = """
import importlib.util, json, marshal, pathlib, sys
root, deployed_at = pathlib.Path(sys.argv[1]), sys.argv[2]
wrong, checked = [], 0
for source in sorted(root.rglob("*.py")):
    where = source.relative_to(root).as_posix()
    pyc = pathlib.Path(importlib.util.cache_from_source(str(source)))
    if not pyc.is_file():
        wrong.append(f"{where}: no {pyc.name}")
        continue
    data = pyc.read_bytes()
    if data[:4] != importlib.util.MAGIC_NUMBER:
        wrong.append(f"{where}: magic {data[:4]!r}")
    if int.from_bytes(data[4:8], "little") != 0b01:
        wrong.append(f"{where}: flags {data[4:8]!r}, not unchecked-hash")
    if data[8:16] != importlib.util.source_hash(source.read_bytes()):
        wrong.append(f"{where}: compiled from another source")
    if marshal.loads(data[16:]).co_filename != f"{deployed_at}/{where}":
        wrong.append(f"{where}: names {marshal.loads(data[16:]).co_filename}")
    checked += 1
print(json.dumps({"checked": checked, "wrong": wrong}))
"""


@pytest.fixture(scope="module")
def runtime() -> tuple[str, ...]:
    fetch()  # the pinned CPython 3.14 (make runtime-python); a no-op once unpacked
    command = runtime_python()
    assert command is not None
    return command


def check(runtime: tuple[str, ...], tree: Path, deployed_at: str) -> dict[str, object]:
    result = subprocess.run(
        [*runtime, "-I", "-c", CHECK, str(tree), deployed_at],
        check=True,
        capture_output=True,
        text=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_the_runtime_python_is_the_functions_minor_version(runtime: tuple[str, ...]) -> None:
    program = "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"
    magic = subprocess.run(
        [*runtime, "-I", "-c", program],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert bytes.fromhex(magic) == RUNTIME_MAGIC


def test_a_function_asset_ships_unchecked_hash_bytecode_for_every_module(
    runtime: tuple[str, ...],
) -> None:
    asset = function_code(USER_API)
    found = check(runtime, asset, FUNCTION_ROOT)
    assert found["wrong"] == []
    assert found["checked"] == len(list(asset.rglob("*.py")))


def test_every_layer_ships_unchecked_hash_bytecode_for_every_module(
    runtime: tuple[str, ...],
) -> None:
    for layer in build_all().values():
        found = check(runtime, layer / "python", LAYER_ROOT)
        assert found["wrong"] == [], layer.name


def assets_with_python(outdir: Path) -> Iterator[Path]:
    for asset in sorted(outdir.glob("asset.*")):
        if asset.is_dir() and next(asset.rglob("*.py"), None):
            yield asset


def test_the_synthesized_assets_carry_the_runtimes_bytecode(
    runtime: tuple[str, ...], dev: Synthesized
) -> None:
    """What cdk-assets zips and uploads: every function's and layer's staged directory."""
    assets = list(assets_with_python(dev.outdir))
    functions = [a for a in assets if (a / "services").is_dir()]
    layers = [a for a in assets if (a / "python").is_dir()]
    assert len(functions) == len(dev.resources("AWS::Lambda::Function"))
    assert layers
    for asset in functions:
        assert check(runtime, asset, FUNCTION_ROOT)["wrong"] == [], asset.name
    for asset in layers:
        assert check(runtime, asset / "python", LAYER_ROOT)["wrong"] == [], asset.name


def test_a_function_asset_is_the_same_bytes_when_compiled_twice(
    runtime: tuple[str, ...],
) -> None:
    def contents(asset: Path) -> dict[str, bytes]:
        return {str(p.relative_to(asset)): p.read_bytes() for p in asset.rglob("*.pyc")}

    first = contents(function_code(CONFIRM_TRIGGER))
    assert first
    assert contents(function_code(CONFIRM_TRIGGER)) == first


def test_bytecode_of_another_python_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's Python (3.11) would write bytecode Lambda's 3.14 ignores."""
    monkeypatch.setenv(bytecode.ENV_VARIABLE, sys.executable)
    bytecode.runtime_python.cache_clear()
    try:
        with pytest.raises(NotTheRuntimePythonError, match=r"not the functions' runtime 3\.14"):
            runtime_python()
    finally:
        bytecode.runtime_python.cache_clear()


def test_without_a_runtime_python_sources_ship_alone_and_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "module.py").write_text("VALUE = 1\n")
    monkeypatch.setattr(bytecode, "runtime_python", lambda: None)
    bytecode._warn_missing.cache_clear()
    with pytest.warns(RuntimePythonMissingWarning, match="make runtime-python"):
        assert compile_tree(tmp_path, FUNCTION_ROOT) is False
    assert not list(tmp_path.rglob("*.pyc"))


def test_when_a_pin_is_gone_from_debian_the_current_packages_are_taken_and_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's unstable suite keeps only its current versions: a pinned one's disappearing
    must not stop every build (apt still checks what it downloads against the signed index);
    the unpinned install is found by the next build, not fetched again."""
    import infra.bytecode as bytecode

    monkeypatch.setattr(bytecode, "INSTALL_DIR", tmp_path / "runtime-python")
    monkeypatch.setattr(bytecode, "UNPINNED_MARKER", tmp_path / "runtime-python" / "UNPINNED")
    monkeypatch.delenv(bytecode.ENV_VARIABLE, raising=False)
    asked: list[bool] = []

    def unpack(base: Path, *, pinned: bool) -> Path:
        asked.append(pinned)
        if pinned:
            raise bytecode.VersionGoneError("E: Version '3.14.10-1' was not found")
        (base / "usr" / "bin").mkdir(parents=True)
        (base / "usr" / "bin" / "python3.14").write_text("")
        return base

    monkeypatch.setattr(bytecode, "_unpack", unpack)
    first = bytecode.fetch()
    assert (asked, first.name) == ([True, False], "unpinned")
    assert bytecode.fetch() == first and asked == [True, False]  # found, not fetched again


def test_a_network_failure_is_an_error_not_a_reason_to_take_unpinned_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infra.bytecode as bytecode

    monkeypatch.setattr(bytecode, "INSTALL_DIR", tmp_path / "runtime-python")
    monkeypatch.setattr(bytecode, "UNPINNED_MARKER", tmp_path / "runtime-python" / "UNPINNED")
    monkeypatch.delenv(bytecode.ENV_VARIABLE, raising=False)
    asked: list[bool] = []

    def unpack(base: Path, *, pinned: bool) -> Path:
        asked.append(pinned)
        raise subprocess.CalledProcessError(100, ["apt-get", "update"])

    monkeypatch.setattr(bytecode, "_unpack", unpack)
    with pytest.raises(subprocess.CalledProcessError):
        bytecode.fetch()
    assert asked == [True]
    assert not bytecode.UNPINNED_MARKER.exists()


def test_an_interpreter_named_in_the_environment_needs_nothing_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import infra.bytecode as bytecode

    monkeypatch.setenv(bytecode.ENV_VARIABLE, "/opt/python3.14/bin/python3")
    monkeypatch.setattr(bytecode, "_unpack", lambda *_, **__: pytest.fail("fetched"))
    assert bytecode.fetch() is None
