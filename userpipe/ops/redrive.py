"""``userpipe redrive``: send what a dead-letter queue holds back where it failed, once the
cause is fixed. Each DLQ declares what it holds (``contracts.topology.DEAD_LETTERS``):

- **events** (a subscription's DLQ) go back to the subscription's queue. On AWS, SQS's own
  ``StartMessageMoveTask`` moves them (server-side; it goes on if this command stops) and this
  command follows ``ListMessageMoveTasks``. The emulator has no message move task, and a move
  task cannot stop after N messages, so locally and with ``--max`` the same move is done here:
  receive, send to the queue, and delete only what was sent — a message is never deleted before
  it is re-delivered (an interruption between the two leaves a duplicate, which the consumers
  absorb, never a loss).
- **stream-batches** (a stream consumer's on-failure queue) hold only where the failed records
  are: shard and sequence numbers. The records are read again from the stream
  (``AT_SEQUENCE_NUMBER``) and handed to the consumer with ``Invoke``; the message is deleted
  only when the consumer took every record. A stream keeps records 24 hours (DynamoDB
  developer guide, "Change data capture for DynamoDB Streams"): past that they are gone, the
  message stays, and the report says which changes its consumer (the audit trail or the change
  publisher) never handled.
  No standing reader is added: each message costs one ``GetShardIterator`` and a few
  ``GetRecords`` calls (1,000 records each), billed as streams read request units because they
  are not Lambda's (developer guide, "Evaluate your DynamoDB streams usage"). While it reads, it
  is a third reader of the shard beside the two mappings, over the documented two ("More than 2
  processes are reading from the same streams shard at the same time. Exceeding this limit may
  result in request throttling", Streams API, ``LimitExceededException``): botocore's retries
  absorb a short throttle, and a read still throttled after them keeps the message, never
  fails the run.
- **failed-runs** (a schedule's DLQ) are runs of a job that failed: the job (reconcile) runs
  again, here, and the messages are deleted once it completed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from contracts.topology import DEAD_LETTERS, DeadLetters, ResourceNames, snake_case
from userpipe.aws.deployment import Deployment
from userpipe.aws.queues import depth
from userpipe.aws.streams import stream_record
from userpipe.errors import OperatorError
from userpipe.ops import reconcile
from userpipe.ops.progress import Progress

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

#: While this command works on received messages, nobody else sees them.
HOLD_SECONDS: Final = 120
#: Empty GetRecords pages to read through before giving up on reaching a sequence number
#: ("it might take multiple calls to get to a portion of the shard that contains stream
#: records", DynamoDB Streams API reference, GetRecords).
EMPTY_PAGES: Final = 20


class UnknownQueueError(OperatorError):
    def __init__(self, name: str, deployment: Deployment) -> None:
        names = ", ".join(d.name for d in deployment.parts.dead_letters)
        super().__init__(f"no dead-letter queue {name!r}: choose one of {names}")


class LeftOutQueueError(OperatorError):
    """The DLQ named is an optional subscription's, and the deployment was made without it."""


class MoveTaskFailedError(OperatorError):
    exit_code = 1


@dataclass
class Result:
    queue: str
    holds: str
    redelivered: int = 0  # re-delivered and deleted from the DLQ
    kept: int = 0  # still in the DLQ: could not be re-delivered (see notes)
    notes: list[str] = field(default_factory=list)


def choose(name: str | None, deployment: Deployment) -> list[DeadLetters]:
    """The DLQ named (its base name, or its full name), else every one the deployment has."""
    parts = deployment.parts
    if name is None:
        return list(parts.dead_letters)
    for declared in DEAD_LETTERS:
        if name in (declared.name, ResourceNames(deployment.stage).of(declared.name)):
            if declared in parts.dead_letters:
                return [declared]
            (left_out,) = (s for s in parts.left_out if s.dlq == declared.name)
            switch = f" ({left_out.switch.key}=off)" if left_out.switch else ""
            raise LeftOutQueueError(
                f"{deployment.name} has no {name}: it was deployed without the optional "
                f"{left_out.id} subscription{switch}"
            )
    raise UnknownQueueError(name, deployment)


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    queue: str | None = None,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Result]:
    if limit is not None and limit < 1:
        raise OperatorError(f"--max must be at least 1 (got {limit})")
    results = []
    for declared in choose(queue, deployment):
        url = deployment.declared(declared.url)
        waiting = depth(deployment.clients.sqs, url).visible
        result = Result(declared.name, declared.holds)
        results.append(result)
        if not waiting:
            continue
        progress.say(f"{declared.name}: {waiting} message(s) to redrive ({declared.holds})")
        if declared.holds == "events":
            back_to = deployment.output(snake_case(declared.back_to))
            _redrive_events(deployment, url, back_to, result, progress, limit, sleep)
        elif declared.holds == "stream-batches":
            function = deployment.output(snake_case(declared.back_to))
            _redrive_stream_batches(deployment, url, function, result, progress, limit)
        else:
            _rerun(deployment, url, result, progress)
    return results


