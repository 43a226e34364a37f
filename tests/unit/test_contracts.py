from __future__ import annotations

import json
import typing
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import dynamodb, jsonschema, settings
from contracts.events import UserConfirmed, UserConfirmedEnvelope
from contracts.items import User
from contracts.names import SENSITIVE_USER_FIELDS, UserConfirmedDetail, iso_utc
from contracts.topology import (
    AUDIT_TRAIL,
    FUNCTIONS,
    PROJECTOR_SOURCE,
    USER_PROJECTOR,
    WELCOME_NOTIFIER,
    InvalidStageError,
    ResourceNames,
    UnknownSettingError,
    function_environment,
)
from tests.support import load_event, user_confirmed_envelope


@pytest.mark.parametrize("filename", sorted(jsonschema.MODELS))
def test_checked_in_json_schemas_match_the_models(filename: str) -> None:
    checked_in = (jsonschema.SCHEMA_DIR / filename).read_text()
    assert checked_in == jsonschema.render(jsonschema.MODELS[filename]), (
        f"contracts/schemas/{filename} is stale: run `make schemas`"
    )


def test_trigger_typeddict_names_exactly_the_model_fields() -> None:
    typed = set(typing.get_type_hints(UserConfirmedDetail))
    modelled = {field.alias for field in UserConfirmed.model_fields.values()}
    assert typed == modelled


def test_sensitive_fields_are_marked_in_the_item_schema() -> None:
    properties = User.model_json_schema(by_alias=True)["properties"]
    marked = {name for name, schema in properties.items() if schema.get("x-sensitive")}
    assert marked == SENSITIVE_USER_FIELDS


def test_fixture_event_is_a_valid_user_confirmed() -> None:
    envelope = UserConfirmedEnvelope.model_validate(load_event("eventbridge_user_confirmed"))
    assert envelope.detail.idempotency_key == (
        "eu-west-1_Ab12Cd34E#7d8ca528-4931-4254-9273-ea5ee853f271"
    )
    assert envelope.detail.model_dump(by_alias=True, mode="json")["confirmedAt"] == (
        "2026-11-28T06:59:59.870Z"
    )


def test_an_envelope_of_another_event_type_is_rejected_by_name() -> None:
    event = {**user_confirmed_envelope(), "detail-type": "UserDeleted"}
    with pytest.raises(ValidationError, match="not a UserConfirmed event"):
        UserConfirmedEnvelope.model_validate(event)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sub", "not-a-uuid"), ("email", "no-at-sign"), ("schemaVersion", 2), ("origin", "x")],
)
def test_user_confirmed_rejects_bad_fields(field: str, value: object) -> None:
    detail = {**load_event("eventbridge_user_confirmed")["detail"], field: value}
    with pytest.raises(ValidationError) as error:
        UserConfirmed.model_validate(detail)
    assert error.value.errors()[0]["loc"] == (field,)


def test_timestamps_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_utc(datetime(2026, 11, 28, 7, 0))


scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(values)
def test_dynamodb_values_round_trip(value: object) -> None:
    assert dynamodb.deserialize(dynamodb.serialize(value)) == value


def test_user_item_round_trips_through_dynamodb() -> None:
    envelope = UserConfirmedEnvelope.model_validate(load_event("eventbridge_user_confirmed"))
    user = User.first_version(envelope.detail, now_ms=1_795_849_200_123)
    item = user.to_item()
    assert item["__typename"] == {"S": "User"}
    assert item["_version"] == {"N": "1"}
    assert "name" not in item and "_deleted" not in item
    assert User.from_item(item) == user


def test_stage_names_are_validated() -> None:
    with pytest.raises(InvalidStageError, match="stage 'Prod!' is invalid"):
        ResourceNames("Prod!")
    assert ResourceNames("dev").user_table == "userpipe-dev-User"


def test_every_function_gets_exactly_the_settings_it_declares() -> None:
    names = ResourceNames("dev")
    configured = {
        "AUDIT_RETENTION_DAYS": "30",
        "WELCOME_SENDER": "hello@example.com",
        "PAGE_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k",
    }
    for spec in (*FUNCTIONS, WELCOME_NOTIFIER):
        env = function_environment(spec, names, configured)
        assert set(env) == set(spec.settings + spec.optional_settings)
    assert PROJECTOR_SOURCE.visibility_timeout_seconds(USER_PROJECTOR) >= 6 * 30


def test_a_required_setting_without_a_value_is_named() -> None:
    with pytest.raises(UnknownSettingError, match="WelcomeNotifier requires WELCOME_SENDER"):
        function_environment(WELCOME_NOTIFIER, ResourceNames("dev"))


def test_optional_settings_are_left_out_when_unset() -> None:
    assert function_environment(AUDIT_TRAIL, ResourceNames("dev")) == {
        "AUDIT_TABLE_NAME": "userpipe-dev-UserAudit"
    }


def test_missing_setting_names_the_variable() -> None:
    with pytest.raises(settings.MissingSettingError, match="USER_TABLE_NAME is not set"):
        settings.require("USER_TABLE_NAME", {"USER_TABLE_NAME": "  "})


@pytest.mark.parametrize("raw", ["abc", "0", "-3"])
def test_invalid_positive_int_setting_is_explained(raw: str) -> None:
    with pytest.raises(settings.InvalidSettingError, match="AUDIT_RETENTION_DAYS is invalid"):
        settings.optional_positive_int("AUDIT_RETENTION_DAYS", {"AUDIT_RETENTION_DAYS": raw})


def test_json_schema_of_user_confirmed_is_valid_json_with_required_fields() -> None:
    schema = json.loads((jsonschema.SCHEMA_DIR / "UserConfirmed.v1.json").read_text())
    assert {"sub", "userPoolId", "email", "confirmedAt", "origin"} <= set(schema["required"])
