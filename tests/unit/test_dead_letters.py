"""Why a message is in a dead-letter queue, read from what each kind of DLQ holds — message
shapes as AWS documents them — and, where nothing is recorded, where the function's log is."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.topology import DEAD_LETTERS
from userpipe.aws.dead_letters import why
from userpipe.aws.deployment import Deployment

QUEUES = {declared.name: declared for declared in DEAD_LETTERS}
LOCAL = {"stage": "pr-42", "logs_dir": "/home/dev/app/.userpipe/logs", "endpoint_url": "http://127.0.0.1:4747",
         "region": "eu-west-1"}  # fmt: skip
AWS = {"stage": "pr-42", "region": "eu-central-1"}


@pytest.fixture(autouse=True)
def aws_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS CLI as a shell with it on PATH names it (not where this test's Python is)."""
    monkeypatch.setattr("userpipe.aws.deployment.aws_cli", lambda: "aws")


def deployment(local: bool) -> Deployment:
    outputs = LOCAL if local else AWS
    clients = SimpleNamespace(profile="ops" if not local else None)
    return Deployment("x", outputs, clients, local)  # type: ignore[arg-type]


def message(body: Any = "{}", **attributes: str) -> dict[str, Any]:
    return {
        "MessageId": "m-1",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    }


def test_an_event_eventbridge_could_not_deliver_carries_its_error() -> None:
    """EventBridge user guide, "Using dead-letter queues to process undelivered events": each
    message carries RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION
    and RETRY_ATTEMPTS."""
    dead = message(
        ERROR_CODE="NO_PERMISSIONS",
        ERROR_MESSAGE="Not authorized to send to the queue",
        RULE_ARN="arn:aws:events:eu-central-1:1:rule/userpipe-pr-42-users/userpipe-pr-42-user-confirmed-to-projector",
        TARGET_ARN="arn:aws:sqs:eu-central-1:1:userpipe-pr-42-user-projector",
        EXHAUSTED_RETRY_CONDITION="MaximumRetryAttempts",
        RETRY_ATTEMPTS="185",
    )
    reason = why(dead, QUEUES["user-projector-dlq"], deployment(local=False))
    assert reason == (
        "EventBridge could not deliver it to userpipe-pr-42-user-projector: NO_PERMISSIONS: "
        "Not authorized to send to the queue (MaximumRetryAttempts, 185 retries)"
    )


@pytest.mark.parametrize("local", [True, False], ids=["local", "aws"])
def test_an_event_its_consumer_failed_points_at_the_consumers_log(local: bool) -> None:
    """SQS moves a message after maxReceiveCount receives and keeps it as it was: no reason."""
    reason = why(message({"detail": {}}), QUEUES["user-projector-dlq"], deployment(local))
    assert reason.startswith(
        "userpipe-pr-42-user-projector failed it 5 times (SQS then moves it here and records "
        "no reason): see its log, "
    )
    if local:
        assert reason.endswith("/home/dev/app/.userpipe/logs/userpipe-pr-42-user-projector.log")
    else:
        assert reason.endswith(
            "`aws logs tail /aws/lambda/userpipe-pr-42-user-projector --since 1d "
            "--region eu-central-1 --profile ops`"
        )


def test_a_stream_on_failure_record_gives_its_condition_and_the_records() -> None:
    """Lambda developer guide, "Retain discarded records for a DynamoDB event source in Lambda":
    the invocation record Lambda sends to an SQS on-failure destination."""
    record = {
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:eu-central-1:1:function:userpipe-pr-42-audit-trail",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 6,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-28T00:13:49.717Z",
        "DDBStreamBatchInfo": {"shardId": "s", "startSequenceNumber": "800",
                               "endSequenceNumber": "802", "batchSize": 3, "streamArn": "a"},
    }  # fmt: skip
    reason = why(message(record), QUEUES["audit-trail-dlq"], deployment(local=True))
    assert reason == (
        "userpipe-pr-42-audit-trail failed records 800..802 6 times (RetryAttemptsExhausted, "
        "Unhandled) at 2026-11-28T00:13:49.717Z; Lambda records no error message: see its "
        "log, /home/dev/app/.userpipe/logs/userpipe-pr-42-audit-trail.log"
    )


def test_a_failed_asynchronous_run_carries_lambdas_error_attributes() -> None:
    """Lambda developer guide, "Dead-letter queues": RequestID, ErrorCode, ErrorMessage."""
    dead = message({"source": "aws.events"}, RequestID="r-9", ErrorCode="200",
                   ErrorMessage="Task timed out after 900.00 seconds")  # fmt: skip
    reason = why(dead, QUEUES["reconcile-dlq"], deployment(local=False))
    assert reason == (
        "userpipe-pr-42-reconcile failed (request r-9): Task timed out after 900.00 seconds"
    )


def test_a_message_with_nothing_recorded_points_at_the_log() -> None:
    reason = why(message("not json"), QUEUES["reconcile-dlq"], deployment(local=True))
    assert reason == (
        "no reason is recorded with it: see userpipe-pr-42-reconcile's log, "
        "/home/dev/app/.userpipe/logs/userpipe-pr-42-reconcile.log"
    )
