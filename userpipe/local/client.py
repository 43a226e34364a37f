"""A client of a running userpipe stack, through its public endpoints only: Cognito's API, the
GraphQL endpoint with real tokens, the outbox for codes, and AWS APIs for what it inspects.
The demo and the end-to-end tests use it as a frontend or an operator would."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from contracts.audit_model import AuditRecord
from contracts.names import ORIGIN_COGNITO, TRIGGER_CONFIRM_SIGN_UP
from contracts.user_confirmed import from_cognito_user, put_events_entry
from contracts.user_model import User
from userpipe.aws.clients import local_clients, read_credentials
from userpipe.aws.queues import depth, queue_urls
from userpipe.aws.tables import scan
from userpipe.local import outbox

T = TypeVar("T")


@dataclass(frozen=True)
class Tokens:
    id: str
    access: str
    refresh: str


@dataclass(frozen=True)
class GraphqlAnswer:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.body.get("errors") or []
        return errors

    @property
    def error_type(self) -> str | None:
        return self.errors[0].get("errorType") if self.errors else None


class StackClient:
    def __init__(self, outputs: Mapping[str, Any]) -> None:
        self.outputs = dict(outputs)
        self.aws = local_clients(self.outputs)

    @cached_property
    def client_id(self) -> str:
        return str(self.outputs["user_pool_client_id"])

    @cached_property
    def pool_id(self) -> str:
        return str(self.outputs["user_pool_id"])

    # --- Cognito, as an app's user ---------------------------------------------------------------

    def code(self, email: str, kind: str = outbox.SIGN_UP) -> str:
        code = outbox.latest_code(Path(self.outputs["outbox_path"]), email, kind)
        if code is None:
            raise LookupError(f"no {kind} code in the outbox for that address")
        return code

    def sign_up(self, email: str, password: str, *, confirm: bool = True) -> str:
        """Sign up and (by default) confirm with the emailed code; returns the user's sub."""
        sub = self.aws.cognito.sign_up(ClientId=self.client_id, Username=email, Password=password)[
            "UserSub"
        ]
        if confirm:
            self.aws.cognito.confirm_sign_up(
                ClientId=self.client_id, Username=email, ConfirmationCode=self.code(email)
            )
        return sub

    def confirmed_user(
        self, email: str, password: str, *, groups: tuple[str, ...] = ()
    ) -> tuple[str, Tokens]:
        """Sign up, confirm, wait for the pipeline's item, add to ``groups``, then sign in (so
        the tokens carry the groups): (sub, tokens)."""
        sub = self.sign_up(email, password)
        wait_for(lambda: sub in self.users(), what=f"the item of {sub}")
        for group in groups:
            self.aws.cognito.admin_add_user_to_group(
                UserPoolId=self.pool_id, Username=email, GroupName=group
            )
        return sub, self.sign_in(email, password)

    def sign_in(self, email: str, password: str) -> Tokens:
        result = self.aws.cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )["AuthenticationResult"]
        return Tokens(result["IdToken"], result["AccessToken"], result["RefreshToken"])

    def publish_confirmation(self, email: str) -> None:
        """The user's ``UserConfirmed`` on the bus, stamped now: what another call of the
        trigger publishes (Cognito calls it again after a timeout)."""
        user = self.aws.cognito.admin_get_user(UserPoolId=self.pool_id, Username=email)
        detail = from_cognito_user(
            user_pool_id=self.pool_id,
            attributes={a["Name"]: a["Value"] for a in user["UserAttributes"]},
            confirmed_at=datetime.now(UTC),
            origin=ORIGIN_COGNITO,
            client_id=self.client_id,
            trigger_source=TRIGGER_CONFIRM_SIGN_UP,
        )
        entry = put_events_entry(detail, self.outputs["event_bus_name"])
        failed = self.aws.events.put_events(Entries=[entry])["FailedEntryCount"]  # type: ignore[list-item]
        assert not failed, "the bus refused the event"

    # --- GraphQL ----------------------------------------------------------------------------------

    @cached_property
    def tls(self) -> ssl.SSLContext:
        """Trusts the local stack's own CA (its TLS port: ``graphql_url``)."""
        return ssl.create_default_context(cafile=self.outputs["ca_cert_path"])

    def graphql(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        signed: bool = False,
    ) -> GraphqlAnswer:
        """``token``: a Cognito token (or any ``Authorization`` value); ``signed``: as an IAM
        operator, SigV4-signed with the stack's credentials (service ``appsync``)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = token
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        if signed:
            headers = self.signed_headers(self.outputs["graphql_url"], body, headers)
        request = urllib.request.Request(  # noqa: S310 - the stack's own http(s) URL
            self.outputs["graphql_url"], data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=30, context=self.tls
            ) as response:
                return GraphqlAnswer(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return GraphqlAnswer(error.code, json.loads(error.read() or b"{}"))

    def signed_headers(
        self, url: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """``headers`` plus a SigV4 signature of a POST of ``body`` to ``url`` as the stack's
        operator (service ``appsync``), as botocore signs, and the ``host`` it signed (what
        Amplify puts in a real-time connection's header)."""
        key, secret = read_credentials(self.outputs["credentials_path"])
        request = AWSRequest("POST", url, data=body, headers=dict(headers or {}))
        SigV4Auth(Credentials(key, secret), "appsync", self.outputs["region"]).add_auth(request)
        return {**dict(request.headers.items()), "host": urllib.parse.urlsplit(url).netloc}

    # --- what an operator reads ---------------------------------------------------------------

    def users(self) -> dict[str, User]:
        return {
            user.id: user
            for user in map(User.from_item, self._scan(self.outputs["user_table_name"]))
        }

    def audit_records(self) -> list[AuditRecord]:
        records = map(AuditRecord.from_item, self._scan(self.outputs["audit_table_name"]))
        return sorted(records, key=lambda record: record.audit_id)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        return list(scan(self.aws.dynamodb, table))

    def depth(self, queue_url: str) -> int:
        """Messages in a queue, visible, in flight or delayed."""
        return depth(self.aws.sqs, queue_url).total

    @property
    def queue_urls(self) -> list[str]:
        """Every subscription's queue: what ``wait_until_drained`` waits on."""
        return queue_urls(self.outputs)


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll until ``condition()`` is truthy; its value, or ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'condition'} did not hold within {timeout} s")
        time.sleep(interval)
