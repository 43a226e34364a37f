"""The change publisher: which stream records become an event on the bus (UserProfileChanged,
UserEmailChanged, UserDeleted), which a publishUser* mutation, which both and which nothing, and
how a batch reports what it could not publish. Fakes stand in for AppSync, EventBridge and the
keys table."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from contracts.appsync import PUBLISH_MUTATIONS, load_schema
from contracts.lifecycle import read_user_deleted, read_user_email_changed, tombstone_expiry
from contracts.names import REPLAY_MARK, USER_DELETED, USER_EMAIL_CHANGED, USER_PROFILE_CHANGED
from contracts.user_profile_changed import read_user_profile_changed, seal_context
from services.change_publisher import handler
from services.change_publisher.bus import EventBusPublisher, EventNotPublishedError
from services.change_publisher.logic import (
    CREATED,
    DELETED,
    PUBLISHED_FIELDS,
    UPDATED,
    Announcement,
    BusEvent,
    MalformedStreamRecordError,
    Publication,
)
from services.change_publisher.logic import publication as publication_with
from services.shared.sealing import open_json
from services.shared.user_keys import MemoryKeyStore
from tests.support import load_event, replay_writes, stream_event

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"
MARK = {"S": "userpipe-rebuild-1"}


#: The users' data keys, as the keys table holds them.
KEYS = MemoryKeyStore()


def publication(record: dict[str, Any], erased: set[str] | None = None) -> Publication:
    return publication_with(record, KEYS, (erased or set()).__contains__)


def only(found: Publication) -> Announcement | BusEvent:
    """The one action a record asks for."""
    (action,) = found
    return action


class FakePublisher:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self._failing = failing or set()

    def publish(self, mutation: str, user: dict[str, Any]) -> dict[str, Any]:
        if user["id"] in self._failing:
            raise RuntimeError("AppSync said no")
        self.published.append((mutation, user))
        return user


class FakeBus:
    """EventBridge's PutEvents as the bus publisher sees it; fails for the subs in ``failing``."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self._failing = failing or set()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        results: list[dict[str, Any]] = []
        for entry in Entries:
            if json.loads(entry["Detail"])["sub"] in self._failing:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.entries.append(entry)
                results.append({"EventId": f"event-{len(self.entries)}"})
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedEntryCount": failed, "Entries": results}


def publishers(
    subscribers: FakePublisher | None = None,
    bus: FakeBus | None = None,
    keys: MemoryKeyStore = KEYS,
) -> handler.Publishers:
    return handler.Publishers(
        subscribers=subscribers or FakePublisher(),
        bus=EventBusPublisher(bus or FakeBus(), "userpipe-dev-bus"),  # type: ignore[arg-type]
        keys=keys,
        shredder=keys,
        erased=lambda sub: False,
    )


def received(entry: dict[str, Any]) -> str:
    """A PutEvents entry as the SQS message body a consumer receives (EventBridge's envelope)."""
    return json.dumps(
        {
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "time": "2026-11-28T07:01:01Z",
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "detail": json.loads(entry["Detail"]),
        }
    )


def modify(**new: dict[str, Any]) -> dict[str, Any]:
    """The fixture's MODIFY (of an item of a pool) with the new image's attributes replaced
    (``{}`` removes one)."""
    record = copy.deepcopy(load_event("dynamodb_stream_modify"))
    record["dynamodb"]["OldImage"]["userPoolId"] = {"S": POOL}
    image = record["dynamodb"]["NewImage"] = copy.deepcopy(record["dynamodb"]["OldImage"])
    for name, value in new.items():
        if value:
            image[name] = value
        else:
            image.pop(name, None)
    return record


def api_edit(**extra: dict[str, Any]) -> dict[str, Any]:
    return modify(
        name={"S": "Ada"},
        updatedAt={"S": "2026-11-28T07:01:00.000Z"},
        _version={"N": "2"},
        _lastChangedAt={"N": "1795849260000"},
        **extra,
    )


def email_change(email: str = "ada.l@example.com") -> dict[str, Any]:
    """user_sync's email change: the address and the bookkeeping, version +1."""
    return modify(
        email={"S": email},
        updatedAt={"S": "2026-11-28T07:01:00.000Z"},
        _version={"N": "2"},
        _lastChangedAt={"N": "1795849260000"},
    )


