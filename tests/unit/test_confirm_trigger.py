from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from contracts.event_models import UserConfirmed
from contracts.settings import MissingSettingError
from contracts.topology import CONFIRM_TRIGGER
from services.confirm_trigger import handler
from services.confirm_trigger.logic import (
    InvalidUserAttributeError,
    MissingUserAttributeError,
    handle_trigger,
)
from services.confirm_trigger.publisher import (
    DEADLINE_SECONDS,
    EventBridgePublisher,
    PutEventsFailedError,
    worst_case_seconds,
)
from tests.fakes import FakeEventsClient, FakePublisher, accepted, rejected
from tests.support import cognito_sign_up, load_event

NOW = datetime(2026, 11, 28, 7, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> FakePublisher:
    fake = FakePublisher()
    monkeypatch.setattr(handler, "default_publisher", lambda: fake)
    return fake


def test_sign_up_publishes_one_valid_user_confirmed_and_returns_the_event(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = cognito_sign_up()
    response = handler.lambda_handler(event, lambda_context)

    assert response == cognito_sign_up()
    (detail,) = publisher.published
    model = UserConfirmed.model_validate(detail)
    assert model.sub == "7d8ca528-4931-4254-9273-ea5ee853f271"
    assert model.user_pool_id == "eu-west-1_Ab12Cd34E"
    assert model.origin == "cognito"
    assert model.trigger_source == "PostConfirmation_ConfirmSignUp"
    assert "ada@example.com" not in json.dumps(detail)  # the email stays with Cognito
    assert model.client_id == "3n4b5urk1ft4fl3mg5e62d9ado"
    assert set(detail) == {f.alias for f in UserConfirmed.model_fields.values()}


def test_confirmation_time_is_written_as_awsdatetime() -> None:
    publisher = FakePublisher()
    handle_trigger(cognito_sign_up(), publisher, now=NOW)
    assert publisher.published[0]["confirmedAt"] == "2026-11-28T07:00:00.123Z"


def test_forgot_password_publishes_nothing_and_returns_the_event(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = load_event("cognito_post_confirmation_forgot_password")
    assert handler.lambda_handler(event, lambda_context) == event
    assert publisher.published == []


@pytest.mark.parametrize("source", ["PreSignUp_SignUp", "", None])
def test_other_trigger_sources_publish_nothing(source: str | None) -> None:
    publisher = FakePublisher()
    assert handle_trigger({**cognito_sign_up(), "triggerSource": source}, publisher) is None
    assert publisher.published == []


def test_missing_sub_is_named_and_nothing_is_published(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = cognito_sign_up()
    del event["request"]["userAttributes"]["sub"]
    with pytest.raises(MissingUserAttributeError, match=r"missing userAttributes\.sub"):
        handler.lambda_handler(event, lambda_context)
    assert publisher.published == []


@pytest.mark.parametrize("attribute", ["email", "email_verified"])
def test_the_email_is_not_needed_to_publish(attribute: str) -> None:
    event = cognito_sign_up()
    del event["request"]["userAttributes"][attribute]
    publisher = FakePublisher()
    assert handle_trigger(event, publisher) == "event-1"


REFUSED = {
    # case: (where in Cognito's event, value)
    "sub-not-a-uuid": ("request.userAttributes.sub", "not-a-uuid"),
    "sub-uppercase": ("request.userAttributes.sub", "7D8CA528-4931-4254-9273-EA5EE853F271"),
    "pool-id-malformed": ("userPoolId", "eu-west-1 Ab12"),
    "client-id-not-a-string": ("callerContext.clientId", 7),
}


def set_at(event: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        event = event[parent]
    event[name] = value


@pytest.mark.parametrize(("path", "value"), REFUSED.values(), ids=REFUSED.keys())
def test_an_event_the_contract_rejects_is_refused_by_field_and_never_published(
    path: str, value: Any, publisher: FakePublisher, lambda_context: Any, log_lines: Any
) -> None:
    event = cognito_sign_up()
    set_at(event, path, value)
    named = path.removeprefix("request.")
    with pytest.raises(InvalidUserAttributeError, match=f"{re.escape(named)}: must") as refused:
        handler.lambda_handler(event, lambda_context)
    assert publisher.published == []
    (line,) = log_lines()
    assert line["message"] == "UserConfirmed not published"
    assert line["reason"] == str(refused.value)
    assert "example.com" not in json.dumps(log_lines())  # the rule is named, not the value


def test_a_refusal_names_only_well_formed_ids() -> None:
    event = cognito_sign_up()
    event["request"]["userAttributes"]["sub"] = "grace@example.com"
    with pytest.raises(InvalidUserAttributeError) as refused:
        handle_trigger(event, FakePublisher())
    assert "grace" not in str(refused.value)
    assert "sub=?" in str(refused.value) and "userPoolId=eu-west-1_Ab12Cd34E" in str(refused.value)


def test_a_request_of_the_wrong_shape_is_refused_as_missing_attributes(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = {**cognito_sign_up(), "request": ["not", "an", "object"]}
    with pytest.raises(MissingUserAttributeError, match=r"missing userAttributes\.sub \("):
        handler.lambda_handler(event, lambda_context)
    assert publisher.published == []


def test_missing_pool_id_is_named() -> None:
    with pytest.raises(MissingUserAttributeError, match="missing userPoolId"):
        handle_trigger({**cognito_sign_up(), "userPoolId": ""}, FakePublisher())


def test_a_federated_first_sign_in_publishes_by_its_sub(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    """Cognito reports a federated user's first sign-in as PostConfirmation_ConfirmSignUp, user
    status EXTERNAL_PROVIDER, userName ``<Provider>_<id>``, no email_verified (developer guide,
    "Lambda triggers for federated users")."""
    event = load_event("cognito_post_confirmation_federated")
    assert handler.lambda_handler(event, lambda_context) == load_event(
        "cognito_post_confirmation_federated"
    )
    (detail,) = publisher.published
    model = UserConfirmed.model_validate(detail)
    assert model.sub == "c4d1e2f3-a4b5-4c6d-8e7f-9a0b1c2d3e4f"
    assert (model.origin, model.trigger_source) == ("cognito", "PostConfirmation_ConfirmSignUp")


# --- pre token generation -------------------------------------------------------------------


def test_an_admin_created_users_first_sign_in_publishes_and_returns_the_event(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = load_event("cognito_pre_token_generation_new_password")
    response = handler.lambda_handler(event, lambda_context)
    assert response == load_event("cognito_pre_token_generation_new_password")
    (detail,) = publisher.published
    model = UserConfirmed.model_validate(detail)
    assert model.sub == "5b0e6c8a-9f1d-4c3e-8a2b-7d6f5e4c3b2a"
    assert model.origin == "cognito"
    assert model.trigger_source == "TokenGeneration_NewPasswordChallenge"
    assert model.client_id == "3n4b5urk1ft4fl3mg5e62d9ado"


EVERY_OTHER_TOKEN = [
    "TokenGeneration_Authentication",
    "TokenGeneration_RefreshTokens",
    "TokenGeneration_HostedAuth",
    "TokenGeneration_AuthenticateDevice",
    "TokenGeneration_ClientCredentials",
    "InboundFederation_ExternalProvider",  # a source this code does not know
    "SomethingNew_Unheard",
    None,
]


@pytest.mark.parametrize("source", EVERY_OTHER_TOKEN)
def test_every_other_token_issuance_costs_nothing_and_returns_the_event_unchanged(
    source: str | None,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    log_lines: Any,
) -> None:
    """Pre token generation runs on every sign-in and refresh: no setting read, no client, no
    call, no log line above debug."""

    def no_publisher() -> Any:
        raise AssertionError("no publisher may be built for this source")

    monkeypatch.setattr(handler, "default_publisher", no_publisher)
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    event = {**load_event("cognito_pre_token_generation_new_password"), "triggerSource": source}
    assert handler.lambda_handler(event, lambda_context) is event
    assert event == {
        **load_event("cognito_pre_token_generation_new_password"),
        "triggerSource": source,
    }
    assert log_lines() == []


def test_a_failed_publish_does_not_fail_the_sign_in(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any, log_lines: Any
) -> None:
    """Reconcile publishes the missing UserConfirmed later; the user gets their tokens now."""
    client = FakeEventsClient(_client_error("AccessDeniedException", 400))
    monkeypatch.setattr(handler, "default_publisher", lambda: _publisher(client))
    event = load_event("cognito_pre_token_generation_new_password")
    assert handler.lambda_handler(event, lambda_context) == event
    (line,) = log_lines()
    assert (line["level"], line["message"]) == ("ERROR", "UserConfirmed not published")
    assert "grace@example.com" not in json.dumps(log_lines())


def test_an_unpublishable_first_sign_in_does_not_fail_it(
    publisher: FakePublisher, lambda_context: Any
) -> None:
    event = load_event("cognito_pre_token_generation_new_password")
    event["request"]["userAttributes"]["sub"] = "not-a-uuid"
    assert handler.lambda_handler(event, lambda_context) == event
    assert publisher.published == []


def test_a_failed_publish_still_fails_a_confirmation(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    client = FakeEventsClient(_client_error("AccessDeniedException", 400))
    monkeypatch.setattr(handler, "default_publisher", lambda: _publisher(client))
    with pytest.raises(PutEventsFailedError):
        handler.lambda_handler(cognito_sign_up(), lambda_context)


def test_no_email_in_any_log_line(
    publisher: FakePublisher, lambda_context: Any, log_lines: Any
) -> None:
    handler.lambda_handler(cognito_sign_up(email="grace@example.com"), lambda_context)
    event = cognito_sign_up(email="grace@example.com")
    del event["request"]["userAttributes"]["sub"]
    with pytest.raises(MissingUserAttributeError):
        handler.lambda_handler(event, lambda_context)
    lines = log_lines()
    assert [line["message"] for line in lines] == [
        "UserConfirmed published",
        "UserConfirmed not published",
    ]
    assert all("grace@example.com" not in str(line) for line in lines)


def test_missing_bus_setting_is_named(monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> None:
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    handler.default_publisher.cache_clear()
    with pytest.raises(MissingSettingError, match="EVENT_BUS_NAME"):
        handler.lambda_handler(cognito_sign_up(), lambda_context)
    handler.default_publisher.cache_clear()


# --- publishing ---------------------------------------------------------------------------


def _detail() -> Any:
    publisher = FakePublisher()
    handle_trigger(cognito_sign_up(), publisher, now=NOW)
    return publisher.published[0]


def _publisher(client: FakeEventsClient, clock: Any = None) -> EventBridgePublisher:
    return EventBridgePublisher(
        client,  # type: ignore[arg-type]
        "userpipe-test-users",
        clock=clock or (lambda: 0.0),
        sleep=lambda _: None,
    )


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "boom"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutEvents",
    )


def test_publish_puts_one_entry_on_the_bus() -> None:
    client = FakeEventsClient(accepted("evt-42"))
    assert _publisher(client).publish(_detail()) == "evt-42"
    (entry,) = client.entries
    assert entry["Source"] == "userpipe.identity"
    assert entry["DetailType"] == "UserConfirmed"
    assert entry["EventBusName"] == "userpipe-test-users"


def test_a_rejected_entry_raises_with_its_error_code() -> None:
    client = FakeEventsClient(rejected("AccessDeniedException", "not allowed"))
    with pytest.raises(PutEventsFailedError, match="AccessDeniedException") as error:
        _publisher(client).publish(_detail())
    assert error.value.attempts == 1
    assert error.value.sub == "7d8ca528-4931-4254-9273-ea5ee853f271"


def test_a_transient_failure_is_retried_once() -> None:
    client = FakeEventsClient(rejected("ThrottlingException"), accepted("evt-2"))
    assert _publisher(client).publish(_detail()) == "evt-2"
    assert len(client.entries) == 2


def test_a_persistent_transient_failure_raises_after_the_last_attempt() -> None:
    client = FakeEventsClient(
        ReadTimeoutError(endpoint_url="https://events"), _client_error("InternalFailure", 500)
    )
    with pytest.raises(PutEventsFailedError, match="InternalFailure") as error:
        _publisher(client).publish(_detail())
    assert error.value.attempts == 2


def test_a_client_error_is_not_retried() -> None:
    client = FakeEventsClient(_client_error("ResourceNotFoundException", 400))
    with pytest.raises(PutEventsFailedError, match="ResourceNotFoundException"):
        _publisher(client).publish(_detail())
    assert len(client.entries) == 1


def test_no_retry_starts_that_could_end_after_the_deadline() -> None:
    times = iter([0.0, DEADLINE_SECONDS - 1.0])  # start, then after a slow first attempt
    client = FakeEventsClient(rejected("ThrottlingException"), accepted())
    with pytest.raises(PutEventsFailedError) as error:
        _publisher(client, clock=lambda: next(times)).publish(_detail())
    assert error.value.attempts == 1


def test_worst_case_publish_ends_well_inside_cognitos_five_seconds() -> None:
    assert worst_case_seconds() <= DEADLINE_SECONDS <= 4.0


def test_cold_path_imports_neither_pydantic_nor_the_parser() -> None:
    """Its bundle has no pydantic (``FunctionSpec.layers``): importing it must not need any."""
    assert "models" not in CONFIRM_TRIGGER.layers
    probe = (
        "import sys, services.confirm_trigger.handler as h; "
        "heavy = [m for m in sys.modules if m.startswith(('pydantic', "
        "'aws_lambda_powertools.utilities.parser'))]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
