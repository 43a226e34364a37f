"""Every declared function is complete: a new consumer is its declaration and its service folder.

``problems`` walks one ``FunctionSpec`` and names whatever it lacks — a service folder with a
handler, a grant for each resource its environment names and for each AWS call its code makes,
grants on declared resources only, settings that resolve with a deployment's and the local
stack's defaults, a cold start the bench can run, a logger named for the function. Every
declared function must have none, and a made-up one shows each problem being found.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import pytest

from contracts.topology import (
    ARCHIVE,
    BUS,
    FUNCTIONS,
    GRAPHQL_API,
    SCHEDULES,
    SECRETS,
    SETTINGS,
    STREAM_CONSUMERS,
    SUBSCRIPTIONS,
    TABLES,
    USER_POOL,
    USER_PROJECTOR,
    ApiFields,
    Attr,
    ColdStart,
    Env,
    Fixed,
    FunctionSpec,
    Grant,
    IndexOf,
    Ref,
    Setting,
    SettingKey,
    UnresolvedSettingError,
    default_settings,
    function_environment,
    resolve_fixed_or_setting,
    subscribed,
)

ROOT = Path(__file__).resolve().parents[2]

#: Every resource a grant may name: what the declaration builds.
DECLARED_RESOURCES = frozenset(
    {
        *(table.id for table in TABLES),
        BUS.id,
        ARCHIVE.id,
        *(secret.id for secret in SECRETS),
        USER_POOL.id,
        GRAPHQL_API,
        *(f"{s.id}{part}" for s in SUBSCRIPTIONS for part in ("Queue", "Dlq", "Rule")),
        *(stream.on_failure.id for stream in STREAM_CONSUMERS),
        *(schedule.dlq.id for schedule in SCHEDULES),
        *(spec.id for spec in FUNCTIONS),
    }
)
DECLARED_SETTINGS = frozenset(setting.key for setting in SETTINGS)


def problems(spec: FunctionSpec) -> list[str]:
    """What ``spec`` lacks, each named; ``[]``: nothing."""
    found = list(_grant_problems(spec))
    named = {env.ref.key for env in spec.environment if isinstance(env.ref, Setting)}
    undeclared = sorted(named - DECLARED_SETTINGS)
    if undeclared:
        found.append(f"{spec.id}: its environment names {', '.join(undeclared)}, not in SETTINGS")
    else:
        found += [*_setting_problems(spec, "deploy"), *_setting_problems(spec, "local")]
    handler = ROOT / spec.source_dir / "handler.py"
    if not handler.is_file():
        where = handler.relative_to(ROOT)
        return [*found, f"{spec.id}: no service folder with a handler ({where})"]
    module = importlib.import_module(f"{spec.package}.handler")
    if not callable(getattr(module, "lambda_handler", None)):
        found.append(f"{spec.id}: {spec.handler} is not a function")
    loggers = [v for v in vars(module).values() if type(v).__name__ == "Logger"]
    if [logger.service for logger in loggers] != [spec.service]:
        found.append(f"{spec.id}: its handler has no Logger(service={spec.service!r})")
    if Env("POWERTOOLS_SERVICE_NAME", Fixed(spec.service)) not in spec.environment:
        found.append(f"{spec.id}: POWERTOOLS_SERVICE_NAME is not {spec.service!r}")
    builds = spec.cold_start.builds
    if builds is not None and not callable(getattr(module, builds, None)):
        found.append(f"{spec.id}: its cold start calls {builds}(), which its handler lacks")
    if spec.cold_start.clients_inline and not spec.clients:
        found.append(f"{spec.id}: its cold start builds clients inline, and it has none")
    return found + list(_code_problems(spec))


def _grant_problems(spec: FunctionSpec) -> Iterator[str]:
    granted = {grant.resource for grant in spec.grants}
    for env in spec.environment:
        if isinstance(env.ref, Attr) and env.ref.resource not in granted and not env.value_only:
            yield f"{spec.id}: {env.variable} names {env.ref.resource}, and no grant is on it"
    for grant in spec.grants:
        if grant.resource is not None and grant.resource not in DECLARED_RESOURCES:
            yield f"{spec.id}: a grant is on {grant.resource}, which is not declared"
        if isinstance(grant.on, IndexOf):
            table = next((t for t in TABLES if t.id == grant.on.table), None)
            if table is None or grant.on.index not in {i.name for i in table.indexes}:
                yield f"{spec.id}: a grant is on index {grant.on.index}, not declared"
        if isinstance(grant.on, ApiFields):
            missing = set(grant.on.fields) - _schema_fields(grant.on.type_name)
            if missing:
                yield f"{spec.id}: a grant is on {sorted(missing)}, not in the schema"
        if grant.condition is not None and grant.condition.sender.key not in DECLARED_SETTINGS:
            yield f"{spec.id}: a grant's condition names {grant.condition.sender.key}, undeclared"


def _setting_problems(spec: FunctionSpec, where: Literal["deploy", "local"]) -> list[str]:
    settings = default_settings(where)
    optional = [s for s in SUBSCRIPTIONS if s.consumer == spec and s.switch is not None]
    if optional and not subscribed(optional[0], settings):
        return []  # left out by default: ``subscribed`` refuses it without what it needs
    try:
        function_environment(spec, lambda ref: _placeholder(ref, settings))
    except UnresolvedSettingError as error:
        return [f"{spec.id}: with a {where} stage's defaults, {error.args[0]}"]
    return []


def _placeholder(ref: Ref, settings: Mapping[str, str]) -> str | None:
    if isinstance(ref, Attr):
        return f"{ref.resource}-{ref.attribute}"
    return resolve_fixed_or_setting(ref, settings)


@cache
def _schema_fields(type_name: str) -> frozenset[str]:
    from contracts.appsync import load_schema

    return frozenset(getattr(load_schema().get_type(type_name), "fields", {}))


# --- the AWS calls a function's code makes --------------------------------------------------------


def _code_problems(spec: FunctionSpec) -> Iterator[str]:
    """Each boto3 client its code (and the modules of ours it imports) builds needs a grant on
    that service, and each operation called on such a client a grant of that action."""
    calls, clients = _aws_calls(spec.package)
    for client in sorted(clients - set(spec.clients)):
        yield f"{spec.id}: its code builds a {client} client, and no grant is for it"
    granted = {action for grant in spec.grants for action in grant.actions}
    for client in sorted(clients):
        model = _service_model(client)
        operations = {_snake(name): name for name in model.operation_names}
        for call in sorted(calls & set(operations)):
            action = f"{model.signing_name}:{operations[call]}"
            if action not in granted and f"{model.signing_name}:*" not in granted:
                yield f"{spec.id}: its code calls {action}, and no grant allows it"


def _aws_calls(package: str) -> tuple[set[str], set[str]]:
    """(attribute names used, boto3 clients built) by ``package``'s code and by what it uses of
    the modules of ours it imports (a top-level function or class of theirs counts when a name
    the code reaches refers to it)."""
    reached = _reached(package)
    calls: set[str] = set()
    clients: set[str] = set()
    for node in (inner for top in reached for inner in ast.walk(top)):
        if isinstance(node, ast.Attribute):  # called or not: ``(q if a else b)(**request)``
            calls.add(node.attr)
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) else None
        if node.func.attr == "client" and isinstance(literal, str):
            clients.add(literal)
        elif node.func.attr == "get_paginator" and isinstance(literal, str):
            calls.add(literal)
    return calls, clients


def _reached(package: str) -> list[ast.stmt]:
    """Every statement of ``package``; of the other modules of ours it imports, their
    module-level statements and each definition a reached name refers to, until none is new."""
    own = ROOT / package.replace(".", "/")
    reached: list[ast.stmt] = []
    definitions: dict[str, list[ast.stmt]] = {}
    for path in _our_modules(package):
        for top in ast.parse(path.read_text()).body:
            named = isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if path.parent == own or not named:
                reached.append(top)
            else:
                definitions.setdefault(top.name, []).append(top)  # type: ignore[union-attr]
    names: set[str] = set()
    while True:
        for node in (inner for top in reached for inner in ast.walk(top)):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name)
        new = [top for name in names & set(definitions) for top in definitions.pop(name)]
        if not new:
            return reached
        reached += new


def _our_modules(package: str) -> set[Path]:
    """The files of ``package`` and of every module of this repository they import, in turn."""
    seen: set[Path] = set()
    todo = sorted((ROOT / package.replace(".", "/")).glob("*.py"))
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                base = ROOT / name.replace(".", "/")
                todo += [f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()]
    return seen


@cache
def _service_model(client: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(client)


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_every_declared_function_lacks_nothing(spec: FunctionSpec) -> None:
    assert problems(spec) == []


def test_functions_are_declared_once_each() -> None:
    assert len({spec.id for spec in FUNCTIONS}) == len({spec.package for spec in FUNCTIONS})
    assert len(FUNCTIONS) == len({spec.id for spec in FUNCTIONS})


def test_every_setting_a_reference_may_name_has_its_defaults_declared_once() -> None:
    keys = [setting.key for setting in SETTINGS]
    assert sorted(keys) == sorted(set(keys)) == sorted(get_args(SettingKey))
    assert default_settings("deploy")["welcomeSender"] == ""  # a deployment has no sender
    assert default_settings("local")["welcomeSender"] == "no-reply@example.com"  # moto's SES


def test_a_made_up_function_is_told_everything_it_lacks() -> None:
    crm_sync = FunctionSpec(
        id="CrmSync",
        package="services.crm_sync",
        timeout_seconds=30,
        memory_mb=256,
        environment=(
            Env("CRM_QUEUE_URL", Attr("ProjectorQueue", "url")),
            Env("CRM_URL", Setting("crmUrl")),  # type: ignore[arg-type]
        ),
        cold_start=ColdStart("default_client"),
        grants=(Grant(("dynamodb:PutItem",), Attr("CrmTable", "arn"), "Writes contacts."),),
    )
    assert problems(crm_sync) == [
        "CrmSync: CRM_QUEUE_URL names ProjectorQueue, and no grant is on it",
        "CrmSync: a grant is on CrmTable, which is not declared",
        "CrmSync: its environment names crmUrl, not in SETTINGS",
        "CrmSync: no service folder with a handler (services/crm_sync/handler.py)",
    ]


def test_a_function_without_its_grants_is_told_which_calls_they_must_allow() -> None:
    assert problems(replace(USER_PROJECTOR, grants=())) == [
        "UserProjector: USER_TABLE_NAME names UserTable, and no grant is on it",
        "UserProjector: KEYS_TABLE_NAME names KeysTable, and no grant is on it",
        "UserProjector: its code builds a cognito-idp client, and no grant is for it",
        "UserProjector: its code builds a dynamodb client, and no grant is for it",
        "UserProjector: its code calls cognito-idp:AdminGetUser, and no grant allows it",
        "UserProjector: its code calls cognito-idp:ListUsers, and no grant allows it",
        "UserProjector: its code calls dynamodb:GetItem, and no grant allows it",
        "UserProjector: its code calls dynamodb:PutItem, and no grant allows it",
        "UserProjector: its code calls dynamodb:UpdateItem, and no grant allows it",
    ]


def test_a_function_whose_settings_a_stage_lacks_by_default_is_told_so() -> None:
    """The welcome notifier needs a sender; a deployment has none by default, so it is left
    out there (``subscribed``). A required function has no such way out."""
    needs_sender = replace(USER_PROJECTOR, environment=(
        *USER_PROJECTOR.environment, Env("WELCOME_SENDER", Setting("welcomeSender"))
    ))  # fmt: skip
    assert problems(needs_sender) == [
        "UserProjector: with a deploy stage's defaults, UserProjector requires WELCOME_SENDER "
        "and no value was given"
    ]


def test_a_function_without_its_cold_start_or_logger_is_told_so() -> None:
    wrong = replace(USER_PROJECTOR, package="services.audit_trail", cold_start=ColdStart("nope"))
    assert problems(wrong) == [
        "UserProjector: POWERTOOLS_SERVICE_NAME is not 'audit_trail'",
        "UserProjector: its cold start calls nope(), which its handler lacks",
        "UserProjector: its code calls dynamodb:Query, and no grant allows it",
    ]
