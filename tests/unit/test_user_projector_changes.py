"""The projector applies every change event by version: in any order, any number of times, the
table ends as the in-order application leaves it — and a replay's writes leave no mark.

The events carry no readable personal data: the profile is sealed under the user's key (here
``KEYS``), the email is read from Cognito (``FakeIdentity``)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import dynamodb
from contracts.event_fields import USER_PROFILE_CHANGED_EVENT
from contracts.names import REPLAY_MARK
from contracts.user_fields import FIELD, PROFILE_FIELDS
from services.shared.user_keys import MemoryKeyStore
from services.user_projector.handler import process_batch
from services.user_projector.logic import EDIT_BOOKKEEPING, Sources
from tests.support import (
    FakeIdentity,
    FakeProjectorStore,
    email_changed_envelope,
    profile_changed_envelope,
    projector_sources,
    sqs_event,
    user_confirmed_envelope,
    user_deleted_envelope,
)

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"  # tests/events/eventbridge_user_confirmed.json
OTHER_POOL = "us-east-1_Zz98Yy76X"
EDITED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


#: Every user's data key, as the change publisher created them.
KEYS = MemoryKeyStore()
#: Cognito and the keys as a live user's events find them.
SOURCES = projector_sources(keys=KEYS)


def changed_envelope(
    version: int,
    sub: str = SUB,
    *,
    pool: str = POOL,
    replay_name: str | None = None,
    **profile: Any,
) -> dict[str, Any]:
    """An EventBridge ``UserProfileChanged`` leaving ``profile`` (absent: cleared) at
    ``version``, edited ``version`` minutes after ``EDITED``, sealed under the key in ``KEYS``."""
    return profile_changed_envelope(
        version, sub, KEYS, pool=pool, replay_name=replay_name, **profile
    )


def confirmed_envelope(
    sub: str = SUB, *, pool: str = POOL, replay_name: str | None = None
) -> dict[str, Any]:
    envelope = user_confirmed_envelope(sub, replay_name=replay_name)
    envelope["detail"]["userPoolId"] = pool
    return envelope


def failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def deliver(
    store: FakeProjectorStore, context: Any, *envelopes: dict[str, Any], sources: Sources = SOURCES
) -> list[str]:
    """Each envelope in its own batch, in turn; the message ids that failed."""
    failed = []
    for envelope in envelopes:
        failed += failures(process_batch(sqs_event(envelope), context, store, sources))
    return failed


def plain(store: FakeProjectorStore, sub: str = SUB) -> dict[str, Any]:
    return dynamodb.from_item(store.items[sub])


def marked_writes(store: FakeProjectorStore) -> list[str]:
    return [write[REPLAY_MARK]["S"] for write in store.writes if REPLAY_MARK in write]


# --- what a change writes ----------------------------------------------------------------------


def test_a_change_writes_the_profile_and_the_bookkeeping_of_an_edit_nothing_else() -> None:
    identity = {"schemaVersion", "userPoolId", "sub"}
    assert EDIT_BOOKKEEPING == ("updatedAt", "_version", "_lastChangedAt")
    assert set(USER_PROFILE_CHANGED_EVENT.names) - identity == {"sealedProfile", *EDIT_BOOKKEEPING}


def test_a_higher_version_wins(lambda_context: Any) -> None:
    store = FakeProjectorStore()
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
    store = FakeProjectorStore()
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
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="Ada", age=36))

    assert deliver(store, lambda_context, changed_envelope(3, name="Ada")) == []

    assert "age" not in store.items[SUB]  # removed, not stored as NULL
    assert (store.users[SUB].name, store.users[SUB].age) == ("Ada", None)


def test_a_change_before_its_user_is_projected_fails_for_a_retry(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
    event = sqs_event(changed_envelope(2, name="Rosalind Franklin"))

    response = process_batch(event, lambda_context, store, SOURCES)

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
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope(pool=POOL))
    before = plain(store)
    event = sqs_event(changed_envelope(2, pool=OTHER_POOL, name="Mallory"))

    response = process_batch(event, lambda_context, store, SOURCES)

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
        ("detail.sealedProfile", SECRET),  # not a sealed value
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
    store = FakeProjectorStore()
    event = sqs_event(envelope)

    response = process_batch(event, lambda_context, store, SOURCES)

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
    store = FakeProjectorStore()
    change = changed_envelope(2, name="Ada")
    deliver(store, lambda_context, confirmed_envelope(), change)
    assert [REPLAY_MARK in write for write in store.writes] == [False, True, False]
    assert marked_writes(store) == [change["id"]]
    assert REPLAY_MARK not in store.items[SUB]


def test_a_replayed_event_is_written_with_the_mark_then_the_mark_is_removed(
    lambda_context: Any,
) -> None:
    store = FakeProjectorStore()
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
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="Ada"))
    writes = len(store.writes)

    replayed = [
        confirmed_envelope(replay_name="rebuild-1"),
        changed_envelope(2, name="Ada", replay_name="rebuild-1"),
    ]
    assert deliver(store, lambda_context, *replayed) == []
    assert len(store.writes) == writes


def test_a_live_change_leaves_no_mark_a_replay_left_behind(lambda_context: Any) -> None:
    store = FakeProjectorStore(fail_mark_removals=1)
    deliver(store, lambda_context, confirmed_envelope(replay_name="rebuild-1"))
    assert store.items[SUB][REPLAY_MARK] == {"S": "rebuild-1"}

    assert deliver(store, lambda_context, changed_envelope(2, name="Ada")) == []
    assert REPLAY_MARK not in store.items[SUB]


@pytest.mark.parametrize("event_type", ["UserConfirmed", "UserProfileChanged"])
def test_a_failed_mark_removal_is_completed_by_the_retry(
    event_type: str, lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
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
    store = FakeProjectorStore()
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


#: A step of a history that is an email change (the others are profiles).
EMAIL_CHANGE = "email change"
#: Where a history is replayed: Cognito and the keys as they are then.
LIVE, DELETED, DELETED_KEY_KEPT = "live", "deleted", "deleted, key not destroyed yet"


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Sources]:
    """A user's events — UserConfirmed, then 0-6 profile or email changes at versions 2, 3, ...,
    then, unless the user is live, UserDeleted — and the world they are applied in: Cognito
    and the keys as a replay finds them (a deleted user is gone from Cognito and, once user_sync
    is done, their key destroyed)."""
    sub = str(draw(st.uuids()))
    steps = draw(st.lists(profiles | st.just(EMAIL_CHANGE), max_size=6))
    world = draw(st.sampled_from([LIVE, DELETED, DELETED_KEY_KEPT]))
    history = [confirmed_envelope(sub)]
    for version, step in enumerate(steps, start=2):
        if step == EMAIL_CHANGE:
            history.append(email_changed_envelope(version, sub))
        else:
            kept = {name: value for name, value in step.items() if value is not None}
            history.append(changed_envelope(version, sub, **kept))
    identity = FakeIdentity(draw(st.sampled_from(["ada@example.com", "ada.l@example.com"])))
    keys = KEYS
    if world != LIVE:
        history.append(user_deleted_envelope(len(steps) + 2, sub))
        identity.gone.add(sub)
        keys = MemoryKeyStore() if world == DELETED else KEYS
    return history, projector_sources(identity, keys)


def replayed(envelope: dict[str, Any], replay_name: str | None) -> dict[str, Any]:
    copy = json.loads(json.dumps(envelope))
    if replay_name is not None:
        copy["replay-name"] = replay_name
    return copy


def apply_until_done(
    store: FakeProjectorStore,
    pending: list[dict[str, Any]],
    sources: Sources,
    context: Any,
    seed: random.Random | None,
) -> None:
    """Deliver ``pending`` in one batch; the failed ones come back, as SQS would (shuffled when
    ``seed`` is given), until none is left."""
    for _round in range(2 * len(pending) + 4):
        if not pending:
            return
        event = sqs_event(*pending)
        failed = set(failures(process_batch(event, context, store, sources)))
        pending = [
            json.loads(record["body"])
            for record in event["Records"]
            if record["messageId"] in failed
        ]
        if seed is not None:
            seed.shuffle(pending)
    assert pending == []


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=histories(),
    seed=st.randoms(use_true_random=False),
    duplicates=st.integers(0, 4),
    replay_name=st.sampled_from([None, "rebuild-1"]),
    failing_removals=st.integers(0, 2),
)
def test_applying_a_history_in_any_order_leaves_what_the_in_order_application_leaves(
    case: tuple[list[dict[str, Any]], Sources],
    seed: random.Random,
    duplicates: int,
    replay_name: str | None,
    failing_removals: int,
    lambda_context: Any,
) -> None:
    history, sources = case
    in_order = FakeProjectorStore()
    # In order, one event at a time; in a deleted user's world a change may wait for the
    # tombstone (no item before it), so what fails comes back, in order.
    apply_until_done(in_order, [dict(e) for e in history], sources, lambda_context, None)

    shuffled = FakeProjectorStore(fail_mark_removals=failing_removals if replay_name else 0)
    pending = [replayed(envelope, replay_name) for envelope in history]
    pending += [seed.choice(pending) for _ in range(duplicates)]
    seed.shuffle(pending)
    apply_until_done(shuffled, pending, sources, lambda_context, seed)

    assert shuffled.items == in_order.items
    assert all(REPLAY_MARK not in item for item in shuffled.items.values())


def test_two_changes_to_one_version_that_disagree_are_refused_as_a_fork(
    lambda_context: Any, log_lines: Any
) -> None:
    """Two edits made from the same version (one against a table that had lost later versions)
    cannot both be the truth: the second is refused by name, never dropped as a duplicate."""
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(3, name="Grace"))
    before = plain(store)

    assert len(deliver(store, lambda_context, changed_envelope(3, name="Ada"))) == 1

    assert plain(store) == before
    assert log_lines()[-1]["message"] == "message rejected"
    assert "the log has two changes to that version" in log_lines()[-1]["reason"]


def confirmation_at(moment: str) -> dict[str, Any]:
    envelope = confirmed_envelope()
    envelope["detail"]["confirmedAt"] = moment
    return envelope


@pytest.mark.parametrize("order", ["earlier first", "later first"])
def test_of_two_confirmations_of_one_user_the_earlier_wins_in_any_order(
    order: str, lambda_context: Any
) -> None:
    """Duplicates need not be equal: each trigger invocation stamps its own confirmedAt, and
    reconcile stamps Cognito's creation date. Whichever a queue delivers first, the user ends
    with the same item — what a replay, in its own order, writes again."""
    earlier = confirmation_at("2026-11-28T06:59:59.870Z")
    later = confirmation_at("2026-11-28T07:00:04.912Z")
    store = FakeProjectorStore()
    sequence = (earlier, later) if order == "earlier first" else (later, earlier)
    assert deliver(store, lambda_context, *sequence) == []

    item = plain(store)
    assert (item["createdAt"], item["updatedAt"]) == ("2026-11-28T06:59:59.870Z",) * 2
    assert item["_lastChangedAt"] == 1_795_849_199_870
    assert (item["email"], item["_version"]) == ("ada@example.com", 1)


def test_a_correction_leaves_the_email_cognito_gave_the_item(lambda_context: Any) -> None:
    """The email is Cognito's, not the confirmation's: when Cognito moved on between the two
    confirmations, the item keeps the address it has (user_sync's email change brings the new
    one, at a version of its own)."""
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmation_at("2026-11-28T07:00:04.912Z"))
    moved_on = projector_sources(FakeIdentity("ada.l@example.com"), KEYS)

    assert deliver(store, lambda_context, confirmation_at("2026-11-28T06:59:59.870Z"),
                   sources=moved_on) == []  # fmt: skip

    item = plain(store)
    assert (item["createdAt"], item["email"]) == ("2026-11-28T06:59:59.870Z", "ada@example.com")


def test_an_earlier_confirmation_after_a_change_corrects_only_what_no_change_moved_on(
    lambda_context: Any,
) -> None:
    store = FakeProjectorStore()
    later = confirmation_at("2026-11-28T07:00:04.912Z")
    moved_on = projector_sources(FakeIdentity("ada.l@example.com"), KEYS)
    deliver(store, lambda_context, later, changed_envelope(2, name="Ada"))
    deliver(store, lambda_context, email_changed_envelope(3, SUB), sources=moved_on)
    edited = plain(store)

    earlier = confirmation_at("2026-11-28T06:59:59.870Z")
    assert deliver(store, lambda_context, earlier) == []

    item = plain(store)
    assert item["createdAt"] == "2026-11-28T06:59:59.870Z"
    moved = ("email", "name", "updatedAt", "_version", "_lastChangedAt")
    assert {name: item[name] for name in moved} == {name: edited[name] for name in moved}
    assert item["email"] == "ada.l@example.com"


def test_an_equal_or_later_confirmation_writes_nothing(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmation_at("2026-11-28T06:59:59.870Z"))
    writes = len(store.writes)
    for moment in ("2026-11-28T06:59:59.870Z", "2026-11-28T07:00:00.000Z"):
        assert deliver(store, lambda_context, confirmation_at(moment)) == []
    assert len(store.writes) == writes


def test_a_correction_racing_another_write_is_retried_not_forced(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmation_at("2026-11-28T07:00:04.912Z"))
    store.correct = lambda user_id, expected, values: False  # type: ignore[method-assign]
    assert len(deliver(store, lambda_context, confirmation_at("2026-11-28T06:59:59.870Z"))) == 1


# --- an email change: the address is read from Cognito again ------------------------------------


def moved_to(email: str | None, *, gone: bool = False) -> Sources:
    identity = FakeIdentity(email)
    if gone:
        identity.gone.add(SUB)
    return projector_sources(identity, KEYS)


def test_an_email_change_writes_cognitos_email_at_its_version_marked(
    lambda_context: Any,
) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope(), changed_envelope(2, name="Ada"))
    change = email_changed_envelope(3, SUB)

    assert deliver(store, lambda_context, change, sources=moved_to("ada.l@example.com")) == []

    item = plain(store)
    assert (item["email"], item["_version"], item["name"]) == ("ada.l@example.com", 3, "Ada")
    assert (item["updatedAt"], item["_lastChangedAt"]) == (
        change["detail"]["updatedAt"],
        change["detail"]["_lastChangedAt"],
    )
    # Live, it reproduces user_sync's write, already published: marked with the event's id.
    assert marked_writes(store)[-1] == change["id"]
    assert REPLAY_MARK not in store.items[SUB]


def test_an_email_change_of_a_user_gone_from_cognito_writes_nothing(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope())
    writes = len(store.writes)

    change = email_changed_envelope(2, SUB)
    assert deliver(store, lambda_context, change, sources=moved_to(None, gone=True)) == []

    assert len(store.writes) == writes
    assert log_lines()[-1]["message"] == "nothing written: the user is gone from Cognito"


def test_an_email_cognito_no_longer_holds_is_removed(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope())
    assert (
        deliver(store, lambda_context, email_changed_envelope(2, SUB), sources=moved_to(None)) == []
    )
    assert "email" not in store.items[SUB] and plain(store)["_version"] == 2


def test_an_email_change_before_its_user_is_projected_is_retried(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeProjectorStore()
    assert len(deliver(store, lambda_context, email_changed_envelope(2, SUB))) == 1
    assert store.writes == []
    assert log_lines()[-1]["message"] == "user not projected yet; the change is retried"


def test_an_email_change_waits_for_the_changes_before_it(
    lambda_context: Any, log_lines: Any
) -> None:
    """It carries no profile: written over a gap, the profile change in the gap would become a
    no-op and its profile would be lost. So it waits (SQS redelivers it) until they landed."""
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope())
    email = email_changed_envelope(3, SUB)

    assert len(deliver(store, lambda_context, email)) == 1
    assert plain(store)["_version"] == 1
    line = log_lines()[-1]
    assert line["message"] == "earlier changes not applied yet; the change is retried"
    assert (line["version"], line["found"]) == (3, 1)

    assert deliver(store, lambda_context, changed_envelope(2, name="Ada"), email) == []
    assert (plain(store)["name"], plain(store)["_version"]) == ("Ada", 3)


def test_a_duplicate_email_change_is_a_no_op_even_when_cognito_moved_on(
    lambda_context: Any,
) -> None:
    """The address is not the event's: a later read may differ, and that is no fork (the next
    email change, at a version of its own, brings the new address)."""
    store = FakeProjectorStore()
    change = email_changed_envelope(2, SUB)
    deliver(store, lambda_context, confirmed_envelope(), change)
    before, writes = plain(store), len(store.writes)

    assert deliver(store, lambda_context, change, sources=moved_to("grace@example.org")) == []

    assert plain(store) == before and len(store.writes) == writes


# --- a deletion: the tombstone ------------------------------------------------------------------


def live_user(store: FakeProjectorStore, context: Any) -> None:
    deliver(store, context, confirmed_envelope(), changed_envelope(2, name="Ada", age=36))


def test_a_deletion_turns_the_item_into_its_tombstone(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    live_user(store, lambda_context)
    deleted = user_deleted_envelope(3, SUB)

    assert deliver(store, lambda_context, deleted) == []

    item = plain(store)
    assert not {"email", "name", "age"} & item.keys()
    detail = deleted["detail"]
    assert item == {
        "id": SUB,
        "__typename": "User",
        "owner": SUB,
        "userPoolId": POOL,
        "createdAt": detail["createdAt"],
        "updatedAt": detail["updatedAt"],
        "_version": 3,
        "_lastChangedAt": detail["_lastChangedAt"],
        "_deleted": True,
        "_ttl": detail["expiresAt"],
    }
    assert marked_writes(store)[-1] == deleted["id"]
    assert REPLAY_MARK not in store.items[SUB]


def test_a_rebuild_of_a_deleted_user_writes_the_tombstone_the_live_table_holds(
    lambda_context: Any,
) -> None:
    """Replayed after the deletion, the user's UserConfirmed projects nothing (Cognito no longer
    knows the sub) and their profile changes open nothing (the key is destroyed): the
    UserDeleted alone writes the tombstone again, attribute for attribute."""
    live = FakeProjectorStore()
    live_user(live, lambda_context)
    history = [
        confirmed_envelope(),
        changed_envelope(2, name="Ada", age=36),
        email_changed_envelope(3, SUB),
        user_deleted_envelope(4, SUB),
    ]
    deliver(live, lambda_context, *history[2:])

    rebuilt = FakeProjectorStore()
    identity = FakeIdentity()
    identity.gone.add(SUB)
    erased = projector_sources(identity, MemoryKeyStore())
    replay = [replayed(envelope, "rebuild-1") for envelope in history]
    assert deliver(rebuilt, lambda_context, *reversed(replay), sources=erased) == []

    assert rebuilt.items == live.items
    assert [REPLAY_MARK in write for write in rebuilt.writes] == [True, False]


def test_an_expired_tombstone_is_not_created_again(lambda_context: Any, log_lines: Any) -> None:
    store = FakeProjectorStore()
    deleted = user_deleted_envelope(3, SUB)
    later = projector_sources(now=deleted["detail"]["expiresAt"])

    assert deliver(store, lambda_context, deleted, sources=later) == []

    assert store.writes == []
    assert log_lines()[-1]["message"] == "nothing written: the tombstone has expired"


@pytest.mark.parametrize("late", ["older change", "duplicate deletion", "confirmation"])
def test_nothing_brings_a_tombstone_back(late: str, lambda_context: Any) -> None:
    store = FakeProjectorStore()
    live_user(store, lambda_context)
    deliver(store, lambda_context, user_deleted_envelope(3, SUB))
    before, writes = plain(store), len(store.writes)

    envelope = {
        "older change": changed_envelope(2, name="Ada", age=36),
        "duplicate deletion": user_deleted_envelope(3, SUB),
        "confirmation": confirmation_at("2026-11-28T06:00:00.000Z"),
    }[late]
    assert deliver(store, lambda_context, envelope) == []

    assert plain(store) == before and len(store.writes) == writes


def test_a_profile_change_of_an_erased_user_writes_nothing(
    lambda_context: Any, log_lines: Any
) -> None:
    """Their key is destroyed (crypto-shredding): the sealed profile is unreadable forever."""
    store = FakeProjectorStore()
    change = changed_envelope(2, name="Ada")
    erased = projector_sources(keys=MemoryKeyStore())

    assert deliver(store, lambda_context, change, sources=erased) == []

    assert store.writes == []
    assert log_lines()[-1]["message"] == "nothing written: the user's data key is destroyed"


def test_two_deletions_at_one_version_that_disagree_are_a_fork(lambda_context: Any) -> None:
    store = FakeProjectorStore()
    live_user(store, lambda_context)
    deliver(store, lambda_context, user_deleted_envelope(3, SUB))
    other = user_deleted_envelope(3, SUB)
    other["detail"]["expiresAt"] += 1

    assert len(deliver(store, lambda_context, other)) == 1


@pytest.mark.parametrize("tamper", ["another version", "another user", "another key", "altered"])
def test_a_sealed_profile_that_does_not_open_is_rejected(
    tamper: str, lambda_context: Any, log_lines: Any
) -> None:
    """Sealed for another version or user (moved), under another key, or altered: never
    applied, to the dead-letter queue, and nothing of it logged."""
    store = FakeProjectorStore()
    deliver(store, lambda_context, confirmed_envelope())
    envelope = changed_envelope(2, name="Secret Person")
    detail = envelope["detail"]
    if tamper == "another version":
        detail["sealedProfile"] = changed_envelope(3, name="Ada")["detail"]["sealedProfile"]
    elif tamper == "another user":
        other = str(uuid.uuid4())
        KEYS.items[other] = KEYS.items[SUB]  # even under the same key
        detail["sealedProfile"] = changed_envelope(2, other, name="Ada")["detail"]["sealedProfile"]
    elif tamper == "another key":
        sealed = profile_changed_envelope(2, SUB, MemoryKeyStore(), name="Ada")
        detail["sealedProfile"] = sealed["detail"]["sealedProfile"]
    else:
        text = detail["sealedProfile"]
        detail["sealedProfile"] = text[:-2] + ("AA" if text[-2:] != "AA" else "BB")

    assert len(deliver(store, lambda_context, envelope)) == 1

    assert plain(store)["_version"] == 1
    line = log_lines()[-1]
    assert line["message"] == "message rejected" and "sealedProfile" in line["reason"]
    assert "Secret" not in json.dumps(log_lines())
