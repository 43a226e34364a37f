from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import jsonschema as jsonschema_lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]

from contracts import dynamodb, jsonschema, rules
from contracts import settings as env_settings
from contracts.event_fields import USER_CONFIRMED_EVENT
from contracts.event_models import (
    InvalidEventError,
    UserConfirmed,
    UserConfirmedEnvelope,
    parse_user_confirmed,
)
from contracts.names import UserConfirmedDetail, iso_utc
from contracts.topology import (
    AUDIT_TRAIL,
    CHANGE_PUBLISHER,
    CHANGES,
    DEAD_LETTERS,
    EVERY_PART,
    FUNCTIONS,
    LOG_LEVELS,
    OUTPUTS,
    PROJECTION,
    PROJECTOR_SOURCE,
    STREAM_CONSUMERS,
    SUBSCRIPTIONS,
    USER_API,
    USER_PROJECTOR,
    USER_SYNC_SUBSCRIPTION,
    USER_TABLE,
    WELCOME,
    WELCOME_NOTIFIER,
    Attr,
    InvalidSettingError,
    InvalidStageError,
    InvalidSwitchError,
    MissingSettingError,
    ResourceNames,
    Setting,
    StageResources,
    UnknownResourceError,
    UnresolvedSettingError,
    parts_for,
    parts_with,
)
from contracts.user_confirmed import read_user_confirmed
from contracts.user_fields import SENSITIVE_USER_FIELDS
from contracts.user_item import first_version_item
from contracts.user_model import User
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
    [("sub", "not-a-uuid"), ("triggerSource", ""), ("schemaVersion", 1), ("origin", "x")],
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
    user = User.first_version(envelope.detail, EMAIL)
    item = user.to_item()
    assert item["__typename"] == {"S": "User"}
    assert item["_version"] == {"N": "1"}
    assert "name" not in item and "_deleted" not in item
    assert User.from_item(item) == user


def test_a_user_item_whose_owner_is_not_its_id_is_refused() -> None:
    """An owner's filter on ``id`` is evaluated on ``owner`` (``services.user_api.store``):
    an item where the two differ, or ``owner`` is missing, must never be read as a User."""
    envelope = UserConfirmedEnvelope.model_validate(load_event("eventbridge_user_confirmed"))
    item = User.first_version(envelope.detail, EMAIL).to_item()
    assert item["owner"] == item["id"]
    with pytest.raises(ValidationError, match="owner: must equal id"):
        User.from_item(item | {"owner": {"S": "someone-else"}})
    for broken in (
        item | {"owner": {"NULL": True}},
        {name: value for name, value in item.items() if name != "owner"},
    ):
        with pytest.raises(ValidationError, match=r"^1 validation error for User\nowner\n"):
            User.from_item(broken)


def test_stage_names_are_validated() -> None:
    with pytest.raises(InvalidStageError, match="stage 'Prod!' is invalid"):
        ResourceNames("Prod!")
    assert ResourceNames("dev").of(USER_TABLE.base_name) == "userpipe-dev-User"


def resources_for_tests(**settings: str) -> StageResources:
    """Every declared resource built with a made-up name for each attribute."""
    resources = StageResources(settings)
    for attribute in ("name", "arn", "url", "stream_arn", "id", "client_id"):
        for resource in ("UserTable", "AuditTable", "KeysTable", "Bus", "PageTokenKey", "UserPool"):
            resources.add(resource, **{attribute: f"{resource}-{attribute}"})
    resources.add("Api", graphql_url="Api-graphql_url", api_id="Api-api_id", name="Api-name")
    return resources


def test_every_function_gets_exactly_the_variables_it_declares() -> None:
    resources = resources_for_tests(
        auditRetentionDays="30",
        welcomeSender="hello@example.com",
        logLevel="WARN",
        announceChanges="on",
    )
    for spec in FUNCTIONS:
        env = resources.environment(spec)
        assert set(env) == {variable.variable for variable in spec.environment}
        assert env["POWERTOOLS_SERVICE_NAME"] == spec.service
        assert env["POWERTOOLS_LOG_LEVEL"] == "WARN"
    assert resources.environment(USER_API)["PAGE_TOKEN_SECRET_ARN"] == "PageTokenKey-arn"
    assert PROJECTOR_SOURCE.visibility_timeout_seconds(USER_PROJECTOR) >= 6 * 30


