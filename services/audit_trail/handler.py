"""User table stream -> Audit table; a deleted user's records redacted. Reports partial batch
failures by sequence number."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.audit_trail.logic import AuditStore, MalformedStreamRecordError, audit
from services.audit_trail.store import DynamoAuditStore
from services.shared.partial_batch import (
    PartialBatchResponse,
    StreamRecord,
    process_stream_batch,
    stream_sequence,
)

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
        ids = {"stream_event_id": record.get("eventID"), "sequence_number": stream_sequence(record)}
        try:
            outcome = audit(record, store, retention_days=retention_days)
        except MalformedStreamRecordError as exc:
            logger.warning("stream record rejected", extra={**ids, "reason": str(exc)})
            raise
        except Exception as exc:
            logger.warning("audit write failed", extra={**ids, "error": type(exc).__name__})
            raise AuditFailedError(f"{type(exc).__name__} auditing {ids}") from None
        if outcome is None:
            logger.debug("a marked write of the projector: audited when it happened", extra=ids)
            return
        written = outcome.record
        logger.info(
            "audit record written" if outcome.appended else "audit record already present",
            extra={**ids, "user_id": written.user_id, "audit_id": written.audit_id},
        )
        if outcome.redacted is not None:
            logger.info(
                "user deleted: their audit records redacted",
                extra={**ids, "user_id": written.user_id, "redacted": outcome.redacted},
            )

    # DynamoDB Streams always sends Records, each with a `dynamodb` object; an event without a
    # list of Records fails loudly.
    return process_stream_batch(event["Records"], audit_record, _rejected)


def _rejected(event_id: str | None, reason: str) -> None:
    logger.warning("stream record rejected", extra={"stream_event_id": event_id, "reason": reason})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(
        event, context, default_store(), retention_days=default_settings().retention_days
    )
