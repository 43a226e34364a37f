"""Generated hostile input through the Lambda entry points of the trigger and the projector.

- Cognito events with fields missing, added, wrongly typed, oversized or in any script: the
  trigger publishes only events the projector accepts (checked by projecting each one), or
  raises its clear error; nothing else escapes.
- SQS bodies of every shape, near-valid ones above all (of each of the four events it applies),
  with any email Cognito may hold: the projector never writes an item that breaks the ``User``
  contract (the model and the checked-in JSON Schema).
- Across every case: no email address planted in the input (or in Cognito) appears in any log
  line.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.jsonschema import SCHEMA_DIR
from contracts.names import TRIGGER_CONFIRM_FORGOT_PASSWORD, TRIGGER_CONFIRM_SIGN_UP
from contracts.rules import UUID_PATTERN
from contracts.user_model import User
from services.confirm_trigger import handler as trigger
from services.confirm_trigger.logic import UnpublishableConfirmationError
from services.shared.user_keys import MemoryKeyStore
from services.user_projector.handler import process_batch
from tests.fakes import FakePublisher
from tests.support import (
    FakeIdentity,
    FakeProjectorStore,
    cognito_sign_up,
    email_changed_envelope,
    profile_changed_envelope,
    projector_sources,
    sqs_event,
    user_confirmed_envelope,
    user_deleted_envelope,
)

HOSTILE = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
USER_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "User.json").read_text()))

emails = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=30),
) | st.sampled_from(
    [
        "ada@example.com",
        "grace.hopper+tag@example.org",
        "zoë@exämple.com",
        "a" * 310 + "@example.com",
        "ada@example.com\n",
        "ada @example.com",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.text(min_size=300, max_size=400)  # oversized
    | emails
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
ids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def assert_no_planted_email_logged(planted: Any, lines: list[dict[str, Any]]) -> None:
    secrets = {text for text in strings_in(planted) if "@" in text and len(text) >= 3}
    logged = list(strings_in(lines))
    leaked = {secret for secret in secrets for text in logged if secret in text}
    assert not leaked, leaked


# --- Cognito events -> the trigger --------------------------------------------------------------

#: Where a generated event may differ from a real one.
EVENT_PATHS = [
    "triggerSource",
    "userPoolId",
    "userName",
    "callerContext",
    "callerContext.clientId",
    "request",
    "request.userAttributes",
    "request.userAttributes.sub",
    "request.userAttributes.email",
    "request.userAttributes.email_verified",
    "region",
]
NEAR_VALID: dict[str, st.SearchStrategy[Any]] = {
    "triggerSource": st.sampled_from(
        [TRIGGER_CONFIRM_SIGN_UP, TRIGGER_CONFIRM_FORGOT_PASSWORD, "PreSignUp_SignUp"]
    ),
    "userPoolId": st.sampled_from(["eu-west-1_Ab12Cd34E", "us-east-1_" + "Z" * 45, "x_1"]),
    "userName": ids | st.text(min_size=1, max_size=130),
    "request.userAttributes.sub": ids,
    "request.userAttributes.email": emails,
    "request.userAttributes.email_verified": st.sampled_from(["true", "false", "True", True]),
}


@st.composite
def cognito_events(draw: st.DrawFn) -> dict[str, Any]:
    event = cognito_sign_up(str(draw(st.uuids())), email=draw(emails))
    for path in draw(st.lists(st.sampled_from(EVENT_PATHS), max_size=4, unique=True)):
        *parents, name = path.split(".")
        target: Any = event
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        match draw(st.sampled_from(["drop", "near-valid", "anything"])):
            case "drop":
                target.pop(name, None)
            case "near-valid" if path in NEAR_VALID:
                target[name] = draw(NEAR_VALID[path])
            case _:
                target[name] = draw(json_values)
    request = event.get("request")
    attributes = request.get("userAttributes") if isinstance(request, dict) else None
    if isinstance(attributes, dict):  # extra attributes, some of them personal
        attributes.update(draw(st.dictionaries(st.text(max_size=12), scalars, max_size=3)))
    event.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return event


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> FakePublisher:
    fake = FakePublisher()
    monkeypatch.setattr(trigger, "default_publisher", lambda: fake)
    return fake


@HOSTILE
@given(event=cognito_events())
def test_the_trigger_publishes_only_what_the_projector_accepts_or_refuses_clearly(
    event: dict[str, Any],
    publisher: FakePublisher,
    lambda_context: Any,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    already_logged, already_published = len(log_lines()), len(publisher.published)
    planted = json.loads(json.dumps(event))  # what the event held before the trigger saw it
    refused: UnpublishableConfirmationError | None = None
    try:
        returned = trigger.lambda_handler(event, lambda_context)
    except UnpublishableConfirmationError as error:
        refused = error
    if refused is not None:
        assert str(refused).startswith("cannot publish UserConfirmed: ")
        assert refused.problems
        assert len(publisher.published) == already_published
    else:
        assert returned == planted  # Cognito gets its event back, unchanged
        for detail in publisher.published[already_published:]:
            envelope = user_confirmed_envelope()
            envelope["detail"] = detail
            store = FakeProjectorStore()
            response = process_batch(sqs_event(envelope), lambda_context, store, SOURCES)
            assert response == {"batchItemFailures": []}
            assert list(store.users) == [detail["sub"]]
    assert_no_planted_email_logged(planted, log_lines()[already_logged:])


# --- SQS bodies -> the projector ------------------------------------------------------------------

#: The users' data keys; a projector's sources over them, with Cognito's emails the given ones.
KEYS = MemoryKeyStore()
SOURCES = projector_sources(keys=KEYS)
#: A valid envelope of each event the projector applies, for a new user.
VALID: dict[str, Any] = {
    "UserConfirmed": lambda sub: user_confirmed_envelope(sub),
    "UserProfileChanged": lambda sub: profile_changed_envelope(2, sub, KEYS, name="Ada", age=3),
    "UserEmailChanged": lambda sub: email_changed_envelope(2, sub),
    "UserDeleted": lambda sub: user_deleted_envelope(3, sub),
}
SAMPLE = "7d8ca528-4931-4254-9273-ea5ee853f271"
ENVELOPE_PATHS = [
    "id",
    "source",
    "detail-type",
    "time",
    "replay-name",
    "detail",
    *sorted(
        {
            f"detail.{name}"
            for build in VALID.values()
            for name in build(str(uuid.uuid4()))["detail"]
        }
    ),
]


@st.composite
def sqs_bodies(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["near-valid", "near-valid", "near-valid", "json", "text"]))
    if shape == "text":
        return draw(st.text(max_size=60))
    if shape == "json":
        return json.dumps(draw(json_values))
    envelope = VALID[draw(st.sampled_from(sorted(VALID)))](str(draw(st.uuids())))
    for path in draw(st.lists(st.sampled_from(ENVELOPE_PATHS), max_size=3, unique=True)):
        *parents, name = path.split(".")
        target = envelope.get(parents[0]) if parents else envelope
        if not isinstance(target, dict):
            continue
        if draw(st.booleans()):
            target.pop(name, None)
        else:
            target[name] = draw(json_values | ids | emails)
    return json.dumps(envelope)


#: The log lines of a record that fails and is delivered again (not a rejection).
RETRIED = (
    "user not projected yet; the change is retried",
    "earlier changes not applied yet; the change is retried",
)


@HOSTILE
@given(
    bodies=st.lists(sqs_bodies(), min_size=1, max_size=5),
    cognito_email=emails | st.none(),
    first=st.booleans(),
)
def test_the_projector_never_writes_an_invalid_item_nor_logs_an_email(
    bodies: list[str],
    cognito_email: str | None,
    first: bool,
    lambda_context: Any,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    store = FakeProjectorStore()
    sources = projector_sources(FakeIdentity(cognito_email), KEYS)
    if first:  # the users projected already, so that their changes apply
        confirmations = [user_confirmed_envelope(sub) for sub in subs_in(bodies)]
        process_batch(sqs_event(*confirmations), lambda_context, store, sources)
    already_logged = len(log_lines())
    event = sqs_event(*bodies)

    response = process_batch(event, lambda_context, store, sources)

    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert failed <= {record["messageId"] for record in event["Records"]}
    for user in store.users.values():
        stored = user.model_dump(by_alias=True, mode="json", exclude_none=True)
        assert not list(USER_SCHEMA.iter_errors(stored))
        assert User.from_item(user.to_item()) == user
    lines = log_lines()[already_logged:]
    refused = [line for line in lines if line["message"] in ("message rejected", *RETRIED)]
    assert len(refused) == len(failed)
    assert_no_planted_email_logged([*(parsed(body) for body in bodies), cognito_email], lines)


def subs_in(bodies: list[str]) -> Iterator[str]:
    """The subs the bodies name that a UserConfirmed may carry."""
    for body in bodies:
        value = parsed(body)
        detail = value.get("detail") if isinstance(value, dict) else None
        sub = detail.get("sub") if isinstance(detail, dict) else None
        if isinstance(sub, str) and re.fullmatch(UUID_PATTERN, sub):
            yield sub


def parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def test_every_planted_email_is_looked_for() -> None:
    """The leak check itself finds an address wherever it hides in a log line."""
    planted = {"a": ["x", {"k": "ada@example.com"}]}
    with pytest.raises(AssertionError):
        assert_no_planted_email_logged(planted, [{"message": "m", "reason": "<ada@example.com>"}])
    assert_no_planted_email_logged(planted, [{"message": "m", "id": str(uuid.uuid4())}])
