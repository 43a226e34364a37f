"""The cold path of every function: a fresh interpreter importing the handler module and
building the clients the function builds on its first invocation, against ``import boto3`` and
the same clients. Best of N each, the two interleaved ABBA; interpreter start-up (``pass``)
measured alongside and subtracted from both.

The runtime starts the interpreter whatever the code; what the code adds on top is its imports
and its clients, which is what this compares. The user API's first invocation also reads its
page-token secret (a network call): only the client is built here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


def run_once(code: str, spec: FunctionSpec | None = None) -> float:
    env = _environment(spec)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def import_profile(code: str, spec: FunctionSpec) -> dict[str, float]:
    """Seconds of import time (``-X importtime``, self time summed) per top-level package."""
    env = {**os.environ, **environment(spec)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=env,
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


def extra_imports(pair: Snippets, spec: FunctionSpec, top: int = 6) -> dict[str, float]:
    """What the handler imports beyond the baseline, by package, costliest first (ms)."""
    handler, baseline = import_profile(pair.handler, spec), import_profile(pair.baseline, spec)
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


def phases(spec: FunctionSpec, repeats: int = 5) -> dict[str, float]:
    """Where the handler's extra time goes, best of ``repeats`` per phase (ms): importing the
    handler module, then its first call (building clients), against building the same clients
    right after ``import boto3``. A client costs more to build in a bigger heap (botocore's
    JSON model loading runs more garbage collection), which ``-X importtime`` cannot show."""
    handler, baseline = phase_snippets(spec)
    samples: dict[str, list[float]] = {"import_handler": [], "first_call": [], "baseline": []}
    for _ in range(repeats):
        imported, called = (float(v) for v in _output(handler, spec).split())
        samples["import_handler"].append(imported)
        samples["first_call"].append(called)
        samples["baseline"].append(float(_output(baseline, spec)))
    best = {name: round(min(values) * 1000, 1) for name, values in samples.items()}
    return {
        "import_handler_module_ms": best["import_handler"],
        "first_call_clients_ms": best["first_call"],
        "same_clients_after_import_boto3_ms": best["baseline"],
    }


def _output(code: str, spec: FunctionSpec) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environment(spec),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _environment(spec: FunctionSpec | None) -> dict[str, str]:
    """The host's environment with ``spec``'s (the runtime's part alone for ``pass``)."""
    # Any non-empty PYTHONDONTWRITEBYTECODE (even "0") stops Python writing .pyc files.
    host = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return host | (environment(spec) if spec else RUNTIME_ENVIRONMENT)


def measure(repeats: int = 7) -> list[Measurement]:
    for spec in (None, *FUNCTIONS):
        code = snippets(spec).handler if spec else "pass"
        # Compile every module once (.pyc) so both sides load bytecode. Our function bundles and
        # layers ship none, and /tmp is the only writable directory of an execution environment
        # ("Lambda isolation technologies", Security Overview of AWS Lambda): on Lambda each cold
        # start compiles our code and the layers' again, so the handler side costs more there.
        run_once(code, spec)
    measurements = []
    for spec in FUNCTIONS:
        pair = snippets(spec)
        handler: list[float] = []
        baseline: list[float] = []
        startup: list[float] = []
        for repeat in range(repeats):  # A B B A, then B A A B, ...
            order = (
                [(handler, pair.handler), (baseline, pair.baseline)]
                if repeat % 2 == 0
                else [(baseline, pair.baseline), (handler, pair.handler)]
            )
            for samples, code in order:
                samples.append(run_once(code, spec))
            startup.append(run_once("pass"))
        empty = min(startup)
        measurements.append(
            Measurement(
                name=f"cold path: {spec.id}",
                unit="s",
                value=min(handler) - empty,
                baseline=min(baseline) - empty,
                goal=GOAL,
                baseline_name="import boto3 + the same clients",
                notes={
                    "handler_snippet": pair.handler,
                    "baseline_snippet": pair.baseline,
                    "interpreter_startup_s": round(empty, 4),
                    "repeats": repeats,
                    "extra_imports_ms": extra_imports(pair, spec),
                    "phases": phases(spec),
                },
            )
        )
    return measurements
