"""The projector applies every change event by version: in any order, any number of times, the
table ends as the in-order application leaves it — and a replay's writes leave no mark."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import dynamodb
from contracts.event_fields import USER_PROFILE_CHANGED_EVENT
from contracts.names import REPLAY_MARK, USER_PROFILE_CHANGED
from contracts.user_fields import FIELD, PROFILE_FIELDS
from contracts.user_profile_changed import profile_changed_detail
from services.user_projector.handler import process_batch
from services.user_projector.logic import EDIT_BOOKKEEPING
from tests.fakes import FakeUserStore
from tests.support import sqs_event, user_confirmed_envelope

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"  # tests/events/eventbridge_user_confirmed.json
OTHER_POOL = "us-east-1_Zz98Yy76X"
EDITED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def changed_envelope(
    version: int,
    sub: str = SUB,
    *,
    pool: str = POOL,
    replay_name: str | None = None,
    **profile: Any,
) -> dict[str, Any]:
    """An EventBridge ``UserProfileChanged`` leaving ``profile`` (absent: cleared) at
    ``version``, edited ``version`` minutes after ``EDITED``."""
    edited = EDITED + timedelta(minutes=version)
    item = {
        "id": sub,
        "userPoolId": pool,
        **profile,
        "updatedAt": edited.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "_version": version,
        "_lastChangedAt": int(edited.timestamp() * 1000),
    }
    envelope = user_confirmed_envelope(sub, replay_name=replay_name)
    envelope["detail-type"] = USER_PROFILE_CHANGED
    envelope["detail"] = profile_changed_detail(item)
    return envelope


def confirmed_envelope(
    sub: str = SUB, *, pool: str = POOL, replay_name: str | None = None
) -> dict[str, Any]:
    envelope = user_confirmed_envelope(sub, replay_name=replay_name)
    envelope["detail"]["userPoolId"] = pool
    return envelope


def failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def deliver(store: FakeUserStore, context: Any, *envelopes: dict[str, Any]) -> list[str]:
    """Each envelope in its own batch, in turn; the message ids that failed."""
    failed = []
    for envelope in envelopes:
        failed += failures(process_batch(sqs_event(envelope), context, store))
    return failed


def plain(store: FakeUserStore, sub: str = SUB) -> dict[str, Any]:
    return dynamodb.from_item(store.items[sub])


def marked_writes(store: FakeUserStore) -> list[str]:
    return [write[REPLAY_MARK]["S"] for write in store.writes if REPLAY_MARK in write]


# --- what a change writes ----------------------------------------------------------------------


def test_a_change_writes_the_profile_and_the_bookkeeping_of_an_edit_nothing_else() -> None:
    identity = {"schemaVersion", "userPoolId", "sub"}
    assert EDIT_BOOKKEEPING == ("updatedAt", "_version", "_lastChangedAt")
    assert set(USER_PROFILE_CHANGED_EVENT.names) - identity == {*PROFILE_FIELDS, *EDIT_BOOKKEEPING}


def test_a_higher_version_wins(lambda_context: Any) -> None:
    store = FakeUserStore()
    assert deliver(store, lambda_context, confirmed_envelope()) == []
    first = plain(store)

    assert deliver(store, lambda_context, changed_envelope(2, name="Ada", age=36)) == []
    assert deliver(store, lambda_context, changed_envelope(3, name="Ada L.", age=37)) == []

    item = plain(store)
    assert (item["name"], item["age"], item["_version"]) == ("Ada L.", 37, 3)
    assert item["updatedAt"] == "2026-12-01T09:03:00.000Z"
    assert item["_lastChangedAt"] == int((EDITED + timedelta(minutes=3)).timestamp() * 1000)
    # What the confirmation wrote and no edit touches stays.
    untouched = {name: first[name] for name in ("email", "createdAt", "owner", "userPoolId")}
    assert {name: item[name] for name in untouched} == untouched
    assert store.users[SUB].version == 3  # an item AppSync can serve


@pytest.mark.parametrize("late_version", [2, 3], ids=["older", "duplicate"])
def test_an_older_or_equal_version_is_a_no_op_that_writes_nothing(
    late_version: int, lambda_context: Any, log_lines: Any
) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(3, name="Grace"))
    before, writes = plain(store), len(store.writes)

    # The duplicate carries what version 3 carried; the older change, other values.
    late = (
        changed_envelope(3, name="Grace") if late_version == 3 else changed_envelope(2, name="Ada")
    )
    assert deliver(store, lambda_context, late) == []

    assert plain(store) == before
    assert len(store.writes) == writes  # no write at all: moto would stream even a no-op
    assert log_lines()[-1]["message"] == (
        "profile change already applied or superseded; nothing changed"
    )


def test_a_null_clears_a_field(lambda_context: Any) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="Ada", age=36))

    assert deliver(store, lambda_context, changed_envelope(3, name="Ada")) == []

    assert "age" not in store.items[SUB]  # removed, not stored as NULL
    assert (store.users[SUB].name, store.users[SUB].age) == ("Ada", None)


def test_a_change_before_its_user_is_projected_fails_for_a_retry(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeUserStore()
    event = sqs_event(changed_envelope(2, name="Rosalind Franklin"))

    response = process_batch(event, lambda_context, store)

    assert failures(response) == [event["Records"][0]["messageId"]]
    assert store.items == {} and store.writes == []
    (line,) = log_lines()
    assert line["message"] == "user not projected yet; the change is retried"
    assert (line["sub"], line["version"]) == (SUB, 2)
    assert "Rosalind" not in json.dumps(log_lines())
    # Its UserConfirmed arrives; the redelivered change applies.
    assert deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="R")) == []
    assert plain(store)["name"] == "R"


def test_a_change_for_the_same_sub_in_another_pool_is_refused(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope(pool=POOL))
    before = plain(store)
    event = sqs_event(changed_envelope(2, pool=OTHER_POOL, name="Mallory"))

    response = process_batch(event, lambda_context, store)

    assert failures(response) == [event["Records"][0]["messageId"]]
    assert plain(store) == before
    line = log_lines()[-1]
    assert line["message"] == "message rejected"
    assert f"exists for user pool {POOL}" in line["reason"] and OTHER_POOL in line["reason"]
    assert "Mallory" not in json.dumps(log_lines())


SECRET = "Secret Person"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("detail-type", SECRET),
        ("detail.name", SECRET * 10),  # too long
        ("detail._version", 1),  # the first version is the UserConfirmed's
        ("detail.sub", SECRET),
    ],
)
def test_an_unreadable_change_is_rejected_naming_the_field_never_its_value(
    where: str, value: Any, lambda_context: Any, log_lines: Any
) -> None:
    envelope = changed_envelope(2, name=SECRET)
    *parents, name = where.split(".")
    (envelope[parents[0]] if parents else envelope)[name] = value
    store = FakeUserStore()
    event = sqs_event(envelope)

    response = process_batch(event, lambda_context, store)

    assert failures(response) == [event["Records"][0]["messageId"]]
    (line,) = log_lines()
    assert line["message"] == "message rejected" and name in line["reason"]
    assert "Secret" not in json.dumps(log_lines())


# --- the replay mark -----------------------------------------------------------------------


def test_a_live_confirmation_is_never_marked_a_live_profile_change_is(
    lambda_context: Any,
) -> None:
    """A live UserConfirmed is a new fact: its write must be audited and announced. A live
    profile change writes only when the table fell behind the log (a redrive, a restore), and
    the edit it carries was audited, announced and published when the API made it: its write
    is marked with the event's id, so no reader of the stream takes it for a new change."""
    store = FakeUserStore()
    change = changed_envelope(2, name="Ada")
    deliver(store, lambda_context, confirmed_envelope(), change)
    assert [REPLAY_MARK in write for write in store.writes] == [False, True, False]
    assert marked_writes(store) == [change["id"]]
    assert REPLAY_MARK not in store.items[SUB]


