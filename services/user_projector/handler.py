"""SQS (fed by the UserConfirmed rule) -> User table. Reports partial batch failures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.events import InvalidEventError, parse_user_confirmed
from services.user_projector.logic import UserOfAnotherPoolError, UserStore, project
from services.user_projector.store import DynamoUserStore

logger = Logger(service="user_projector")


@dataclass(frozen=True)
class Settings:
    user_table_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(user_table_name=settings.require("USER_TABLE_NAME"))


@cache
def default_store() -> UserStore:
    return DynamoUserStore(boto3.client("dynamodb"), Settings.from_env().user_table_name)


class ProjectionFailedError(RuntimeError):
    """A record that may succeed on redelivery (e.g. throttling); SQS will retry it."""


def process_batch(
    event: dict[str, Any], context: LambdaContext | None, store: UserStore
) -> PartialItemFailureResponse:
    def project_record(record: SQSRecord) -> None:
        ids = {"message_id": record.message_id}
        try:
            envelope = parse_user_confirmed(record.body)
        except InvalidEventError as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        ids |= {"event_id": envelope.id, "sub": envelope.detail.sub}
        try:
            outcome = project(envelope, store, now_ms=time.time_ns() // 1_000_000)
        except UserOfAnotherPoolError as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        except Exception as exc:
            logger.warning("projection failed", extra={**ids, "error": type(exc).__name__})
            raise ProjectionFailedError(f"{type(exc).__name__} projecting {ids}") from None
        logger.info(
            "user created" if outcome.created else "user already projected; nothing changed",
            extra={**ids, "replay_name": outcome.replay_name},
        )

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, project_record, processor, context)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, default_store())
