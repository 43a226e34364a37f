"""SQS (fed by the rule on every User change: ``UserConfirmed``, ``UserProfileChanged``) -> the
User table. Reports partial batch failures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.event_fields import InvalidEventError
from contracts.names import USER_CONFIRMED, USER_PROFILE_CHANGED
from contracts.user_confirmed import read_user_confirmed
from contracts.user_profile_changed import read_user_profile_changed
from services.shared.partial_batch import PartialBatchResponse, SQSMessage, process_sqs_batch
from services.user_projector.logic import (
    Projection,
    UserNotProjectedYetError,
    UserOfAnotherPoolError,
    UserStore,
    VersionForkError,
    apply_change,
    project,
)
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


def apply_message(body: str, store: UserStore) -> Projection:
    """Read one message as the event its ``detail-type`` names and apply it, or raise
    ``InvalidEventError`` naming the fields (never their values)."""
    try:
        event = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        raise InvalidEventError("message: not a JSON document") from None
    detail_type = event.get("detail-type") if isinstance(event, dict) else None
    if detail_type == USER_PROFILE_CHANGED:
        return apply_change(read_user_profile_changed(body), store)
    if detail_type == USER_CONFIRMED or not isinstance(event, dict):
        return project(read_user_confirmed(body), store)
    raise InvalidEventError(
        f"detail-type: the projector applies {USER_CONFIRMED} and {USER_PROFILE_CHANGED} only"
    )


def _done(projection: Projection) -> str:
    """The log line for what applying one event did."""
    if projection.corrected:
        return "user corrected by an earlier confirmation"
    if projection.version == 1:  # UserConfirmed: the first version
        return "user created" if projection.written else "user already projected; nothing changed"
    if projection.written:
        return "profile change applied"
    return "profile change already applied or superseded; nothing changed"


def process_batch(
    event: dict[str, Any], context: LambdaContext | None, store: UserStore
) -> PartialBatchResponse:
    def project_record(record: SQSMessage) -> None:
        ids = {"message_id": record["messageId"]}
        try:
            projection = apply_message(record["body"], store)
        except (InvalidEventError, UserOfAnotherPoolError, VersionForkError) as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        except UserNotProjectedYetError as exc:
            logger.info(
                "user not projected yet; the change is retried",
                extra={**ids, "sub": exc.user_id, "version": exc.version},
            )
            raise
        except Exception as exc:
            logger.warning("projection failed", extra={**ids, "error": type(exc).__name__})
            raise ProjectionFailedError(f"{type(exc).__name__} projecting {ids}") from None
        logger.info(
            _done(projection),
            extra={
                **ids,
                "sub": projection.user_id,
                "version": projection.version,
                "replay_name": projection.replay_name,
                "mark_left_over": projection.mark_left_over,
            },
        )

    return process_sqs_batch(event, project_record)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, context, default_store())
