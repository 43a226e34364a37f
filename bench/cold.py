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
from contracts.topology import FUNCTIONS, FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
GOAL = Goal("<=", 1.2)

#: Per function: what its first invocation runs before touching the network, and the clients
#: that builds (the baseline builds the same clients after ``import boto3``).
COLD_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ConfirmTrigger": ("h.default_publisher()", ("events",)),
    "UserProjector": ("h.default_store()", ("dynamodb",)),
    "AuditTrail": ("h.default_store()", ("dynamodb",)),
    "UserApi": ('boto3.client("secretsmanager"); boto3.client("dynamodb")', ()),
    "Reconcile": (
        'h.default_settings(); boto3.client("cognito-idp"); boto3.client("dynamodb"); '
        'boto3.client("events")',
        (),
    ),
    "WelcomeNotifier": ("h.default_sender()", ("sesv2",)),
    # No client: it signs its GraphQL requests with the session's credentials (botocore) and
    # opens HTTPS itself; its baseline does the same after `import boto3` (BUILT_INLINE).
    "ChangePublisher": ("h.default_publisher()", ()),
}
#: The clients of the rows whose first-invocation code builds them inline (above, with ``()``).
INLINE_CLIENTS: dict[str, tuple[str, ...]] = {
    "UserApi": ("secretsmanager", "dynamodb"),
    "Reconcile": ("cognito-idp", "dynamodb", "events"),
    "ChangePublisher": (),
}
#: What a row's baseline builds instead of clients: the same work without the handler.
BUILT_INLINE: dict[str, str] = {
    "ChangePublisher": "import botocore.session, ssl; "
    "botocore.session.get_session().get_credentials(); ssl.create_default_context()",
}
#: Every variable any handler requires, with placeholder values (nothing is called).
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "EVENT_BUS_NAME": "userpipe-bench-users",
    "USER_TABLE_NAME": "userpipe-bench-user",
    "AUDIT_TABLE_NAME": "userpipe-bench-audit",
    "USER_POOL_ID": "eu-west-1_bench",
    "PAGE_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench",
    "ADMIN_GROUP": "Admin",
    "WELCOME_SENDER": "no-reply@example.com",
    "GRAPHQL_URL": "https://bench.appsync-api.eu-west-1.amazonaws.com/graphql",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


@dataclass(frozen=True)
class Snippets:
    function: str
    handler: str  # import the handler module and build its clients
    baseline: str  # import boto3 and build the same clients


def snippets(spec: FunctionSpec) -> Snippets:
    first_call, clients = COLD_PATHS[spec.id]
    clients = clients or INLINE_CLIENTS[spec.id]
    module = spec.handler.rpartition(".")[0]
    extra = [BUILT_INLINE[spec.id]] if spec.id in BUILT_INLINE else []
    return Snippets(
        spec.id,
        f"import boto3; import {module} as h; {first_call}",
        "; ".join(["import boto3", *(f'boto3.client("{c}")' for c in clients), *extra]),
    )


def run_once(code: str) -> float:
    env = _environment()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def import_profile(code: str) -> dict[str, float]:
    """Seconds of import time (``-X importtime``, self time summed) per top-level package."""
    env = {**os.environ, **ENVIRONMENT}
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


def extra_imports(pair: Snippets, top: int = 6) -> dict[str, float]:
    """What the handler imports beyond the baseline, by package, costliest first (ms)."""
    handler, baseline = import_profile(pair.handler), import_profile(pair.baseline)
    extra = {package: seconds - baseline.get(package, 0.0) for package, seconds in handler.items()}
    costliest = sorted(extra.items(), key=lambda item: -item[1])[:top]
    return {package: round(seconds * 1000, 1) for package, seconds in costliest if seconds > 0}


def phase_snippets(spec: FunctionSpec) -> tuple[str, str]:
    """The timed programs ``phases`` runs: the handler's import then first call, and building
    the same clients right after ``import boto3``."""
    first_call, clients = COLD_PATHS[spec.id]
    clients = clients or INLINE_CLIENTS[spec.id]
    module = spec.handler.rpartition(".")[0]
    clock = "import time; t = time.perf_counter"
    handler = (
        f"{clock}; import boto3; a = t(); import {module} as h; b = t(); {first_call}; c = t(); "
        "print(b - a, c - b)"
    )
    build = "".join(f'boto3.client("{c}"); ' for c in clients)
    if spec.id in BUILT_INLINE:
        build += f"{BUILT_INLINE[spec.id]}; "
    return handler, f"{clock}; import boto3; a = t(); {build}c = t(); print(c - a)"


def phases(spec: FunctionSpec, repeats: int = 5) -> dict[str, float]:
    """Where the handler's extra time goes, best of ``repeats`` per phase (ms): importing the
    handler module, then its first call (building clients), against building the same clients
    right after ``import boto3``. A client costs more to build in a bigger heap (botocore's
    JSON model loading runs more garbage collection), which ``-X importtime`` cannot show."""
    handler, baseline = phase_snippets(spec)
    samples: dict[str, list[float]] = {"import_handler": [], "first_call": [], "baseline": []}
    for _ in range(repeats):
        imported, called = (float(v) for v in _output(handler).split())
        samples["import_handler"].append(imported)
        samples["first_call"].append(called)
        samples["baseline"].append(float(_output(baseline)))
    best = {name: round(min(values) * 1000, 1) for name, values in samples.items()}
    return {
        "import_handler_module_ms": best["import_handler"],
        "first_call_clients_ms": best["first_call"],
        "same_clients_after_import_boto3_ms": best["baseline"],
    }


def _output(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environment(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _environment() -> dict[str, str]:
    # Any non-empty PYTHONDONTWRITEBYTECODE (even "0") stops Python writing .pyc files.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | ENVIRONMENT


def measure(repeats: int = 7) -> list[Measurement]:
    for code in ("pass", *(s.handler for s in map(snippets, FUNCTIONS))):
        # Compile every module once (.pyc) so both sides load bytecode. Our function bundles and
        # layers ship none, and /tmp is the only writable directory of an execution environment
        # ("Lambda isolation technologies", Security Overview of AWS Lambda): on Lambda each cold
        # start compiles our code and the layers' again, so the handler side costs more there.
        run_once(code)
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
                samples.append(run_once(code))
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
                    "extra_imports_ms": extra_imports(pair),
                    "phases": phases(spec),
                },
            )
        )
    return measurements
