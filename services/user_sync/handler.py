"""SQS (fed by the default bus's rule on Cognito's user lifecycle calls, as CloudTrail reports
them) -> one user's reconcile each. Reports partial batch failures: a record that may succeed
later (Cognito throttling, a replay's write in flight, a failed publish) is retried alone; an
event that can never be synced (not this pool's, no sub, not JSON) is logged and dropped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.shared.cognito_users import CognitoThrottledError
from services.shared.key_shredder import DynamoKeyShredder
from services.shared.lifecycle import ReplayInFlightError
from services.shared.partial_batch import PartialBatchResponse, SQSMessage, process_sqs_batch
from services.user_sync.logic import NotOurs, Ports, read_call, sync_user
from services.user_sync.store import (
    CognitoDirectory,
    DynamoUserItems,
    EventBridgePublisher,
)

logger = Logger(service="user_sync")


@dataclass(frozen=True)
class Settings:
    user_pool_id: str
    user_table_name: str
    keys_table_name: str
    event_bus_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            user_pool_id=settings.require("USER_POOL_ID"),
            user_table_name=settings.require("USER_TABLE_NAME"),
            keys_table_name=settings.require("KEYS_TABLE_NAME"),
            event_bus_name=settings.require("EVENT_BUS_NAME"),
        )


@dataclass(frozen=True)
class UserSync:
    """What one cold start builds: the pool it syncs and the ports of its reconcile."""

    user_pool_id: str
    ports: Ports


@cache
def default_sync() -> UserSync:
    config = Settings.from_env()
    dynamo = boto3.client("dynamodb")
    return UserSync(
        config.user_pool_id,
        Ports(
            directory=CognitoDirectory(boto3.client("cognito-idp"), config.user_pool_id),
            items=DynamoUserItems(dynamo, config.user_table_name),
            keys=DynamoKeyShredder(dynamo, config.keys_table_name),
            publisher=EventBridgePublisher(boto3.client("events"), config.event_bus_name),
        ),
    )


class SyncFailedError(RuntimeError):
    """A record that may succeed on redelivery; SQS will retry it."""


def _now() -> datetime:
    return datetime.now(UTC)


def process_batch(
    event: dict[str, Any],
    context: LambdaContext | None,
    sync: UserSync,
    clock: Callable[[], datetime] = _now,
) -> PartialBatchResponse:
    def sync_record(record: SQSMessage) -> None:
        ids: dict[str, Any] = {"message_id": record["messageId"]}
        call = read_call(record["body"], sync.user_pool_id)
        if isinstance(call, NotOurs):
            logger.info(
                "event skipped: not ours to sync",
                extra={
                    **ids,
                    "reason": call.reason,
                    "event_name": call.event_name,
                    "event_pool": call.user_pool_id,
                },
            )
            return
        ids |= {"sub": call.sub, "event_name": call.event_name}
        try:
            synced = sync_user(call.sub, call.user_pool_id, sync.ports, clock())
        except (CognitoThrottledError, ReplayInFlightError) as exc:
            logger.info("user not synced yet; retried", extra={**ids, "reason": str(exc)})
            raise
        except Exception as exc:
            logger.warning("sync failed", extra={**ids, "error": type(exc).__name__})
            raise SyncFailedError(f"{type(exc).__name__} syncing {ids}") from None
        logger.info(
            f"user synced: {synced.action}",
            extra={
                **ids,
                "outcome": synced.outcome,
                "key_destroyed": synced.key_destroyed,
                "reason": synced.reason,
                "event_id": synced.event_id,
            },
        )

    return process_sqs_batch(event, sync_record)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, context, default_sync())
