"""Reconcile with fakes: ListUsers pages and its rate limit, BatchGetItem's unprocessed keys,
PutEvents' partial failures, and the summary."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.event_models import UserConfirmed
from services.reconcile.logic import CognitoUser, reconcile
from services.reconcile.store import (
    CONFIRMED_FILTER,
    PAGE_SIZE,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
    LookupIncompleteError,
)

POOL = "eu-west-1_Ab12Cd34E"
CREATED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def cognito_user(index: int, *, email: bool = True) -> dict[str, Any]:
    sub = str(uuid.UUID(int=index + 1))
    attributes = [{"Name": "sub", "Value": sub}, {"Name": "email_verified", "Value": "true"}]
    if email:
        attributes.append({"Name": "email", "Value": f"user{index}@example.com"})
    return {"Username": sub, "Attributes": attributes, "UserCreateDate": CREATED}


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
        answered = [k for k in keys[len(held) :] if k["id"]["S"] in self.ids]
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


def published_subs(events: FakeEvents) -> list[str]:
    return [json.loads(entry["Detail"])["sub"] for call in events.calls for entry in call]


def run(
    users: list[dict[str, Any]],
    existing: set[str],
    events: FakeEvents | None = None,
    **options: Any,
) -> tuple[Any, FakeEvents, FakeCognito]:
    cognito, events = FakeCognito(users), events or FakeEvents()
    summary = reconcile(
        POOL,
        CognitoDirectory(cognito, POOL, requests_per_second=1000, sleep=lambda _: None),  # type: ignore[arg-type]
        DynamoProjection(FakeDynamo(existing), "users", sleep=lambda _: None),  # type: ignore[arg-type]
        EventBridgeBatchPublisher(events, "bus", sleep=lambda _: None),  # type: ignore[arg-type]
        **options,
    )
    return summary, events, cognito


def test_missing_users_across_pages_are_published_once_each_as_reconcile_events() -> None:
    users = [cognito_user(i) for i in range(250)]
    subs = [user["Username"] for user in users]
    existing = set(subs[::2] + subs[1:50:2])  # 150 have items; 100 are missing
    summary, events, cognito = run(users, existing)

    missing = sorted(set(subs) - existing)
    assert (summary.scanned, summary.missing, summary.published, summary.failed) == (
        250,
        100,
        100,
        0,
    )
    assert sorted(published_subs(events)) == missing
    assert len(cognito.requests) == 5  # 250 users, 60 a page
    assert all(
        r["Filter"] == CONFIRMED_FILTER and r["Limit"] == PAGE_SIZE for r in cognito.requests
    )
    detail = UserConfirmed.model_validate_json(events.calls[0][0]["Detail"])
    assert (detail.origin, detail.user_pool_id, detail.confirmed_at) == ("reconcile", POOL, CREATED)
    assert events.calls[0][0]["EventBusName"] == "bus"


def test_a_second_run_finds_nothing_missing() -> None:
    users = [cognito_user(i) for i in range(30)]
    summary, events, _ = run(users, {u["Username"] for u in users})
    assert (summary.missing, summary.published) == (0, 0) and events.calls == []


def test_a_dry_run_publishes_nothing() -> None:
    users = [cognito_user(i) for i in range(30)]
    summary, events, _ = run(users, set(), dry_run=True)
    assert (summary.missing, summary.published) == (30, 0) and events.calls == []


def test_orphans_are_reported_not_deleted() -> None:
    users = [cognito_user(i) for i in range(3)]
    orphan = str(uuid.uuid4())
    items = {u["Username"] for u in users} | {orphan}
    summary, _, _ = run(users, items, item_ids=sorted(items))
    assert summary.orphans == [orphan]


def test_a_user_without_an_email_cannot_make_an_event_and_is_counted() -> None:
    summary, events, _ = run([cognito_user(0, email=False), cognito_user(1)], set())
    assert (summary.missing, summary.published, summary.unpublishable) == (2, 1, 1)
    assert published_subs(events) == [str(uuid.UUID(int=2))]
    assert not summary.complete


def test_failed_entries_are_retried_then_reported() -> None:
    users = [cognito_user(i) for i in range(12)]
    # call 1: 10 entries, positions 2 and 7 fail; call 2 (the retry of those 2): position 0 fails
    # again; call 3 (the retry of that one): succeeds. Call 4: the last 2 users.
    events = FakeEvents(fail={1: {2, 7}, 2: {0}})
    summary, events, _ = run(users, set(), events)
    assert (summary.published, summary.failed) == (12, 0)
    assert [len(call) for call in events.calls] == [10, 2, 1, 2]

    always = FakeEvents(fail={n: {0} for n in range(1, 10)})
    summary, _, _ = run([cognito_user(0)], set(), always)
    assert (summary.published, summary.failed) == (0, 1)


def test_unprocessed_keys_are_retried_with_backoff() -> None:
    ids = {str(uuid.UUID(int=i + 1)) for i in range(100)}
    slept: list[float] = []
    dynamo = FakeDynamo(ids, stubborn=2, unprocessed=40)
    found = DynamoProjection(dynamo, "users", sleep=slept.append).existing(sorted(ids))  # type: ignore[arg-type]
    assert found == ids
    assert dynamo.calls == 3
    assert slept == sorted(slept) and slept[0] > 0


def test_keys_that_stay_unprocessed_are_an_error_not_a_false_missing() -> None:
    dynamo = FakeDynamo({"a"}, stubborn=99, unprocessed=1)
    with pytest.raises(LookupIncompleteError, match="1 key"):
        DynamoProjection(dynamo, "users", attempts=3, sleep=lambda _: None).existing(["a"])  # type: ignore[arg-type]


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
    pages: Iterator[Sequence[CognitoUser]] = directory.confirmed_users()
    assert sum(len(page) for page in pages) == 200
    assert slept == [0.5, 0.5, 0.5]  # 4 pages, at most 2 a second


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_second"):
        CognitoDirectory(FakeCognito([]), POOL, requests_per_second=0)  # type: ignore[arg-type]
