"""Why a message sits in a dead-letter queue, from what each service records with it:

- EventBridge, when it could not deliver an event to a rule's target, adds the message
  attributes ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``,
  ``EXHAUSTED_RETRY_CONDITION`` and ``RETRY_ATTEMPTS`` (EventBridge user guide, "Using
  dead-letter queues to process undelivered events").
- SQS, when a consumer failed a message ``maxReceiveCount`` times, moves it as it was: nothing
  says why; the consumer's log does.
- Lambda, when a stream batch spent its retries, sends an invocation record to the on-failure
  destination: ``requestContext.condition`` (``RetryAttemptsExhausted``, …),
  ``approximateInvokeCount``, ``responseContext.functionError``, and the batch's shard and
  sequence numbers — not the error message (Lambda developer guide, "Retain discarded records
  for a DynamoDB event source in Lambda", its example SQS invocation record).
- Lambda, when an asynchronous invocation failed after its retries, sends the event to the
  function's DLQ with the attributes ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` (Lambda
  developer guide, "Dead-letter queues").

Looking is a receive with visibility 0: nothing moves, but on AWS it counts as a receive.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from contracts.topology import DeadLetters, ResourceNames
from userpipe.aws.deployment import Deployment

#: How many messages a look reads at most (one receive's worth).
LOOK_AT: Final = 10


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent: datetime | None
    reason: str


def peek(
    deployment: Deployment, declared: DeadLetters, *, limit: int = LOOK_AT
) -> list[DeadLetter]:
    """Up to ``limit`` of the queue's messages, oldest first, each with why it is there."""
    sqs = deployment.clients.sqs
    url = deployment.declared(declared.url)
    seen: dict[str, DeadLetter] = {}
    while len(seen) < limit:
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,  # look without taking: others see them at once
            # On AWS a short poll samples some servers; a 1 s long poll asks them all.
            WaitTimeSeconds=0 if deployment.local else 1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        new = [message for message in received if message["MessageId"] not in seen]
        if not new:
            break
        for message in new:
            sent = message.get("Attributes", {}).get("SentTimestamp")
            seen[message["MessageId"]] = DeadLetter(
                message["MessageId"],
                datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
                why(message, declared, deployment),
            )
    letters = sorted(
        seen.values(), key=lambda letter: letter.sent or datetime.min.replace(tzinfo=UTC)
    )
    return letters[:limit]


def summary(letters: Sequence[DeadLetter]) -> tuple[str, ...]:
    """Each distinct reason once, with how many messages give it when more than one."""
    counted = Counter(letter.reason for letter in letters)
    return tuple(
        f"{count} messages: {reason}" if count > 1 else reason for reason, count in counted.items()
    )


def why(message: Mapping[str, Any], declared: DeadLetters, deployment: Deployment) -> str:
    """Why ``message`` is in ``declared``'s queue: what was recorded, else where to look."""
    attributes = {
        name: str(value.get("StringValue", ""))
        for name, value in message.get("MessageAttributes", {}).items()
    }
    function = ResourceNames(deployment.stage).function(declared.consumer)
    if "ERROR_CODE" in attributes:
        target = attributes.get("TARGET_ARN", "").rsplit(":", 1)[-1] or "its target"
        error = ": ".join(
            a for a in (attributes["ERROR_CODE"], attributes.get("ERROR_MESSAGE")) if a
        )
        reason = f"EventBridge could not deliver it to {target}: {error}"
        spent = [attributes[k] for k in ("EXHAUSTED_RETRY_CONDITION",) if attributes.get(k)]
        if attributes.get("RETRY_ATTEMPTS"):
            spent.append(f"{attributes['RETRY_ATTEMPTS']} retries")
        return reason + (f" ({', '.join(spent)})" if spent else "")
    if "ErrorMessage" in attributes or "ErrorCode" in attributes:
        request = attributes.get("RequestID", "?")
        return f"{function} failed (request {request}): {attributes.get('ErrorMessage', '')}"
    record = _json(str(message.get("Body", "")))
    if isinstance(record, dict) and isinstance(record.get("requestContext"), dict):
        return _invocation_record(record, function, deployment)
    if declared.holds == "events" and declared.max_receive_count:
        return (
            f"{function} failed it {declared.max_receive_count} times (SQS then moves it here "
            f"and records no reason): see its log, {log_of(deployment, function)}"
        )
    return f"no reason is recorded with it: see {function}'s log, {log_of(deployment, function)}"


def _invocation_record(record: Mapping[str, Any], function: str, deployment: Deployment) -> str:
    context, response = record["requestContext"], record.get("responseContext") or {}
    # DDBStreamBatchInfo here; KinesisBatchInfo for a Kinesis stream.
    infos = [value for key, value in record.items() if key.endswith("BatchInfo")]
    batch: Mapping[str, Any] = infos[0] if infos and isinstance(infos[0], dict) else {}
    records = (
        f"records {batch.get('startSequenceNumber')}..{batch.get('endSequenceNumber')}"
        if batch
        else "a batch"
    )
    how = ", ".join(
        str(part) for part in (context.get("condition"), response.get("functionError")) if part
    )
    when = f" at {record['timestamp']}" if record.get("timestamp") else ""
    return (
        f"{function} failed {records} {context.get('approximateInvokeCount', '?')} times"
        f"{f' ({how})' if how else ''}{when}; Lambda records no error message: see its log, "
        f"{log_of(deployment, function)}"
    )


def log_of(deployment: Deployment, function: str) -> str:
    """Where a function's log is: the local stack's file, or its CloudWatch log group (infra
    names it ``/aws/lambda/<function>``)."""
    if deployment.local and deployment.outputs.get("logs_dir"):
        return str(Path(deployment.outputs["logs_dir"]) / f"{function}.log")
    return f"`{deployment.aws_command(f'logs tail /aws/lambda/{function} --since 1d')}`"


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