# --- events: back to the subscription's queue ----------------------------------------------------


def _redrive_events(
    deployment: Deployment,
    dlq_url: str,
    queue_url: str,
    result: Result,
    progress: Progress,
    limit: int | None,
    sleep: Callable[[float], None],
) -> None:
    sqs = deployment.clients.sqs
    if deployment.local or limit is not None:
        # Here rather than in SQS: the emulator lacks message move tasks, and a move task
        # cannot stop after ``limit`` messages.
        with progress.bar(f"moving {result.queue} back", total=limit) as bar:
            move_messages(sqs, dlq_url, queue_url, result, limit=limit, on_moved=bar.update)
        return
    source, destination = (_queue_arn(sqs, url) for url in (dlq_url, queue_url))
    handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    try:
        with progress.bar(f"SQS moving {result.queue} back") as bar:
            while True:
                found = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1)["Results"]
                # The newest task is ours (one active task per queue); a task that ended is
                # listed without its TaskHandle (API reference, ListMessageMoveTasks).
                if not found or found[0].get("TaskHandle", handle) != handle:
                    sleep(deployment.poll_seconds)
                    continue
                task = found[0]
                moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
                bar.update(moved, total=task.get("ApproximateNumberOfMessagesToMove"))
                if task["Status"] not in ("RUNNING", "CANCELLING"):
                    break
                sleep(deployment.poll_seconds)
    except KeyboardInterrupt:
        cancel = deployment.aws_command(f"sqs cancel-message-move-task --task-handle {handle}")
        raise OperatorError(f"the move task goes on in SQS: cancel it with `{cancel}`") from None
    result.redelivered = moved
    if task["Status"] != "COMPLETED":
        result.kept = depth(sqs, dlq_url).visible
        raise MoveTaskFailedError(
            f"the move task for {result.queue} ended {task['Status']}: "
            f"{task.get('FailureReason', 'no reason given')} ({moved} moved)"
        )


def move_messages(
    sqs: SQSClient,
    source_url: str,
    destination_url: str,
    result: Result,
    *,
    limit: int | None = None,
    on_moved: Callable[[int], None] = lambda moved: None,
    wait_seconds: int = 1,
) -> None:
    """Receive, send to the destination, delete what was sent; until the source reads empty
    (a long poll, so every SQS server is asked) or ``limit`` messages moved."""
    while limit is None or result.redelivered < limit:
        wanted = 10 if limit is None else min(10, limit - result.redelivered)
        received = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return
        sent = sqs.send_message_batch(
            QueueUrl=destination_url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message["Body"],
                    "MessageAttributes": _attributes(message),
                }
                for index, message in enumerate(received)
            ],
        )
        done = {int(entry["Id"]) for entry in sent.get("Successful", [])}
        if done:
            sqs.delete_message_batch(
                QueueUrl=source_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": received[index]["ReceiptHandle"]}
                    for index in sorted(done)
                ],
            )
        result.redelivered += len(done)
        on_moved(result.redelivered)
        if len(done) < len(received):
            for index, message in enumerate(received):
                if index not in done:
                    _release(sqs, source_url, message)
            result.kept += len(received) - len(done)
            reasons = {entry.get("Message", "") for entry in sent.get("Failed", [])}
            result.notes.append(f"the queue refused some messages: {'; '.join(sorted(reasons))}")
            return


def _attributes(message: Mapping[str, Any]) -> Any:
    kept = ("DataType", "StringValue", "BinaryValue")
    return {
        name: {key: value[key] for key in kept if key in value}
        for name, value in message.get("MessageAttributes", {}).items()
    }


def _queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


# --- stream batches: read the records again, hand them to the consumer -------------------------


class RecordsGoneError(Exception):
    """The stream no longer has the records (past its retention, or the stream was replaced)."""


class StreamBusyError(Exception):
    """The stream throttled the read, after every retry (too many readers of the shard)."""


