"""Lambda's partial batch response for an SQS batch (``ReportBatchItemFailures``), in plain Python.

Lambda deletes the messages of a batch except those listed in ``batchItemFailures`` by
``itemIdentifier`` (the message id), which return to the queue to be retried ("Handling errors
for an SQS event source in Lambda", Lambda developer guide). The projector uses this instead of
Powertools' ``BatchProcessor`` only for its cold start: importing
``aws_lambda_powertools.utilities.batch`` imports ``asyncio`` for its async processor, ≈45 ms
of the projector's ≈50 ms budget (``make bench``, cold path rows). The behaviour is the same:
every record is attempted, a record that raises is reported, the others are not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


SQSMessage = Mapping[str, Any]  # one record of an SQS event, as Lambda delivers it


def process_sqs_batch(
    event: Mapping[str, Any], handle: Callable[[SQSMessage], None]
) -> PartialBatchResponse:
    """Call ``handle`` on every record; the ones that raise are reported for redelivery. The
    handler logs what failed and why: this reports, it never swallows silently."""
    failures: list[ItemFailure] = []
    for record in event["Records"]:
        try:
            handle(record)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
