"""The places derived from an event's field table (``contracts/event_fields.py``) agree with it:
the plain check and reader, the pydantic model, the JSON Schema file; and the places written by
hand (the trigger's ``TypedDict``, the builder, the subscription pattern) name the same fields.
A second event type is one more table: a made-up one is put through the same machinery here."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Any

import jsonschema as jsonschema_lib
import pytest
from pydantic import ValidationError

from contracts import jsonschema
from contracts.event_fields import (
    EVENT_TYPES,
    USER_ADOPTED_EVENT,
    USER_CONFIRMED_EVENT,
    USER_DELETED_EVENT,
    USER_EMAIL_CHANGED_EVENT,
    USER_PROFILE_CHANGED_EVENT,
    EventField,
    EventType,
    InvalidEventError,
)
from contracts.event_models import (
    EventDetail,
    UserAdopted,
    UserConfirmed,
    UserDeleted,
    UserEmailChanged,
    UserProfileChanged,
    UserProfileChangedEnvelope,
    detail_model,
)
from contracts.fields import Matching, OneOf, Text, WholeNumber
from contracts.lifecycle import email_changed_detail, tombstone_of, user_deleted_detail
from contracts.names import (
    USER_CHANGES_PATTERN,
    USER_CONFIRMED_PATTERN,
    USER_PROFILE_CHANGED_PATTERN,
    Origin,
    UserConfirmedDetail,
)
from contracts.rules import UUID_PATTERN
from contracts.topology import PROJECTION
from contracts.user_confirmed import put_events_entry, read_user_confirmed, user_confirmed_detail
from contracts.user_fields import PROFILE_FIELDS, SENSITIVE_USER_FIELDS, WRITTEN_BY_AN_EDIT
from contracts.user_profile_changed import (
    SEALED_PROFILE,
    profile_changed_detail,
    profile_of,
    read_user_profile_changed,
)
from contracts.user_profile_changed import put_events_entry as profile_changed_entry
from tests.support import load_event, user_confirmed_envelope

MODELS = {
    USER_CONFIRMED_EVENT.detail_type: UserConfirmed,
    USER_PROFILE_CHANGED_EVENT.detail_type: UserProfileChanged,
    USER_EMAIL_CHANGED_EVENT.detail_type: UserEmailChanged,
    USER_DELETED_EVENT.detail_type: UserDeleted,
    USER_ADOPTED_EVENT.detail_type: UserAdopted,
}


@pytest.mark.parametrize("event", EVENT_TYPES, ids=repr)
def test_each_event_has_a_model_and_a_schema_file_named_for_its_version(event: EventType) -> None:
    assert jsonschema.MODELS[event.schema_file] is MODELS[event.detail_type]


@pytest.mark.parametrize("event", EVENT_TYPES, ids=repr)
def test_the_model_declares_the_tables_fields_in_its_order(event: EventType) -> None:
    model = MODELS[event.detail_type]
    assert [field.alias for field in model.model_fields.values()] == list(event.names)


@pytest.mark.parametrize("event", EVENT_TYPES, ids=repr)
def test_the_schema_file_requires_describes_and_marks_the_tables_fields(event: EventType) -> None:
    schema = json.loads((jsonschema.SCHEMA_DIR / event.schema_file).read_text())
    assert (schema["title"], schema["description"]) == (event.detail_type, event.about)
    assert schema["required"] == list(event.names)
    assert list(schema["properties"]) == sorted(event.names)
    for field in event.fields:
        declared = schema["properties"][field.name]
        assert declared.get("description") == field.about, field.name
        assert declared.get("x-sensitive", False) == field.sensitive, field.name
    assert schema["properties"]["schemaVersion"]["const"] == event.version


def test_the_triggers_typeddict_names_the_tables_fields_in_order() -> None:
    assert tuple(typing.get_type_hints(UserConfirmedDetail)) == USER_CONFIRMED_EVENT.names
    origin = next(field for field in USER_CONFIRMED_EVENT.fields if field.name == "origin")
    assert isinstance(origin.rule, OneOf)
    assert typing.get_args(Origin) == origin.rule.values


def test_consumers_subscribe_with_the_tables_source_and_detail_type() -> None:
    assert USER_CONFIRMED_EVENT.pattern == USER_CONFIRMED_PATTERN
    assert USER_PROFILE_CHANGED_EVENT.pattern == USER_PROFILE_CHANGED_PATTERN


def test_the_projector_subscribes_to_every_event_that_changes_a_user() -> None:
    """The table is the projection of these events: one left out would be lost by a rebuild."""
    assert PROJECTION.pattern == USER_CHANGES_PATTERN
    assert set(USER_CHANGES_PATTERN["detail-type"]) == {e.detail_type for e in EVENT_TYPES}
    assert USER_CHANGES_PATTERN["source"] == sorted({e.source for e in EVENT_TYPES})


def test_a_profile_change_carries_everything_an_api_edit_writes() -> None:
    """The event is the whole new state of what an edit writes (contracts.user_fields): a field
    an edit writes but the event did not carry would differ after a rebuild. The profile is
    sealed: one field holds every profile field."""
    identity = {"schemaVersion", "userPoolId", "sub"}
    profile = set(PROFILE_FIELDS)
    assert set(USER_PROFILE_CHANGED_EVENT.names) == identity | {SEALED_PROFILE} | (
        WRITTEN_BY_AN_EDIT - profile
    )
    assert set(profile_of(EDITED_ITEM)) == profile


@pytest.mark.parametrize("event", EVENT_TYPES, ids=repr)
def test_no_event_carries_readable_personal_data(event: EventType) -> None:
    """The archive keeps every event for good and cannot forget one: personal data stays out
    (the email is Cognito's) or is sealed under the user's key, which erasure destroys."""
    assert not any(field.sensitive for field in event.fields)
    assert not set(event.names) & SENSITIVE_USER_FIELDS


def test_an_email_change_and_a_deletion_carry_their_whole_state() -> None:
    tombstone = {
        "id": EDITED_ITEM["id"],
        "userPoolId": EDITED_ITEM["userPoolId"],
        "createdAt": "2026-11-28T06:59:59.870Z",
        "updatedAt": "2026-12-02T10:00:00.000Z",
        "_version": 4,
        "_lastChangedAt": 1_796_205_600_000,
        "_deleted": True,
        "_ttl": 1_798_797_600,
    }
    deleted = user_deleted_detail(tombstone)
    assert tuple(deleted) == USER_DELETED_EVENT.names
    assert tombstone_of(deleted) == tombstone
    changed = email_changed_detail({**EDITED_ITEM, "email": "new@example.com"})
    assert tuple(changed) == USER_EMAIL_CHANGED_EVENT.names
    assert "new@example.com" not in json.dumps(changed)


EDITED_ITEM = {
    "id": "7d8ca528-4931-4254-9273-ea5ee853f271",
    "userPoolId": "eu-west-1_Ab12Cd34E",
    "email": "ada@example.com",
    "name": "Ada",
    "updatedAt": "2026-12-01T10:00:00.000Z",
    "_version": 3,
    "_lastChangedAt": 1_796_119_200_000,
}


SEALED = "v1.bm90LXJlYWxseS1zZWFsZWQ"


def test_a_profile_change_built_from_an_item_reads_back_the_same_plain_and_pydantic() -> None:
    detail = profile_changed_detail(EDITED_ITEM, SEALED)
    assert tuple(detail) == USER_PROFILE_CHANGED_EVENT.names
    assert "email" not in detail and "name" not in detail  # sealed; not an edit's to carry
    entry = profile_changed_entry(detail, "bus")
    event = {
        "id": "5a8e0b64-3c7e-4c47-9a0e-2f86b7c2d8d1",
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "time": "2026-12-01T10:00:01Z",
        "detail": json.loads(entry["Detail"]),
    }
    plain = read_user_profile_changed(json.dumps(event))
    assert plain.detail == detail
    model = UserProfileChangedEnvelope.model_validate(event)
    assert model.detail.model_dump(by_alias=True, mode="json") == detail


def test_a_profile_change_from_an_item_that_breaks_the_contract_is_refused_by_field() -> None:
    with pytest.raises(InvalidEventError, match="_version: must be a whole number of at least 2"):
        profile_changed_detail({**EDITED_ITEM, "_version": 1}, SEALED)
    with pytest.raises(InvalidEventError, match="sealedProfile: must be a sealed value"):
        profile_changed_detail(EDITED_ITEM, "Ada in plain text")


def test_the_builder_writes_the_tables_fields_in_order_and_its_bytes_stay_the_same() -> None:
    detail = user_confirmed_detail(
        user_pool_id="eu-west-1_Ab12Cd34E",
        sub="7d8ca528-4931-4254-9273-ea5ee853f271",
        confirmed_at=datetime(2026, 11, 28, 6, 59, 59, 870000, tzinfo=UTC),
        origin="cognito",
        trigger_source="PostConfirmation_ConfirmSignUp",
    )
    assert tuple(detail) == USER_CONFIRMED_EVENT.names
    assert put_events_entry(detail, "bus")["Detail"] == (
        '{"schemaVersion":2,"userPoolId":"eu-west-1_Ab12Cd34E",'
        '"sub":"7d8ca528-4931-4254-9273-ea5ee853f271",'
        '"confirmedAt":"2026-11-28T06:59:59.870Z","origin":"cognito","clientId":null,'
        '"triggerSource":"PostConfirmation_ConfirmSignUp"}'
    )


def _schema_refuses(event: EventType, detail: dict[str, Any]) -> bool:
    schema = json.loads((jsonschema.SCHEMA_DIR / event.schema_file).read_text())
    return any(jsonschema_lib.Draft202012Validator(schema).iter_errors(detail))


@pytest.mark.parametrize("field", USER_CONFIRMED_EVENT.fields, ids=repr)
def test_a_missing_field_is_refused_by_the_plain_check_and_the_schema(field: EventField) -> None:
    detail = load_event("eventbridge_user_confirmed")["detail"]
    del detail[field.name]
    assert USER_CONFIRMED_EVENT.problems(detail) == {field.name: "is required"}
    assert _schema_refuses(USER_CONFIRMED_EVENT, detail)


@pytest.mark.parametrize("field", USER_CONFIRMED_EVENT.fields, ids=repr)
def test_a_value_of_the_wrong_kind_is_refused_alike_with_the_tables_rule(field: EventField) -> None:
    envelope = user_confirmed_envelope()
    envelope["detail"][field.name] = ["a list"]
    assert USER_CONFIRMED_EVENT.problems(envelope["detail"]) == {field.name: field.requirement}
    assert _schema_refuses(USER_CONFIRMED_EVENT, envelope["detail"])
    with pytest.raises(ValidationError) as refused:
        UserConfirmed.model_validate(envelope["detail"])
    assert {error["loc"] for error in refused.value.errors()} <= {
        (field.name,),
        (field.name, "literal[1]"),
    }
    with pytest.raises(InvalidEventError, match=f"^detail.{field.name}: "):
        read_user_confirmed(json.dumps(envelope))


#: A second event type, as the next one will be declared: one more table, nothing copied.
PROFILE_CHANGED = EventType(
    "ProfileChangedForTest",
    source="userpipe.test",
    version=2,
    about="A made-up event: the machinery serves any table.",
    fields=(
        EventField("id", Matching(UUID_PATTERN, None, "must be a lowercase UUID")),
        EventField("name", Text((1, 100)), nullable=True, sensitive=True),
        EventField("age", WholeNumber(0, 150), nullable=True),
        EventField("_version", WholeNumber(1), about="1 on creation, +1 per change."),
    ),
)
PROFILE_CHANGED_MODEL = detail_model(PROFILE_CHANGED, EventDetail)
VALID_PROFILE = {
    "schemaVersion": 2,
    "id": "7d8ca528-4931-4254-9273-ea5ee853f271",
    "name": "Ada",
    "age": 36,
    "_version": 3,
}


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({}, set()),
        ({"name": None, "age": None}, set()),
        ({"schemaVersion": 1}, {"schemaVersion"}),
        ({"name": "x" * 101}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"age": 151, "_version": 0}, {"age", "_version"}),
        ({"age": True}, {"age"}),
        ({"id": "7D8CA528-4931-4254-9273-EA5EE853F271"}, {"id"}),
        ({"_version": None}, {"_version"}),
    ],
)
def test_a_second_event_type_gets_a_check_and_a_schema_that_agree_and_a_model_that_reads_it(
    changes: dict[str, Any], refused: set[str]
) -> None:
    detail = VALID_PROFILE | changes
    assert set(PROFILE_CHANGED.problems(detail)) == refused
    schema = PROFILE_CHANGED_MODEL.model_json_schema(by_alias=True, mode="serialization")
    assert schema["required"] == list(PROFILE_CHANGED.names)
    assert schema["properties"]["name"]["x-sensitive"] is True
    schema_errors = list(jsonschema_lib.Draft202012Validator(schema).iter_errors(detail))
    assert bool(schema_errors) == bool(refused)
    if not refused:  # what the plain check accepts, the model reads as it is (it may take more)
        model = PROFILE_CHANGED_MODEL.model_validate_json(json.dumps(detail))
        assert model.model_dump(by_alias=True, mode="json") == detail
