"""Bytecode for the functions' runtime, compiled at build time so a cold start does not compile.

Lambda unpacks a function's code into ``/var/task`` and its layers into ``/opt``, both read-only,
so the runtime can write no ``__pycache__`` there: without shipped ``.pyc`` every cold start
compiles every module of ours and of the layers again. Shipped ``.pyc`` must be

- compiled by the runtime's CPython minor version: the magic number at the head of a ``.pyc``
  changes with it and a ``.pyc`` with another one is ignored (``RUNTIME_MAGIC``);
- unchecked-hash based (PEP 552): a timestamp-based ``.pyc`` is valid only while the source's
  mtime matches the one recorded in it, and the zip the CDK CLI makes of an asset gives every
  entry the same fixed date (``zipDirectory`` of ``@aws-cdk/private-tools/lib/zip``, bundled in
  the ``aws-cdk`` CLI package.json pins: ``mtime: epoch()``, ``new Date(1980, 0, 1, 0, 0, 0)``,
  "reset dates to get the same hash for the same content"), so none would ever validate; an
  unchecked-hash ``.pyc`` is used without looking at the source at all (PEP 552);
- the same bytes on every build, or every synth gives the asset a new hash and a redeploy:
  compiled with ``PYTHONHASHSEED=0`` (a frozenset constant's order follows string hashes) and
  with each code object's file name set to where Lambda puts it (``/var/task/...``,
  ``/opt/python/...``), never the build directory.

This machine has no Python 3.14 (Debian bookworm ships 3.11). ``python -m infra.bytecode``
(``make runtime-python``) takes Debian's own CPython 3.14 packages (``PINNED``: versions and
SHA-256, fetched with ``apt-get download`` from Debian's archive, whose signed index apt checks
as well) and the C library they need, unpacked into ``build/runtime-python/``, and runs the
interpreter through that C library's loader: nothing is installed on the machine. Any other
3.14 interpreter can be named in ``USERPIPE_RUNTIME_PYTHON`` instead.

Synth itself needs no network: with no 3.14 interpreter it ships sources only, as before, and
says so on stderr (``RuntimePythonMissingWarning``): every cold start then compiles.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
RUNTIME_VERSION: Final = (3, 14)  # keep equal to infra.layer.PYTHON_VERSION
#: The magic number of CPython 3.14's bytecode (CPython's Include/internal/
#: pycore_magic_number.h; frozen for a minor version from its first release candidate on).
RUNTIME_MAGIC: Final = (3627).to_bytes(2, "little") + b"\r\n"
#: PEP 552's flags word: bit 0 hash-based, bit 1 check the source. Unchecked hash: 0b01.
UNCHECKED_HASH_FLAGS: Final = 0b01
#: Where Lambda puts a function's code and a layer's ``python/`` directory.
FUNCTION_ROOT: Final = "/var/task"
LAYER_ROOT: Final = "/opt/python"
ENV_VARIABLE: Final = "USERPIPE_RUNTIME_PYTHON"
#: The machine the pinned packages are for (their loader and C library run here).
DEBIAN_MACHINE: Final = "x86_64"
INSTALL_DIR: Final = ROOT / "build" / "runtime-python"
#: A private sources list: Debian's unstable suite has CPython 3.14 (bookworm does not).
DEBIAN_SOURCE: Final = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian sid main\n"
)


@dataclass(frozen=True)
class Pinned:
    package: str
    version: str
    sha256: str


#: The interpreter and what it links (``python3.14-minimal``'s dependencies), for this
#: machine's architecture. Bytecode does not depend on the architecture, only on the version.
#: When Debian's archive no longer has a version, pin the current one (``apt-cache policy``).
PINNED: Final = (
    Pinned(
        "python3.14-minimal",
        "3.14.10-1",
        "a23204aa66be03a9ad427367e75ee2142c60685c8c229bcde0bdde8b421cefb8",
    ),
    Pinned(
        "libpython3.14-minimal",
        "3.14.10-1",
        "a59bb22e16dde6f441b892cdfd058dd93d8149cf437a31d8985dcca3cf407367",
    ),
    Pinned("libc6", "2.43-7", "5c71715c51103beb4fbba9fe9f8dff604af6610dfa71c70bff342f54a7860803"),
    Pinned(
        "zlib1g",
        "1:1.3.dfsg+really1.3.2-4",
        "8506ce550a81ac14b047608e0df121037d9cbb10c3cc28446f68cf8c1d9d31ce",
    ),
    Pinned(
        "libexpat1", "2.9.0-1", "190d7f5e45f070c42a12f708fe417d6636cb45fae71175203168bb5c3695081b"
    ),
)
#: What ``INSTALL_DIR`` holds: changes when the pins do.
PINS_KEY: Final = hashlib.sha256(
    "\n".join(f"{p.package}={p.version}:{p.sha256}" for p in PINNED).encode()
).hexdigest()[:16]


class RuntimePythonMissingWarning(UserWarning):
    pass


class NotTheRuntimePythonError(ValueError):
    def __init__(self, command: tuple[str, ...], version: str) -> None:
        super().__init__(
            f"{' '.join(command)} is Python {version}, not the functions' runtime "
            f"{'.'.join(map(str, RUNTIME_VERSION))}: its bytecode would be ignored on Lambda"
        )


class PinnedPackageError(RuntimeError):
    pass


class VersionGoneError(PinnedPackageError):
    """apt found no such version: the archive has moved on (and nothing else went wrong)."""


def _installed_command(base: Path) -> tuple[str, ...]:
    libraries = base / "usr" / "lib" / "x86_64-linux-gnu"
    return (
        str(libraries / "ld-linux-x86-64.so.2"),
        "--library-path",
        str(libraries),
        str(base / "usr" / "bin" / "python3.14"),
    )


@functools.cache
def runtime_python() -> tuple[str, ...] | None:
    """The command that runs a CPython of the runtime's version, or None: the interpreter named
    in ``USERPIPE_RUNTIME_PYTHON``, else the one ``make runtime-python`` unpacked."""
    named = os.environ.get(ENV_VARIABLE)
    if named:
        command: tuple[str, ...] = (named,)
    else:
        base = _installed()
        if base is None:
            return None
        command = _installed_command(base)
    version = subprocess.run(  # noqa: S603 - our own interpreter
        [*command, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if tuple(int(part) for part in version.split(".")[:2]) != RUNTIME_VERSION:
        raise NotTheRuntimePythonError(command, version)
    return command


@functools.cache
def runtime_python_version() -> str | None:
    """``3.14.N`` of the interpreter that compiles, or None (shipping sources only)."""
    command = runtime_python()
    if command is None:
        return None
    return subprocess.run(  # noqa: S603 - our own interpreter
        [*command, "-I", "-c", "import sys; print(sys.version.split()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@functools.cache
def _warn_missing() -> None:
    warnings.warn(
        "no Python 3.14 to compile the functions' bytecode with (run `make runtime-python`, or "
        f"name one in {ENV_VARIABLE}): the assets ship sources only, and every cold start on "
        "Lambda compiles them",
        RuntimePythonMissingWarning,
        stacklevel=3,
    )


def compile_tree(tree: Path, deployed_at: str) -> bool:
    """Write an unchecked-hash ``.pyc`` beside every ``.py`` under ``tree`` (in ``__pycache__``,
    as the import system looks for it), each naming its source ``deployed_at`` + its path in
    ``tree``. False, and a warning, when there is no interpreter of the runtime's version."""
    command = runtime_python()
    if command is None:
        _warn_missing()
        return False
    subprocess.run(  # noqa: S603 - our own interpreter, our own tree
        [
            *command,
            "-s",  # no user site; the environment is ours alone (-I would drop PYTHONHASHSEED)
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(tree),
            "-p",
            deployed_at,
            str(tree),
        ],
        check=True,
        env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
    )
    return True


