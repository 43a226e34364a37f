"""The pipeline on moto in-process, for tests that need thousands of deliveries fast (property
tests) or a handler's Lambda entry point with fakes nearby.

It provisions from the declaration like the local stack and drives the same pollers
(``userpipe.local.sources``), but calls each handler in this process: ``InProcessFunction``
sets exactly the function's environment for the duration of a call, then restores the host's,
and clears a handler module's caches when a new pipeline makes its function (each function has
its own handler module, so caches never mix functions). The local stack itself runs each
function in its own process; see ``userpipe.local.sandbox``.
"""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from contracts.audit_model import AuditRecord
from contracts.topology import (
    FUNCTIONS,
    PROJECTION,
    STREAM_CONSUMERS,
    USER_API,
    Attr,
    FunctionSpec,
    ResourceNames,
    StageResources,
    default_settings,
)
from contracts.user_model import User
from tests.support import cognito_sign_up, emulated_pool_user
from userpipe.aws.clients import REGION, Clients
from userpipe.local.provision import provision
from userpipe.local.sandbox import ACCOUNT, Invocation, lambda_runtime_environment
from userpipe.local.sources import QueuePoller, StreamPoller
from userpipe.local.worker import Context

SETTINGS = default_settings("local")  # the local stack's


class InProcessFunction:
    """A function called in this process with its own environment (see module docstring)."""

    def __init__(self, spec: FunctionSpec, name: str, environment: Mapping[str, str]) -> None:
        self.spec = spec
        self.name = name
        self.environment = {
            **lambda_runtime_environment(spec, name, REGION),
            **environment,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }
        self.arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self._module = importlib.import_module(f"{spec.package}.handler")
        _cold_start(self._module)  # a new function: its caches are built with its environment

    def invoke(self, event: Any) -> Invocation:
        context = Context(
            function_name=self.name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.time() + self.spec.timeout_seconds,
        )
        with _environment(self.environment):
            try:
                result = self._module.lambda_handler(event, context)
            except Exception as exc:
                return Invocation(
                    context.aws_request_id,
                    error={"errorType": type(exc).__name__, "errorMessage": str(exc)},
                )
        return Invocation(context.aws_request_id, result)


class InProcessPipeline:
    def __init__(self, clients: Clients, names: ResourceNames) -> None:
        self.clients = clients
        self.names = names
        self.resources: StageResources = provision(clients, names, SETTINGS)
        # No GraphQL endpoint in process: the change publisher is not run here.
        self.resources.add("Api", graphql_url="http://127.0.0.1:9/graphql")
        self.functions = {
            spec.id: InProcessFunction(spec, names.function(spec), self.resources.environment(spec))
            for spec in FUNCTIONS
        }
        # Deliver at once: the batching window is about waiting, not about what is delivered.
        source = replace(PROJECTION.source, max_batching_window_seconds=0)
        self.projector = QueuePoller(
            clients.sqs,
            self.queue("ProjectorQueue"),
            self.functions[PROJECTION.consumer.id],  # type: ignore[arg-type]
            source,
            region=REGION,
            retry_delay=0,
        )
        stream = next(s for s in STREAM_CONSUMERS if s.id == "Audit")
        self.audit = StreamPoller(
            clients.streams,
            self.resources.attribute(Attr(stream.table.id, "stream_arn")),
            self.functions[stream.consumer.id],  # type: ignore[arg-type]
            stream.source,
            sqs=clients.sqs,
            on_failure=self.queue(stream.on_failure.id),
        )

    def confirmation(self, sub: str, email: str) -> dict[str, Any]:
        """The PostConfirmation event of a new user of the stage's pool (``pool_user``)."""
        pool_id = self.attribute("UserPool", "id")
        return cognito_sign_up(self.pool_user(sub, email), email, user_pool_id=pool_id)

    def pool_user(self, sub: str, email: str) -> str:
        """A confirmed user of the stage's pool with this ``sub`` (``tests.support``)."""
        return emulated_pool_user(self.attribute("UserPool", "id"), sub, email)

    def queue(self, resource: str) -> dict[str, str]:
        return {a: self.resources.attribute(Attr(resource, a)) for a in ("name", "url", "arn")}  # type: ignore[arg-type]

    def attribute(self, resource: str, attribute: str) -> str:
        return self.resources.attribute(Attr(resource, attribute))  # type: ignore[arg-type]

    def settle(self, max_rounds: int = 100) -> tuple[int, int]:
        """Deliver until nothing is left: (queue messages, stream records) delivered."""
        messages = records = 0
        for _ in range(max_rounds):
            delivered = _deliver_pending(self.projector), _deliver_pending(self.audit)
            if not any(delivered):
                return messages, records
            messages, records = messages + delivered[0], records + delivered[1]
        raise RuntimeError(f"pipeline did not settle in {max_rounds} rounds")

    def api(self, event: dict[str, Any]) -> dict[str, Any]:
        """The API function's answer to an AppSync event."""
        invocation = self.functions[USER_API.id].invoke(event)
        assert invocation.ok, invocation.error
        answer: dict[str, Any] = invocation.result
        return answer

    def users(self) -> dict[str, User]:
        table = self.attribute("UserTable", "name")
        return {user.id: user for user in map(User.from_item, self._scan(table))}

    def audit_records(self) -> list[AuditRecord]:
        table = self.attribute("AuditTable", "name")
        return sorted(map(AuditRecord.from_item, self._scan(table)), key=lambda r: r.audit_id)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        paginator = self.clients.dynamodb.get_paginator("scan")
        return [item for page in paginator.paginate(TableName=table) for item in page["Items"]]


def _deliver_pending(poller: QueuePoller | StreamPoller) -> int:
    """Poll until the poller finds nothing; how many messages or records it delivered."""
    delivered = 0
    while count := poller.poll():
        delivered += count
    return delivered


def _cold_start(module: Any) -> None:
    """Forget every per-cold-start cache of a handler module (its ``@cache`` functions)."""
    for value in vars(module).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def in_process_pipeline(stage: str = "test") -> Iterator[InProcessPipeline]:
    """The pipeline on moto's in-process mock, refusing what DynamoDB refuses and moto does
    not (``userpipe.local.dynamodb``)."""
    from moto import mock_aws

    from userpipe.local import dynamodb

    dynamodb.install()
    with mock_aws():
        yield InProcessPipeline(Clients(local=True), ResourceNames(stage))
