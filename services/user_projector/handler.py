"""SQS (fed by the UserConfirmed rule) -> User table. Reports partial batch failures."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.user_confirmed import InvalidEventError, read_user_confirmed
from services.shared.partial_batch import PartialBatchResponse, SQSMessage, process_sqs_batch
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
) -> PartialBatchResponse:
    def project_record(record: SQSMessage) -> None:
        ids = {"message_id": record["messageId"]}
        try:
            confirmed = read_user_confirmed(record["body"])
        except InvalidEventError as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        ids |= {"event_id": confirmed.id, "sub": confirmed.detail["sub"]}
        try:
            outcome = project(confirmed, store)
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

    return process_sqs_batch(event, project_record)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, context, default_store())
