"""Lambda's partial batch response (``ReportBatchItemFailures``), in plain Python.

For a queue, Lambda deletes the batch's messages except those listed in ``batchItemFailures``
by ``itemIdentifier`` (the message id), which return to the queue to be retried ("Handling
errors for an SQS event source in Lambda"); for a stream, the identifier is the record's
sequence number and Lambda retries from the lowest one reported ("Configuring partial batch
response with DynamoDB and Lambda"; both in the Lambda developer guide).

The projector and the audit trail use this instead of Powertools' ``BatchProcessor`` only for
their cold start: importing ``aws_lambda_powertools.utilities.batch`` imports ``asyncio`` for
its async processor, ≈45 ms of a ≈50 ms budget (``make bench``, cold path rows). The behaviour
is the same: every record is attempted, a record that raises is reported, the others are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict, TypeVar


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


SQSMessage = Mapping[str, Any]  # one record of an SQS event, as Lambda delivers it


StreamRecord = Mapping[str, Any]  # one record of a DynamoDB stream event
R = TypeVar("R")


def process_sqs_batch(
    event: Mapping[str, Any], handle: Callable[[SQSMessage], None]
) -> PartialBatchResponse:
    return process_records(event["Records"], handle, lambda record: record["messageId"])


def process_records(
    records: Iterable[R], handle: Callable[[R], None], identifier: Callable[[R], str]
) -> PartialBatchResponse:
    """Call ``handle`` on every record; the ones that raise are reported by ``identifier``. The
    handler logs what failed and why: this reports, it never swallows silently."""
    failures: list[ItemFailure] = []
    for record in records:
        try:
            handle(record)
        except Exception:
            failures.append({"itemIdentifier": identifier(record)})
    return {"batchItemFailures": failures}


def stream_sequence(record: Any) -> str | None:
    """A stream record's sequence number, if it has a readable one."""
    change = record.get("dynamodb") if isinstance(record, dict) else None
    sequence = change.get("SequenceNumber") if isinstance(change, dict) else None
    return sequence if isinstance(sequence, str) and sequence else None


def process_stream_batch(
    records: list[Any],
    handle: Callable[[StreamRecord], None],
    rejected: Callable[[str | None, str], None],
) -> PartialBatchResponse:
    """``process_records`` for a DynamoDB stream batch, reported by sequence number.

    A record without a readable sequence number is passed to ``rejected`` (its event id, the
    reason) and reported under the nearest readable record before it: Lambda checkpoints at the
    lowest sequence number reported and retries everything from it, and an empty identifier
    fails the whole batch (Lambda developer guide, "Configuring partial batch response with
    DynamoDB and Lambda"). So the retry starts at that earlier record and takes the bad one in
    (handlers are idempotent, so handling the earlier one again changes nothing) — or, with none
    before it, it is reported as "": the batch is retried whole, and bisection isolates the
    record before it goes to the on-failure destination."""
    readable = [record for record in records if stream_sequence(record) is not None]
    response = process_records(readable, handle, lambda record: str(stream_sequence(record)))
    unnamed: list[ItemFailure] = []
    previous = ""
    for record in records:
        sequence = stream_sequence(record)
        if sequence is not None:
            previous = sequence
            continue
        event_id = record.get("eventID") if isinstance(record, dict) else None
        rejected(
            event_id if isinstance(event_id, str) else None,
            "dynamodb: must be an object with a SequenceNumber",
        )
        unnamed.append({"itemIdentifier": previous})
    if unnamed:
        response["batchItemFailures"] = [*response["batchItemFailures"], *unnamed]
    return response
