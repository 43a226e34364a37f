"""The cold path of every function: a fresh interpreter importing the handler module and
building the clients the function builds on its first invocation, against ``import boto3`` and
the same clients. Medians of N fresh interpreters each, interleaved; interpreter start-up
(``pass``) measured alongside and its median subtracted from both. The ratio is the handler's
median over the baseline's median, from one run; the notes give p25/p75 and min/max.

The time compared is each process's CPU time (user + system, from ``wait4``), not wall-clock:
importing and building clients is CPU work from the page cache, and on this shared 2-core
machine wall-clock mostly measured the other processes (load averages of 4-7 while measuring
gave interquartile ranges wider than the differences). A Lambda environment's CPU share is its
own. Wall-clock medians and spreads stay in each row's notes (``wall_*``).

The runtime starts the interpreter whatever the code; what the code adds on top is its imports
and its clients, which is what this compares. The user API's first invocation also reads its
page-token secret (a network call): only the client is built here.

Each function runs from a copy of what Lambda gives it, made per run: its bundle's code and its
layers' packages (the same distributions, this machine's build of them), first on ``sys.path``,
with ``PYTHONDONTWRITEBYTECODE`` set (Lambda cannot write beside ``/var/task`` or ``/opt``):

- ``cold path: <id>``: the copy holds unchecked-hash ``.pyc`` for every module, as the assets
  ship them (``infra.bytecode``). They are compiled here by this machine's Python (3.11): the
  assets' own are CPython 3.14's, which cannot run boto3 here (only its minimal build is
  unpacked), so the timing models our bytecode, not 3.14's speed;
- ``cold path without bytecode: <id>``: no ``.pyc`` at all, as Lambda saw the functions before
  they shipped bytecode: every module of ours and of the layers compiles on every cold start.

Both sides import the standard library and boto3 from this machine's installation, with their
``.pyc``: the baseline is a function with no code and no layer on the managed runtime, whose
boto3 and standard library are the runtime's own and are taken as precompiled (they sit in the
runtime image, not in anything we ship).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.report import Goal, Measurement
from contracts.topology import (
    FUNCTIONS,
    Attr,
    FunctionSpec,
    Ref,
    default_settings,
    function_environment,
    resolve_fixed_or_setting,
)
from infra.bundling import function_code
from infra.layer import built_layer

ROOT = Path(__file__).resolve().parent.parent
GOAL = Goal("<=", 1.2)

#: What building a service's access costs where the code builds no boto3 client for it
#: (``contracts.topology.CLIENT_OF``): the change publisher signs its GraphQL requests with the
#: session's credentials (botocore) and opens HTTPS itself.
BUILT_WITHOUT_CLIENT: dict[str, str] = {
    "appsync": "import botocore.session, ssl; "
    "botocore.session.get_session().get_credentials(); ssl.create_default_context()",
}
#: Placeholder values of the attributes a function's environment names (nothing is called).
PLACEHOLDERS: dict[str, str] = {
    "name": "userpipe-bench-{resource}",
    "arn": "arn:aws:bench:eu-west-1:123456789012:{resource}",
    "url": "https://bench.invalid/{resource}",
    "stream_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/{resource}/stream/bench",
    "id": "eu-west-1_bench",
    "client_id": "bench",
    "graphql_url": "https://bench.appsync-api.eu-west-1.amazonaws.com/graphql",
    "api_id": "bench",
    "rule_arn": "arn:aws:events:eu-west-1:123456789012:rule/{resource}",
}
#: The settings the functions run with: the local stack's defaults.
LOCAL_SETTINGS = default_settings("local")
#: The runtime's part of every function's environment, with placeholder credentials.
RUNTIME_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


@dataclass(frozen=True)
class ColdPath:
    """A function's first invocation before the network, as ``contracts.topology.ColdStart``
    declares it: what runs after importing its handler module (``h``), and the clients it
    builds (the baseline builds the same after ``import boto3``)."""

    first_call: str
    clients: tuple[str, ...]
    built_without_client: str  # what the baseline builds instead of clients (or "")


def cold_path(spec: FunctionSpec) -> ColdPath:
    declared = spec.cold_start
    clients = 'boto3.client("{}")'
    steps = [f"h.{declared.builds}()"] if declared.builds else []
    if declared.clients_inline:
        steps += [clients.format(client) for client in spec.clients]
    without_client = "; ".join(
        BUILT_WITHOUT_CLIENT[grant.service]
        for grant in spec.grants
        if grant.service in BUILT_WITHOUT_CLIENT
    )
    return ColdPath("; ".join(steps), spec.clients, without_client)


#: Every declared function's cold path.
COLD_PATHS: dict[str, ColdPath] = {spec.id: cold_path(spec) for spec in FUNCTIONS}


def environment(spec: FunctionSpec) -> dict[str, str]:
    """``spec``'s environment as Lambda sets it, with placeholder values and the local stack's
    default settings."""

    def placeholder(ref: Ref) -> str | None:
        if isinstance(ref, Attr):
            return PLACEHOLDERS[ref.attribute].format(resource=ref.resource)
        return resolve_fixed_or_setting(ref, LOCAL_SETTINGS)

    return RUNTIME_ENVIRONMENT | function_environment(spec, placeholder)


@dataclass(frozen=True)
class Snippets:
    function: str
    handler: str  # import the handler module and build its clients
    baseline: str  # import boto3 and build the same clients


def snippets(spec: FunctionSpec) -> Snippets:
    path = COLD_PATHS[spec.id]
    module = spec.handler.rpartition(".")[0]
    extra = [path.built_without_client] if path.built_without_client else []
    return Snippets(
        spec.id,
        f"import boto3; import {module} as h; {path.first_call}",
        "; ".join(["import boto3", *(f'boto3.client("{c}")' for c in path.clients), *extra]),
    )


#: The two kinds of copy each function runs from (see the module's docstring).
SHIPPED, SOURCES = "shipped", "sources"


def _site_packages() -> Path:
    import boto3

    return Path(boto3.__file__).resolve().parent.parent


def layer_packages(spec: FunctionSpec) -> list[Path]:
    """This machine's installed copies of what ``spec``'s built layers hold at their top level
    (the same names: packages, modules and native extensions)."""
    site = _site_packages()
    stems = {
        entry.name.split(".")[0]
        for layer in spec.layers
        for entry in (built_layer(layer) / "python").iterdir()
        if not entry.name.endswith(".dist-info") and entry.name != "__pycache__"
    }
    found = [
        entry
        for entry in site.iterdir()
        if entry.name.split(".")[0] in stems and not entry.name.endswith(".dist-info")
    ]
    missing = stems - {entry.name.split(".")[0] for entry in found}
    if missing:
        raise FileNotFoundError(f"{spec.id}: not installed here: {sorted(missing)}")
    return found


def stage(spec: FunctionSpec, target: Path, kind: str) -> Path:
    """``spec``'s bundle and layers' packages in ``target``, with unchecked-hash ``.pyc``
    (``SHIPPED``) or none (``SOURCES``)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(function_code(spec), target, ignore=skip)
    for entry in layer_packages(spec):
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=skip)
        else:
            shutil.copy2(entry, target / entry.name)
    if kind == SHIPPED:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
             str(target)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
    return target


