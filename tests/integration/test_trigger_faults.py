"""The trigger's Lambda entry point against EventBridge endpoints that misbehave on a real local
socket: silent, trickling, or answering 200 with a body that is not PutEvents' shape. Every
case must end in ``PutEventsFailedError`` — logged as not published — inside Cognito's 5 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from services.confirm_trigger import handler
from services.confirm_trigger.publisher import (
    ATTEMPT_SECONDS,
    DEADLINE_SECONDS,
    MAX_ATTEMPTS,
    PutEventsFailedError,
    worst_case_seconds,
)
from tests.endpoints import SILENT, TRICKLE, Answer, ok_json, scripted_endpoint
from tests.support import cognito_sign_up

pytestmark = pytest.mark.integration
#: Cognito abandons the trigger at 5 s; a correctness bound with room for a loaded machine,
#: not a benchmark.
COGNITO_LIMIT_SECONDS = 5.0
ACCEPTED = ok_json('{"FailedEntryCount": 0, "Entries": [{"EventId": "evt-from-stub"}]}')


@pytest.fixture
def trigger_against(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the trigger's EventBridge client at ``url`` for one cold start."""

    def point(url: str) -> None:
        monkeypatch.setenv("EVENT_BUS_NAME", "userpipe-test-users")
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        handler.default_publisher.cache_clear()

    yield point
    handler.default_publisher.cache_clear()


def invoke(context: Any) -> tuple[float, PutEventsFailedError | dict[str, Any]]:
    started = time.monotonic()
    try:
        result: PutEventsFailedError | dict[str, Any] = handler.lambda_handler(
            cognito_sign_up(), context
        )
    except PutEventsFailedError as failure:
        result = failure
    return time.monotonic() - started, result


def test_the_worst_case_is_inside_the_deadline_and_cognitos_limit() -> None:
    assert worst_case_seconds() == MAX_ATTEMPTS * ATTEMPT_SECONDS + 0.2
    assert worst_case_seconds() <= DEADLINE_SECONDS < COGNITO_LIMIT_SECONDS


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (TRICKLE, "attempt abandoned"),  # every read gets a byte: only the overall bound helps
        (SILENT, "Read timeout"),  # the socket's own read timeout comes first
    ],
    ids=["trickling", "silent"],
)
def test_an_endpoint_that_never_finishes_answering_fails_the_publish_in_time(
    answer: Answer, reason: str, trigger_against: Any, lambda_context: Any, log_lines: Any
) -> None:
    with scripted_endpoint(answer) as endpoint:
        trigger_against(endpoint.url)
        elapsed, result = invoke(lambda_context)

    assert isinstance(result, PutEventsFailedError)
    assert reason in str(result)
    assert result.attempts == endpoint.requests == MAX_ATTEMPTS
    assert elapsed < COGNITO_LIMIT_SECONDS
    (line,) = [entry for entry in log_lines() if entry["level"] == "ERROR"]
    assert line["message"] == "UserConfirmed not published"


@pytest.mark.parametrize(
    "body",
    [
        ok_json('{"FailedEntryCount": 0, "Entries": []}'),
        ok_json('{"FailedEntryCount": 0}'),
        ok_json('{"Entries": [{}]}'),
        ok_json('{"Entries": "nope"}'),
        ok_json("[]"),
        Answer(body=b"<html><body>Bad gateway</body></html>", content_type="text/html"),
    ],
    ids=["empty-entries", "no-entries", "entry-without-id", "entries-not-a-list", "array", "html"],
)
def test_a_200_with_a_malformed_body_is_a_failed_publish_retried_in_time(
    body: Answer, trigger_against: Any, lambda_context: Any, log_lines: Any
) -> None:
    with scripted_endpoint(body) as endpoint:
        trigger_against(endpoint.url)
        elapsed, result = invoke(lambda_context)

    assert isinstance(result, PutEventsFailedError)
    assert result.attempts == endpoint.requests == MAX_ATTEMPTS  # retried, then given up
    assert elapsed < COGNITO_LIMIT_SECONDS
    assert [line["message"] for line in log_lines() if line["level"] == "ERROR"] == [
        "UserConfirmed not published"
    ]


def test_a_malformed_answer_then_a_good_one_publishes(
    trigger_against: Any, lambda_context: Any
) -> None:
    with scripted_endpoint(ok_json('{"Entries": []}'), ACCEPTED) as endpoint:
        trigger_against(endpoint.url)
        _, result = invoke(lambda_context)
    assert result == cognito_sign_up()
    assert endpoint.requests == 2


def test_a_trickling_first_attempt_is_abandoned_and_the_retry_publishes(
    trigger_against: Any, lambda_context: Any, log_lines: Any
) -> None:
    with scripted_endpoint(TRICKLE, ACCEPTED) as endpoint:
        trigger_against(endpoint.url)
        elapsed, result = invoke(lambda_context)
    assert result == cognito_sign_up()
    assert elapsed < COGNITO_LIMIT_SECONDS
    published = [line for line in log_lines() if line["message"] == "UserConfirmed published"]
    assert published[0]["event_id"] == "evt-from-stub"
    assert "ada@example.com" not in json.dumps(log_lines())