def test_the_log_level_is_one_lambda_and_powertools_both_know_and_unset_is_powertools_default() -> (
    None
):
    assert "POWERTOOLS_LOG_LEVEL" not in resources_for_tests().environment(AUDIT_TRAIL)
    for level in LOG_LEVELS:
        StageResources({"logLevel": level})
    for wrong in ("warning", "TRACE", "FATAL", "verbose"):
        with pytest.raises(InvalidSettingError, match=f"logLevel={wrong!r} is invalid"):
            StageResources({"logLevel": wrong})


def test_a_required_setting_without_a_value_is_named() -> None:
    with pytest.raises(UnresolvedSettingError, match="WelcomeNotifier requires WELCOME_SENDER"):
        resources_for_tests().environment(WELCOME_NOTIFIER)


def test_optional_settings_are_left_out_when_unset() -> None:
    assert "AUDIT_RETENTION_DAYS" not in resources_for_tests(auditRetentionDays="").environment(
        AUDIT_TRAIL
    )


def test_a_reference_to_something_not_built_is_a_clear_error() -> None:
    with pytest.raises(UnknownResourceError, match=r"Nowhere\.name is not built"):
        StageResources({}).attribute(Attr("Nowhere", "name"))


def test_outputs_have_snake_case_local_names() -> None:
    from contracts.topology import OUTPUTS

    names = {output.name: output.local_name for output in OUTPUTS}
    assert names["UserPoolClientId"] == "user_pool_client_id"
    assert names["GraphqlUrl"] == "graphql_url"
    assert names["ProjectorDlqUrl"] == "projector_dlq_url"


# --- optional parts: a stage may leave the example consumer out ---------------------------------


SENDER = {"welcomeSender": "hello@acme-widgets.io"}


def test_the_welcome_notifier_is_the_one_optional_subscription_and_on_with_its_sender() -> None:
    assert [s.id for s in SUBSCRIPTIONS if s.switch] == [WELCOME.id]
    assert WELCOME.switch == Setting("welcomeNotifier")
    assert WELCOME_NOTIFIER.needs == ("welcomeSender",)
    assert parts_for(SENDER) == parts_for({**SENDER, "welcomeNotifier": "on"}) == EVERY_PART
    assert EVERY_PART.subscriptions == SUBSCRIPTIONS and EVERY_PART.functions == FUNCTIONS
    assert EVERY_PART.dead_letters == DEAD_LETTERS and EVERY_PART.outputs == OUTPUTS


def test_switching_the_welcome_notifier_off_leaves_out_everything_of_it_and_nothing_else() -> None:
    without = parts_for({"welcomeNotifier": "off"})
    assert without.subscriptions == (PROJECTION, USER_SYNC_SUBSCRIPTION)
    assert without.left_out == (WELCOME,)
    assert without.functions == tuple(spec for spec in FUNCTIONS if spec != WELCOME_NOTIFIER)
    assert without.dead_letters == tuple(d for d in DEAD_LETTERS if d.name != WELCOME.dlq)
    assert set(OUTPUTS) - set(without.outputs) == set(WELCOME.outputs)
    assert {o.name for o in WELCOME.outputs} == {
        "WelcomeNotifierQueueUrl", "WelcomeNotifierDlqUrl", "WelcomeNotifierRuleArn"
    }  # fmt: skip
    assert StageResources({"welcomeNotifier": "off"}).parts == without


