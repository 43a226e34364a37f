"""Reconcile: the four kinds of drift and their repairs (fakes over the logic's ports), the
adapters with boto-shaped fakes (ListUsers pages and its rate limit, BatchGetItem's unprocessed
keys, PutEvents' partial failures), and the whole run against DynamoDB (moto)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import dynamodb
from contracts.event_models import UserConfirmed
from contracts.topology import KEYS_TABLE, USER_TABLE, ResourceNames
from services.reconcile.logic import (
    CLOCK_SKEW,
    DRIFT_METRICS,
    DRIFT_NAMESPACE,
    EXAMPLES,
    KINDS,
    CognitoUser,
    ItemState,
    KnownSubs,
    RepairFailedError,
    Summary,
    drift_metrics_emf,
    reconcile,
)
from services.reconcile.store import (
    CONFIRMED_FILTER,
    PAGE_SIZE,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
    LifecycleRepairs,
    LookupIncompleteError,
)
from services.shared.key_shredder import DynamoKeyShredder
from userpipe.local.provision import create_table

POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "us-east-1_Zz98Yy76X"
CREATED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
LONG_AGO = "2026-11-28T06:59:59.870Z"


def sub(index: int) -> str:
    return str(uuid.UUID(int=(index + 1) << 64 | (index + 1)))


def cognito_user(
    index: int, *, email: str | None = "default", status: str = "CONFIRMED"
) -> dict[str, Any]:
    attributes = [{"Name": "sub", "Value": sub(index)}, {"Name": "email_verified", "Value": "true"}]
    if email is not None:
        value = f"user{index}@example.com" if email == "default" else email
        attributes.append({"Name": "email", "Value": value})
    return {
        "Username": sub(index),
        "Attributes": attributes,
        "UserCreateDate": CREATED,
        "UserStatus": status,
    }


def as_user(raw: dict[str, Any]) -> CognitoUser:
    return CognitoUser(
        raw["Username"],
        {a["Name"]: a["Value"] for a in raw["Attributes"]},
        raw["UserCreateDate"],
        raw["UserStatus"],
    )


def item(index: int, **overrides: Any) -> ItemState:
    values: dict[str, Any] = {
        "id": sub(index),
        "user_pool_id": POOL,
        "email": f"user{index}@example.com",
        "created_at": LONG_AGO,
    }
    return ItemState(**(values | overrides))


# --- the logic, with fakes --------------------------------------------------------------------


class FakeDirectory:
    def __init__(self, users: list[dict[str, Any]], page: int = PAGE_SIZE) -> None:
        self.pages = [[as_user(u) for u in users[i : i + page]] for i in range(0, len(users), page)]

    def users(self) -> Iterator[Sequence[CognitoUser]]:
        yield from self.pages


class FakeProjection:
    def __init__(self, items: list[ItemState]) -> None:
        self.by_id = {i.id: i for i in items}
        self.looked_up: list[int] = []

    def items(self, ids: Sequence[str]) -> dict[str, ItemState]:
        assert len(ids) <= 100
        self.looked_up.append(len(ids))
        return {i: self.by_id[i] for i in ids if i in self.by_id}

    def scan(self) -> Iterator[ItemState]:
        for state in self.by_id.values():
            yield ItemState(state.id, state.user_pool_id, state.deleted, None, state.created_at)


class FakePublisher:
    def __init__(self, fail: int = 0) -> None:
        self.published: list[Any] = []
        self.fail = fail

    def publish(self, details: Sequence[Any]) -> list[Any]:
        failed = list(details[: self.fail])
        self.published += details[self.fail :]
        return failed


class FakeRepairs:
    def __init__(self, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.emails: dict[str, str] = {}
        self.tombstoned: list[str] = []
        self.failing = failing

    def change_email(self, user_id: str, email: str) -> bool:
        if user_id in self.failing:
            raise RepairFailedError(user_id, "ReplayInFlightError")
        self.emails[user_id] = email
        return True

    def tombstone(self, user_id: str) -> bool:
        if user_id in self.failing:
            raise RepairFailedError(user_id, "ThrottlingException")
        self.tombstoned.append(user_id)
        return True


def run_logic(
    users: list[dict[str, Any]],
    items: list[ItemState],
    *,
    publisher: FakePublisher | None = None,
    repairs: FakeRepairs | None = None,
    dry_run: bool = False,
    allow_many_deletions: bool = False,
) -> tuple[Summary, FakePublisher]:
    publisher = publisher or FakePublisher()
    summary = reconcile(
        POOL,
        FakeDirectory(users),
        FakeProjection(items),
        publisher,
        dry_run=dry_run,
        repairs=repairs,
        allow_many_deletions=allow_many_deletions,
        now=NOW,
    )
    return summary, publisher


def test_missing_users_across_pages_are_published_once_each_as_reconcile_events() -> None:
    users = [cognito_user(i) for i in range(250)]
    items = [item(i) for i in range(0, 250, 2)] + [item(i) for i in range(1, 50, 2)]
    summary, publisher = run_logic(users, items)

    missing = sorted({sub(i) for i in range(250)} - {i.id for i in items})
    drift = summary.drift["missing"]
    assert (summary.scanned, drift.found, drift.repaired, drift.failed) == (250, 100, 100, 0)
    assert sorted(d["sub"] for d in publisher.published) == missing
    assert len(drift.examples) == EXAMPLES and set(drift.examples) <= set(missing)
    detail = UserConfirmed.model_validate(publisher.published[0])
    assert (detail.origin, detail.user_pool_id, detail.confirmed_at) == ("reconcile", POOL, CREATED)
    assert detail.trigger_source is None
    assert summary.counts() == {"missing": 100, "email": 0, "deleted": 0, "foreignPool": 0}


def test_only_users_who_arrived_are_missing() -> None:
    """Unconfirmed sign-ups and admin-created users before their first sign-in have no item
    yet; a federated user (EXTERNAL_PROVIDER) arrived at their first sign-in."""
    users = [
        cognito_user(0, status="UNCONFIRMED"),
        cognito_user(1, status="FORCE_CHANGE_PASSWORD"),
        cognito_user(2, status="EXTERNAL_PROVIDER"),
        cognito_user(3, status="CONFIRMED"),
    ]
    summary, publisher = run_logic(users, [])
    assert sorted(d["sub"] for d in publisher.published) == [sub(2), sub(3)]
    assert summary.drift["missing"].found == 2


def test_a_second_run_finds_nothing() -> None:
    users = [cognito_user(i) for i in range(30)]
    summary, publisher = run_logic(users, [item(i) for i in range(30)])
    assert summary.counts() == dict.fromkeys(KINDS, 0) and publisher.published == []
    assert summary.complete and summary.items == 30


def test_a_dry_run_changes_nothing_and_counts_everything() -> None:
    users = [cognito_user(0), cognito_user(1, email="new@example.com")]
    items = [item(1), item(7)]  # 0 missing, 1's email drifted, 7 deleted
    summary, publisher = run_logic(users, items, dry_run=True)
    assert summary.counts() == {"missing": 1, "email": 1, "deleted": 1, "foreignPool": 0}
    assert publisher.published == []
    assert summary.drift["missing"].repaired == 0 and summary.dry_run
    with pytest.raises(ValueError, match="dry run"):
        run_logic(users, items, dry_run=True, repairs=FakeRepairs())


def test_an_email_that_differs_from_cognitos_is_changed_only_with_apply() -> None:
    users = [cognito_user(0, email="new@example.com"), cognito_user(1)]
    items = [item(0), item(1)]
    summary, _ = run_logic(users, items)
    assert summary.drift["email"].found == 1 and summary.drift["email"].repaired == 0
    assert summary.drift["email"].examples == [sub(0)]

    repairs = FakeRepairs()
    summary, _ = run_logic(users, items, repairs=repairs)
    assert repairs.emails == {sub(0): "new@example.com"}
    assert summary.drift["email"].repaired == 1 and summary.applied


def test_emails_of_tombstones_other_pools_and_users_without_one_are_not_drift() -> None:
    users = [
        cognito_user(0, email="new@example.com"),
        cognito_user(1, email="new@example.com"),
        cognito_user(2, email=None),
    ]
    items = [item(0, deleted=True, email=None), item(1, user_pool_id=OTHER_POOL), item(2)]
    repairs = FakeRepairs()
    summary, _ = run_logic(users, items, repairs=repairs)
    assert summary.drift["email"].found == 0 and repairs.emails == {}


def test_a_live_item_whose_user_is_gone_is_tombstoned_only_with_apply() -> None:
    users = [cognito_user(0)]
    items = [item(0), item(1), item(2, deleted=True, email=None)]
    summary, _ = run_logic(users, items)
    assert summary.drift["deleted"].found == 1 and summary.drift["deleted"].examples == [sub(1)]

    repairs = FakeRepairs()
    summary, _ = run_logic(users, items, repairs=repairs)
    assert repairs.tombstoned == [sub(1)]  # the tombstone already there is left alone
    assert summary.drift["deleted"].repaired == 1


def test_an_item_confirmed_while_cognito_was_listed_is_not_judged_deleted() -> None:
    """Cognito's listing is no snapshot: a user who signed up during it may be missing from it
    while their item already exists."""
    fresh = (NOW - CLOCK_SKEW + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    older = (NOW - CLOCK_SKEW - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    repairs = FakeRepairs()
    summary, _ = run_logic(
        [], [item(0, created_at=fresh), item(1, created_at=older)], repairs=repairs
    )
    assert repairs.tombstoned == [sub(1)] and summary.drift["deleted"].found == 1


def test_a_run_that_finds_too_many_deleted_users_tombstones_none_unless_allowed() -> None:
    """21 of 300 live items without a Cognito user: above 5% (15). A listing gone wrong (the
    wrong pool, empty pages) is likelier than 21 deletions since the last run."""
    users = [cognito_user(i) for i in range(279)]
    items = [item(i) for i in range(300)]
    repairs = FakeRepairs()
    summary, _ = run_logic(users, items, repairs=repairs)
    assert summary.drift["deleted"].found == 21 and repairs.tombstoned == []
    assert summary.deletions_refused is not None and "21 of 300" in summary.deletions_refused
    assert not summary.complete

    summary, _ = run_logic(users, items[:293], repairs=repairs)  # 14 of 293: allowed
    assert len(repairs.tombstoned) == 14 and summary.complete

    repairs = FakeRepairs()
    summary, _ = run_logic(users, items, repairs=repairs, allow_many_deletions=True)
    assert sorted(repairs.tombstoned) == sorted(sub(i) for i in range(279, 300))
    assert summary.deletions_refused is None and summary.drift["deleted"].repaired == 21


def test_a_small_pool_may_always_lose_a_few_users() -> None:
    repairs = FakeRepairs()
    summary, _ = run_logic([], [item(i) for i in range(10)], repairs=repairs)
    assert len(repairs.tombstoned) == 10 and summary.complete


def test_items_of_another_pool_are_reported_and_never_touched() -> None:
    items = [item(0, user_pool_id=OTHER_POOL), item(1, user_pool_id=None)]
    repairs = FakeRepairs()
    summary, _ = run_logic([], items, repairs=repairs)
    assert summary.drift["foreignPool"].found == 2
    assert sorted(summary.drift["foreignPool"].examples) == sorted([sub(0), sub(1)])
    assert repairs.tombstoned == [] and summary.drift["deleted"].found == 0


def test_failed_repairs_are_counted_and_the_run_goes_on() -> None:
    users = [cognito_user(0, email="new@example.com"), cognito_user(1, email="new@example.com")]
    items = [item(0), item(1), item(5), item(6)]
    repairs = FakeRepairs(failing={sub(0), sub(5)})
    summary, _ = run_logic(users, items, repairs=repairs)
    assert (summary.drift["email"].repaired, summary.drift["email"].failed) == (1, 1)
    assert (summary.drift["deleted"].repaired, summary.drift["deleted"].failed) == (1, 1)
    assert summary.failed == 2 and not summary.complete


def test_a_user_without_a_valid_event_is_counted_unpublishable() -> None:
    broken = cognito_user(0)
    broken["Attributes"][0]["Value"] = "not-a-uuid"
    summary, publisher = run_logic([broken, cognito_user(1)], [])
    assert (summary.drift["missing"].found, summary.unpublishable) == (2, 1)
    assert [d["sub"] for d in publisher.published] == [sub(1)]
    assert not summary.complete


def test_unpublished_events_are_failed_missing_repairs() -> None:
    summary, _ = run_logic([cognito_user(i) for i in range(3)], [], publisher=FakePublisher(1))
    assert (summary.drift["missing"].repaired, summary.drift["missing"].failed) == (2, 1)


def test_a_summary_holds_no_email() -> None:
    users = [cognito_user(0, email="grace@example.com"), cognito_user(1)]
    summary, _ = run_logic(users, [item(0), item(9)], repairs=FakeRepairs())
    shown = json.dumps({**summary.as_dict(), "examples": summary.examples()})
    assert "@" not in shown


def test_known_subs_hold_8_bytes_each_and_answer_membership() -> None:
    known = KnownSubs(sub(i) for i in range(1000))
    assert len(known) == 1000 and known._values.itemsize == 8
    assert all(sub(i) in known for i in range(0, 1000, 37))
    assert sub(5000) not in known and "not-a-uuid" not in known
    known.add(sub(5000))  # added after a lookup: sorted again on the next
    assert sub(5000) in known


def test_the_counts_are_one_embedded_metric_format_record() -> None:
    summary, _ = run_logic([cognito_user(0)], [item(3, user_pool_id=OTHER_POOL)])
    record = drift_metrics_emf(POOL, summary, NOW)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == DRIFT_NAMESPACE
    assert [m["Name"] for m in directive["Metrics"]] == list(DRIFT_METRICS)
    assert record["UserPoolId"] == POOL and directive["Dimensions"] == [["UserPoolId"]]
    assert (record["missing"], record["foreignPool"], record["failed"]) == (1, 1, 0)
    assert record["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)


# --- the adapters, with boto-shaped fakes ---------------------------------------------------


class FakeCognito:
    """ListUsers over a list, ``PAGE_SIZE`` a page, with the request log."""

    def __init__(self, users: list[dict[str, Any]]) -> None:
        self.users = users
        self.requests: list[dict[str, Any]] = []

    def list_users(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = int(request.get("PaginationToken", "0"))
        page = self.users[start : start + request["Limit"]]
        more = start + request["Limit"] < len(self.users)
        return {"Users": page, **({"PaginationToken": str(start + len(page))} if more else {})}


class FakeDynamo:
    """BatchGetItem over a set of ids, leaving ``unprocessed`` keys unprocessed the first
    ``stubborn`` times."""

    def __init__(self, ids: set[str], *, stubborn: int = 0, unprocessed: int = 0) -> None:
        self.ids, self.stubborn, self.unprocessed = ids, stubborn, unprocessed
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        assert len(request["Keys"]) <= 100
        self.calls += 1
        keys = request["Keys"]
        held = keys[: self.unprocessed] if self.calls <= self.stubborn else []
        answered = [
            {**k, "userPoolId": {"S": POOL}} for k in keys[len(held) :] if k["id"]["S"] in self.ids
        ]
        return {
            "Responses": {table: answered},
            "UnprocessedKeys": {table: {"Keys": held}} if held else {},
        }


class FakeEvents:
    """PutEvents that fails the entries whose position is in ``fail`` (per call number)."""

    class exceptions:  # noqa: N801 - as boto3 names it
        ClientError = RuntimeError

    def __init__(self, fail: dict[int, set[int]] | None = None) -> None:
        self.fail = fail or {}
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert len(Entries) <= 10
        self.calls.append(Entries)
        failing = self.fail.get(len(self.calls), set())
        results = [
            {"ErrorCode": "ThrottlingException"} if i in failing else {"EventId": str(uuid.uuid4())}
            for i in range(len(Entries))
        ]
        return {"FailedEntryCount": len(failing), "Entries": results}


def _details(count: int) -> list[Any]:
    _, publisher = run_logic([cognito_user(i) for i in range(count)], [])
    return publisher.published


def test_every_user_is_listed_page_by_page_without_a_filter_and_confirmed_with_one() -> None:
    cognito = FakeCognito([cognito_user(i, status="UNCONFIRMED") for i in range(130)])
    directory = CognitoDirectory(cognito, POOL, requests_per_second=1000, sleep=lambda _: None)  # type: ignore[arg-type]
    pages = list(directory.users())
    assert [len(page) for page in pages] == [60, 60, 10]
    assert pages[0][0].status == "UNCONFIRMED" and pages[0][0].sub == sub(0)
    assert all("Filter" not in r and r["Limit"] == PAGE_SIZE for r in cognito.requests)
    list(directory.confirmed_users())
    assert cognito.requests[-1]["Filter"] == CONFIRMED_FILTER


def test_failed_entries_are_retried_then_reported() -> None:
    # call 1: 10 entries, positions 2 and 7 fail; call 2 (the retry of those 2): position 0 fails
    # again; call 3 (the retry of that one): succeeds. Call 4: the last 2 users.
    events = FakeEvents(fail={1: {2, 7}, 2: {0}})
    publisher = EventBridgeBatchPublisher(events, "bus", sleep=lambda _: None)  # type: ignore[arg-type]
    assert publisher.publish(_details(12)) == []
    assert [len(call) for call in events.calls] == [10, 2, 1, 2]
    assert events.calls[0][0]["EventBusName"] == "bus"

    always = FakeEvents(fail={n: {0} for n in range(1, 10)})
    publisher = EventBridgeBatchPublisher(always, "bus", sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(publisher.publish(_details(1))) == 1


def test_unprocessed_keys_are_retried_with_backoff() -> None:
    ids = {sub(i) for i in range(100)}
    slept: list[float] = []
    dynamo = FakeDynamo(ids, stubborn=2, unprocessed=40)
    found = DynamoProjection(dynamo, "users", sleep=slept.append).items(sorted(ids))  # type: ignore[arg-type]
    assert set(found) == ids and found[sub(0)].user_pool_id == POOL
    assert dynamo.calls == 3
    assert slept == sorted(slept) and slept[0] > 0


def test_keys_that_stay_unprocessed_are_an_error_not_a_false_missing() -> None:
    dynamo = FakeDynamo({"a"}, stubborn=99, unprocessed=1)
    with pytest.raises(LookupIncompleteError, match="1 key"):
        DynamoProjection(dynamo, "users", attempts=3, sleep=lambda _: None).items(["a"])  # type: ignore[arg-type]


def test_list_users_is_paced_to_the_rate() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    directory = CognitoDirectory(
        FakeCognito([cognito_user(i) for i in range(200)]),  # type: ignore[arg-type]
        POOL,
        requests_per_second=2,
        sleep=sleep,
        clock=lambda: clock[0],
    )
    assert sum(len(page) for page in directory.users()) == 200
    assert slept == [0.5, 0.5, 0.5]  # 4 pages, at most 2 a second


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_second"):
        CognitoDirectory(FakeCognito([]), POOL, requests_per_second=0)  # type: ignore[arg-type]


# --- the whole run against DynamoDB (moto) ---------------------------------------------------

NAMES = ResourceNames("test")
USERS = NAMES.of(USER_TABLE.base_name)
KEYS = NAMES.of(KEYS_TABLE.base_name)


@pytest.fixture
def dynamo() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        clients = SimpleNamespace(dynamodb=client)
        create_table(clients, NAMES, USER_TABLE)  # type: ignore[arg-type]
        create_table(clients, NAMES, KEYS_TABLE)  # type: ignore[arg-type]
        yield client


def put_user(client: Any, index: int, **overrides: Any) -> None:
    values: dict[str, Any] = {
        "id": sub(index),
        "__typename": "User",
        "userPoolId": POOL,
        "owner": sub(index),
        "email": f"user{index}@example.com",
        "name": "Ada",
        "createdAt": LONG_AGO,
        "updatedAt": LONG_AGO,
        "_version": 1,
        "_lastChangedAt": 1_795_939_200_000,
    }
    client.put_item(TableName=USERS, Item=dynamodb.to_item(values | overrides))
    client.put_item(TableName=KEYS, Item={"id": {"S": sub(index)}, "key": {"B": b"k" * 32}})


def stored(client: Any, index: int) -> dict[str, Any]:
    found = client.get_item(TableName=USERS, Key={"id": {"S": sub(index)}}, ConsistentRead=True)
    return dynamodb.from_item(found["Item"])


def has_key(client: Any, index: int) -> bool:
    return "Item" in client.get_item(TableName=KEYS, Key={"id": {"S": sub(index)}})


def test_apply_changes_the_email_tombstones_the_deleted_and_destroys_their_keys(
    dynamo: Any,
) -> None:
    put_user(dynamo, 0)  # in line
    put_user(dynamo, 1)  # Cognito holds another email
    put_user(dynamo, 2)  # gone from Cognito
    put_user(dynamo, 3, userPoolId=OTHER_POOL)  # another pool's, gone from this one
    users = [cognito_user(0), cognito_user(1, email="new@example.com"), cognito_user(4)]
    publisher = FakePublisher()
    repairs = LifecycleRepairs(
        dynamo, USERS, POOL, DynamoKeyShredder(dynamo, KEYS), clock=lambda: NOW
    )
    summary = reconcile(
        POOL,
        FakeDirectory(users),
        DynamoProjection(dynamo, USERS),
        publisher,
        repairs=repairs,
        now=NOW,
    )

    assert summary.counts() == {"missing": 1, "email": 1, "deleted": 1, "foreignPool": 1}
    assert [d["sub"] for d in publisher.published] == [sub(4)]
    assert stored(dynamo, 1)["email"] == "new@example.com" and stored(dynamo, 1)["_version"] == 2
    tomb = stored(dynamo, 2)
    assert tomb["_deleted"] is True and "email" not in tomb and "name" not in tomb
    assert not has_key(dynamo, 2)
    assert stored(dynamo, 3)["email"] == "user3@example.com" and has_key(dynamo, 3)
    assert stored(dynamo, 0)["_version"] == 1 and has_key(dynamo, 0)
    assert summary.complete and summary.items == 4

    again = reconcile(
        POOL,
        FakeDirectory(users),
        DynamoProjection(dynamo, USERS),
        publisher,
        repairs=repairs,
        now=NOW,
    )
    assert again.counts() == {"missing": 1, "email": 0, "deleted": 0, "foreignPool": 1}


def test_a_tombstone_whose_key_survived_loses_it(dynamo: Any) -> None:
    """A run that stopped between the two writes: the next one finishes the erasure."""
    put_user(dynamo, 2)
    repairs = LifecycleRepairs(
        dynamo, USERS, POOL, DynamoKeyShredder(dynamo, KEYS), clock=lambda: NOW
    )
    assert repairs.tombstone(sub(2)) is True
    dynamo.put_item(TableName=KEYS, Item={"id": {"S": sub(2)}, "key": {"B": b"k" * 32}})
    assert repairs.tombstone(sub(2)) is True and not has_key(dynamo, 2)
    assert repairs.tombstone(sub(2)) is False  # nothing left to do


def test_a_write_that_cannot_be_made_now_is_a_failed_repair(dynamo: Any) -> None:
    put_user(dynamo, 1, _replayedBy="rebuild-1")
    repairs = LifecycleRepairs(
        dynamo, USERS, POOL, DynamoKeyShredder(dynamo, KEYS), clock=lambda: NOW
    )
    with pytest.raises(RepairFailedError, match=sub(1)):
        repairs.change_email(sub(1), "new@example.com")


# --- the scheduled function (moto) ------------------------------------------------------------


def test_the_scheduled_function_repairs_and_writes_its_counts_as_metrics(
    dynamo: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.reconcile import handler

    cognito = boto3.client("cognito-idp", region_name="eu-west-1")
    pool = cognito.create_user_pool(PoolName="users")["UserPool"]["Id"]
    events = boto3.client("events", region_name="eu-west-1")
    events.create_event_bus(Name="users")
    put_user(dynamo, 1, userPoolId=pool)  # Cognito no longer has them
    for variable, value in {
        "USER_POOL_ID": pool,
        "USER_TABLE_NAME": USERS,
        "KEYS_TABLE_NAME": KEYS,
        "EVENT_BUS_NAME": "users",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(variable, value)
    handler.default_settings.cache_clear()

    counts = handler.lambda_handler({}, lambda_context)
    handler.default_settings.cache_clear()

    assert counts["drift"] == {"missing": 0, "email": 0, "deleted": 1, "foreignPool": 0}
    assert stored(dynamo, 1)["_deleted"] is True and not has_key(dynamo, 1)
    (metrics,) = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert metrics["deleted"] == 1 and metrics["UserPoolId"] == pool


def test_the_scheduled_function_needs_the_keys_table(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    from contracts.settings import MissingSettingError
    from services.reconcile import handler

    for variable in ("USER_POOL_ID", "USER_TABLE_NAME", "EVENT_BUS_NAME"):
        monkeypatch.setenv(variable, "x")
    monkeypatch.delenv("KEYS_TABLE_NAME", raising=False)
    handler.default_settings.cache_clear()
    with pytest.raises(MissingSettingError, match="KEYS_TABLE_NAME"):
        handler.lambda_handler({}, lambda_context)
    handler.default_settings.cache_clear()