def test_a_replayed_event_is_written_with_the_mark_then_the_mark_is_removed(
    lambda_context: Any,
) -> None:
    store = FakeUserStore()
    replayed = [
        confirmed_envelope(replay_name="rebuild-1"),
        changed_envelope(2, name="Ada", replay_name="rebuild-1"),
    ]
    assert deliver(store, lambda_context, *replayed) == []

    # Per event: the new state with the mark, then the same state without it.
    assert marked_writes(store) == ["rebuild-1", "rebuild-1"]
    assert [REPLAY_MARK in write for write in store.writes] == [True, False, True, False]
    for marked, cleaned in zip(store.writes[::2], store.writes[1::2], strict=True):
        assert {k: v for k, v in marked.items() if k != REPLAY_MARK} == cleaned
    assert REPLAY_MARK not in store.items[SUB]


def test_a_replayed_duplicate_writes_nothing(lambda_context: Any) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="Ada"))
    writes = len(store.writes)

    replayed = [
        confirmed_envelope(replay_name="rebuild-1"),
        changed_envelope(2, name="Ada", replay_name="rebuild-1"),
    ]
    assert deliver(store, lambda_context, *replayed) == []
    assert len(store.writes) == writes


def test_a_live_change_leaves_no_mark_a_replay_left_behind(lambda_context: Any) -> None:
    store = FakeUserStore(fail_mark_removals=1)
    deliver(store, lambda_context, confirmed_envelope(replay_name="rebuild-1"))
    assert store.items[SUB][REPLAY_MARK] == {"S": "rebuild-1"}

    assert deliver(store, lambda_context, changed_envelope(2, name="Ada")) == []
    assert REPLAY_MARK not in store.items[SUB]