def test_without_what_it_needs_an_optional_part_is_left_out_and_asking_for_it_is_an_error() -> None:
    """A stage never gets a consumer that cannot work: unset, the switch is off without the
    settings the consumer needs; ``on`` without them is refused, naming what is missing."""
    without = parts_for({"welcomeNotifier": "off"})
    assert parts_for({}) == parts_for({"welcomeSender": ""}) == without
    expected = "welcomeNotifier=on needs welcomeSender: WelcomeNotifier cannot run without it"
    with pytest.raises(MissingSettingError, match=expected):
        parts_for({"welcomeNotifier": "on"})
    # The required ones never depend on settings.
    assert PROJECTION in parts_for({}).subscriptions


@pytest.mark.parametrize("value", ["maybe", "OFF", "false"])
def test_a_switch_is_on_or_off_and_nothing_else(value: str) -> None:
    expected = f"welcomeNotifier={value!r} is invalid: expected on or off"
    with pytest.raises(InvalidSwitchError, match=expected):
        parts_for({"welcomeNotifier": value})


def test_a_deployments_outputs_tell_which_optional_parts_it_has() -> None:
    def local_names(outputs: Any) -> set[str]:
        return {output.local_name for output in outputs}

    assert parts_with(local_names(OUTPUTS)) == EVERY_PART
    without = parts_for({"welcomeNotifier": "off"})
    assert parts_with(local_names(without.outputs)) == without
    # A required subscription is never "left out": its missing output is an error when read.
    assert parts_with(set()).subscriptions == (PROJECTION, USER_SYNC_SUBSCRIPTION)
    # Any output of its own means it was deployed (the others missing are then an error).
    assert parts_with({WELCOME.queue_url.local_name}) == EVERY_PART


def test_missing_setting_names_the_variable() -> None:
    with pytest.raises(env_settings.MissingSettingError, match="USER_TABLE_NAME is not set"):
        env_settings.require("USER_TABLE_NAME", {"USER_TABLE_NAME": "  "})


@pytest.mark.parametrize("raw", ["abc", "0", "-3"])
def test_invalid_positive_int_setting_is_explained(raw: str) -> None:
    with pytest.raises(env_settings.InvalidSettingError, match="AUDIT_RETENTION_DAYS is invalid"):
        env_settings.optional_positive_int("AUDIT_RETENTION_DAYS", {"AUDIT_RETENTION_DAYS": raw})


def test_json_schema_of_user_confirmed_is_valid_json_with_required_fields() -> None:
    schema = json.loads((jsonschema.SCHEMA_DIR / "UserConfirmed.v2.json").read_text())
    assert {"sub", "userPoolId", "confirmedAt", "origin"} <= set(schema["required"])
    assert "email" not in schema["properties"]  # Cognito's: never in an event


# --- the trigger's plain-Python check, the JSON Schema file and the pydantic model agree -----


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema's ``pattern`` as the spec defines it (ECMA-262): ``$`` is the end of input.
    Python's ``$`` also matches before a final newline, which the ``jsonschema`` package
    inherits; pydantic's Rust engine does not."""
    ecma = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if validator.is_type(instance, "string") and not re.search(ecma, instance):
        yield jsonschema_lib.ValidationError(f"does not match {pattern!r}")


DATE_TIME = jsonschema_lib.FormatChecker(formats=())


@DATE_TIME.checks("date-time")
def _rfc3339(value: object) -> bool:
    """RFC 3339's date-time, asserted (2020-12 only annotates formats); rfc3339-validator has
    Python's ``$`` too, hence the newline guard."""
    return not isinstance(value, str) or (validate_rfc3339(value) and not value.endswith("\n"))


USER_CONFIRMED_SCHEMA = jsonschema_lib.validators.extend(
    jsonschema_lib.Draft202012Validator, {"pattern": _ecma_pattern}
)(
    json.loads((jsonschema.SCHEMA_DIR / "UserConfirmed.v2.json").read_text()),
    format_checker=DATE_TIME,
)
VALID_DETAIL = load_event("eventbridge_user_confirmed")["detail"]
EMAIL = "ada@example.com"  # Cognito's, read by the projector: the event carries none

anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
uuids = st.uuids().map(str)
SUB = VALID_DETAIL["sub"]


