"""user_sync: which CloudTrail events are ours, one user's reconcile in every branch (fakes),
the batch's failures and skips, and the handler end to end on moto (a Cognito pool signing in
by email, the topology's tables, the bus)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import dynamodb
from contracts.lifecycle import is_tombstone
from contracts.names import ORIGIN_SYNC, REPLAY_MARK, USER_CONFIRMED_PATTERN
from contracts.topology import KEYS_TABLE, USER_TABLE, ResourceNames
from services.shared.cognito_users import CognitoThrottledError
from services.shared.key_shredder import DynamoKeyShredder
from services.shared.lifecycle import Outcome, ReplayInFlightError
from services.user_sync import handler
from services.user_sync.handler import UserSync, process_batch
from services.user_sync.logic import (
    Action,
    CognitoCall,
    CognitoUser,
    NotOurs,
    Ports,
    read_call,
    sync_user,
)
from services.user_sync.store import DynamoUserItems
from tests.fakes import FakePublisher
from userpipe.local.provision import create_table

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
OTHER_SUB = "0b9f3c1e-5a2d-4e8f-9c7b-6a5d4e3f2a1b"
POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "eu-west-1_Zz98Yy76X"
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 28, 6, 59, 59, 870_000, tzinfo=UTC)
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def cloudtrail_event(
    event_name: str = "AdminDeleteUser",
    *,
    pool: str | None = POOL,
    sub: Any = SUB,
    **detail_overrides: Any,
) -> dict[str, Any]:
    """An EventBridge event as CloudTrail puts a Cognito call on the default bus. Admin calls
    name the pool in their request; calls made with an access token carry no pool there."""
    admin = event_name.startswith("Admin")
    request: dict[str, Any] = (
        {"userPoolId": pool, "username": HIDDEN} if admin else {"accessToken": HIDDEN}
    )
    if admin and pool is None:
        del request["userPoolId"]
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": (
            {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:admin",
                "arn": "arn:aws:sts::123456789012:assumed-role/admin/admin",
                "accountId": "123456789012",
            }
            if admin
            else {"type": "Unknown", "principalId": "Anonymous"}
        ),
        "eventTime": "2026-12-04T02:59:58Z",
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-sdk",
        "requestParameters": request,
        "responseElements": None,
        "additionalEventData": {} if sub is None else {"sub": sub},
        "requestID": "3c1f1bd4-6f0c-4d47-9a3e-d6b1f0b0a001",
        "eventID": "a9a8e1d2-4b6c-4f1e-8d7a-0e2f3c4b5a60",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        **detail_overrides,
    }
    return {
        "version": "0",
        "id": "6f1d0c39-0d8e-4a7b-9a0c-5e8f1d2c3b4a",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cognito-idp",
        "account": "123456789012",
        "time": "2026-12-04T02:59:58Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:userpipe-test-user-sync",
                "awsRegion": "eu-west-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


# --- which events are ours ----------------------------------------------------------------


def test_an_admin_call_gives_its_pool_and_the_sub() -> None:
    body = json.dumps(cloudtrail_event("AdminUpdateUserAttributes"))
    assert read_call(body, POOL) == CognitoCall("AdminUpdateUserAttributes", POOL, SUB)


@pytest.mark.parametrize(
    "where",
    [
        {"additionalEventData": {"sub": SUB, "userPoolId": POOL}},
        {"resources": [{"accountId": "123456789012", "type": "AWS::Cognito::UserPool",
                        "ARN": f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{POOL}"}]},
    ],
    ids=["additionalEventData", "the call's resources"],
)  # fmt: skip
def test_an_access_token_call_gives_its_pool_where_cloudtrail_names_it(
    where: dict[str, Any],
) -> None:
    body = json.dumps(cloudtrail_event("DeleteUser", **where))
    assert read_call(body, POOL) == CognitoCall("DeleteUser", POOL, SUB)


def test_an_access_token_call_that_names_no_pool_is_looked_up_in_ours() -> None:
    """CloudTrail records the user by sub and may name no pool for a call made with the user's
    own token: the sub is looked up in this pool only, so another pool's user changes nothing."""
    for name in ("DeleteUser", "UpdateUserAttributes", "VerifyUserAttribute"):
        assert read_call(json.dumps(cloudtrail_event(name, pool=None)), POOL) == CognitoCall(
            name, POOL, SUB
        )