#: Names the unpinned install ``fetch`` fell back to (see there).
UNPINNED_MARKER: Final = INSTALL_DIR / "UNPINNED"


def _installed() -> Path | None:
    """Where the pinned packages were unpacked, else an unpinned fallback's, else None."""
    for base in (INSTALL_DIR / PINS_KEY, _unpinned()):
        if base is not None and (base / "usr" / "bin" / "python3.14").is_file():
            return base
    return None


def _unpinned() -> Path | None:
    if not UNPINNED_MARKER.is_file():
        return None
    return INSTALL_DIR / UNPINNED_MARKER.read_text().strip()


def fetch() -> Path | None:
    """Unpack the pinned packages into ``INSTALL_DIR`` (once) and return where; nothing (None)
    when ``USERPIPE_RUNTIME_PYTHON`` names the interpreter to compile with.

    Debian's unstable suite keeps only its current version of a package: when a pinned one is
    gone, the current ones are taken instead (apt checks each against the archive's signed
    index all the same), unpacked under a name of their own, and a warning names them so the
    pins can be moved. Bytecode does not change with a 3.14 patch release's number (the magic
    number is frozen for the minor version); only the assets' hashes may."""
    if os.environ.get(ENV_VARIABLE):
        return None
    installed = _installed()
    if installed is not None:
        return installed
    if platform.machine() != DEBIAN_MACHINE:
        raise PinnedPackageError(
            f"the pinned packages are Debian's {DEBIAN_MACHINE} ones and this machine is "
            f"{platform.machine()}: name a CPython 3.14 in {ENV_VARIABLE} instead"
        )
    shutil.rmtree(INSTALL_DIR, ignore_errors=True)
    try:
        return _unpack(INSTALL_DIR / PINS_KEY, pinned=True)
    except VersionGoneError:
        base = _unpack(INSTALL_DIR / "unpinned", pinned=False)
        UNPINNED_MARKER.write_text(base.name)
        return base
    finally:
        runtime_python.cache_clear()
        runtime_python_version.cache_clear()