def sized(size: int, tail: str, fill: str = "a") -> str:
    return fill * (size - len(tail)) + tail


#: Per field, values at the edge of its rule: where a check and a schema would disagree.
BOUNDARIES: dict[str, list[Any]] = {
    "schemaVersion": [2, 2.0, True, 1, "2", 3, None],
    "userPoolId": [
        *(sized(size, "_Ab12", fill="e") for size in (54, 55, 56)),
        "x_1",
        "_1",
        "x_",
        "é_1",
        "x_é",
        "\u0661_1",  # an Arabic-Indic digit: Python's \w says "word", AWS's does not
        "eu-west-1_Ab12\n",
        "eu-west-1 _Ab12",
    ],
    "sub": [SUB.upper(), SUB + "\n", " " + SUB, SUB[:-1], SUB.replace("-", ""), "", 7],
    "triggerSource": [None, "", "t", "t" * 64, "t" * 65, "\n", 5, ["x"]],
    "confirmedAt": [
        "2026-11-28T06:59:59Z",
        "2026-11-28T06:59:59.123456+01:00",
        "2026-11-28T06:59:59",
        "2026-11-28 06:59:59Z",
        "2026-13-28T06:59:59Z",
        "2026-02-30T06:59:59Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T06:59:59Z\n",
        1795849199,
    ],
    "origin": ["cognito", "reconcile", "sync", "Cognito", "", None, 1],
    "clientId": [None, "", "3n4b5urk1ft4fl3mg5e62d9ado", 7, ["x"]],
}
#: Per field, anything at all of a plausible kind.
RANDOM: dict[str, st.SearchStrategy[Any]] = {
    "schemaVersion": anything,
    "userPoolId": st.builds(lambda a, b: f"{a}_{b}", st.text(max_size=40), st.text(max_size=20)),
    "sub": uuids | st.text(max_size=40),
    "triggerSource": st.none() | st.text(max_size=70),
    # Bounded a day inside datetime's range: an offset at its very edge cannot be moved to UTC.
    "confirmedAt": st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    ).map(iso_utc)
    | st.datetimes().map(datetime.isoformat)  # naive
    | st.text(max_size=30),
    "origin": anything,
    "clientId": anything,
}


@st.composite
def details(draw: st.DrawFn) -> dict[str, Any]:
    """A valid detail with one or two fields replaced by a candidate or left out, and extras:
    mostly near the boundary, where a check and a schema would disagree."""
    detail = dict(VALID_DETAIL)
    changed = draw(st.sets(st.sampled_from(sorted(BOUNDARIES)), min_size=1, max_size=2))
    for name in changed:
        match draw(st.sampled_from(["boundary", "random", "missing"])):
            case "boundary":
                detail[name] = draw(st.sampled_from(BOUNDARIES[name]))
            case "random":
                detail[name] = draw(RANDOM[name])
            case _:
                del detail[name]
    detail.update(draw(st.dictionaries(st.text(max_size=6), anything, max_size=2)))
    return detail


@settings(max_examples=1000, deadline=None)
@given(details())
def test_the_plain_check_agrees_with_the_json_schema_and_pydantic_accepts_what_it_accepts(
    detail: dict[str, Any],
) -> None:
    problems = USER_CONFIRMED_EVENT.problems(detail)
    schema_errors = list(USER_CONFIRMED_SCHEMA.iter_errors(detail))
    assert (not problems) == (not schema_errors), (problems, [e.message for e in schema_errors])
    if not problems:
        UserConfirmed.model_validate_json(json.dumps(detail))  # the projector's own parse
    for field, rule in problems.items():
        assert field in USER_CONFIRMED_EVENT.names
        for value in detail.values():
            if isinstance(value, str) and "@" in value and len(value) > 2:
                assert value not in rule  # reasons name the rule, never the value