@pytest.mark.parametrize("event_type", ["UserConfirmed", "UserProfileChanged"])
def test_a_failed_mark_removal_is_completed_by_the_retry(
    event_type: str, lambda_context: Any, log_lines: Any
) -> None:
    store = FakeUserStore()
    if event_type == "UserProfileChanged":
        deliver(store, lambda_context, confirmed_envelope())
        replayed = changed_envelope(2, name="Ada", replay_name="rebuild-1")
    else:
        replayed = confirmed_envelope(replay_name="rebuild-1")
    store.fail_mark_removals = 1

    assert len(deliver(store, lambda_context, replayed)) == 1  # reported: SQS redelivers it
    assert store.items[SUB][REPLAY_MARK] == {"S": "rebuild-1"}
    assert log_lines()[-1]["message"] == "projection failed"

    assert deliver(store, lambda_context, replayed) == []  # the redelivery
    assert REPLAY_MARK not in store.items[SUB]
    assert log_lines()[-1]["mark_left_over"] is True
    writes = len(store.writes)
    assert deliver(store, lambda_context, replayed) == []  # and then nothing left to do
    assert len(store.writes) == writes


def test_a_retry_never_removes_another_replays_mark(lambda_context: Any) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope())
    store.fail_mark_removals = 1
    deliver(store, lambda_context, changed_envelope(2, name="Ada", replay_name="rebuild-2"))
    writes = len(store.writes)

    older_replay = changed_envelope(2, name="Ada", replay_name="rebuild-1")
    assert deliver(store, lambda_context, older_replay) == []

    assert len(store.writes) == writes
    assert store.items[SUB][REPLAY_MARK] == {"S": "rebuild-2"}  # rebuild-2's retry removes it


# --- any order, any number of times --------------------------------------------------------


def _profile_values(name: str) -> st.SearchStrategy[Any]:
    """Values the profile field's rule accepts (``contracts.user_fields``), or null."""
    field = FIELD[name]
    if field.type is int:
        return st.none() | st.integers(0, 150)
    return st.none() | st.text("abcdefgh ÄÖß", min_size=1, max_size=12).filter(
        lambda text: field.rule is None or field.rule.holds(text)
    )


profiles = st.fixed_dictionaries({name: _profile_values(name) for name in PROFILE_FIELDS})


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A user's events: UserConfirmed, then 0-6 profile changes at versions 2, 3, ..."""
    sub = str(draw(st.uuids()))
    changes = draw(st.lists(profiles, max_size=6))
    return [
        confirmed_envelope(sub),
        *(
            changed_envelope(version, sub, **{k: v for k, v in profile.items() if v is not None})
            for version, profile in enumerate(changes, start=2)
        ),
    ]


