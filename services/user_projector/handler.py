"""SQS (fed by the rule on every User change: ``UserConfirmed``, ``UserProfileChanged``,
``UserEmailChanged``, ``UserDeleted``) -> the User table. Reports partial batch failures."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.adoption import read_user_adopted
from contracts.event_fields import InvalidEventError
from contracts.lifecycle import read_user_deleted, read_user_email_changed
from contracts.names import (
    USER_ADOPTED,
    USER_CONFIRMED,
    USER_DELETED,
    USER_EMAIL_CHANGED,
    USER_PROFILE_CHANGED,
)
from contracts.user_confirmed import read_user_confirmed
from contracts.user_profile_changed import read_user_profile_changed
from services.shared.partial_batch import PartialBatchResponse, SQSMessage, process_sqs_batch
from services.shared.user_keys import DynamoKeyStore
from services.user_projector.logic import (
    EarlierChangesPendingError,
    Projection,
    Sources,
    UnreadableProfileError,
    UnusableEmailError,
    UserNotProjectedYetError,
    UserOfAnotherPoolError,
    UserStore,
    VersionForkError,
    apply_adoption,
    apply_deletion,
    apply_email_change,
    apply_profile_change,
    project,
)
from services.user_projector.store import CognitoIdentity, DynamoUserStore

logger = Logger(service="user_projector")

#: What fails every time it is delivered: logged as a rejection, and left to the dead-letter queue.
REJECTED = (
    InvalidEventError,
    UserOfAnotherPoolError,
    VersionForkError,
    UnreadableProfileError,
    UnusableEmailError,
)


@dataclass(frozen=True)
class Settings:
    user_table_name: str
    keys_table_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            user_table_name=settings.require("USER_TABLE_NAME"),
            keys_table_name=settings.require("KEYS_TABLE_NAME"),
        )


@cache
def default_settings() -> Settings:
    return Settings.from_env()


@cache
def default_store() -> UserStore:
    return DynamoUserStore(boto3.client("dynamodb"), default_settings().user_table_name)


@cache
def default_sources() -> Sources:
    return Sources(
        identity=CognitoIdentity(boto3.client("cognito-idp")),
        keys=DynamoKeyStore(boto3.client("dynamodb"), default_settings().keys_table_name),
        now=time.time,
    )


class ProjectionFailedError(RuntimeError):
    """A record that may succeed on redelivery (e.g. throttling); SQS will retry it."""


def apply_message(body: str, store: UserStore, sources: Sources) -> Projection:
    """Read one message as the event its ``detail-type`` names and apply it, or raise
    ``InvalidEventError`` naming the fields (never their values)."""
    try:
        event = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        raise InvalidEventError("message: not a JSON document") from None
    detail_type = event.get("detail-type") if isinstance(event, dict) else None
    if detail_type == USER_PROFILE_CHANGED:
        return apply_profile_change(read_user_profile_changed(body), store, sources)
    if detail_type == USER_EMAIL_CHANGED:
        return apply_email_change(read_user_email_changed(body), store, sources)
    if detail_type == USER_DELETED:
        return apply_deletion(read_user_deleted(body), store, sources)
    if detail_type == USER_ADOPTED:
        return apply_adoption(read_user_adopted(body), store, sources)
    if detail_type == USER_CONFIRMED or not isinstance(event, dict):
        return project(read_user_confirmed(body), store, sources.identity)
    raise InvalidEventError(
        f"detail-type: the projector applies {USER_CONFIRMED}, {USER_PROFILE_CHANGED}, "
        f"{USER_EMAIL_CHANGED}, {USER_DELETED} and {USER_ADOPTED} only"
    )


#: What applying each event did, as a log line: (written, nothing changed).
_OUTCOMES = {
    USER_PROFILE_CHANGED: ("profile change applied", "profile change"),
    USER_EMAIL_CHANGED: ("email change applied", "email change"),
    USER_DELETED: ("tombstone written", "deletion"),
    USER_ADOPTED: ("adopted record applied", "adoption"),
}


def _done(projection: Projection) -> str:
    """The log line for what applying one event did."""
    if projection.nothing_to_write is not None:
        return f"nothing written: {projection.nothing_to_write}"
    if projection.corrected:
        return "user corrected by an earlier confirmation"
    if projection.event_type == USER_CONFIRMED:
        if not projection.written:
            return "user already projected; nothing changed"
        return "user created without an email" if projection.without_email else "user created"
    applied, kind = _OUTCOMES[projection.event_type]
    if projection.written:
        return applied
    return f"{kind} already applied or superseded; nothing changed"


def process_batch(
    event: dict[str, Any], context: LambdaContext | None, store: UserStore, sources: Sources
) -> PartialBatchResponse:
    def project_record(record: SQSMessage) -> None:
        ids = {"message_id": record["messageId"]}
        try:
            projection = apply_message(record["body"], store, sources)
        except REJECTED as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        except EarlierChangesPendingError as exc:
            logger.info(
                "earlier changes not applied yet; the change is retried",
                extra={**ids, "sub": exc.user_id, "version": exc.version, "found": exc.found},
            )
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
                "event_type": projection.event_type,
                "sub": projection.user_id,
                "version": projection.version,
                "replay_name": projection.replay_name,
                "mark_left_over": projection.mark_left_over,
            },
        )

    return process_sqs_batch(event, project_record)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, context, default_store(), default_sources())
