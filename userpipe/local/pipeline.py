"""The whole pipeline on the emulator: Cognito -> trigger -> bus -> queue -> projector -> table
-> stream -> audit. The handlers are the Lambda entry points themselves, run with the
environment infra gives them (``contracts.topology.function_environment``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.items import AuditRecord, User
from contracts.names import TRIGGER_CONFIRM_SIGN_UP
from contracts.topology import (
    AUDIT_SOURCE,
    AUDIT_TRAIL,
    CONFIRM_TRIGGER,
    FUNCTIONS,
    PROJECTOR_SOURCE,
    USER_API,
    USER_PROJECTOR,
    ResourceNames,
    function_environment,
)
from services.audit_trail import handler as audit_trail
from services.confirm_trigger import handler as confirm_trigger
from services.user_api import handler as user_api
from services.user_api.store import DynamoUserApiStore
from services.user_projector import handler as user_projector
from userpipe.local.clients import REGION, Clients
from userpipe.local.cognito import post_confirmation_event
from userpipe.local.provision import LocalResources, provision
from userpipe.local.runner import LocalContext, QueuePoller, StreamPoller

#: Per-cold-start caches in the handler modules; a new local stack is a new cold start.
_COLD_START_CACHES = (
    confirm_trigger.default_publisher,
    user_projector.default_store,
    audit_trail.default_settings,
    audit_trail.default_store,
    user_api.default_api,
)


@dataclass(frozen=True)
class Settled:
    messages: int  # queue messages delivered to the projector
    stream_records: int  # stream records delivered to the audit trail


class LocalPipeline:
    def __init__(self, clients: Clients, resources: LocalResources) -> None:
        self.clients = clients
        self.resources = resources
        names = resources.names
        self.projector = QueuePoller(
            clients.sqs,
            resources.projector_queue,
            user_projector.lambda_handler,
            PROJECTOR_SOURCE,
            LocalContext.for_function(USER_PROJECTOR, names.function(USER_PROJECTOR)),
        )
        self.audit = StreamPoller(
            clients.streams,
            resources.user_stream_arn,
            audit_trail.lambda_handler,
            AUDIT_SOURCE,
            LocalContext.for_function(AUDIT_TRAIL, names.function(AUDIT_TRAIL)),
            sqs=clients.sqs,
            on_failure=resources.audit_dlq,
        )
        self._trigger_context = LocalContext.for_function(
            CONFIRM_TRIGGER, names.function(CONFIRM_TRIGGER)
        )
        self._api_context = LocalContext.for_function(USER_API, names.function(USER_API))

    def sign_up(self, email: str, password: str) -> str:
        """Sign up and confirm like a user would; Cognito then calls the trigger. Returns the
        username."""
        pool, client = self.resources.user_pool_id, self.resources.app_client_id
        self.clients.cognito.sign_up(ClientId=client, Username=email, Password=password)
        self.clients.cognito.admin_confirm_sign_up(UserPoolId=pool, Username=email)
        username = self.clients.cognito.admin_get_user(UserPoolId=pool, Username=email)["Username"]
        self.run_trigger(username)
        return username

    def run_trigger(self, username: str, trigger_source: str = TRIGGER_CONFIRM_SIGN_UP) -> Any:
        """Invoke the PostConfirmation trigger as Cognito would (once per call)."""
        event = post_confirmation_event(
            self.clients.cognito,
            self.resources.user_pool_id,
            username,
            self.resources.app_client_id,
            trigger_source,
        )
        context: Any = self._trigger_context.fresh()  # what the handler reads of LambdaContext
        return confirm_trigger.lambda_handler(event, context)

    def replay(self, name: str, *, since: timedelta = timedelta(days=1)) -> int:
        """Replay archived events to the projector's rule only (as ``StartReplay`` with
        ``FilterArns`` does in AWS). moto replays synchronously. Returns the archive's size."""
        events, names = self.clients.events, self.resources.names
        archive = events.describe_archive(ArchiveName=names.archive)
        rule = events.describe_rule(Name=names.projector_rule, EventBusName=names.event_bus)
        now = datetime.now(UTC)
        events.start_replay(
            ReplayName=name,
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=now - since,
            EventEndTime=now,
            Destination={"Arn": self.resources.bus_arn, "FilterArns": [rule["Arn"]]},
        )
        return int(archive["EventCount"])

    def api_store(self) -> DynamoUserApiStore:
        """The User and Audit tables as the API reads and edits them."""
        names = self.resources.names
        return DynamoUserApiStore(self.clients.dynamodb, names.user_table, names.audit_table)

    def users(self) -> dict[str, User]:
        """Every item in the User table, by id."""
        return {
            user.id: user
            for user in map(User.from_item, self._scan(self.resources.names.user_table))
        }

    def audit_records(self) -> list[AuditRecord]:
        """Every audit record, oldest first."""
        records = map(AuditRecord.from_item, self._scan(self.resources.names.audit_table))
        return sorted(records, key=lambda record: record.audit_id)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        paginator = self.clients.dynamodb.get_paginator("scan")
        return [item for page in paginator.paginate(TableName=table) for item in page["Items"]]

    def identity_of(self, username: str) -> dict[str, Any]:
        """The identity AppSync hands the resolver for this user's (verified) access token."""
        pool = self.resources.user_pool_id
        sub = self.clients.cognito.admin_get_user(UserPoolId=pool, Username=username)["Username"]
        groups = [
            group["GroupName"]
            for group in self.clients.cognito.admin_list_groups_for_user(
                UserPoolId=pool, Username=username
            )["Groups"]
        ]
        claims: dict[str, Any] = {"sub": sub, "username": sub, "token_use": "access"}
        if groups:
            claims["cognito:groups"] = groups
        return {"sub": sub, "username": sub, "claims": claims, "groups": groups or None}

    def graphql(
        self, type_name: str, field: str, arguments: dict[str, Any], identity: dict[str, Any] | None
    ) -> Any:
        """Invoke the API's resolver with the event AppSync sends a direct Lambda resolver."""
        event: dict[str, Any] = {
            "arguments": arguments,
            "identity": identity,
            "source": None,
            "request": {"headers": {}},
            "prev": None,
            "info": {
                "parentTypeName": type_name,
                "fieldName": field,
                "variables": {},
                "selectionSetList": [],
            },
            "stash": {},
        }
        context: Any = self._api_context.fresh()
        return user_api.lambda_handler(event, context)

    def settle(self, max_rounds: int = 100) -> Settled:
        """Run the event sources until nothing is left to deliver."""
        messages = records = 0
        for _ in range(max_rounds):
            delivered = self.projector.drain(), self.audit.drain()
            if not any(delivered):
                return Settled(messages, records)
            messages, records = messages + delivered[0], records + delivered[1]
        raise RuntimeError(f"pipeline did not settle in {max_rounds} rounds")


@contextmanager
def local_pipeline(
    clients: Clients, stage: str = "local", *, audit_retention_days: int | None = None
) -> Iterator[LocalPipeline]:
    """Provision a stage on the emulator and run its functions with infra's environment."""
    names = ResourceNames(stage)
    # What Lambda's runtime provides, pointed at the emulator.
    environment = {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
    resources = provision(clients, names)
    configured = {
        "AUDIT_RETENTION_DAYS": str(audit_retention_days or ""),
        "PAGE_TOKEN_SECRET_ARN": resources.page_token_secret_arn,
    }
    for spec in FUNCTIONS:
        environment |= function_environment(spec, names, configured)
    if clients.endpoint_url:
        environment |= {
            "AWS_ENDPOINT_URL": clients.endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    _cold_start()
    try:
        yield LocalPipeline(clients, resources)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _cold_start()


def _cold_start() -> None:
    for cached in _COLD_START_CACHES:
        cached.cache_clear()