DELETED_AT = 1_795_849_260  # 2026-11-28T07:01:00Z


def tombstone() -> dict[str, Any]:
    """user_sync's tombstone: no personal data, ``_deleted``, ``_ttl``, version +1."""
    record = modify(
        email={},
        name={},
        age={},
        updatedAt={"S": "2026-11-28T07:01:00.000Z"},
        _version={"N": "2"},
        _lastChangedAt={"N": str(DELETED_AT * 1000)},
        _deleted={"BOOL": True},
        _ttl={"N": str(tombstone_expiry(DELETED_AT))},
    )
    record["dynamodb"]["OldImage"]["name"] = {"S": "Ada"}
    return record


def expired(record: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's TTL removing the item ``record`` left."""
    removal = copy.deepcopy(record)
    removal["eventName"] = "REMOVE"
    removal["dynamodb"]["OldImage"] = removal["dynamodb"].pop("NewImage")
    removal["dynamodb"]["SequenceNumber"] += "7"
    removal["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return removal


def test_a_user_the_pipeline_created_is_announced_with_every_field_subscribers_select() -> None:
    found = only(publication(load_event("dynamodb_stream_insert")))
    assert isinstance(found, Announcement) and found.mutation == CREATED
    assert set(found.user) == set(PUBLISHED_FIELDS)
    assert found.user["id"] == SUB and found.user["_version"] == 1
    assert found.user["_deleted"] is None


def test_the_published_fields_are_the_publish_inputs_fields() -> None:
    schema = load_schema()
    assert tuple(schema.get_type("PublishUserChangeInput").fields) == PUBLISHED_FIELDS  # type: ignore[union-attr]
    assert (CREATED, UPDATED, DELETED) == PUBLISH_MUTATIONS


def test_an_api_edit_becomes_a_user_profile_changed_event_with_its_profile_sealed() -> None:
    found = only(publication(api_edit(age={"N": "36"})))
    assert isinstance(found, BusEvent) and found.detail_type == USER_PROFILE_CHANGED
    detail = found.detail
    assert detail["sub"] == SUB and detail["userPoolId"] == POOL and detail["_version"] == 2
    assert "Ada" not in json.dumps(detail)
    key = KEYS.get(SUB)
    assert key is not None
    opened = open_json(key, detail["sealedProfile"], context=seal_context(POOL, SUB, 2))
    assert opened == {"name": "Ada", "age": 36}


def test_a_users_key_is_created_on_their_first_edit_and_kept() -> None:
    keys = MemoryKeyStore()
    first = only(publication_with(api_edit(), keys, lambda sub: False))
    key = keys.get(SUB)
    second = only(publication_with(api_edit(age={"N": "37"}), keys, lambda sub: False))
    assert key is not None and keys.get(SUB) == key and len(keys.items) == 1
    for found in (first, second):
        assert isinstance(found, BusEvent)
        open_json(key, found.detail["sealedProfile"], context=seal_context(POOL, SUB, 2))


def test_a_cleared_field_is_sealed_as_null() -> None:
    found = only(publication(api_edit()))
    assert isinstance(found, BusEvent)
    key = KEYS.get(SUB)
    assert key is not None
    sealed = found.detail["sealedProfile"]
    assert open_json(key, sealed, context=seal_context(POOL, SUB, 2)) == {
        "name": "Ada",
        "age": None,
    }


def test_an_api_edit_is_put_on_the_bus_and_not_announced() -> None:
    subscribers, bus = FakePublisher(), FakeBus()

    response = handler.process_batch(stream_event(api_edit()), publishers(subscribers, bus))

    assert response == {"batchItemFailures": []}
    assert subscribers.published == []
    [entry] = bus.entries
    assert entry["EventBusName"] == "userpipe-dev-bus"
    event = read_user_profile_changed(received(entry))
    assert event.detail["sub"] == SUB and "Ada" not in entry["Detail"]


def test_an_api_edit_that_removed_a_replay_mark_is_still_an_api_edit() -> None:
    record = api_edit()
    record["dynamodb"]["OldImage"][REPLAY_MARK] = MARK  # the edit raced the projector's cleanup
    assert isinstance(only(publication(record)), BusEvent)


def test_the_first_api_edit_of_a_recipe_shaped_item_is_still_an_api_edit() -> None:
    """The resolver writes what a recipe item lacked along with its first edit (read as the
    id, this pool and User): the edit still reaches the bus; anything more is announced."""
    record = api_edit()
    old = record["dynamodb"]["OldImage"]
    for name in ("owner", "userPoolId", "__typename"):
        old.pop(name, None)
    assert isinstance(only(publication(record)), BusEvent)
    record["dynamodb"]["NewImage"]["email"] = {"S": "changed@example.org"}
    assert not isinstance(only(publication(record)), BusEvent)


@pytest.mark.parametrize(
    "change",
    [
        load_event("dynamodb_stream_insert"),
        api_edit(),
        modify(email={"S": "a@example.org"}),
        email_change(),
        tombstone(),
    ],
    ids=["created", "edited", "rewritten", "email changed", "deleted"],
)
def test_both_replay_writes_publish_nothing(change: dict[str, Any]) -> None:
    subscribers, bus = FakePublisher(), FakeBus()
    writes = replay_writes(change)

    response = handler.process_batch(stream_event(*writes), publishers(subscribers, bus))

    assert [publication(write) for write in writes] == [(), ()]
    assert response == {"batchItemFailures": []}
    assert (subscribers.published, bus.entries) == ([], [])


def test_a_rejected_put_events_entry_fails_its_record_alone() -> None:
    other = api_edit()
    for image in ("OldImage", "NewImage"):
        other["dynamodb"][image]["id"] = other["dynamodb"][image]["owner"] = {"S": "u-2"}
    other["dynamodb"]["SequenceNumber"] = "222"
    bus = FakeBus(failing={"u-2"})

    response = handler.process_batch(stream_event(api_edit(), other), publishers(bus=bus))

    assert response == {"batchItemFailures": [{"itemIdentifier": "222"}]}
    assert [json.loads(entry["Detail"])["sub"] for entry in bus.entries] == [SUB]


def test_a_failed_entry_is_an_error_naming_the_event_the_user_and_the_code() -> None:
    found = only(publication(api_edit()))
    assert isinstance(found, BusEvent)
    expected = f"UserProfileChanged for {SUB} v2: InternalFailure"
    with pytest.raises(EventNotPublishedError, match=expected):
        EventBusPublisher(FakeBus(failing={SUB}), "bus").put(found)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("why", "record"),
    [
        ("email rewritten with the profile", api_edit(email={"S": "ada.lovelace@example.com"})),
        ("email rewritten, version not bumped", modify(email={"S": "ada.l@example.com"})),
        ("version not bumped", modify(name={"S": "Ada"})),
        ("version jumped", modify(name={"S": "Ada"}, _version={"N": "5"})),
        ("a field the API never writes", api_edit(owner={"S": "someone-else"})),
    ],
)
def test_an_edit_the_api_did_not_make_is_announced_as_an_update(
    why: str, record: dict[str, Any]
) -> None:
    found = only(publication(record))
    assert isinstance(found, Announcement) and found.mutation == UPDATED, why


def test_a_live_item_removed_outside_the_api_is_announced_as_a_deletion() -> None:
    removed = copy.deepcopy(load_event("dynamodb_stream_modify"))
    removed["eventName"] = "REMOVE"
    del removed["dynamodb"]["NewImage"]
    gone = only(publication(removed))
    assert isinstance(gone, Announcement) and gone.mutation == DELETED
    assert gone.user["_deleted"] is True


def test_a_deleted_flag_set_by_hand_is_announced_but_is_no_erasure() -> None:
    """Without the tombstone's shape (no _ttl, the profile kept) it is no UserDeleted."""
    marked = only(publication(api_edit(_deleted={"BOOL": True})))
    assert isinstance(marked, Announcement) and marked.mutation == DELETED


@pytest.mark.parametrize(
    "broken",
    [
        {"eventName": "INSERT", "dynamodb": {"Keys": {}}},  # KEYS_ONLY stream: no image
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"S": SUB}}}},  # not a User
        {"eventName": "MODIFY", "dynamodb": {"NewImage": {"id": {"S": SUB}}}},  # no old image
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"Q": "?"}}}},
        {"eventName": "INSERT"},
    ],
)
def test_records_without_a_user_image_are_malformed(broken: dict[str, Any]) -> None:
    with pytest.raises(MalformedStreamRecordError):
        publication(broken)