#: Envelope fields near their rules (the detail varies through ``details()``).
ENVELOPE_BOUNDARIES: dict[str, list[Any]] = {
    "id": ["1946e4d9-bbaf-41ad-9ff3-6c7d6654ec4c", "1946E4D9-BBAF-41AD-9FF3-6C7D6654EC4C", "", 7],
    "source": ["userpipe.identity", "aws.cognito", None],
    "detail-type": ["UserConfirmed", "UserDeleted", None],
    "time": ["2026-11-28T06:59:59Z", "2026-11-28T06:59:59", "yesterday", 1795849199, None],
    "replay-name": ["rebuild-2026-11-28", "a" * 65, "has space", "", None, 3],
}


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """An EventBridge event around ``details()``: mostly valid, sometimes one field off, and now
    and then no event at all."""
    envelope = user_confirmed_envelope()
    envelope["detail"] = draw(details())
    for name in draw(st.sets(st.sampled_from(sorted(ENVELOPE_BOUNDARIES)), max_size=1)):
        value = draw(st.sampled_from(ENVELOPE_BOUNDARIES[name]))
        if value is None:
            envelope.pop(name, None)
        else:
            envelope[name] = value
    return draw(st.just(envelope) | st.sampled_from([[envelope], "text", None]))


@settings(max_examples=1000, deadline=None)
@given(envelopes())
def test_the_projectors_plain_reader_accepts_only_what_the_model_accepts_and_reads_it_alike(
    envelope: Any,
) -> None:
    """``read_user_confirmed`` and ``first_version_item`` keep pydantic off the projector's cold
    path; the model stays the declaration they must agree with."""
    body = json.dumps(envelope)
    try:
        model = parse_user_confirmed(body)
    except InvalidEventError:
        model = None
    try:
        plain = read_user_confirmed(body)
    except InvalidEventError:
        return  # refusing more than the model is allowed: the producer writes every field
    assert model is not None, "the plain reader accepted what the model refuses"
    assert (plain.id, plain.replay_name) == (model.id, model.replay_name)
    item = first_version_item(plain.detail, EMAIL)
    assert item == User.first_version(model.detail, EMAIL).to_item()
    assert item["owner"] == item["id"]  # what an owner's filter on id relies on


def test_the_plain_reader_accepts_the_events_userpipe_publishes() -> None:
    envelope = user_confirmed_envelope(replay_name="rebuild-1")
    event = read_user_confirmed(json.dumps(envelope))
    assert event.detail == envelope["detail"] and event.replay_name == "rebuild-1"


def test_the_plain_readers_reason_names_each_field_and_rule_never_a_value() -> None:
    envelope = user_confirmed_envelope()
    envelope["detail"]["userPoolId"] = "ada@example.com"
    envelope["time"] = "yesterday"
    with pytest.raises(InvalidEventError) as raised:
        read_user_confirmed(json.dumps(envelope))
    assert str(raised.value) == (
        "time: must be an RFC 3339 time with seconds and a time zone; "
        f"detail.userPoolId: {rules.USER_POOL_ID_RULE}"
    )


def test_the_valid_fixture_detail_has_no_problems() -> None:
    assert USER_CONFIRMED_EVENT.problems(VALID_DETAIL) == {}


def test_announce_changes_reaches_the_change_publisher_and_the_outputs_as_built() -> None:
    """``-c announceChanges=off`` keeps the change publisher (the log and erasures are its too)
    and tells it, and the outputs, that nothing is announced; unset, both say nothing."""
    quiet = resources_for_tests(announceChanges="off")
    assert quiet.environment(CHANGE_PUBLISHER)["ANNOUNCE_CHANGES"] == "off"
    assert CHANGE_PUBLISHER in quiet.parts.functions and CHANGES in STREAM_CONSUMERS
    (output,) = (o for o in OUTPUTS if o.name == "AnnounceChanges")
    assert quiet.output_value(output) == "off"
    assert "ANNOUNCE_CHANGES" not in resources_for_tests().environment(CHANGE_PUBLISHER)
    assert resources_for_tests().output_value(output) is None
    with pytest.raises(InvalidSettingError, match="announceChanges='no' is invalid"):
        StageResources({"announceChanges": "no"})
