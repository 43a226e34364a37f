"""The change publisher: which stream records become which publishUser* mutation, and how a
batch reports what it could not publish. A fake publisher stands in for AppSync."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.appsync import PUBLISH_MUTATIONS, load_schema
from services.change_publisher import handler
from services.change_publisher.logic import (
    CREATED,
    DELETED,
    PUBLISHED_FIELDS,
    UPDATED,
    MalformedStreamRecordError,
    announcement,
)
from tests.support import load_event, stream_event

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"


class FakePublisher:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self._failing = failing or set()

    def publish(self, mutation: str, user: dict[str, Any]) -> dict[str, Any]:
        if user["id"] in self._failing:
            raise RuntimeError("AppSync said no")
        self.published.append((mutation, user))
        return user


def modify(**new: dict[str, Any]) -> dict[str, Any]:
    """The fixture's MODIFY with the new image's attributes replaced (``{}`` removes one)."""
    record = copy.deepcopy(load_event("dynamodb_stream_modify"))
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
    found = announcement(load_event("dynamodb_stream_insert"))
    assert found is not None and found.mutation == CREATED
    assert set(found.user) == set(PUBLISHED_FIELDS)
    assert found.user["id"] == SUB and found.user["_version"] == 1
    assert found.user["_deleted"] is None


def test_the_published_fields_are_the_publish_inputs_fields() -> None:
    schema = load_schema()
    assert tuple(schema.get_type("PublishUserChangeInput").fields) == PUBLISHED_FIELDS  # type: ignore[union-attr]
    assert (CREATED, UPDATED, DELETED) == PUBLISH_MUTATIONS


def test_an_edit_shaped_like_the_apis_is_left_to_the_api() -> None:
    assert announcement(api_edit()) is None
    assert announcement(api_edit(age={"N": "36"})) is None


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
    found = announcement(record)
    assert found is not None and found.mutation == UPDATED, why


def test_a_removed_item_and_a_tombstone_are_announced_as_deletions() -> None:
    removed = copy.deepcopy(load_event("dynamodb_stream_modify"))
    removed["eventName"] = "REMOVE"
    del removed["dynamodb"]["NewImage"]
    gone = announcement(removed)
    assert gone is not None and gone.mutation == DELETED and gone.user["_deleted"] is True
    marked = announcement(api_edit(_deleted={"BOOL": True}))
    assert marked is not None and marked.mutation == DELETED


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
        announcement(broken)


def test_a_batch_reports_only_the_records_it_could_not_publish() -> None:
    first = load_event("dynamodb_stream_insert")
    second = copy.deepcopy(first)
    second["dynamodb"]["NewImage"]["id"] = {"S": "u-2"}
    second["dynamodb"]["SequenceNumber"] = "222"
    third = copy.deepcopy(first)
    third["dynamodb"]["NewImage"]["id"] = {"S": "u-3"}
    third["dynamodb"]["SequenceNumber"] = "333"
    publisher = FakePublisher(failing={"u-2"})

    response = handler.process_batch(stream_event(first, second, third, api_edit()), publisher)

    assert response == {"batchItemFailures": [{"itemIdentifier": "222"}]}
    assert [(mutation, user["id"]) for mutation, user in publisher.published] == [
        (CREATED, SUB),
        (CREATED, "u-3"),
    ]


def test_a_record_without_a_sequence_number_is_reported_under_the_one_before_it() -> None:
    first = load_event("dynamodb_stream_insert")
    nameless = copy.deepcopy(first)
    del nameless["dynamodb"]["SequenceNumber"]
    publisher = FakePublisher()

    response = handler.process_batch(stream_event(first, nameless), publisher)

    sequence = first["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert [user["id"] for _, user in publisher.published] == [SUB]
