"""Event sources with Lambda's semantics, run continuously in the background.

moto keeps event-source mappings but cannot run Python functions without Docker — and, without
Docker, its mappings silently drain the stream — so the local stack never creates them. Instead
these pollers do what Lambda's pollers do, with the declared settings:

- ``QueuePoller`` (a subscription's queue): batches up to the batch size, waiting up to the
  batching window to fill one; ``ReportBatchItemFailures``; succeeded messages deleted, failed
  ones returned to the queue; the queue's redrive policy moves a message to its DLQ after
  ``maxReceiveCount`` receives (the emulator applies it, as SQS does).
- ``StreamPoller`` (a table's stream): batches up to the batch size from each shard; partial
  batch responses checkpoint before the first failure; bounded retries; bisection; the
  on-failure queue receives the failed record's metadata, never its images.

Two shortcuts, both about time only:
- a failed message becomes visible again after ``retry_delay`` (one second by default) instead
  of the queue's visibility timeout (6x the function timeout: minutes), so retries and the move
  to the DLQ take seconds;
- a record the function reports failed (``ReportBatchItemFailures``) is retried from its own
  sequence number and, once its retries are spent, sent alone to the on-failure queue: the
  outcome Lambda reaches, without its intermediate batches.

A batch the function fails as a whole (an error, a timeout, a crash) is halved and each half
retried on its own, as ``BisectBatchOnFunctionError`` makes Lambda do ("Lambda breaks the
impacted batch of records into two when a function returns an error, and retries them
separately": AWS What's New, 2019-12-20, "AWS Lambda supports failure-handling features for
Kinesis and DynamoDB event sources"). Without it a batch of 100 that outlasts the timeout
would spend its retries whole and dead-letter its first record, which alone would succeed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.names import iso_utc
from contracts.topology import QueueSource, StreamSource
from userpipe.aws.streams import stream_record
from userpipe.local.sandbox import FunctionSandbox, Invocation

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

#: How long an idle poller sleeps when nothing wakes it (new messages and writes do).
IDLE_SECONDS = 1.0


def failed_items(invocation: Invocation, ids: Sequence[str]) -> set[str]:
    """The item ids Lambda would treat as failed: those the function reported, or all of them
    when it failed as a whole (an error, a timeout, a crash)."""
    if not invocation.ok:
        return set(ids)
    result = invocation.result if isinstance(invocation.result, Mapping) else {}
    return {failure.get("itemIdentifier") for failure in result.get("batchItemFailures") or []}


class Poller:
    """A background loop: ``poll`` until nothing is left, then sleep until woken or idle."""

    name = "poller"

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = False  # delivering right now
        self.failures = 0  # polls that raised (the emulator unreachable, say)
        self.started = 0  # polls begun
        self.finished = 0  # polls ended; the latest delivered ``last_delivered`` items
        self.last_delivered = 0

    def poll(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.busy = True
            self.started += 1
            delivered = -1  # not quiet unless the poll saw its source empty
            try:
                delivered = self.poll()
            except Exception:
                self.failures += 1
            finally:
                self.busy = False
                self.last_delivered = delivered
                self.finished += 1
            if delivered <= 0:
                self._wake.wait(IDLE_SECONDS)


class QueuePoller(Poller):
    def __init__(
        self,
        sqs: SQSClient,
        queue: Mapping[str, str],
        sandbox: FunctionSandbox,
        source: QueueSource,
        *,
        region: str,
        retry_delay: int = 1,
    ) -> None:
        super().__init__()
        self.name = f"poller:{queue['name']}"
        self.queue, self.sandbox, self.source = queue, sandbox, source  # its wiring
        self._sqs, self._region, self._retry_delay = sqs, region, retry_delay
        self.delivered = 0

    def poll(self) -> int:
        """Deliver one batch; returns how many messages it held (0: the queue looked empty)."""
        messages = self._batch()
        if not messages:
            return 0
        records = [sqs_record(message, self.queue["arn"], self._region) for message in messages]
        invocation = self.sandbox.invoke({"Records": records})
        failed = failed_items(invocation, [m["MessageId"] for m in messages])
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue["url"],
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue["url"],
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay,
                )
        self.delivered += len(messages)
        return len(messages)

    def _batch(self) -> list[dict[str, Any]]:
        """Up to the batch size, waiting at most the batching window once something arrived."""
        size = self.source.batch_size
        messages = self._receive(size)
        window_ends = time.monotonic() + self.source.max_batching_window_seconds
        while messages and len(messages) < size and time.monotonic() < window_ends:
            self._wake.wait(max(0.0, window_ends - time.monotonic()))
            self._wake.clear()
            messages += self._receive(size - len(messages))
        return messages

    def _receive(self, count: int) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.queue["url"],
            MaxNumberOfMessages=min(count, 10),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])  # type: ignore[assignment]
        return received


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A received SQS message in the shape Lambda hands to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {_lower_first(k): v for k, v in value.items()}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class StreamPoller(Poller):
    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        sandbox: FunctionSandbox,
        source: StreamSource,
        *,
        sqs: SQSClient,
        on_failure: Mapping[str, str],
    ) -> None:
        super().__init__()
        self.name = f"poller:{stream_arn.rsplit('/', 3)[-3]}-stream"
        self.stream_arn, self.sandbox, self.source = stream_arn, sandbox, source  # its wiring
        self.on_failure = on_failure
        self._streams, self._sqs = streams, sqs
        self._checkpoints: dict[str, str] = {}  # shard id -> last sequence number done with
        self.delivered = 0
        self.discarded = 0

    def poll(self) -> int:
        """Deliver what each shard holds past its checkpoint; returns how many records."""
        description = self._streams.describe_stream(StreamArn=self.stream_arn)
        delivered = 0
        for shard in description["StreamDescription"]["Shards"]:
            records = self._read(shard["ShardId"])
            for start in range(0, len(records), self.source.batch_size):
                batch = records[start : start + self.source.batch_size]
                self._deliver(shard["ShardId"], batch)
                delivered += len(batch)
        self.delivered += delivered
        return delivered

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        # A fresh iterator per read: moto's iterators go stale after some failed writes.
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is None:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=self.source.starting_position,
            )
        else:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=checkpoint,
            )
        response = self._streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        return [stream_record(record, self.stream_arn) for record in response["Records"]]

    def _deliver(self, shard_id: str, batch: Sequence[dict[str, Any]]) -> None:
        pending, retries = list(batch), 0
        while pending and not self._stop.is_set():
            sequences = [r["dynamodb"]["SequenceNumber"] for r in pending]
            invocation = self.sandbox.invoke({"Records": pending})
            failed = failed_items(invocation, sequences)
            if not failed:
                self._checkpoints[shard_id] = pending[-1]["dynamodb"]["SequenceNumber"]
                return
            if not invocation.ok and self.source.bisect_batch_on_error and len(pending) > 1:
                # A function error (a timeout, a crash) names no record: Lambda halves the batch
                # and retries each half on its own, so one slow or bad record cannot sink the
                # others. Each half checkpoints as it completes.
                half = len(pending) // 2
                self._deliver(shard_id, pending[:half])
                self._deliver(shard_id, pending[half:])
                return
            # An unknown identifier fails the whole batch, as Lambda does.
            first = min((i for i, seq in enumerate(sequences) if seq in failed), default=0)
            if first:  # everything before the first failure is done; retries restart there
                self._checkpoints[shard_id] = pending[first - 1]["dynamodb"]["SequenceNumber"]
                pending, retries = pending[first:], 0
            retries += 1
            if retries > self.source.max_retry_attempts:
                poison = pending.pop(0)
                self._send_to_on_failure(shard_id, poison, retries)
                self._checkpoints[shard_id] = poison["dynamodb"]["SequenceNumber"]
                retries = 0

    def _send_to_on_failure(
        self, shard_id: str, record: Mapping[str, Any], invocations: int
    ) -> None:
        """The metadata Lambda sends to a stream's on-failure destination (never the images)."""
        sequence = record["dynamodb"]["SequenceNumber"]
        arrival = iso_utc(
            datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)
        )
        message = {
            "version": "1.0",
            "timestamp": iso_utc(datetime.now(UTC)),
            "requestContext": {
                "functionArn": self.sandbox.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": sequence,
                "endSequenceNumber": sequence,
                "approximateArrivalOfFirstRecord": arrival,
                "approximateArrivalOfLastRecord": arrival,
                "batchSize": 1,
                "streamArn": self.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self.on_failure["url"], MessageBody=json.dumps(message))
        self.discarded += 1


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]