def test_the_events_resources_name_the_pool_too() -> None:
    event = cloudtrail_event("VerifyUserAttribute")
    event["resources"] = [f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{POOL}"]
    assert read_call(json.dumps(event), POOL) == CognitoCall("VerifyUserAttribute", POOL, SUB)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not a JSON document"),
        (b"\xff\xfe", "not a JSON document"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**cloudtrail_event(), "source": "aws.s3"}), "source/detail-type"),
        (json.dumps(cloudtrail_event("AdminCreateUser")), "not a user lifecycle call"),
        (json.dumps(cloudtrail_event(pool=OTHER_POOL)), "another user pool"),
        (json.dumps(cloudtrail_event(sub=None)), "additionalEventData.sub"),
        (json.dumps(cloudtrail_event(sub=HIDDEN)), "additionalEventData.sub"),
        (json.dumps(cloudtrail_event(sub=SUB.upper())), "additionalEventData.sub"),
        (json.dumps(cloudtrail_event(errorCode="UserNotFoundException")), "the call failed"),
    ],
    ids=[
        "not json",
        "not utf-8",
        "not an object",
        "another source",
        "another call",
        "another pool",
        "no sub",
        "hidden sub",
        "malformed sub",
        "failed call",
    ],
)
def test_an_event_that_can_never_be_synced_is_not_ours(body: str | bytes, reason: str) -> None:
    found = read_call(body, POOL)
    assert isinstance(found, NotOurs)
    assert reason in found.reason


def test_another_pools_event_names_that_pool_for_the_log() -> None:
    found = read_call(json.dumps(cloudtrail_event(pool=OTHER_POOL)), POOL)
    assert isinstance(found, NotOurs) and found.user_pool_id == OTHER_POOL


# --- fakes --------------------------------------------------------------------------------


class FakeDirectory:
    def __init__(self, users: dict[str, CognitoUser] | None = None) -> None:
        self.users = dict(users or {})
        self.throttled = False

    def user(self, sub: str) -> CognitoUser | None:
        if self.throttled:
            raise CognitoThrottledError(sub)
        return self.users.get(sub)


