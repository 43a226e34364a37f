"""Our event-source runner: what Lambda's SQS and DynamoDB Streams pollers do, in-process.

moto keeps event-source mappings but cannot run Python functions without Docker, so the local
stack polls the queue and the stream itself and calls the same handlers with the same batch
sizes, receive counts, retry limits and DLQs as ``contracts.topology`` (and so infra) declares.

Two deliberate shortcuts, both only about time:
- a message whose record failed is made visible again at once instead of after the queue's
  visibility timeout, so retries (and the move to the DLQ) happen in seconds, not minutes;
- a stream record that keeps failing is retried from its own sequence number and, once the
  retry limit is spent, sent alone to the on-failure queue: the outcome Lambda reaches with
  ``ReportBatchItemFailures`` and ``BisectBatchOnFunctionError``, without the halving steps.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.names import iso_utc
from contracts.topology import FunctionSpec, QueueSource, StreamSource
from userpipe.local.clients import REGION

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

    from userpipe.local.provision import Queue

Handler = Callable[[dict[str, Any], Any], Any]
ACCOUNT = "123456789012"


@dataclass
class LocalContext:
    """The parts of Lambda's context object the handlers (and Powertools) read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def for_function(cls, spec: FunctionSpec, name: str) -> LocalContext:
        return cls(name, spec.memory_mb, spec.timeout_seconds)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000

    def fresh(self) -> LocalContext:
        """A context for the next invocation (new request id)."""
        return LocalContext(self.function_name, self.memory_limit_in_mb, self.timeout_seconds)


def failed_items(
    handler: Handler, records: list[dict[str, Any]], ids: list[str], context: LocalContext
) -> set[str]:
    """Invoke like Lambda: the item ids the handler reported failed; all of them if it raised."""
    try:
        response = handler({"Records": records}, context.fresh())
    except Exception:
        return set(ids)
    return {failure["itemIdentifier"] for failure in (response or {}).get("batchItemFailures", [])}


class QueuePoller:
    """SQS -> handler, like Lambda's SQS event source with ReportBatchItemFailures."""

    def __init__(
        self,
        sqs: SQSClient,
        queue: Queue,
        handler: Handler,
        source: QueueSource,
        context: LocalContext,
    ) -> None:
        self._sqs, self._queue, self._handler = sqs, queue, handler
        self._source, self._context = source, context

    def poll(self) -> int:
        """Deliver one batch; returns how many messages it held (0: the queue looked empty)."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue.url,
            MaxNumberOfMessages=min(self._source.batch_size, 10),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return 0
        records = [sqs_record(message, self._queue.arn) for message in messages]
        failed = failed_items(
            self._handler, records, [m["MessageId"] for m in messages], self._context
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
        return len(messages)

    def drain(self, max_batches: int = 10_000) -> int:
        delivered = 0
        for _ in range(max_batches):
            count = self.poll()
            if not count:
                return delivered
            delivered += count
        raise RuntimeError(f"{self._queue.url} did not drain in {max_batches} batches")


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
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
        "awsRegion": REGION,
    }


class StreamPoller:
    """DynamoDB stream -> handler, like Lambda's stream event source (see module docstring)."""

    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        handler: Handler,
        source: StreamSource,
        context: LocalContext,
        *,
        sqs: SQSClient,
        on_failure: Queue,
    ) -> None:
        self._streams, self._stream_arn, self._handler = streams, stream_arn, handler
        self._source, self._context = source, context
        self._sqs, self._on_failure = sqs, on_failure
        self._checkpoints: dict[str, str] = {}  # shard id -> last sequence number done with
        self.discarded = 0

    def poll(self) -> int:
        """Deliver what each shard holds past its checkpoint; returns how many records."""
        description = self._streams.describe_stream(StreamArn=self._stream_arn)
        delivered = 0
        for shard in description["StreamDescription"]["Shards"]:
            records = self._read(shard["ShardId"])
            for start in range(0, len(records), self._source.batch_size):
                batch = records[start : start + self._source.batch_size]
                self._deliver(shard["ShardId"], batch)
                delivered += len(batch)
        return delivered

    def drain(self, max_polls: int = 10_000) -> int:
        delivered = 0
        for _ in range(max_polls):
            count = self.poll()
            if not count:
                return delivered
            delivered += count
        raise RuntimeError(f"stream {self._stream_arn} did not drain in {max_polls} polls")

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        # A fresh iterator per read: moto's iterators go stale after some failed writes.
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is None:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard_id,
                ShardIteratorType=self._source.starting_position,  # type: ignore[arg-type]
            )
        else:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=checkpoint,
            )
        response = self._streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        return [stream_record(record, self._stream_arn) for record in response["Records"]]

    def _deliver(self, shard_id: str, batch: Sequence[dict[str, Any]]) -> None:
        pending, retries = list(batch), 0
        while pending:
            sequences = [r["dynamodb"]["SequenceNumber"] for r in pending]
            failed = failed_items(self._handler, pending, sequences, self._context)
            if not failed:
                self._checkpoints[shard_id] = pending[-1]["dynamodb"]["SequenceNumber"]
                return
            # An unknown identifier fails the whole batch, as Lambda does.
            first = min((i for i, seq in enumerate(sequences) if seq in failed), default=0)
            if first:  # everything before the first failure is done; retries restart there
                self._checkpoints[shard_id] = pending[first - 1]["dynamodb"]["SequenceNumber"]
                pending, retries = pending[first:], 0
            retries += 1
            if retries > self._source.max_retry_attempts:
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
                "functionArn": self._context.invoked_function_arn,
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
                "streamArn": self._stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._on_failure.url, MessageBody=json.dumps(message))
        self.discarded += 1


def stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda hands to the function (epoch-second times)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        **{k: v for k, v in record.items() if k != "dynamodb"},
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]