def replayed(envelope: dict[str, Any], replay_name: str | None) -> dict[str, Any]:
    copy = json.loads(json.dumps(envelope))
    if replay_name is not None:
        copy["replay-name"] = replay_name
    return copy


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=histories(),
    seed=st.randoms(use_true_random=False),
    duplicates=st.integers(0, 4),
    replay_name=st.sampled_from([None, "rebuild-1"]),
    failing_removals=st.integers(0, 2),
)
def test_applying_a_history_in_any_order_leaves_what_the_in_order_application_leaves(
    history: list[dict[str, Any]],
    seed: random.Random,
    duplicates: int,
    replay_name: str | None,
    failing_removals: int,
    lambda_context: Any,
) -> None:
    in_order = FakeUserStore()
    assert deliver(in_order, lambda_context, *history) == []

    shuffled = FakeUserStore(fail_mark_removals=failing_removals if replay_name else 0)
    pending = [replayed(envelope, replay_name) for envelope in history]
    pending += [seed.choice(pending) for _ in range(duplicates)]
    seed.shuffle(pending)
    for _round in range(len(pending) + failing_removals + 1):
        if not pending:
            break
        event = sqs_event(*pending)  # one batch; the failed ones come back, as SQS would
        failed = set(failures(process_batch(event, lambda_context, shuffled)))
        pending = [
            json.loads(record["body"])
            for record in event["Records"]
            if record["messageId"] in failed
        ]
        seed.shuffle(pending)
    assert pending == []

    assert shuffled.items == in_order.items
    assert all(REPLAY_MARK not in item for item in shuffled.items.values())


def test_two_changes_to_one_version_that_disagree_are_refused_as_a_fork(
    lambda_context: Any, log_lines: Any
) -> None:
    """Two edits made from the same version (one against a table that had lost later versions)
    cannot both be the truth: the second is refused by name, never dropped as a duplicate."""
    store = FakeUserStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(3, name="Grace"))
    before = plain(store)

    assert len(deliver(store, lambda_context, changed_envelope(3, name="Ada"))) == 1

    assert plain(store) == before
    assert log_lines()[-1]["message"] == "message rejected"
    assert "the log has two changes to that version" in log_lines()[-1]["reason"]


def confirmation_at(moment: str, email: str = "ada@example.com") -> dict[str, Any]:
    envelope = confirmed_envelope()
    envelope["detail"] |= {"confirmedAt": moment, "email": email}
    return envelope


@pytest.mark.parametrize("order", ["earlier first", "later first"])
def test_of_two_confirmations_of_one_user_the_earlier_wins_in_any_order(
    order: str, lambda_context: Any
) -> None:
    """Duplicates need not be equal: each trigger invocation stamps its own confirmedAt, and
    reconcile stamps Cognito's creation date. Whichever a queue delivers first, the user ends
    with the same item — what a replay, in its own order, writes again."""
    earlier = confirmation_at("2026-11-28T06:59:59.870Z")
    later = confirmation_at("2026-11-28T07:00:04.912Z", email="ada.l@example.com")
    store = FakeUserStore()
    sequence = (earlier, later) if order == "earlier first" else (later, earlier)
    assert deliver(store, lambda_context, *sequence) == []

    item = plain(store)
    assert (item["createdAt"], item["updatedAt"]) == ("2026-11-28T06:59:59.870Z",) * 2
    assert item["_lastChangedAt"] == 1_795_849_199_870
    assert (item["email"], item["_version"]) == ("ada@example.com", 1)


def test_an_earlier_confirmation_after_an_edit_corrects_only_what_no_edit_moved_on(
    lambda_context: Any,
) -> None:
    store = FakeUserStore()
    later = confirmation_at("2026-11-28T07:00:04.912Z", email="ada.l@example.com")
    deliver(store, lambda_context, later, changed_envelope(2, name="Ada"))
    edited = plain(store)

    earlier = confirmation_at("2026-11-28T06:59:59.870Z")
    assert deliver(store, lambda_context, earlier) == []

    item = plain(store)
    assert (item["email"], item["createdAt"]) == ("ada@example.com", "2026-11-28T06:59:59.870Z")
    moved_on = ("name", "updatedAt", "_version", "_lastChangedAt")
    assert {name: item[name] for name in moved_on} == {name: edited[name] for name in moved_on}


def test_an_equal_or_later_confirmation_writes_nothing(lambda_context: Any) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmation_at("2026-11-28T06:59:59.870Z"))
    writes = len(store.writes)
    for moment in ("2026-11-28T06:59:59.870Z", "2026-11-28T07:00:00.000Z"):
        assert deliver(store, lambda_context, confirmation_at(moment)) == []
    assert len(store.writes) == writes


def test_a_correction_racing_another_write_is_retried_not_forced(lambda_context: Any) -> None:
    store = FakeUserStore()
    deliver(store, lambda_context, confirmation_at("2026-11-28T07:00:04.912Z"))
    store.correct = lambda user_id, expected, values: False  # type: ignore[method-assign]
    assert len(deliver(store, lambda_context, confirmation_at("2026-11-28T06:59:59.870Z"))) == 1