class FakeItems:
    """The User table's lifecycle writes over plain items, with ``services.shared.lifecycle``'s
    outcomes (``tests/unit/test_lifecycle_writes.py`` holds the real ones on moto)."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {item["id"]: dict(item) for item in items}

    def get(self, user_id: str) -> dict[str, Any] | None:
        item = self.items.get(user_id)
        return dict(item) if item is not None else None

    def _live(self, user_id: str, pool: str) -> tuple[dict[str, Any] | None, Outcome | None]:
        item = self.items.get(user_id)
        if item is None:
            return None, Outcome.MISSING
        if item["userPoolId"] != pool:
            return None, Outcome.FOREIGN
        if is_tombstone(item):
            return None, Outcome.DELETED
        return item, None

    def change_email(self, user_id: str, user_pool_id: str, email: str, now: datetime) -> Outcome:
        item, outcome = self._live(user_id, user_pool_id)
        if item is None:
            return outcome  # type: ignore[return-value]
        if item.get("email") == email:
            return Outcome.UNCHANGED
        if REPLAY_MARK in item:
            raise ReplayInFlightError(user_id, item[REPLAY_MARK])
        item.update(email=email, _version=item["_version"] + 1)
        return Outcome.WRITTEN

    def tombstone(self, user_id: str, user_pool_id: str, now: datetime) -> Outcome:
        item, outcome = self._live(user_id, user_pool_id)
        if item is None:
            return outcome  # type: ignore[return-value]
        if REPLAY_MARK in item:
            raise ReplayInFlightError(user_id, item[REPLAY_MARK])
        for name in ("email", "name", "age"):
            item.pop(name, None)
        item.update(_deleted=True, _version=item["_version"] + 1)
        return Outcome.WRITTEN


class FakeKeys:
    def __init__(self, *owners: str) -> None:
        self.owners = set(owners)

    def destroy(self, user_id: str) -> bool:
        had = user_id in self.owners
        self.owners.discard(user_id)
        return had


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "id": SUB,
        "userPoolId": POOL,
        "email": "ada@example.com",
        "name": "Ada",
        "age": 36,
        "_version": 3,
        **overrides,
    }


def cognito_user(status: str = "CONFIRMED", email: str | None = "ada@example.com") -> CognitoUser:
    return CognitoUser(status=status, email=email, created=CREATED)


class World(SimpleNamespace):
    directory: FakeDirectory
    items: FakeItems
    keys: FakeKeys
    publisher: FakePublisher

    @property
    def ports(self) -> Ports:
        return Ports(self.directory, self.items, self.keys, self.publisher)


def world(
    users: dict[str, CognitoUser], *items: dict[str, Any], keys: tuple[str, ...] = ()
) -> World:
    return World(
        directory=FakeDirectory(users),
        items=FakeItems(*items),
        keys=FakeKeys(*keys),
        publisher=FakePublisher(),
    )


# --- one user's reconcile -------------------------------------------------------------------


def test_a_gone_user_is_tombstoned_and_their_key_destroyed() -> None:
    w = world({}, item(), keys=(SUB,))
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.outcome, synced.key_destroyed) == (
        Action.ERASED,
        Outcome.WRITTEN,
        True,
    )
    stored = w.items.get(SUB)
    assert stored is not None and is_tombstone(stored)
    assert not {"email", "name", "age"} & stored.keys()
    assert SUB not in w.keys.owners


@pytest.mark.parametrize(
    ("items", "outcome"),
    [((item(_deleted=True, _version=4),), Outcome.DELETED), ((), Outcome.MISSING)],
    ids=["already a tombstone", "no item"],
)
def test_a_gone_users_key_is_destroyed_whatever_the_item(
    items: tuple[dict[str, Any], ...], outcome: Outcome
) -> None:
    w = world({}, *items, keys=(SUB,))
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.outcome, synced.key_destroyed) == (Action.ERASED, outcome, True)
    assert SUB not in w.keys.owners
    again = sync_user(SUB, POOL, w.ports, NOW)  # a redelivery: erasure is idempotent
    assert (again.action, again.key_destroyed) == (Action.ERASED, False)


def test_a_gone_user_whose_item_is_another_pools_is_never_touched_nor_its_key() -> None:
    foreign = item(userPoolId=OTHER_POOL)
    w = world({}, foreign, keys=(SUB,))
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.outcome) == (Action.NOTHING, Outcome.FOREIGN)
    assert w.items.get(SUB) == foreign
    assert SUB in w.keys.owners


def test_a_gone_users_key_is_destroyed_even_while_a_replays_mark_holds_the_tombstone() -> None:
    """The key first: the sealed profile in the log is shredded at once; the tombstone waits
    for the mark (the record is retried) and the retry finds the key gone already."""
    w = world({}, item(**{REPLAY_MARK: "rebuild-1"}), keys=(SUB,))
    with pytest.raises(ReplayInFlightError):
        sync_user(SUB, POOL, w.ports, NOW)
    assert SUB not in w.keys.owners


@pytest.mark.parametrize("status", ["CONFIRMED", "EXTERNAL_PROVIDER"])
def test_an_arrived_user_without_an_item_is_confirmed_again_with_origin_sync(status: str) -> None:
    w = world({SUB: cognito_user(status)})
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.event_id) == (Action.CONFIRMATION_PUBLISHED, "event-1")
    assert w.publisher.published == [
        {
            "schemaVersion": 2,
            "userPoolId": POOL,
            "sub": SUB,
            "confirmedAt": "2026-11-28T06:59:59.870Z",  # Cognito's UserCreateDate
            "origin": ORIGIN_SYNC,
            "clientId": None,
            "triggerSource": None,
        }
    ]


@pytest.mark.parametrize("status", ["UNCONFIRMED", "FORCE_CHANGE_PASSWORD"])
def test_a_user_who_has_not_arrived_gets_no_item(status: str) -> None:
    w = world({SUB: cognito_user(status)})
    assert sync_user(SUB, POOL, w.ports, NOW).action is Action.NOTHING
    assert w.publisher.published == []


def test_cognitos_new_email_reaches_the_item() -> None:
    w = world({SUB: cognito_user(email="ada@new.example")}, item())
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.outcome) == (Action.EMAIL_CHANGED, Outcome.WRITTEN)
    stored = w.items.get(SUB)
    assert stored is not None and stored["email"] == "ada@new.example"
    assert stored["_version"] == 4


@pytest.mark.parametrize(
    ("user", "stored", "outcome"),
    [
        (cognito_user(), item(), Outcome.UNCHANGED),
        (cognito_user(email="ada@new.example"), item(_deleted=True), Outcome.DELETED),
        (cognito_user(email="ada@new.example"), item(userPoolId=OTHER_POOL), Outcome.FOREIGN),
        (cognito_user(email=None), item(), None),
    ],
    ids=["in line", "a tombstone", "another pool's item", "Cognito holds no email"],
)
def test_otherwise_nothing_is_written(
    user: CognitoUser, stored: dict[str, Any], outcome: Outcome | None
) -> None:
    w = world({SUB: user}, stored, keys=(SUB,))
    synced = sync_user(SUB, POOL, w.ports, NOW)
    assert (synced.action, synced.outcome) == (Action.NOTHING, outcome)
    assert w.items.get(SUB) == stored
    assert w.publisher.published == []
    assert SUB in w.keys.owners


# --- the batch ----------------------------------------------------------------------------


def test_a_record_that_may_succeed_later_is_retried_alone(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    w = world({}, item(), item(id=OTHER_SUB, **{REPLAY_MARK: "userpipe-rebuild-1"}))
    sync = UserSync(POOL, w.ports)
    throttled = world({}).directory
    throttled.throttled = True
    event = sqs_event(
        cloudtrail_event(),  # m0: erased
        cloudtrail_event(sub=OTHER_SUB),  # m1: a replay's write in flight on the item
    )
    assert process_batch(event, None, sync) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    stored = w.items.get(SUB)
    assert stored is not None and is_tombstone(stored)

    throttled_sync = UserSync(POOL, Ports(throttled, w.items, w.keys, w.publisher))
    response = process_batch(sqs_event(cloudtrail_event(sub=OTHER_SUB)), None, throttled_sync)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert all("ada@" not in json.dumps(line) for line in log_lines())


def test_an_unexpected_error_fails_the_record_and_is_logged_by_its_name(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    class Broken(FakeDirectory):
        def user(self, sub: str) -> CognitoUser | None:
            raise RuntimeError("ada@example.com said no")

    w = world({})
    sync = UserSync(POOL, Ports(Broken(), w.items, w.keys, w.publisher))
    assert process_batch(sqs_event(cloudtrail_event()), None, sync) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    failed = [line for line in log_lines() if line["message"] == "sync failed"]
    assert failed and failed[0]["error"] == "RuntimeError" and failed[0]["sub"] == SUB
    assert all("ada@" not in json.dumps(line) for line in log_lines())


def test_events_that_are_not_ours_are_dropped_without_a_failure_or_a_write(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    w = world({}, item(), keys=(SUB,))
    event = sqs_event("{not json", cloudtrail_event(pool=OTHER_POOL), cloudtrail_event(sub=None))
    assert process_batch(event, None, UserSync(POOL, w.ports)) == {"batchItemFailures": []}
    assert w.items.get(SUB) == item() and SUB in w.keys.owners
    skipped = [line for line in log_lines() if line["message"].startswith("event skipped")]
    assert [line["message_id"] for line in skipped] == ["m0", "m1", "m2"]
    assert skipped[1]["event_pool"] == OTHER_POOL


# --- the handler on moto ------------------------------------------------------------------

NAMES = ResourceNames("test")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A pool signing in by email (as ``userpipe.local.provision`` makes it), the User and keys
    tables as the topology declares them, the bus with a queue for what user_sync publishes,
    and the handler's environment."""
    with mock_aws():
        cognito = boto3.client("cognito-idp")
        dynamo = boto3.client("dynamodb")
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        pool = cognito.create_user_pool(PoolName="users", UsernameAttributes=["email"])
        pool_id = pool["UserPool"]["Id"]
        for table in (USER_TABLE, KEYS_TABLE):
            create_table(SimpleNamespace(dynamodb=dynamo), NAMES, table)  # type: ignore[arg-type]
        bus = events.create_event_bus(Name="users")["EventBusArn"]
        queue = sqs.create_queue(QueueName="confirmed")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        events.put_rule(Name="confirmed", EventBusName="users",
                        EventPattern=json.dumps(USER_CONFIRMED_PATTERN))  # fmt: skip
        events.put_targets(
            Rule="confirmed",
            EventBusName="users",
            Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        for name, value in {
            "USER_POOL_ID": pool_id,
            "USER_TABLE_NAME": NAMES.of(USER_TABLE.base_name),
            "KEYS_TABLE_NAME": NAMES.of(KEYS_TABLE.base_name),
            "EVENT_BUS_NAME": bus.rsplit("/", 1)[1],
        }.items():
            monkeypatch.setenv(name, value)
        handler.default_sync.cache_clear()
        yield SimpleNamespace(cognito=cognito, dynamo=dynamo, sqs=sqs, queue=queue, pool=pool_id)
        handler.default_sync.cache_clear()


def sign_up(aws: SimpleNamespace, email: str = "ada@example.com") -> str:
    """A confirmed user; its sub (moto, like Cognito, makes the sub the username when users
    sign in by an email alias)."""
    created = aws.cognito.admin_create_user(
        UserPoolId=aws.pool, Username=email, MessageAction="SUPPRESS"
    )["User"]
    aws.cognito.admin_set_user_password(
        UserPoolId=aws.pool, Username=email, Password="Passw0rd!Passw0rd", Permanent=True
    )
    sub = {a["Name"]: a["Value"] for a in created["Attributes"]}["sub"]
    assert created["Username"] == sub
    return str(sub)


def project(aws: SimpleNamespace, sub: str, email: str = "ada@example.com") -> None:
    aws.dynamo.put_item(
        TableName=NAMES.of(USER_TABLE.base_name),
        Item=dynamodb.to_item(
            {
                "id": sub,
                "__typename": "User",
                "userPoolId": aws.pool,
                "owner": sub,
                "email": email,
                "name": "Ada",
                "createdAt": "2026-11-28T06:59:59.870Z",
                "updatedAt": "2026-11-28T06:59:59.870Z",
                "_version": 1,
                "_lastChangedAt": 1_795_849_199_870,
            }
        ),
    )
    aws.dynamo.put_item(
        TableName=NAMES.of(KEYS_TABLE.base_name),
        Item={"id": {"S": sub}, "key": {"B": b"k" * 32}, "createdAt": {"S": "2026-11-28"}},
    )


def stored(aws: SimpleNamespace, sub: str) -> dict[str, Any] | None:
    found = aws.dynamo.get_item(TableName=NAMES.of(USER_TABLE.base_name), Key={"id": {"S": sub}})
    return dynamodb.from_item(found["Item"]) if "Item" in found else None


def has_key(aws: SimpleNamespace, sub: str) -> bool:
    found = aws.dynamo.get_item(TableName=NAMES.of(KEYS_TABLE.base_name), Key={"id": {"S": sub}})
    return "Item" in found


def test_moto_finds_a_user_by_sub_in_a_pool_signing_in_by_email(aws: SimpleNamespace) -> None:
    """What ``CognitoDirectory`` relies on: ``AdminGetUser(Username=<sub>)``."""
    sub = sign_up(aws)
    found = aws.cognito.admin_get_user(UserPoolId=aws.pool, Username=sub)
    assert found["Username"] == sub and found["UserStatus"] == "CONFIRMED"


def test_the_handler_erases_a_deleted_user(aws: SimpleNamespace, lambda_context: Any) -> None:
    sub = sign_up(aws)
    project(aws, sub)
    aws.cognito.admin_delete_user(UserPoolId=aws.pool, Username=sub)
    event = sqs_event(cloudtrail_event("AdminDeleteUser", pool=aws.pool, sub=sub))
    assert handler.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    item = stored(aws, sub)
    assert item is not None and is_tombstone(item) and "email" not in item
    assert not has_key(aws, sub)


def test_the_handler_brings_cognitos_new_email_to_the_item(
    aws: SimpleNamespace, lambda_context: Any
) -> None:
    sub = sign_up(aws)
    project(aws, sub)
    aws.cognito.admin_update_user_attributes(
        UserPoolId=aws.pool,
        Username=sub,
        UserAttributes=[
            {"Name": "email", "Value": "ada@new.example"},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    event = sqs_event(cloudtrail_event("AdminUpdateUserAttributes", pool=aws.pool, sub=sub))
    assert handler.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    item = stored(aws, sub)
    assert item is not None and item["email"] == "ada@new.example" and item["_version"] == 2
    assert has_key(aws, sub)


def test_the_handler_confirms_a_user_without_an_item(
    aws: SimpleNamespace, lambda_context: Any
) -> None:
    sub = sign_up(aws)
    event = sqs_event(cloudtrail_event("AdminUpdateUserAttributes", pool=aws.pool, sub=sub))
    assert handler.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    messages = aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10)["Messages"]
    published = [json.loads(m["Body"]) for m in messages]
    assert [(e["detail-type"], e["detail"]["sub"], e["detail"]["origin"]) for e in published] == [
        ("UserConfirmed", sub, ORIGIN_SYNC)
    ]
    assert "email" not in published[0]["detail"]
    assert stored(aws, sub) is None  # the projector creates it


# --- the fake table held to the real one ----------------------------------------------------


@pytest.mark.parametrize(
    ("user", "start", "keys"),
    [
        (None, item(), (SUB,)),
        (None, item(_deleted=True, _version=4), (SUB,)),
        (None, None, ()),
        (None, item(userPoolId=OTHER_POOL), (SUB,)),
        (cognito_user(email="ada@new.example"), item(), ()),
        (cognito_user(email="ada@new.example"), item(**{REPLAY_MARK: "userpipe-rebuild-1"}), ()),
        (cognito_user(), item(), ()),
    ],
    ids=["gone", "gone, a tombstone", "gone, no item", "gone, another pool's item", "new email",
         "new email, a replay in flight", "in line"],
)  # fmt: skip
def test_the_fake_table_syncs_as_dynamodb_does(
    user: CognitoUser | None, start: dict[str, Any] | None, keys: tuple[str, ...]
) -> None:
    def run(items: Any, keystore: Any) -> Any:
        ports = Ports(FakeDirectory({SUB: user} if user else {}), items, keystore, FakePublisher())
        try:
            synced = sync_user(SUB, POOL, ports, NOW)
        except ReplayInFlightError:
            return "replay in flight", items.get(SUB)
        found = items.get(SUB)
        kept = (
            {k: found[k] for k in ("email", "_version", "_deleted") if k in found}
            if found
            else None
        )
        return synced, kept

    fake = run(FakeItems(*([start] if start else [])), FakeKeys(*keys))
    with mock_aws():
        client = boto3.client("dynamodb")
        for table in (USER_TABLE, KEYS_TABLE):
            create_table(SimpleNamespace(dynamodb=client), NAMES, table)  # type: ignore[arg-type]
        tables = NAMES.of(USER_TABLE.base_name), NAMES.of(KEYS_TABLE.base_name)
        if start:
            client.put_item(TableName=tables[0], Item=dynamodb.to_item(start))
        for owner in keys:
            client.put_item(TableName=tables[1], Item={"id": {"S": owner}, "key": {"B": b"k"}})
        real = run(DynamoUserItems(client, tables[0]), DynamoKeyShredder(client, tables[1]))
    if fake[0] == "replay in flight":
        assert real[0] == "replay in flight"
    else:
        assert fake == real
