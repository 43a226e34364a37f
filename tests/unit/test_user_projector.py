from __future__ import annotations

import json
from typing import Any

import pytest

from services.user_projector import handler
from services.user_projector.logic import Sources
from tests.support import (
    FakeIdentity,
    FakeProjectorStore,
    projector_sources,
    sqs_event,
    user_confirmed_envelope,
)

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
OTHER = "0f1e2d3c-4b5a-4697-8877-665544332211"


def failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def process_batch(
    event: dict[str, Any], context: Any, store: FakeProjectorStore, sources: Sources | None = None
) -> dict[str, Any]:
    """The handler's batch, with Cognito and the keys faked (every user has ada@example.com)."""
    return handler.process_batch(event, context, store, sources or projector_sources())


def test_a_confirmed_user_becomes_a_first_version_item(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    response = process_batch(sqs_event(user_confirmed_envelope(SUB)), lambda_context, store)

    assert failures(response) == []
    user = store.users[SUB]
    assert (user.id, user.owner, user.typename, user.version) == (SUB, SUB, "User", 1)
    assert user.email == "ada@example.com"
    # Every timestamp comes from the event, _lastChangedAt too, so a rebuild reproduces them.
    assert user.created_at == user.updated_at == "2026-11-28T06:59:59.870Z"
    assert user.last_changed_at == 1_795_849_199_870  # 2026-11-28T06:59:59.870Z in epoch ms
    assert (user.name, user.age, user.deleted) == (None, None, None)


def test_the_same_event_delivered_three_times_creates_one_item(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    envelope = user_confirmed_envelope(SUB)
    for _ in range(3):
        assert failures(process_batch(sqs_event(envelope), lambda_context, store)) == []
    assert list(store.users) == [SUB]


def test_a_replay_never_overwrites_the_existing_item(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    process_batch(sqs_event(user_confirmed_envelope(SUB)), lambda_context, store)
    edited = store.users[SUB].model_copy(update={"name": "Ada", "version": 4})
    store.items[SUB] = edited.to_item()

    replay = user_confirmed_envelope(SUB, confirmed_at="2027-01-01T00:00:00.000Z", replay_name="r1")
    assert failures(process_batch(sqs_event(replay), lambda_context, store)) == []
    assert store.users[SUB] == edited


def test_a_poison_record_fails_alone(lambda_context: Any, log_lines: Any) -> None:
    store = FakeProjectorStore()
    bad_time = user_confirmed_envelope(OTHER, confirmed_at="not-a-time")
    event = sqs_event(user_confirmed_envelope(SUB), "{not json", bad_time, {"detail-type": "Other"})
    response = process_batch(event, lambda_context, store)

    poison_ids = [record["messageId"] for record in event["Records"][1:]]
    assert failures(response) == poison_ids
    assert list(store.users) == [SUB]
    rejected = [line for line in log_lines() if line["message"] == "message rejected"]
    assert [line["message_id"] for line in rejected] == poison_ids
    assert "detail.confirmedAt" in rejected[1]["reason"]
    assert all("not-a-time" not in json.dumps(line) for line in log_lines())


def test_a_batch_that_fails_entirely_is_reported_record_by_record(lambda_context: Any) -> None:
    event = sqs_event("[]", "{}")
    response = process_batch(event, lambda_context, FakeProjectorStore())
    assert failures(response) == [record["messageId"] for record in event["Records"]]


def test_a_store_error_fails_the_record_for_retry_without_logging_the_payload(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore(fail_with=RuntimeError("throttled while writing ada@example.com"))
    event = sqs_event(user_confirmed_envelope(SUB))
    response = process_batch(event, lambda_context, store)

    assert failures(response) == [event["Records"][0]["messageId"]]
    (line,) = log_lines()
    assert line["message"] == "projection failed" and line["error"] == "RuntimeError"
    assert "ada@example.com" not in json.dumps(log_lines())


@pytest.mark.parametrize("email", ["ada@example.com", "grace@example.org"])
def test_projecting_logs_no_email(email: str, lambda_context: Any, log_lines: Any) -> None:
    store = FakeProjectorStore()
    envelope = user_confirmed_envelope(SUB)
    sources = projector_sources(FakeIdentity(email))
    process_batch(sqs_event(envelope, envelope), lambda_context, store, sources)
    assert store.users[SUB].email == email
    messages = [line["message"] for line in log_lines()]
    assert messages == ["user created", "user already projected; nothing changed"]
    assert email not in json.dumps(log_lines())


SECRET = "secret.person@example.com"


@pytest.mark.parametrize(
    "where",
    ["source", "detail-type", "id", "time", "replay-name", "detail.sub", "detail.userPoolId"],
)
def test_a_rejection_reason_names_the_field_never_its_value(
    where: str, lambda_context: Any, log_lines: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "default_store", FakeProjectorStore)
    monkeypatch.setattr(handler, "default_sources", projector_sources)
    envelope = user_confirmed_envelope(SUB)
    *parents, name = where.split(".")
    (envelope[parents[0]] if parents else envelope)[name] = SECRET
    event = sqs_event(envelope)

    response = handler.lambda_handler(event, lambda_context)

    assert failures(response) == [event["Records"][0]["messageId"]]
    (line,) = log_lines()
    assert line["message"] == "message rejected"
    assert name in line["reason"]
    assert "secret.person" not in json.dumps(log_lines())


POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "us-east-1_Zz98Yy76X"


def from_pool(pool: str, sub: str = SUB) -> dict[str, Any]:
    envelope = user_confirmed_envelope(sub)
    envelope["detail"]["userPoolId"] = pool
    return envelope


def test_the_item_records_the_pool_it_came_from(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    process_batch(sqs_event(from_pool(OTHER_POOL)), lambda_context, store)
    assert store.users[SUB].user_pool_id == OTHER_POOL
    assert store.users[SUB].to_item()["userPoolId"] == {"S": OTHER_POOL}


def test_the_same_sub_from_another_pool_is_rejected_never_a_silent_success(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
    process_batch(sqs_event(from_pool(POOL)), lambda_context, store)
    first = store.users[SUB]
    event = sqs_event(from_pool(OTHER_POOL), from_pool(POOL))

    response = process_batch(event, lambda_context, store)

    assert failures(response) == [event["Records"][0]["messageId"]]  # the same pool's: a no-op
    assert store.users == {SUB: first}
    rejected = [line for line in log_lines() if line["message"] == "message rejected"]
    assert len(rejected) == 1
    assert f"exists for user pool {POOL}" in rejected[0]["reason"]
    assert OTHER_POOL in rejected[0]["reason"]


# --- the email is Cognito's (UserConfirmed v2 carries none) --------------------------------------


class RecordingIdentity(FakeIdentity):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []

    def user(self, user_pool_id: str, sub: str) -> Any:
        self.asked.append((user_pool_id, sub))
        return super().user(user_pool_id, sub)


def test_the_email_is_read_from_cognito_by_pool_and_sub(lambda_context: Any) -> None:
    identity = RecordingIdentity()
    store = FakeProjectorStore()
    process_batch(
        sqs_event(from_pool(OTHER_POOL)), lambda_context, store, projector_sources(identity)
    )
    assert identity.asked == [(OTHER_POOL, SUB)]
    assert store.users[SUB].email == "ada@example.com"


def test_a_user_cognito_no_longer_knows_writes_nothing_and_succeeds(
    lambda_context: Any, log_lines: Any
) -> None:
    """Deleted before the projection, or a replay of a deleted user: there is nothing to keep."""
    identity = FakeIdentity()
    identity.gone.add(SUB)
    store = FakeProjectorStore()

    response = process_batch(
        sqs_event(user_confirmed_envelope(SUB)), lambda_context, store, projector_sources(identity)
    )

    assert failures(response) == []
    assert store.writes == []
    (line,) = log_lines()
    assert line["message"] == "nothing written: the user is gone from Cognito"
    assert line["sub"] == SUB


def test_a_user_without_an_email_gets_an_item_without_one(
    lambda_context: Any, log_lines: Any
) -> None:
    """A federated user's provider may share no email; the item's email is nullable."""
    store = FakeProjectorStore()
    sources = projector_sources(FakeIdentity(None))

    response = process_batch(
        sqs_event(user_confirmed_envelope(SUB)), lambda_context, store, sources
    )

    assert failures(response) == []
    assert "email" not in store.items[SUB]
    assert store.users[SUB].email is None
    assert log_lines()[-1]["message"] == "user created without an email"


def test_throttled_cognito_fails_the_record_for_a_retry(
    lambda_context: Any, log_lines: Any
) -> None:
    identity = FakeIdentity()
    identity.fail_with = RuntimeError("TooManyRequestsException")
    store = FakeProjectorStore()
    event = sqs_event(user_confirmed_envelope(SUB))

    response = process_batch(event, lambda_context, store, projector_sources(identity))

    assert failures(response) == [event["Records"][0]["messageId"]]
    assert store.writes == []
    assert log_lines()[-1]["message"] == "projection failed"


def test_an_email_the_item_cannot_hold_is_rejected_without_quoting_it(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
    sources = projector_sources(FakeIdentity("no at sign"))
    event = sqs_event(user_confirmed_envelope(SUB))

    response = process_batch(event, lambda_context, store, sources)

    assert failures(response) == [event["Records"][0]["messageId"]]
    assert store.writes == []
    (line,) = log_lines()
    assert line["message"] == "message rejected" and "email" in line["reason"]
    assert "no at sign" not in json.dumps(log_lines())


def test_a_confirmation_of_a_tombstoned_user_is_a_duplicate(lambda_context: Any) -> None:
    """Even the earlier confirmation: a tombstone is never corrected (nor given an email)."""
    store = FakeProjectorStore()
    process_batch(
        sqs_event(user_confirmed_envelope(SUB, confirmed_at="2026-11-28T07:00:00.000Z")),
        lambda_context,
        store,
    )
    tombstone = {
        name: value
        for name, value in store.items[SUB].items()
        if name not in ("email", "name", "age")
    } | {"_deleted": {"BOOL": True}, "_version": {"N": "2"}, "_ttl": {"N": "1798761600"}}
    store.items[SUB] = tombstone
    writes = len(store.writes)

    earlier = user_confirmed_envelope(SUB, confirmed_at="2026-11-28T06:00:00.000Z")
    assert failures(process_batch(sqs_event(earlier), lambda_context, store)) == []

    assert len(store.writes) == writes
    assert store.items[SUB] == tombstone