def read_batch(streams: DynamoDBStreamsClient, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The records ``DDBStreamBatchInfo`` names, first to last sequence number, as Lambda
    delivers them."""
    arn, start, end = info["streamArn"], info["startSequenceNumber"], info["endSequenceNumber"]
    try:
        iterator: str | None = streams.get_shard_iterator(
            StreamArn=arn,
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=start,
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        empty = 0
        while iterator and empty <= EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            empty = empty + 1 if not page["Records"] else 0
            for record in page["Records"]:
                if int(record["dynamodb"]["SequenceNumber"]) > int(end):
                    return records
                records.append(stream_record(record, arn))
                if record["dynamodb"]["SequenceNumber"] == end:
                    return records
            iterator = page.get("NextShardIterator")
    except (
        streams.exceptions.TrimmedDataAccessException,
        streams.exceptions.ResourceNotFoundException,
    ) as error:
        raise RecordsGoneError(error.response["Error"].get("Message", str(error))) from None
    except streams.exceptions.LimitExceededException as error:
        raise StreamBusyError(error.response["Error"].get("Message", str(error))) from None
    if not records:
        raise RecordsGoneError(f"no record from {start} to {end} in the shard")
    return records


def _redrive_stream_batches(
    deployment: Deployment,
    dlq_url: str,
    function: str,
    result: Result,
    progress: Progress,
    limit: int | None,
) -> None:
    sqs, clients = deployment.clients.sqs, deployment.clients
    seen: set[str] = set()
    with progress.bar(f"handing {result.queue}'s records to {function}") as bar:
        while limit is None or result.redelivered < limit:
            received = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=1,
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            if not received:
                return
            (message,) = received
            if message["MessageId"] in seen:  # every message has had its turn
                _release(sqs, dlq_url, message)
                return
            seen.add(message["MessageId"])
            problem = _hand_over(clients, message["Body"], function)
            if problem is None:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                result.redelivered += 1
                bar.update(result.redelivered)
            else:
                _release(sqs, dlq_url, message)
                result.kept += 1
                result.notes.append(problem)


def _release(sqs: SQSClient, queue_url: str, message: Mapping[str, Any]) -> None:
    """Back in view in the queue at once, rather than when the hold ends."""
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def _hand_over(clients: Any, body: str, function: str) -> str | None:
    """Re-deliver one on-failure message's records; ``None`` when the consumer took them all,
    else why not."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        first, last = info["startSequenceNumber"], info["endSequenceNumber"]
    except (ValueError, KeyError, TypeError):
        return "a message is not a stream on-failure record; left in the queue"
    try:
        records = read_batch(clients.streams, info)
    except RecordsGoneError as gone:
        arrival = info.get("approximateArrivalOfFirstRecord", "?")
        return (
            f"records {first}..{last} (from {arrival}) are no longer in the stream ({gone}): "
            f"{function} never handled those changes; the User items hold the current state. "
            "The message is kept; delete it once that is noted."
        )
    except StreamBusyError as busy:
        return (
            f"the stream throttled reading records {first}..{last} ({busy}): its shard has "
            "more readers than the two it supports while the consumers' mappings read it too. "
            "The message is kept; run redrive again."
        )
    answer = clients.lambda_.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"Records": records}).encode(),
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        return f"{function} failed on records {first}..{last} again: {_error(payload)}"
    failures = (payload or {}).get("batchItemFailures") if isinstance(payload, dict) else None
    if failures:
        return f"{function} failed {len(failures)} of records {first}..{last} again"
    return None


def _error(payload: Any) -> str:
    if isinstance(payload, dict):
        return f"{payload.get('errorType', 'Error')}: {payload.get('errorMessage', '')}"
    return str(payload)


# --- failed runs: run the job again ------------------------------------------------------------


def _rerun(deployment: Deployment, dlq_url: str, result: Result, progress: Progress) -> None:
    """Hold the failed runs' messages, run reconcile here, delete them if it completed."""
    sqs = deployment.clients.sqs
    held: list[Any] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=900, WaitTimeSeconds=1
        ).get("Messages", [])
        if not received:
            break
        held += received
    summary = reconcile.run(deployment, progress)
    for line in reconcile.describe(summary):
        progress.say(f"  {line}")
    if not summary.complete:
        for message in held:
            _release(sqs, dlq_url, message)
        result.kept = len(held)
        result.notes.append("reconcile did not complete: the failed runs stay in the queue")
        return
    for start in range(0, len(held), 10):
        deleted = sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(held[start : start + 10])
            ],
        )
        result.redelivered += len(deleted.get("Successful", []))
        result.kept += len(deleted.get("Failed", []))


def describe(results: Sequence[Result]) -> list[str]:
    lines = []
    for result in results:
        if not result.redelivered and not result.kept:
            lines.append(f"{result.queue}: empty")
            continue
        lines.append(
            f"{result.queue}: {result.redelivered} redriven"
            + (f", {result.kept} kept" if result.kept else "")
        )
        lines += [f"  {note}" for note in dict.fromkeys(result.notes)]
    return lines
