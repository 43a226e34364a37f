"""The change publisher: which stream records become a UserProfileChanged event, which a
publishUser* mutation and which nothing, and how a batch reports what it could not publish.
Fakes stand in for AppSync and EventBridge."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from contracts.appsync import PUBLISH_MUTATIONS, load_schema
from contracts.names import REPLAY_MARK
from contracts.user_profile_changed import read_user_profile_changed
from services.change_publisher import handler
from services.change_publisher.bus import EventBusPublisher, ProfileChangedNotPublishedError
from services.change_publisher.logic import (
    CREATED,
    DELETED,
    PUBLISHED_FIELDS,
    UPDATED,
    Announcement,
    MalformedStreamRecordError,
    ProfileChanged,
    publication,
)
from tests.support import load_event, replay_writes, stream_event

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"
MARK = {"S": "userpipe-rebuild-1"}


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
    subscribers: FakePublisher | None = None, bus: FakeBus | None = None
) -> handler.Publishers:
    return handler.Publishers(
        subscribers=subscribers or FakePublisher(),
        bus=EventBusPublisher(bus or FakeBus(), "userpipe-dev-bus"),  # type: ignore[arg-type]
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


def test_a_user_the_pipeline_created_is_announced_with_every_field_subscribers_select() -> None:
    found = publication(load_event("dynamodb_stream_insert"))
    assert isinstance(found, Announcement) and found.mutation == CREATED
    assert set(found.user) == set(PUBLISHED_FIELDS)
    assert found.user["id"] == SUB and found.user["_version"] == 1
    assert found.user["_deleted"] is None


def test_the_published_fields_are_the_publish_inputs_fields() -> None:
    schema = load_schema()
    assert tuple(schema.get_type("PublishUserChangeInput").fields) == PUBLISHED_FIELDS  # type: ignore[union-attr]
    assert (CREATED, UPDATED, DELETED) == PUBLISH_MUTATIONS


def test_an_api_edit_becomes_a_user_profile_changed_event_of_its_new_image() -> None:
    found = publication(api_edit(age={"N": "36"}))
    assert isinstance(found, ProfileChanged)
    assert found.detail["sub"] == SUB and found.detail["userPoolId"] == POOL
    assert (found.detail["name"], found.detail["age"], found.detail["_version"]) == ("Ada", 36, 2)


def test_an_api_edit_is_put_on_the_bus_and_not_announced() -> None:
    subscribers, bus = FakePublisher(), FakeBus()

    response = handler.process_batch(stream_event(api_edit()), publishers(subscribers, bus))

    assert response == {"batchItemFailures": []}
    assert subscribers.published == []
    [entry] = bus.entries
    assert entry["EventBusName"] == "userpipe-dev-bus"
    event = {  # the envelope EventBridge adds
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "time": "2026-11-28T07:01:01Z",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "detail": json.loads(entry["Detail"]),
    }
    received = read_user_profile_changed(json.dumps(event))
    assert received.detail["sub"] == SUB and received.detail["name"] == "Ada"


def test_an_api_edit_that_removed_a_replay_mark_is_still_an_api_edit() -> None:
    record = api_edit()
    record["dynamodb"]["OldImage"][REPLAY_MARK] = MARK  # the edit raced the projector's cleanup
    assert isinstance(publication(record), ProfileChanged)


@pytest.mark.parametrize(
    "change",
    [load_event("dynamodb_stream_insert"), api_edit(), modify(email={"S": "a@example.org"})],
    ids=["created", "edited", "rewritten"],
)
def test_both_replay_writes_publish_nothing(change: dict[str, Any]) -> None:
    subscribers, bus = FakePublisher(), FakeBus()
    writes = replay_writes(change)

    response = handler.process_batch(stream_event(*writes), publishers(subscribers, bus))

    assert [publication(write) for write in writes] == [None, None]
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


def test_a_failed_entry_is_an_error_naming_the_user_and_the_code() -> None:
    found = publication(api_edit())
    assert isinstance(found, ProfileChanged)
    with pytest.raises(ProfileChangedNotPublishedError, match=f"{SUB} v2: InternalFailure"):
        EventBusPublisher(FakeBus(failing={SUB}), "bus").put(found.detail)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("why", "record"),
    [
        ("email rewritten", api_edit(email={"S": "ada.lovelace@example.com"})),
        ("version not bumped", modify(name={"S": "Ada"})),
        ("version jumped", modify(name={"S": "Ada"}, _version={"N": "5"})),
        ("a field the API never writes", api_edit(owner={"S": "someone-else"})),
    ],
)
def test_an_edit_the_api_did_not_make_is_announced_as_an_update(
    why: str, record: dict[str, Any]
) -> None:
    found = publication(record)
    assert isinstance(found, Announcement) and found.mutation == UPDATED, why


def test_a_removed_item_and_a_tombstone_are_announced_as_deletions() -> None:
    removed = copy.deepcopy(load_event("dynamodb_stream_modify"))
    removed["eventName"] = "REMOVE"
    del removed["dynamodb"]["NewImage"]
    gone = publication(removed)
    assert isinstance(gone, Announcement) and gone.mutation == DELETED
    assert gone.user["_deleted"] is True
    marked = publication(api_edit(_deleted={"BOOL": True}))
    assert isinstance(marked, Announcement) and marked.mutation == DELETED


@pytest.mark.parametrize(
    "broken",
    [
        {"eventName": "INSERT", "dynamodb": {"Keys": {}}},  # KEYS_ONLY stream: no image
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"S": SUB}}}},  # not a User
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
