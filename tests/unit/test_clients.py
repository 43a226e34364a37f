"""Every client the commands build has connect and read timeouts and a bounded number of
attempts, for a local stack and for AWS alike, and the worst case stays within the budget the
operator commands promise (an endpoint that never answers: status and redrive end within 20 s).

No network: building a client opens no connection."""

from __future__ import annotations

from typing import Any

import pytest

from userpipe.aws.clients import (
    ATTEMPTS,
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    SLOW_READ_SECONDS,
    Clients,
    worst_case_seconds,
)

SERVICES = {
    "events": "events",
    "sqs": "sqs",
    "dynamodb": "dynamodb",
    "streams": "dynamodbstreams",
    "secrets": "secretsmanager",
    "cognito": "cognito-idp",
    "cloudformation": "cloudformation",
    "cloudwatch": "cloudwatch",
    "lambda_": "lambda",
}
#: What status and redrive call before anything else, and so what a silent endpoint meets.
FIRST_CALLS = ("sqs", "cloudformation")
PROMISED_SECONDS = 20


def _targets() -> list[Any]:
    return [
        pytest.param(lambda: Clients("http://127.0.0.1:9"), id="local"),
        pytest.param(lambda: Clients(region="eu-west-1"), id="aws"),
    ]


@pytest.mark.parametrize("make", _targets())
@pytest.mark.parametrize("attribute", list(SERVICES))
def test_every_client_has_timeouts_and_bounded_attempts(make: Any, attribute: str) -> None:
    config = getattr(make(), attribute).meta.config
    service = SERVICES[attribute]
    assert config.connect_timeout == CONNECT_TIMEOUT_SECONDS
    assert config.read_timeout == SLOW_READ_SECONDS.get(service, READ_TIMEOUT_SECONDS)
    assert config.retries == {"mode": "standard", "total_max_attempts": ATTEMPTS}


def test_the_first_calls_of_status_and_redrive_give_up_within_the_promised_time() -> None:
    for service in FIRST_CALLS:
        assert worst_case_seconds(service) < PROMISED_SECONDS, service


def test_calls_that_wait_on_a_function_may_wait_longer_than_it_runs() -> None:
    """Cognito answers ConfirmSignUp only after the PostConfirmation trigger (5 s, up to three
    calls); Invoke answers when the function returns (redrive invokes the stream consumers)."""
    from contracts.topology import CONFIRM_TRIGGER, STREAM_CONSUMERS

    assert SLOW_READ_SECONDS["cognito-idp"] > 3 * CONFIRM_TRIGGER.timeout_seconds
    slowest = max(stream.consumer.timeout_seconds for stream in STREAM_CONSUMERS)
    assert SLOW_READ_SECONDS["lambda"] > slowest


@pytest.mark.parametrize(
    ("service", "operation", "status", "body", "refused"),
    [
        ("sqs", "GetQueueAttributes", 200, b"<!DOCTYPE html><html></html>", True),
        ("sqs", "GetQueueAttributes", 404, b"Not Found", True),
        ("sqs", "GetQueueAttributes", 200, b'{"Attributes": {}}', False),
        ("sqs", "DeleteMessage", 200, b"", False),
        ("sqs", "GetQueueAttributes", 503, b"<html>Service Unavailable</html>", False),
        ("cloudformation", "DescribeStacks", 200, b"<html><body>hi</body></html>", True),
        ("cloudformation", "DescribeStacks", 200, b"<?xml version='1.0'?><X/>", False),
    ],
)
def test_an_answer_in_no_aws_format_is_named_and_a_5xx_is_left_to_the_retries(
    service: str, operation: str, status: int, body: bytes, refused: bool
) -> None:
    from userpipe.aws.clients import NotAnAwsEndpointError, _refuse_what_is_not_aws

    client = Clients("http://127.0.0.1:9")._client(service)
    check = _refuse_what_is_not_aws(client)
    answer = {"status_code": status, "headers": {"Content-Type": "text/html"}, "body": body}
    model = client.meta.service_model.operation_model(operation)
    if refused:
        with pytest.raises(NotAnAwsEndpointError, match=r"http://127\.0\.0\.1:9 answered"):
            check(operation_model=model, response_dict=answer)
    else:
        check(operation_model=model, response_dict=answer)
