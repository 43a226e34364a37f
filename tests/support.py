"""Real event shapes (tests/events/*.json), loaded by one helper, and builders on top of them."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.names import REPLAY_MARK
from tests.fakes import FakeUserStore

if TYPE_CHECKING:
    import pytest

    from tests.harness import InProcessPipeline
    from userpipe.local.client import StackClient
    from userpipe.local.stack import LocalStack

EVENTS = Path(__file__).parent / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json`` with top-level keys overridden."""
    return {**copy.deepcopy(_load(name)), **overrides}


def emulated_pool_user(pool_id: str, sub: str, email: str) -> str:
    """A confirmed user with this ``sub`` in the emulator's pool ``pool_id``, as Cognito would
    hold them (the projector reads the email there). Cognito makes a sub itself; the emulator
    runs in the test's process (in-process pipelines and local stacks alike), so a test that
    chooses its users' subs arranges the pool's state directly."""
    from moto.cognitoidp.models import CognitoIdpUser, cognitoidp_backends

    from userpipe.aws.clients import REGION
    from userpipe.local.sandbox import ACCOUNT

    pool = cognitoidp_backends[ACCOUNT][REGION].user_pools[pool_id]
    user = CognitoIdpUser(
        pool_id,
        None,
        None,
        "CONFIRMED",
        [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
    )
    user.id = user.username = sub
    user.update_attributes([{"Name": "sub", "Value": sub}])
    pool.users[sub] = user
    return sub


def cognito_sign_up(
    sub: str | None = None, email: str = "ada@example.com", *, user_pool_id: str | None = None
) -> dict[str, Any]:
    event = load_event("cognito_post_confirmation_sign_up")
    if user_pool_id:
        event["userPoolId"] = user_pool_id
    if sub:
        event["userName"] = sub
        event["request"]["userAttributes"]["sub"] = sub
    event["request"]["userAttributes"]["email"] = email
    return event


def user_confirmed_envelope(
    sub: str | None = None,
    *,
    confirmed_at: str = "2026-11-28T06:59:59.870Z",
    replay_name: str | None = None,
) -> dict[str, Any]:
    """An EventBridge ``UserConfirmed`` event with a new event id, as a replay would have (no
    email: the projector reads it from Cognito)."""
    envelope = load_event("eventbridge_user_confirmed", id=str(uuid.uuid4()))
    detail = envelope["detail"]
    if sub:
        detail["sub"] = sub
    detail["confirmedAt"] = confirmed_at
    if replay_name:
        envelope["replay-name"] = replay_name
    return envelope


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    """An SQS batch for Lambda; dict bodies are JSON-encoded, message ids are unique."""
    records = []
    for body in bodies:
        record = load_event("sqs_record", messageId=str(uuid.uuid4()))
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def stream_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def all_stream_records(pipe: InProcessPipeline) -> list[dict[str, Any]]:
    """Every record the User table's stream holds, from the start, as Lambda would see them."""
    from userpipe.aws.streams import stream_record

    streams, arn = pipe.clients.streams, pipe.attribute("UserTable", "stream_arn")
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        records += [stream_record(record, arn) for record in response["Records"]]
    return records


def cognito_identity(sub: str, groups: list[str] | None = None) -> dict[str, Any]:
    """The identity AppSync passes for a Cognito user pool caller (from an access token)."""
    identity = load_event("appsync_get_user")["identity"]
    identity["sub"] = identity["username"] = sub
    identity["claims"] |= {"sub": sub, "username": sub}
    identity["groups"] = groups
    if groups:
        identity["claims"]["cognito:groups"] = groups
    else:
        del identity["claims"]["cognito:groups"]
    return identity


def iam_identity() -> dict[str, Any]:
    """An IAM principal of the account: an operator."""
    return load_event("appsync_identity_iam")


def identity_pool_identity(*, authenticated: bool) -> dict[str, Any]:
    """An IAM caller whose credentials came from a Cognito identity pool: an app's guest or
    signed-in end user, as AppSync describes it for AWS_IAM."""
    identity = load_event("appsync_identity_iam")
    identity |= {
        "cognitoIdentityPoolId": "eu-west-1:0f6b7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b",
        "cognitoIdentityId": "eu-west-1:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        "cognitoIdentityAuthType": "authenticated" if authenticated else "unauthenticated",
        "cognitoIdentityAuthProvider": (
            '"cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E",'
            '"cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E:CognitoSignIn:'
            '7d8ca528-4931-4254-9273-ea5ee853f271"'
            if authenticated
            else None
        ),
        "userArn": "arn:aws:sts::123456789012:assumed-role/app-identity-pool-role/"
        "CognitoIdentityCredentials",
        "username": "AROAEXAMPLEAPP:CognitoIdentityCredentials",
    }
    return identity


def appsync_event(
    type_name: str,
    field: str,
    arguments: dict[str, Any],
    identity: dict[str, Any] | None,
) -> dict[str, Any]:
    """An AppSync direct Lambda resolver event for one field."""
    event = load_event("appsync_get_user", arguments=arguments, identity=identity)
    event["info"] |= {"parentTypeName": type_name, "fieldName": field}
    return event


def unwrap(answer: dict[str, Any]) -> Any:
    """The field's value from the API resolver's answer; an error answer is raised as the API's
    own error class of that ``type``, carrying the answer's message and ``data``."""
    from services.user_api import errors, page_tokens

    if "error" not in answer:
        return answer["data"]
    failure = answer["error"]
    by_error_type = {
        getattr(value, "error_type", None): value
        for value in vars(errors).values()
        if isinstance(value, type)
    }
    kind = (
        by_error_type.get(failure["type"])
        or getattr(errors, failure["type"], None)
        or getattr(page_tokens, failure["type"])
    )
    error = kind.__new__(kind)
    Exception.__init__(error, failure["message"])
    error.data = failure["data"]
    raise error


def confirmed(client: Any, *, admin: bool = False) -> tuple[str, str, str]:
    """A new confirmed, projected user of the local stack (``client``: a ``StackClient``), in
    the Admin group if asked: (email, sub, access token)."""
    import uuid

    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    sub, tokens = client.confirmed_user(email, STACK_PASSWORD, groups=("Admin",) if admin else ())
    return email, sub, tokens.access


#: The password every test user of the local stack signs up with.
STACK_PASSWORD = "Correct-Horse-9-Battery!"


def replay_writes(record: dict[str, Any], mark: str = "userpipe-rebuild-1") -> list[dict[str, Any]]:
    """The User-stream records of the projector's two writes replaying the change ``record``
    made: its new image with the replay mark set, then the mark removed."""
    marked = copy.deepcopy(record)
    marked["dynamodb"]["NewImage"][REPLAY_MARK] = {"S": mark}
    cleanup = copy.deepcopy(marked)
    cleanup["eventName"] = "MODIFY"
    cleanup["dynamodb"]["OldImage"] = copy.deepcopy(marked["dynamodb"]["NewImage"])
    del cleanup["dynamodb"]["NewImage"][REPLAY_MARK]
    cleanup["dynamodb"]["SequenceNumber"] += "9"
    return [marked, cleanup]


# --- a user's whole life (step 13): the projector's sources and the change events ---------------

#: The pool of tests/events/eventbridge_user_confirmed.json.
EVENT_POOL = "eu-west-1_Ab12Cd34E"
#: When the builders below say a change was made: ``version`` minutes after this moment.
CHANGED = "2026-12-01T09:00:00.000Z"


class FakeIdentity:
    """Cognito as the projector reads it (``services.user_projector.logic.Identity``): every
    user has ``email`` unless ``emails`` says otherwise (``None``: no email); the subs in
    ``gone`` are deleted; ``fail_with`` fails every read (throttling). ``reads`` counts the
    calls."""

    def __init__(self, email: str | None = "ada@example.com") -> None:
        self.email = email
        self.emails: dict[str, str | None] = {}
        self.gone: set[str] = set()
        self.fail_with: Exception | None = None
        self.reads = 0

    def user(self, user_pool_id: str, sub: str) -> Any:
        from services.user_projector.logic import CognitoUser

        self.reads += 1
        if self.fail_with is not None:
            raise self.fail_with
        if sub in self.gone:
            return None
        return CognitoUser(self.emails.get(sub, self.email))


def projector_sources(
    identity: FakeIdentity | None = None, keys: Any = None, now: float = 1_796_169_600.0
) -> Any:
    """The projector's sources over fakes: Cognito, an in-memory key store, a fixed clock
    (``now``: 2026-12-02T00:00Z in epoch seconds, before the builders' tombstones expire)."""
    from services.shared.user_keys import MemoryKeyStore
    from services.user_projector.logic import Sources

    return Sources(
        identity=identity if identity is not None else FakeIdentity(),
        keys=keys if keys is not None else MemoryKeyStore(),
        now=lambda: now,
    )


def _change_time(version: int) -> tuple[str, int]:
    from datetime import datetime, timedelta

    from contracts.names import iso_utc

    moment = datetime.fromisoformat(CHANGED) + timedelta(minutes=version)
    return iso_utc(moment), int(moment.timestamp() * 1000)


def _change_envelope(
    detail_type: str, detail: dict[str, Any], replay_name: str | None
) -> dict[str, Any]:
    envelope = user_confirmed_envelope(replay_name=replay_name)
    envelope["detail-type"], envelope["detail"] = detail_type, detail
    return envelope


def profile_changed_envelope(
    version: int,
    sub: str,
    keys: Any,
    *,
    pool: str = EVENT_POOL,
    replay_name: str | None = None,
    **profile: Any,
) -> dict[str, Any]:
    """An EventBridge ``UserProfileChanged`` leaving ``profile`` (absent: cleared) at
    ``version``, made ``version`` minutes after ``CHANGED``, sealed under the user's key in
    ``keys`` (a ``KeyStore``; created if absent) as the change publisher seals it."""
    from contracts.names import USER_PROFILE_CHANGED
    from contracts.user_profile_changed import profile_changed_detail, profile_of, seal_context
    from services.shared.sealing import seal_json

    updated_at, last_changed_at = _change_time(version)
    item = {
        "id": sub,
        "userPoolId": pool,
        **profile,
        "updatedAt": updated_at,
        "_version": version,
        "_lastChangedAt": last_changed_at,
    }
    sealed = seal_json(
        keys.get_or_create(sub), profile_of(item), context=seal_context(pool, sub, version)
    )
    return _change_envelope(USER_PROFILE_CHANGED, profile_changed_detail(item, sealed), replay_name)


def email_changed_envelope(
    version: int, sub: str, *, pool: str = EVENT_POOL, replay_name: str | None = None
) -> dict[str, Any]:
    """An EventBridge ``UserEmailChanged`` at ``version``, made ``version`` minutes after
    ``CHANGED``."""
    from contracts.lifecycle import email_changed_detail
    from contracts.names import USER_EMAIL_CHANGED

    updated_at, last_changed_at = _change_time(version)
    item = {
        "id": sub,
        "userPoolId": pool,
        "updatedAt": updated_at,
        "_version": version,
        "_lastChangedAt": last_changed_at,
    }
    return _change_envelope(USER_EMAIL_CHANGED, email_changed_detail(item), replay_name)


def user_deleted_envelope(
    version: int,
    sub: str,
    *,
    pool: str = EVENT_POOL,
    created_at: str = "2026-11-28T06:59:59.870Z",
    replay_name: str | None = None,
) -> dict[str, Any]:
    """An EventBridge ``UserDeleted`` at ``version``, made ``version`` minutes after
    ``CHANGED``; its tombstone expires ``TOMBSTONE_DAYS`` later."""
    from contracts.lifecycle import tombstone_expiry, user_deleted_detail
    from contracts.names import USER_DELETED

    updated_at, last_changed_at = _change_time(version)
    tombstone = {
        "id": sub,
        "userPoolId": pool,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "_version": version,
        "_lastChangedAt": last_changed_at,
        "_deleted": True,
        "_ttl": tombstone_expiry(last_changed_at / 1000),
    }
    return _change_envelope(USER_DELETED, user_deleted_detail(tombstone), replay_name)


class FakeProjectorStore(FakeUserStore):
    """``tests.fakes.FakeUserStore`` with the condition of a change that must follow the item's
    version exactly (``ItemChange.follows``: an email change), as ``DynamoUserStore`` has it
    (``tests/unit/test_user_projector_store.py`` holds the two to one contract). To be folded
    into ``FakeUserStore``."""

    def change(self, change: Any) -> Any:
        old = self.items.get(change.user_id)
        follows = getattr(change, "follows", None)
        if (
            follows is not None
            and self.fail_with is None
            and old is not None
            and old.get("userPoolId") == {"S": change.user_pool_id}
            and int(old["_version"]["N"]) != follows
        ):
            return dict(old)
        return super().change(change)


class FakeAuditLog:
    """The audit trail's store over a dict of items, with ``DynamoAuditStore``'s behaviour
    (``tests/unit/test_audit_trail.py`` holds the two to one contract): ``records`` the entries
    as appended, ``items`` the table as it is (redaction changes items, never entries)."""

    def __init__(self, *, fail_replacements: int = 0) -> None:
        self.records: dict[tuple[str, str], Any] = {}
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail_replacements = fail_replacements

    def append(self, record: Any) -> bool:
        key = (record.user_id, record.audit_id)
        if key in self.items:
            return False
        self.records[key] = record
        self.items[key] = record.to_item()
        return True

    def changes_of(self, user_id: str) -> Any:
        from contracts import dynamodb

        for (user, audit_id), item in sorted(self.items.items()):
            if user == user_id:
                yield audit_id, dynamodb.from_item(item).get("changes") or {}

    def replace_changes(self, user_id: str, audit_id: str, changes: Any) -> None:
        from contracts import dynamodb

        if self.fail_replacements:
            self.fail_replacements -= 1
            raise ConnectionError("the update timed out")
        item = self.items[(user_id, audit_id)]  # KeyError: never creates a record
        for name, change in changes.items():
            item["changes"]["M"][name] = dynamodb.serialize(change.values())


def run_userpipe(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``userpipe ARGS --outputs <the stack's>``, in process: its stdout; it must exit 0."""
    from userpipe.cli import main

    capsys.readouterr()
    code = main([*args, "--outputs", str(stack.outputs_path)])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    return out


def user_item(client: StackClient, sub: str) -> dict[str, Any] | None:
    """The User item of ``sub`` on the local stack, read consistently (None: there is none)."""
    found = client.aws.dynamodb.get_item(
        TableName=client.outputs["user_table_name"], Key={"id": {"S": sub}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = found.get("Item")
    return item
