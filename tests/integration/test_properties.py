"""Random interleavings of duplicates, replays, profile edits and stream redeliveries, for
many users, through the real projector and audit handlers on moto — then a rebuild.

Each "confirm" is one call of the trigger, stamped with its own ``confirmedAt`` (Cognito's
retries are separate calls, seconds apart): the test checks the promise about ``createdAt``
(docs/architecture.md, "What a rebuild reproduces") — it is the earliest of that user's stamps,
whatever order the events came in, so a rebuild from the archive in any order reproduces it.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from contracts.topology import ResourceNames
from contracts.user_fields import profile_problem
from contracts.user_model import User
from services.confirm_trigger.logic import user_confirmed_from
from services.confirm_trigger.publisher import EventBridgePublisher
from tests.harness import InProcessPipeline
from tests.support import (
    all_stream_records,
    appsync_event,
    cognito_identity,
    user_confirmed_envelope,
)
from userpipe.aws.clients import Clients

pytestmark = pytest.mark.integration
USERS = 4

user_index = st.integers(0, USERS - 1)
operations = st.lists(
    st.one_of(
        # the trigger publishes (again), stamped up to 12 s after now (a Cognito retry's call)
        st.tuples(st.just("confirm"), user_index, st.integers(0, 12_000)),
        # an archived event comes back with a new id (which one: drawn from those published)
        st.tuples(st.just("replay"), user_index, st.integers(0, 10)),
        st.tuples(
            st.just("edit"),
            user_index,
            st.one_of(st.none(), st.text(min_size=0, max_size=12)),  # "" is refused
            st.one_of(st.none(), st.integers(0, 150)),
            st.booleans(),  # True: the client read an old version (a conflict)
        ),
        st.tuples(st.just("settle")),
        st.tuples(st.just("redeliver_stream")),
    ),
    min_size=1,
    max_size=25,
)


@dataclass
class Expected:
    """What the table must hold, tracked from the operations that succeeded."""

    confirmed: set[str] = field(default_factory=set)
    published: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # details, per sub
    edits: dict[str, int] = field(default_factory=dict)
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)


_stages = (f"p{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def emulator() -> Iterator[None]:
    with mock_aws():
        yield


def sub_of(index: int) -> str:
    return str(uuid.UUID(int=index + 1))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, data=st.data())
def test_interleavings_never_duplicate_regress_or_lose_anything(
    emulator: None, lambda_context: Any, ops: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    pipe = InProcessPipeline(Clients(local=True), ResourceNames(next(_stages)))  # module moto
    expected = Expected()
    seen_versions: dict[str, int] = {}
    for op in ops:
        apply(pipe, op, expected, lambda_context)
        for sub, user in pipe.users().items():  # _version never decreases, at any point
            assert user.version >= seen_versions.get(sub, 0)
            seen_versions[sub] = user.version
    pipe.settle()

    final = pipe.users()
    assert set(final) == expected.confirmed  # one item per confirmed user, nobody else
    for sub, user in final.items():
        assert user.version == 1 + expected.edits.get(sub, 0)
        for name, value in expected.profile.get(sub, {}).items():
            assert getattr(user, name) == value  # name/age never lost
    stream = all_stream_records(pipe)
    audited = pipe.audit_records()
    assert len(audited) == len(stream)  # one audit record per stream record
    assert {r.sequence_number for r in audited} == {r["dynamodb"]["SequenceNumber"] for r in stream}
    for sub, user in final.items():  # createdAt: the earliest of the user's stamps
        assert user.created_at == min(stamps(expected, sub))

    rebuilt = rebuild(pipe, expected, data)
    assert set(rebuilt) == expected.confirmed
    for sub, user in rebuilt.items():
        assert user.version == 1
        assert user.created_at == final[sub].created_at


def stamps(expected: Expected, sub: str) -> set[str]:
    return {detail["confirmedAt"] for detail in expected.published[sub]}


def rebuild(pipe: InProcessPipeline, expected: Expected, data: st.DataObject) -> dict[str, User]:
    """Empty the table, then deliver every archived event again, in an order drawn at random
    (StartReplay delivers in no particular order)."""
    for sub in pipe.users():
        pipe.clients.dynamodb.delete_item(
            TableName=pipe.attribute("UserTable", "name"), Key={"id": {"S": sub}}
        )
    archived = [detail for details in expected.published.values() for detail in details]
    for detail in data.draw(st.permutations(archived), label="replay order"):
        redeliver(pipe, detail, replay_name="rebuild")
    pipe.settle()
    return pipe.users()


def apply(pipe: InProcessPipeline, op: tuple[Any, ...], expected: Expected, context: Any) -> None:
    match op:
        case ("confirm", index, later_ms):
            detail = publish(pipe, index, later_ms)
            expected.confirmed.add(sub_of(index))
            expected.published.setdefault(sub_of(index), []).append(detail)
        case ("replay", index, which):
            archived = expected.published.get(sub_of(index), [])
            if archived:  # only archived events come back
                redeliver(pipe, archived[which % len(archived)], replay_name="property-replay")
        case ("edit", index, name, age, stale):
            pipe.settle()
            edit(pipe, sub_of(index), {"name": name, "age": age}, stale, expected)
        case ("settle",):
            pipe.settle()
        case ("redeliver_stream",):
            pipe.settle()
            records = all_stream_records(pipe)
            if records:
                redelivered = pipe.functions["AuditTrail"].invoke({"Records": records})
                assert redelivered.result == {"batchItemFailures": []}


def publish(pipe: InProcessPipeline, index: int, later_ms: int) -> dict[str, Any]:
    """One call of the trigger, stamped ``later_ms`` after now; returns what it published."""
    stamp = datetime.now(UTC) + timedelta(milliseconds=later_ms)
    confirmation = pipe.confirmation(sub_of(index), f"user{index}@example.com")
    detail = user_confirmed_from(confirmation, stamp)
    assert detail is not None
    EventBridgePublisher(pipe.clients.events, pipe.attribute("Bus", "name")).publish(detail)
    return dict(detail)


def redeliver(pipe: InProcessPipeline, detail: dict[str, Any], *, replay_name: str) -> None:
    """What StartReplay delivers: the archived event, with a new id and ``replay-name``."""
    envelope = user_confirmed_envelope(replay_name=replay_name)
    envelope["detail"] = detail
    pipe.clients.sqs.send_message(
        QueueUrl=pipe.attribute("ProjectorQueue", "url"), MessageBody=json.dumps(envelope)
    )


def edit(
    pipe: InProcessPipeline, sub: str, changes: dict[str, Any], stale: bool, expected: Expected
) -> None:
    """A profile edit by the user themself, through the API's resolver."""
    current: User | None = pipe.users().get(sub)
    version = (current.version if current else 1) - (1 if stale else 0)
    update = {"id": sub, "_version": version, **changes}
    name = changes["name"]
    if profile_problem("name", name) or version < 1:
        expected_outcome = "invalid"
    else:
        expected_outcome = "missing" if current is None else "conflict" if stale else "edited"
    answer = pipe.api(
        appsync_event("Mutation", "updateUser", {"input": update}, cognito_identity(sub))
    )
    outcomes = {"BadRequest": "invalid", "NotFound": "missing", "ConflictUnhandled": "conflict"}
    outcome = outcomes[answer["error"]["type"]] if "error" in answer else "edited"
    assert outcome == expected_outcome
    if outcome == "edited":
        expected.edits[sub] = expected.edits.get(sub, 0) + 1
        expected.profile[sub] = changes