def _unpack(base: Path, *, pinned: bool) -> Path:
    with tempfile.TemporaryDirectory(prefix="userpipe-runtime-python-") as scratch:
        work = Path(scratch)
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "cache" / "archives" / "partial").mkdir(parents=True)
        (work / "sources.list").write_text(DEBIAN_SOURCE)
        apt = [
            "apt-get",
            "-q",
            "-o", f"Dir::Etc::sourcelist={work / 'sources.list'}",
            "-o", "Dir::Etc::sourceparts=/dev/null",
            "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::Cache={work / 'cache'}",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        subprocess.run([*apt, "update"], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        debs = work / "debs"
        debs.mkdir()
        wanted = [f"{p.package}={p.version}" if pinned else p.package for p in PINNED]
        downloaded = subprocess.run(  # noqa: S603 - fixed package names
            [*apt, "download", *wanted],
            cwd=debs,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if downloaded.returncode != 0:
            # Only a version apt cannot find falls back to the current ones; a network or
            # mirror failure is an error as it is.
            if pinned and "was not found" in downloaded.stderr:
                raise VersionGoneError(downloaded.stderr.strip())
            raise subprocess.CalledProcessError(
                downloaded.returncode, downloaded.args, stderr=downloaded.stderr
            )
        staging = base.with_suffix(".partial")
        staging.mkdir(parents=True)
        for package in PINNED:
            found = list(debs.glob(f"{package.package}_*.deb"))
            if len(found) != 1:
                raise PinnedPackageError(f"{package.package}: apt-get downloaded {found}")
            digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
            if not pinned and digest != package.sha256:
                warnings.warn(
                    f"{package.package}={package.version} is no longer in Debian's archive: "
                    f"took {found[0].name} (SHA-256 {digest}); pin that in infra/bytecode.py",
                    stacklevel=2,
                )
            elif digest != package.sha256:
                raise PinnedPackageError(
                    f"{found[0].name}: SHA-256 {digest}, pinned {package.sha256}"
                )
            subprocess.run(["dpkg-deb", "-x", str(found[0]), str(staging)], check=True)  # noqa: S603, S607
        staging.rename(base)
    return base


if __name__ == "__main__":
    fetch()
    command = runtime_python()
    print(" ".join(command) if command else "no CPython 3.14")