@contextmanager
def staged(spec: FunctionSpec) -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory(prefix=f"userpipe-cold-{spec.id}-") as tmp:
        yield {kind: stage(spec, Path(tmp) / kind, kind) for kind in (SHIPPED, SOURCES)}


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds from start to exit
    cpu: float  # user + system seconds of the process


def run_once(code: str, spec: FunctionSpec | None = None, cwd: Path = ROOT) -> Timing:
    env = _environment(spec)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return Timing(wall, usage.ru_utime + usage.ru_stime)


def import_profile(code: str, spec: FunctionSpec, cwd: Path = ROOT) -> dict[str, float]:
    """Seconds of import time (``-X importtime``, self time summed) per top-level package."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=cwd,
        env=_environment(spec),
        check=True,
        capture_output=True,
        text=True,
    )
    packages: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        packages[package] = packages.get(package, 0.0) + int(self_us) / 1e6
    return packages


def extra_imports(
    pair: Snippets, spec: FunctionSpec, top: int = 6, cwd: Path = ROOT
) -> dict[str, float]:
    """What the handler imports beyond the baseline, by package, costliest first (ms)."""
    handler = import_profile(pair.handler, spec, cwd)
    baseline = import_profile(pair.baseline, spec, cwd)
    extra = {package: seconds - baseline.get(package, 0.0) for package, seconds in handler.items()}
    costliest = sorted(extra.items(), key=lambda item: -item[1])[:top]
    return {package: round(seconds * 1000, 1) for package, seconds in costliest if seconds > 0}


def phase_snippets(spec: FunctionSpec) -> tuple[str, str]:
    """The timed programs ``phases`` runs: the handler's import then first call, and building
    the same clients right after ``import boto3``."""
    path = COLD_PATHS[spec.id]
    module = spec.handler.rpartition(".")[0]
    clock = "import time; t = time.perf_counter"
    handler = (
        f"{clock}; import boto3; a = t(); import {module} as h; b = t(); {path.first_call}; "
        "c = t(); print(b - a, c - b)"
    )
    build = "".join(f'boto3.client("{c}"); ' for c in path.clients)
    if path.built_without_client:
        build += f"{path.built_without_client}; "
    return handler, f"{clock}; import boto3; a = t(); {build}c = t(); print(c - a)"


def phases(spec: FunctionSpec, repeats: int = 5, cwd: Path = ROOT) -> dict[str, float]:
    """Where the handler's extra time goes, median of ``repeats`` per phase (ms): importing the
    handler module, then its first call (building clients), against building the same clients
    right after ``import boto3``. A client costs more to build in a bigger heap (botocore's
    JSON model loading runs more garbage collection), which ``-X importtime`` cannot show."""
    handler, baseline = phase_snippets(spec)
    samples: dict[str, list[float]] = {"import_handler": [], "first_call": [], "baseline": []}
    for _ in range(repeats):
        imported, called = (float(v) for v in _output(handler, spec, cwd).split())
        samples["import_handler"].append(imported)
        samples["first_call"].append(called)
        samples["baseline"].append(float(_output(baseline, spec, cwd)))
    median = {name: round(statistics.median(v) * 1000, 1) for name, v in samples.items()}
    return {
        "import_handler_module_ms": median["import_handler"],
        "first_call_clients_ms": median["first_call"],
        "same_clients_after_import_boto3_ms": median["baseline"],
    }


def _output(code: str, spec: FunctionSpec, cwd: Path = ROOT) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=_environment(spec),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _environment(spec: FunctionSpec | None) -> dict[str, str]:
    """The host's environment with ``spec``'s (the runtime's part alone for ``pass``); no
    ``.pyc`` is written, as on Lambda. ``PYTHONPATH`` is dropped: the staged copy, the working
    directory, comes first on ``sys.path``."""
    host = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHASHSEED")}
    runtime = environment(spec) if spec else RUNTIME_ENVIRONMENT
    return host | runtime | {"PYTHONDONTWRITEBYTECODE": "1"}


def spread(samples: list[float], startup: float) -> dict[str, float]:
    """Median, quartiles and extremes of ``samples`` less ``startup`` (s, 4 decimals)."""
    net = sorted(sample - startup for sample in samples)
    p25, p50, p75 = statistics.quantiles(net, n=4, method="inclusive")
    return {
        name: round(value, 4)
        for name, value in (
            ("min", net[0]), ("p25", p25), ("median", p50), ("p75", p75), ("max", net[-1])
        )
    }  # fmt: skip


def measure(repeats: int = 7) -> list[Measurement]:
    """Per function, ``repeats`` fresh interpreters of each kind, the order rotated every
    repeat: the handler from the copy with bytecode, from the copy without, the baseline, and
    ``pass``. Two measurements per function (see the module's docstring)."""
    shipped: list[Measurement] = []
    sources: list[Measurement] = []
    for spec in FUNCTIONS:
        pair = snippets(spec)
        with staged(spec) as copies:
            runs = {
                "handler_shipped": (pair.handler, copies[SHIPPED]),
                "handler_sources": (pair.handler, copies[SOURCES]),
                "baseline": (pair.baseline, copies[SHIPPED]),
                "startup": ("pass", copies[SHIPPED]),
            }
            for code, cwd in runs.values():  # warm the file cache, check every program runs
                run_once(code, spec, cwd)
            timings: dict[str, list[Timing]] = {name: [] for name in runs}
            order = list(runs)
            for repeat in range(repeats):
                for name in order[repeat % 4 :] + order[: repeat % 4]:
                    code, cwd = runs[name]
                    timings[name].append(run_once(code, spec if name != "startup" else None, cwd))
            samples = {name: [t.cpu for t in found] for name, found in timings.items()}
            wall = {name: [t.wall for t in found] for name, found in timings.items()}
            startup = statistics.median(samples["startup"])
            wall_startup = statistics.median(wall["startup"])
            baseline = spread(samples["baseline"], startup)
            common = {
                "handler_snippet": pair.handler,
                "baseline_snippet": pair.baseline,
                "interpreter_startup_cpu_s": round(startup, 4),
                "repeats": repeats,
                "baseline_cpu_s": baseline,
                "wall_baseline_s": spread(wall["baseline"], wall_startup),
                "ratio": "median CPU time of the handler's runs / median of the baseline's, the "
                "start-up's median subtracted from both; one run",
            }
            for kind, into in ((SHIPPED, shipped), (SOURCES, sources)):
                handler = spread(samples[f"handler_{kind}"], startup)
                into.append(
                    Measurement(
                        name=f"cold path: {spec.id}"
                        if kind == SHIPPED
                        else f"cold path without bytecode: {spec.id}",
                        unit="s",
                        value=handler["median"],
                        baseline=baseline["median"],
                        goal=GOAL if kind == SHIPPED else None,
                        baseline_name="import boto3 + the same clients (runtime's, precompiled)",
                        notes={
                            **common,
                            "bytecode": "unchecked-hash .pyc, compiled here by CPython "
                            + ".".join(map(str, sys.version_info[:2]))
                            if kind == SHIPPED
                            else "none: every module of ours and of the layers compiles",
                            "handler_cpu_s": handler,
                            "wall_handler_s": spread(wall[f"handler_{kind}"], wall_startup),
                            **(
                                {
                                    "extra_imports_ms": extra_imports(
                                        pair, spec, cwd=copies[SHIPPED]
                                    ),
                                    "phases": phases(spec, cwd=copies[SHIPPED]),
                                }
                                if kind == SHIPPED
                                else {}
                            ),
                        },
                    )
                )
    return [explained(m) for m in shipped] + sources


def explained(found: Measurement) -> Measurement:
    """A missed row with why, from its own profile: what importing the handler module and its
    first call (building its clients) took, against the same clients built right after
    ``import boto3``, and what it imports beyond the baseline, costliest first."""
    if found.met is not False:
        return found
    phases, extra = found.notes["phases"], found.notes["extra_imports_ms"]
    imports = ", ".join(f"{package} {ms} ms" for package, ms in extra.items())
    why = (
        f"over the goal by {found.ratio - found.goal.ratio:.4f}x "  # type: ignore[operator,union-attr]
        f"(median {found.value * 1000:.1f} ms against {found.baseline * 1000:.1f}; "  # type: ignore[operator]
        f"the handler's p25-p75 {found.notes['handler_cpu_s']['p25'] * 1000:.0f}-"
        f"{found.notes['handler_cpu_s']['p75'] * 1000:.0f} ms, the baseline's "
        f"{found.notes['baseline_cpu_s']['p25'] * 1000:.0f}-"
        f"{found.notes['baseline_cpu_s']['p75'] * 1000:.0f} ms). Its module imports in "
        f"{phases['import_handler_module_ms']} ms ({imports}); its first call builds its clients "
        f"in {phases['first_call_clients_ms']} ms against "
        f"{phases['same_clients_after_import_boto3_ms']} ms right after import boto3 (botocore's "
        "model loading collects garbage in a bigger heap)"
    )
    return dataclasses.replace(found, notes={**found.notes, "why": why})
