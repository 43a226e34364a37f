"""User table stream -> Audit table. Reports partial batch failures by sequence number."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.batch import ItemFailure, PartialBatchResponse, StreamRecord, process_records
from services.audit_trail.logic import AuditStore, MalformedStreamRecordError, audit
from services.audit_trail.store import DynamoAuditStore

logger = Logger(service="audit_trail")


@dataclass(frozen=True)
class Settings:
    audit_table_name: str
    retention_days: int | None  # None: audit records never expire

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            audit_table_name=settings.require("AUDIT_TABLE_NAME"),
            retention_days=settings.optional_positive_int("AUDIT_RETENTION_DAYS"),
        )


@cache
def default_settings() -> Settings:
    return Settings.from_env()


@cache
def default_store() -> AuditStore:
    return DynamoAuditStore(boto3.client("dynamodb"), default_settings().audit_table_name)


class AuditFailedError(RuntimeError):
    """A record that may succeed when the stream redelivers it."""


def process_batch(
    event: dict[str, Any],
    context: LambdaContext | None,
    store: AuditStore,
    *,
    retention_days: int | None = None,
) -> PartialBatchResponse:
    def audit_record(record: StreamRecord) -> None:
        ids = {"stream_event_id": record.get("eventID"), "sequence_number": _sequence(record)}
        try:
            written, appended = audit(record, store, retention_days=retention_days)
        except MalformedStreamRecordError as exc:
            logger.warning("stream record rejected", extra={**ids, "reason": str(exc)})
            raise
        except Exception as exc:
            logger.warning("audit write failed", extra={**ids, "error": type(exc).__name__})
            raise AuditFailedError(f"{type(exc).__name__} auditing {ids}") from None
        logger.info(
            "audit record written" if appended else "audit record already present",
            extra={**ids, "user_id": written.user_id, "audit_id": written.audit_id},
        )

    # DynamoDB Streams always sends Records, each with a `dynamodb` object; an event without a
    # list of Records fails loudly. A record Lambda could not name by sequence number is set
    # aside so it fails alone, reported under the nearest readable record before it.
    records = event["Records"]
    readable = [record for record in records if _sequence(record) is not None]
    response = process_records(readable, audit_record, lambda record: str(_sequence(record)))
    unnamed = _unnamed_failures(records)
    if unnamed:
        response["batchItemFailures"] = [*response["batchItemFailures"], *unnamed]
    return response


def _sequence(record: Any) -> str | None:
    """The record's sequence number, if it has a readable one."""
    change = record.get("dynamodb") if isinstance(record, dict) else None
    sequence = change.get("SequenceNumber") if isinstance(change, dict) else None
    return sequence if isinstance(sequence, str) and sequence else None


def _unnamed_failures(records: list[Any]) -> list[ItemFailure]:
    """Failures for records without a readable sequence number, logged with the reason.

    Lambda checkpoints at the lowest sequence number reported and retries everything from it;
    an empty identifier fails the whole batch (Lambda developer guide, "Configuring partial
    batch response with DynamoDB and Lambda"). So such a record is reported under the nearest
    readable record before it — the retry starts there and takes it in, and re-auditing that
    earlier record writes nothing new — or, with none before it, as "": the batch is retried
    whole, and bisection isolates the record before it goes to the on-failure destination."""
    failures: list[ItemFailure] = []
    previous = ""
    for record in records:
        sequence = _sequence(record)
        if sequence is not None:
            previous = sequence
            continue
        event_id = record.get("eventID") if isinstance(record, dict) else None
        logger.warning(
            "stream record rejected",
            extra={
                "stream_event_id": event_id if isinstance(event_id, str) else None,
                "reason": "dynamodb: must be an object with a SequenceNumber",
            },
        )
        failures.append({"itemIdentifier": previous})
    return failures


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(
        event, context, default_store(), retention_days=default_settings().retention_days
    )
