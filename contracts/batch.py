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