def test_a_batch_reports_only_the_records_it_could_not_publish() -> None:
    first = load_event("dynamodb_stream_insert")
    second = copy.deepcopy(first)
    second["dynamodb"]["NewImage"]["id"] = {"S": "u-2"}
    second["dynamodb"]["SequenceNumber"] = "222"
    third = copy.deepcopy(first)
    third["dynamodb"]["NewImage"]["id"] = {"S": "u-3"}
    third["dynamodb"]["SequenceNumber"] = "333"
    publisher, bus = FakePublisher(failing={"u-2"}), FakeBus()

    response = handler.process_batch(
        stream_event(first, second, third, api_edit()), publishers(publisher, bus)
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "222"}]}
    assert [(mutation, user["id"]) for mutation, user in publisher.published] == [
        (CREATED, SUB),
        (CREATED, "u-3"),
    ]
    assert len(bus.entries) == 1  # the API's edit


def test_a_record_without_a_sequence_number_is_reported_under_the_one_before_it() -> None:
    first = load_event("dynamodb_stream_insert")
    nameless = copy.deepcopy(first)
    del nameless["dynamodb"]["SequenceNumber"]
    publisher = FakePublisher()

    response = handler.process_batch(stream_event(first, nameless), publishers(publisher))

    sequence = first["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert [user["id"] for _, user in publisher.published] == [SUB]


# --- user_sync's and reconcile's changes: on the bus AND announced -----------------------------


def test_an_email_change_is_put_on_the_bus_without_the_address_and_announced() -> None:
    subscribers, bus = FakePublisher(), FakeBus()

    response = handler.process_batch(stream_event(email_change()), publishers(subscribers, bus))

    assert response == {"batchItemFailures": []}
    [entry] = bus.entries
    assert entry["DetailType"] == USER_EMAIL_CHANGED
    assert "@" not in entry["Detail"]  # Cognito holds the address
    event = read_user_email_changed(received(entry))
    assert (event.detail["sub"], event.detail["userPoolId"], event.detail["_version"]) == (
        SUB,
        POOL,
        2,
    )
    [(mutation, user)] = subscribers.published
    assert (mutation, user["email"], user["_version"]) == (UPDATED, "ada.l@example.com", 2)


def test_a_tombstone_is_put_on_the_bus_as_user_deleted_and_announced_as_a_deletion() -> None:
    subscribers, bus = FakePublisher(), FakeBus()
    KEYS.get_or_create(SUB)  # an edit read after user_sync destroyed the key made a new one

    response = handler.process_batch(stream_event(tombstone()), publishers(subscribers, bus))

    assert response == {"batchItemFailures": []}
    [entry] = bus.entries
    event = read_user_deleted(received(entry))
    assert entry["DetailType"] == USER_DELETED
    assert event.detail["expiresAt"] == tombstone_expiry(DELETED_AT)
    assert (event.detail["updatedAt"], event.detail["_version"]) == ("2026-11-28T07:01:00.000Z", 2)
    [(mutation, user)] = subscribers.published
    assert mutation == DELETED
    assert SUB not in KEYS.items  # destroyed once more, after the user's last seal
    assert (user["email"], user["name"], user["_deleted"], user["_version"]) == (
        None,
        None,
        True,
        2,
    )


def test_the_event_goes_first_and_a_failure_of_either_fails_the_record_for_both() -> None:
    """Redelivered, the record does both again: the projector applies the event once (its
    version), and a second announcement of one version is harmless."""
    subscribers, bus = FakePublisher(failing={SUB}), FakeBus()
    record = email_change()

    first = handler.process_batch(stream_event(record), publishers(subscribers, bus))

    sequence = record["dynamodb"]["SequenceNumber"]
    assert first == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert len(bus.entries) == 1 and subscribers.published == []

    subscribers, failing_bus = FakePublisher(), FakeBus(failing={SUB})
    second = handler.process_batch(stream_event(record), publishers(subscribers, failing_bus))
    assert second == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert subscribers.published == []  # the event failed: nothing announced before it

    retried = handler.process_batch(stream_event(record), publishers(subscribers, bus))
    assert retried == {"batchItemFailures": []}
    assert len(bus.entries) == 2 and [m for m, _ in subscribers.published] == [UPDATED]


def test_an_expired_tombstone_is_not_announced_again_a_live_removal_is() -> None:
    """The deletion was published and announced when the tombstone was written; its TTL
    removal ~30 days later is no new deletion. A live item's removal still is one."""
    assert publication(expired(tombstone())) == ()
    live = only(publication(expired(email_change())))
    assert isinstance(live, Announcement) and live.mutation == DELETED


def test_a_user_without_an_email_is_announced_with_a_null_email() -> None:
    insert = copy.deepcopy(load_event("dynamodb_stream_insert"))
    del insert["dynamodb"]["NewImage"]["email"]
    found = only(publication(insert))
    assert isinstance(found, Announcement) and found.user["email"] is None


def test_an_email_removed_is_an_email_change_too() -> None:
    """Cognito holds none any more: the projector, asking Cognito, removes it too."""
    record = email_change()
    del record["dynamodb"]["NewImage"]["email"]
    found = publication(record)
    assert [type(action) for action in found] == [BusEvent, Announcement]


def test_publishing_logs_no_email_and_no_profile(log_lines: Any) -> None:
    records = [api_edit(age={"N": "36"}), email_change(), tombstone()]
    for index, record in enumerate(records):
        record["dynamodb"]["SequenceNumber"] = str(900 + index)
    failing = publishers(FakePublisher(failing={SUB}))

    handler.process_batch(stream_event(*records), publishers())
    handler.process_batch(stream_event(*records), failing)

    text = json.dumps(log_lines())
    assert "event published" in text and "publish failed" in text
    assert "@example.com" not in text and "Ada" not in text


def test_an_old_edit_read_after_the_erasure_makes_no_key_and_puts_nothing_in_the_log() -> None:
    """A profile edit's record handled after user_sync erased the user (stream lag, a redrive
    of its dead letter): the user has no key and is a tombstone, so no key is made (nothing
    would destroy it) and the edit is not put on the bus."""
    KEYS.destroy(SUB)
    assert publication(api_edit(age={"N": "36"}), erased={SUB}) == ()
    assert KEYS.get(SUB) is None
    sealed = only(publication(api_edit(age={"N": "36"})))  # not erased: the first key is made
    assert isinstance(sealed, BusEvent) and KEYS.get(SUB) is not None


def test_announcements_off_skip_only_the_announcements_the_log_and_erasure_stay() -> None:
    """A stage built with ``-c announceChanges=off``: no mutation for a creation, an email
    change or a deletion — but every event still reaches the bus (the log a rebuild replays)
    and a deleted user's key is still destroyed."""
    bus = FakeBus()
    quiet = replace(publishers(bus=bus), subscribers=None)
    KEYS.get_or_create(SUB)
    records = [load_event("dynamodb_stream_insert"), api_edit(), email_change(), tombstone()]
    for record in records:
        record["dynamodb"].setdefault("NewImage", {})["userPoolId"] = {"S": POOL}

    responses = [handler.process_batch(stream_event(r), quiet) for r in records]

    assert responses == [{"batchItemFailures": []}] * 4
    assert [e["DetailType"] for e in bus.entries] == [
        USER_PROFILE_CHANGED, USER_EMAIL_CHANGED, USER_DELETED
    ]  # fmt: skip
    assert SUB not in KEYS.items


def test_announce_changes_is_on_unless_it_says_off_and_nothing_else_is_taken() -> None:
    environ = {"GRAPHQL_URL": "https://x", "EVENT_BUS_NAME": "b", "KEYS_TABLE_NAME": "k",
               "USER_TABLE_NAME": "u", "AWS_REGION": "eu-west-1"}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        assert handler.Settings.from_env().announce is True
        patch.setenv("ANNOUNCE_CHANGES", "off")
        assert handler.Settings.from_env().announce is False
        patch.setenv("ANNOUNCE_CHANGES", "no")
        with pytest.raises(ValueError, match="ANNOUNCE_CHANGES='no' is invalid"):
            handler.Settings.from_env()
