"""``userpipe verify``: a smoke test of a deployment, run after ``cdk deploy``.

It follows one throw-away user through the whole pipeline, through what an operator can see
with public APIs: Cognito's sign-up, the User table, the audit trail, an ``onCreateUser``
subscription, GraphQL with the user's own token, Cognito's ``DeleteUser``, the tombstone and
the erasure (audit trail redacted, the user's key deleted). Each step is timed from the action
that causes it (the item, the audit record and the message from the confirmation; the
tombstone and the erasure from the deletion). It stops at the first step that fails and
always deletes the Cognito user it made (``AdminDeleteUser`` when ``DeleteUser`` never ran).

What it leaves, by design: the tombstone (``_ttl`` expires it after ``TOMBSTONE_DAYS``) and the
user's audit records without personal data (kept as long as the stage keeps audit records).

The subscription is an IAM operator's, opened with the operator's own credentials (the ones
running this command) between sign-up and confirmation, for the new user's ``id`` only: an
owner cannot subscribe before they can sign in, and by then the pipeline may have created the
item already. So verify makes no Admin.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError
from websockets.exceptions import ConnectionClosed

from contracts.audit_item import fingerprint
from contracts.dynamodb import from_item
from contracts.lifecycle import ERASED_FIELDS
from contracts.names import AUDIT_KEY, DELETED_ATTRIBUTE, KEY_OWNER, USER_KEY, USER_TTL_ATTRIBUTE
from contracts.topology import OFF, ON, WELCOME
from userpipe.aws.clients import read_credentials
from userpipe.aws.deployment import Deployment
from userpipe.local import outbox

T = TypeVar("T")

#: How long a step waits for the pipeline by default (``--timeout``): the item, the audit
#: record and the message come within a second or two on AWS; the tombstone waits for
#: CloudTrail's delivery to the default bus, which AWS documents as best effort, no latency.
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
#: Between two looks at what the pipeline writes: a latency is exact to within this. Each look
#: is a few reads (GetItem, Query), cheap enough ten times a second for ``--timeout``.
POLL_SECONDS: Final = 0.1
#: Every GraphQL call and real-time message answers in well under a second: 10 s is a dead
#: endpoint, not a slow one.
NETWORK_TIMEOUT_SECONDS: Final = 10.0
EMAIL_LOCAL_PART: Final = "userpipe-verify"
#: The profile verify writes (and then checks is erased): a name, an age.
VERIFY_NAME: Final = "Verify Smoke"
VERIFY_AGE: Final = 42

ME: Final = "query Me { me { id email name age _version } }"
GET_USER: Final = "query Get($id: ID!) { getUser(id: $id) { id email } }"
EDIT: Final = (
    "mutation Edit($input: UpdateUserInput!) { updateUser(input: $input) { id name age _version } }"
)
ON_CREATE: Final = (
    "subscription Created($id: String) { onCreateUser(id: $id) { id email _version } }"
)
#: What Amplify JS v6 sends with an IAM-signed real-time message (``awsRealTimeIAMHeader``).
REALTIME_HEADERS: Final = {
    "accept": "application/json, text/javascript",
    "content-encoding": "amz-1.0",
    "content-type": "application/json; charset=UTF-8",
}


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    ms: int | None  # from the action that caused it; None when it failed
    why: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"✓ {self.name} — {self.ms} ms"
        return f"✗ {self.name} — {self.why}"

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "ms": self.ms, "why": self.why}


@dataclass
class Report:
    email: str
    sub: str | None = None  # the user's id, once Cognito gave it: its tombstone's key
    steps: list[StepResult] = field(default_factory=list)
    #: What the cleanup did, in sentences; ``cleaned`` whether nothing of verify's is left
    #: beyond what erasure leaves by design.
    cleanup: list[str] = field(default_factory=list)
    cleaned: bool = True

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps) and self.cleaned

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "email": self.email,
            "sub": self.sub,
            "steps": [step.as_dict() for step in self.steps],
            "cleanup": self.cleanup,
            "cleaned": self.cleaned,
        }


def describe(report: Report) -> list[str]:
    """The whole report as lines: each step, then the cleanup and the verdict."""
    return [*(step.line() for step in report.steps), *report.cleanup, verdict(report)]


def verdict(report: Report) -> str:
    held = sum(step.ok for step in report.steps)
    if report.ok:
        return f"OK: every step held ({held}); nothing of verify's is left but its tombstone"
    if not report.cleaned:
        return f"FAILED: {held} of {len(report.steps)} step(s) held, and the cleanup failed"
    return f"FAILED: {held} of {len(report.steps)} step(s) held"


# --- the step runner -------------------------------------------------------------------------


class StepFailedError(Exception):
    """A step did not hold; the message says why, without any personal value."""


@dataclass(frozen=True)
class Check:
    """A step that waits for the pipeline: ``holds()`` looks once (it may raise
    ``StepFailedError`` when what it sees is wrong, not merely missing)."""

    name: str
    holds: Callable[[], object]
    what: str  # what did not come, for the failure: "the item"


class StoppedError(Exception):
    """A step failed and was reported: the run stops (cleanup still runs)."""


class Steps:
    """Runs steps in order, each timed from ``since`` (the action that caused it) or its own
    start; a failure is recorded and stops the run."""

    def __init__(
        self,
        report: Report,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_step: Callable[[StepResult], None] = lambda _: None,
        on_cleanup: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.report, self.clock, self.on_step = report, clock, on_step
        self.on_cleanup = on_cleanup

    def now(self) -> float:
        return self.clock()

    def run(self, name: str, action: Callable[[], T], *, since: float | None = None) -> T:
        started = self.clock() if since is None else since
        try:
            value = action()
        except StepFailedError as error:
            self._record(StepResult(name, False, None, str(error)))
            raise StoppedError(name) from error
        except (ClientError, BotoCoreError, OSError, ValueError, KeyError) as error:
            self._record(StepResult(name, False, None, why_failed(error)))
            raise StoppedError(name) from error
        self._record(StepResult(name, True, round((self.clock() - started) * 1000)))
        return value

    def watch(
        self,
        since: float,
        checks: list[Check],
        *,
        timeout: float,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = POLL_SECONDS,
    ) -> None:
        """What one action (at ``since``) causes, looked at together every ``poll`` seconds
        until each has been seen or ``timeout`` passed; each step is timed to the look that
        first saw it, so one slow effect does not delay the others' times. Reported in order;
        the first not seen in time, or the first that saw something wrong, fails and stops the
        run."""
        seen: dict[str, int] = {}
        failed: dict[str, str] = {}
        deadline = self.clock() + timeout
        while True:
            for check in checks:
                if check.name in seen:
                    continue
                try:
                    if check.holds():
                        seen[check.name] = round((self.clock() - since) * 1000)
                except StepFailedError as error:
                    failed[check.name] = str(error)
                except (ClientError, BotoCoreError, OSError, ValueError, KeyError) as error:
                    failed[check.name] = why_failed(error)
                if failed:
                    break
            if failed or len(seen) == len(checks) or self.clock() >= deadline:
                break
            sleep(poll)
        for check in checks:
            if check.name in seen:
                self._record(StepResult(check.name, True, seen[check.name]))
            elif check.name in failed or not failed:
                why = failed.get(check.name) or f"{check.what} not within {timeout:g} s"
                self._record(StepResult(check.name, False, None, why))
                raise StoppedError(check.name)
            # else: not seen yet when another one failed; the run stops at that one

    def _record(self, result: StepResult) -> None:
        self.report.steps.append(result)
        self.on_step(result)

    def cleaned(self, sentence: str, *, failed: bool = False) -> None:
        self.report.cleanup.append(sentence)
        self.report.cleaned = self.report.cleaned and not failed
        self.on_cleanup(sentence)


def why_failed(error: BaseException) -> str:
    """One sentence for an error a step met (a call's code and message; never a value)."""
    if isinstance(error, ClientError):
        problem = error.response.get("Error", {})
        return f"{error.operation_name} failed: {problem.get('Code')}: {problem.get('Message')}"
    return f"{type(error).__name__}: {error}"


# --- what verify does to a deployment ---------------------------------------------------------


class Subscription(Protocol):
    def next_data(self, timeout: float) -> dict[str, Any] | None:
        """The next ``data`` message's payload data, or None if none came in ``timeout`` s
        (0: only what has arrived already)."""
        ...

    def close(self) -> None: ...


class Stage(Protocol):
    """What verify does to a deployment: each method one public API call (or a look)."""

    @property
    def confirmation(self) -> str:
        """How the sign-up is confirmed, for the step's name."""
        ...

    @property
    def sees_mail(self) -> bool:
        """Whether verify can see the welcome mail (the local stack's outbox)."""
        ...

    @property
    def announces(self) -> bool:
        """Whether the stage announces what the pipeline creates to the API's subscribers
        (not built with ``-c announceChanges=off``)."""
        ...

    def sign_up(self, email: str, password: str) -> str: ...
    def subscribe_created(self, sub: str) -> Subscription: ...
    def confirm(self, email: str) -> None: ...
    def item(self, sub: str) -> dict[str, Any] | None: ...
    def audit_records(self, sub: str) -> list[dict[str, Any]]: ...
    def welcome_mails(self, email: str) -> int: ...
    def sign_in(self, email: str, password: str) -> str: ...
    def graphql(self, query: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]: ...
    def has_key(self, sub: str) -> bool: ...
    def delete_user(self, access_token: str) -> None: ...
    def admin_delete_user(self, email: str) -> bool:
        """Delete the user as an operator; False if Cognito has no such user."""
        ...

    def admin_delete_command(self, email: str) -> str:
        """The AWS CLI line that deletes the user, for when verify could not."""
        ...


def throwaway_email(domain: str) -> str:
    return f"{EMAIL_LOCAL_PART}+{secrets.token_hex(6)}@{domain}"


def throwaway_password() -> str:
    """Meets Cognito's default policy (8+, upper, lower, digit, symbol) with room to spare."""
    return f"Vfy-{secrets.token_urlsafe(18)}-9a!"


def verify(
    stage: Stage,
    *,
    email: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_step: Callable[[StepResult], None] = lambda _: None,
    on_cleanup: Callable[[str], None] = lambda _: None,
    password: str | None = None,
) -> Report:
    """Follow a throw-away user (``email``) through ``stage``; the report of every step run,
    and of the cleanup, which always runs (also on Ctrl-C, which it then lets through).
    ``on_step`` and ``on_cleanup`` hear of each as it happens."""
    report = Report(email=email)
    steps = Steps(report, clock=clock, on_step=on_step, on_cleanup=on_cleanup)
    journey = _Journey(stage, steps, email, password or throwaway_password(), timeout, sleep)
    try:
        journey.run()
    except StoppedError:
        pass
    finally:
        journey.clean_up()
    return report


class _Journey:
    def __init__(
        self,
        stage: Stage,
        steps: Steps,
        email: str,
        password: str,
        timeout: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.stage, self.steps, self.email, self.password = stage, steps, email, password
        self.timeout, self.sleep = timeout, sleep
        self.signed_up = False
        self.deleted = False
        self.subscription: Subscription | None = None
        self.heard: dict[str, Any] | None = None  # the subscription's message, once it came

    def watch(self, since: float, *checks: Check) -> None:
        self.steps.watch(since, list(checks), timeout=self.timeout, sleep=self.sleep)

    def run(self) -> None:
        stage, steps, email = self.stage, self.steps, self.email
        sub = steps.run("sign up (SignUp)", lambda: stage.sign_up(email, self.password))
        self.signed_up = True
        steps.report.sub = sub
        if stage.announces:
            self.subscription = steps.run(
                "onCreateUser subscription, for this user's id (IAM operator)",
                lambda: stage.subscribe_created(sub),
            )
        confirmed = steps.now()
        steps.run(f"confirm ({stage.confirmation})", lambda: stage.confirm(email))
        created = [
            Check("item in the User table", lambda: stage.item(sub), "the item"),
            Check(
                "audit record of its creation",
                lambda: _created(stage.audit_records(sub)),
                "an INSERT record",
            ),
        ]
        if stage.announces:  # -c announceChanges=off: nothing announces what the pipeline made
            heard = Check("onCreateUser message", lambda: self._created_message(sub), "the message")
            created.append(heard)
        if stage.sees_mail:
            mail = Check(
                "welcome mail in the outbox", lambda: stage.welcome_mails(email), "the mail"
            )
            created.append(mail)
        self.watch(confirmed, *created)
        token = steps.run("sign in (InitiateAuth)", lambda: stage.sign_in(email, self.password))
        steps.run(
            "me and getUser through GraphQL, with its own token",
            lambda: self._read(sub, token),
        )
        edited = steps.now()
        steps.run("profile edit through GraphQL (updateUser)", lambda: self._edit(sub, token))
        self.watch(
            edited,
            Check(
                "its key in the keys table (the edit's event sealed with it)",
                lambda: stage.has_key(sub),
                "the key",
            ),
        )
        deleted = steps.now()
        steps.run("delete (DeleteUser, with its own token)", lambda: stage.delete_user(token))
        self.deleted = True
        self.watch(
            deleted,
            Check(
                "tombstone (_deleted, no email, name or age)",
                lambda: _tombstone(stage.item(sub)),
                "the tombstone",
            ),
            Check(
                "audit trail redacted (no email, name or age, nor their fingerprints)",
                self._redacted(sub),
                "the redaction",
            ),
            Check(
                "key deleted from the keys table",
                lambda: not stage.has_key(sub),
                "the key's deletion",
            ),
        )

    def _created_message(self, sub: str) -> bool:
        """Whether the subscription's message has come (without waiting for it)."""
        if self.subscription is None:
            raise StepFailedError("no subscription was opened")
        if self.heard is None:
            self.heard = self.subscription.next_data(0)
            if self.heard is None:
                return False
        created = self.heard.get("onCreateUser") or {}
        if created.get("id") != sub or created.get("email") != self.email:
            raise StepFailedError("the message is not about this user (id or email differ)")
        return True

    def _read(self, sub: str, token: str) -> None:
        me = _data(self.stage.graphql(ME, {}, token), "me")
        if me.get("id") != sub or me.get("email") != self.email:
            raise StepFailedError("me answered another record (id or email differ)")
        got = _data(self.stage.graphql(GET_USER, {"id": sub}, token), "getUser")
        if got.get("id") != sub:
            raise StepFailedError("getUser answered another record")

    def _edit(self, sub: str, token: str) -> None:
        edit = {"id": sub, "name": VERIFY_NAME, "age": VERIFY_AGE}
        edited = _data(self.stage.graphql(EDIT, {"input": edit}, token), "updateUser")
        if (edited.get("name"), edited.get("age")) != (VERIFY_NAME, VERIFY_AGE):
            raise StepFailedError("updateUser did not answer the edited profile")

    def _redacted(self, sub: str) -> Callable[[], bool]:
        personal: list[Any] = [self.email, VERIFY_NAME, VERIFY_AGE]
        kept = {*personal, *(fingerprint(value) for value in personal)}

        def holds() -> bool:
            records = self.stage.audit_records(sub)
            values = [
                value
                for record in records
                for change in (record.get("changes") or {}).values()
                for value in (change or {}).values()
            ]
            leaked = any(
                value in kept for value in values if isinstance(value, str | int | Decimal)
            )
            anywhere = self.email in json.dumps(records, default=str)
            tombstoned = any(_is_tombstone_record(record) for record in records)
            return tombstoned and not leaked and not anywhere

        return holds

    def clean_up(self) -> None:
        say = self.steps.cleaned
        if self.subscription is not None:
            try:
                self.subscription.close()
            except Exception as error:  # closing must not hide the outcome
                say(f"closing the subscription failed: {why_failed(error)}")
        if not self.signed_up:
            say("cleanup: no user was created")
            return
        if self.deleted:
            say(
                "cleanup: the user deleted itself (DeleteUser); left by design: its tombstone "
                "(the User table's TTL removes it) and its audit records, without personal data"
            )
            return
        try:
            existed = self.stage.admin_delete_user(self.email)
        except Exception as error:  # reported, with what to do instead
            say(
                f"cleanup FAILED: could not delete the user ({why_failed(error)}); delete it: "
                f"{self.stage.admin_delete_command(self.email)}",
                failed=True,
            )
            return
        if existed:
            say(
                "cleanup: the user was deleted (AdminDeleteUser); the pipeline erases it as after "
                "any deletion, leaving a tombstone and audit records without personal data"
            )
        else:
            say("cleanup: Cognito had no such user left")


def _data(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    errors = body.get("errors")
    if errors:
        first = errors[0]
        raise StepFailedError(f"{name}: {first.get('errorType')}: {first.get('message')}")
    value = (body.get("data") or {}).get(name)
    if not isinstance(value, dict):
        raise StepFailedError(f"{name} answered no record")
    return value


def _created(records: list[dict[str, Any]]) -> bool:
    return any(record.get("eventName") == "INSERT" for record in records)


def _is_tombstone_record(record: Mapping[str, Any]) -> bool:
    """The audit record of the tombstone's write: the one that changed ``_deleted``."""
    return DELETED_ATTRIBUTE in (record.get("changedFields") or ())


def _tombstone(item: Mapping[str, Any] | None) -> bool:
    """Whether ``item`` is the tombstone: deleted, expiring, with no personal field."""
    if not item or item.get(DELETED_ATTRIBUTE) is not True:
        return False
    return USER_TTL_ATTRIBUTE in item and not any(name in item for name in ERASED_FIELDS)


# --- the deployment, through its public APIs ---------------------------------------------------


class DeploymentStage:
    """A deployed stack or the local stack, through Cognito, DynamoDB reads, GraphQL and its
    real-time endpoint, with the operator's credentials (IAM) and the user's tokens."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.outputs = deployment.outputs
        self.clients = deployment.clients
        self.pool_id = deployment.output("user_pool_id")
        self.client_id = deployment.output("user_pool_client_id")
        self.graphql_url = deployment.output("graphql_url")
        self.region = self.outputs.get("region") or str(self.clients.region)

    @property
    def confirmation(self) -> str:
        # AWS sends the code to the address: verify confirms as an operator instead, which
        # runs the same PostConfirmation trigger (source PostConfirmation_ConfirmSignUp).
        # The local stack writes the code to its outbox, where a user would read it.
        if self.deployment.local:
            return "ConfirmSignUp, the code from the outbox"
        return "AdminConfirmSignUp"

    @property
    def announces(self) -> bool:
        # A stage built before the setting existed has no such output: it announced.
        return self.deployment.outputs.get("announce_changes", ON) != OFF

    @property
    def sees_mail(self) -> bool:
        # Only the local stack's mail can be looked at; a deployment sends it.
        ids = {s.id for s in self.deployment.parts.subscriptions}
        return self.deployment.local and WELCOME.id in ids

    def sign_up(self, email: str, password: str) -> str:
        answer = self.clients.cognito.sign_up(
            ClientId=self.client_id, Username=email, Password=password
        )
        return answer["UserSub"]

    def subscribe_created(self, sub: str) -> Subscription:
        return RealtimeSubscription.open(self, ON_CREATE, {"id": sub})

    def confirm(self, email: str) -> None:
        if not self.deployment.local:
            self.clients.cognito.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=email)
            return
        code = outbox.latest_code(Path(self.outputs["outbox_path"]), email)
        if code is None:
            raise StepFailedError("no sign-up code in the outbox")
        self.clients.cognito.confirm_sign_up(
            ClientId=self.client_id, Username=email, ConfirmationCode=code
        )

    def item(self, sub: str) -> dict[str, Any] | None:
        answer = self.clients.dynamodb.get_item(
            TableName=self.deployment.output("user_table_name"),
            Key={USER_KEY: {"S": sub}},
            ConsistentRead=True,
        )
        return from_item(answer["Item"]) if "Item" in answer else None

    def audit_records(self, sub: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self.deployment.output("audit_table_name"),
            "KeyConditionExpression": "#user = :user",
            "ExpressionAttributeNames": {"#user": AUDIT_KEY[0]},
            "ExpressionAttributeValues": {":user": {"S": sub}},
            "ConsistentRead": True,
        }
        while True:
            page = self.clients.dynamodb.query(**query)
            records += [from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return records
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def welcome_mails(self, email: str) -> int:
        entries = outbox.read(Path(self.outputs["outbox_path"]))
        return sum(
            1 for entry in entries if entry["to"] == email.lower() and entry["kind"] == outbox.EMAIL
        )

    def sign_in(self, email: str, password: str) -> str:
        answer = self.clients.cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return answer["AuthenticationResult"]["AccessToken"]

    def graphql(self, query: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": dict(variables)}).encode()
        request = urllib.request.Request(  # noqa: S310 - the deployment's own https URL
            self.graphql_url,
            data=body,
            headers={"Content-Type": "application/json", "Authorization": token},
            method="POST",
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=NETWORK_TIMEOUT_SECONDS, context=self.tls
            ) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
            if not answer.get("errors"):
                raise StepFailedError(f"GraphQL answered HTTP {error.code}") from None
        return answer

    def has_key(self, sub: str) -> bool:
        answer = self.clients.dynamodb.get_item(
            TableName=self.deployment.output("keys_table_name"),
            Key={KEY_OWNER: {"S": sub}},
            ConsistentRead=True,
            ProjectionExpression="#id",
            ExpressionAttributeNames={"#id": KEY_OWNER},
        )
        return "Item" in answer

    def delete_user(self, access_token: str) -> None:
        self.clients.cognito.delete_user(AccessToken=access_token)

    def admin_delete_user(self, email: str) -> bool:
        try:
            self.clients.cognito.admin_delete_user(UserPoolId=self.pool_id, Username=email)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "UserNotFoundException":
                return False
            raise
        return True

    def admin_delete_command(self, email: str) -> str:
        return self.deployment.aws_command(
            f"cognito-idp admin-delete-user --user-pool-id {self.pool_id} --username {email}"
        )

    # --- for the real-time connection ---

    @property
    def tls(self) -> ssl.SSLContext:
        """The local stack's TLS port is served with its own CA; AWS with public ones."""
        if self.deployment.local:
            return ssl.create_default_context(cafile=self.outputs["ca_cert_path"])
        return ssl.create_default_context()

    @property
    def realtime_url(self) -> str:
        """The local stack names it; AppSync's is the API's host with ``appsync-realtime-api``
        for ``appsync-api`` (what Amplify JS v6 derives, ``getRealtimeEndpointUrl``), or the
        GraphQL URL + ``/realtime`` on a custom domain."""
        if self.outputs.get("realtime_url"):
            return self.outputs["realtime_url"]
        url = self.graphql_url.replace("https://", "wss://", 1)
        if ".appsync-api." in url:
            return url.replace(".appsync-api.", ".appsync-realtime-api.", 1)
        return f"{url}/realtime"

    def operator_credentials(self) -> Credentials | ReadOnlyCredentials:
        """The credentials this command runs with: the local stack's operator's, or the
        AWS credential chain's (``--profile``)."""
        if self.deployment.local:
            key, secret = read_credentials(self.outputs["credentials_path"])
            return Credentials(key, secret)
        import boto3

        found = boto3.Session(profile_name=getattr(self.clients, "profile", None)).get_credentials()
        if found is None:
            raise StepFailedError("no AWS credentials to sign the subscription with")
        return found.get_frozen_credentials()

    def signed(self, url: str, body: bytes) -> dict[str, str]:
        """What an IAM caller sends with a real-time message: a SigV4 signature of a POST of
        ``body`` to ``url`` (service ``appsync``), and the ``host`` it signed."""
        request = AWSRequest("POST", url, data=body, headers=dict(REALTIME_HEADERS))
        SigV4Auth(self.operator_credentials(), "appsync", self.region).add_auth(request)
        return {**dict(request.headers.items()), "host": urllib.parse.urlsplit(url).netloc}


class RealtimeSubscription:
    """One subscription over AppSync's real-time protocol, as an IAM operator (the protocol
    and library the demo's listener uses: ``websockets``; Amplify JS v6's IAM headers)."""

    def __init__(self, exits: ExitStack, socket: Any, key: str) -> None:
        self._exits, self.socket, self.key = exits, socket, key

    @classmethod
    def open(
        cls, stage: DeploymentStage, query: str, variables: Mapping[str, Any]
    ) -> RealtimeSubscription:
        from websockets.sync.client import connect

        header = stage.signed(f"{stage.graphql_url}/connect", b"{}")
        encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
        with ExitStack() as exits:
            socket = exits.enter_context(
                connect(
                    stage.realtime_url,
                    subprotocols=["graphql-ws", f"header-{encoded}"],  # type: ignore[list-item]
                    ssl=stage.tls,
                    open_timeout=NETWORK_TIMEOUT_SECONDS,
                )
            )
            socket.send(json.dumps({"type": "connection_init"}))
            _expect(socket, "connection_ack")
            data = json.dumps({"query": query, "variables": dict(variables)})
            key = secrets.token_hex(8)
            payload = {
                "data": data,
                "extensions": {"authorization": stage.signed(stage.graphql_url, data.encode())},
            }
            socket.send(json.dumps({"id": key, "type": "start", "payload": payload}))
            _expect(socket, "start_ack")
            return cls(exits.pop_all(), socket, key)

    def next_data(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = json.loads(
                    self.socket.recv(timeout=max(0.0, deadline - time.monotonic()))
                )
            except TimeoutError:
                return None
            except ConnectionClosed as closed:
                raise StepFailedError(f"the real-time connection closed ({closed})") from None
            if message.get("type") == "data" and message.get("id") == self.key:
                data: dict[str, Any] = message["payload"]["data"]
                return data
            if message.get("type") in ("error", "complete"):
                raise StepFailedError(f"the subscription ended: {_errors(message)}")

    def close(self) -> None:
        self._exits.close()


def _expect(socket: Any, kind: str) -> None:
    while (message := json.loads(socket.recv(timeout=NETWORK_TIMEOUT_SECONDS)))["type"] == "ka":
        continue
    if message["type"] != kind:
        raise StepFailedError(f"the real-time endpoint answered {_errors(message)}, not {kind}")


def _errors(message: Mapping[str, Any]) -> str:
    errors = (message.get("payload") or {}).get("errors") or []
    described = [f"{e.get('errorType')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    return f"{message.get('type')} ({'; '.join(described)})" if described else str(message["type"])
