"""The scheduled reconcile (an EventBridge schedule invokes it; daily by default): publish
``UserConfirmed`` for every confirmed Cognito user without a ``User`` item. Logs counts only.
A run that could not publish everything raises, so the function's error alarm notices."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.reconcile.logic import reconcile
from services.reconcile.store import (
    DEFAULT_REQUESTS_PER_SECOND,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
)

logger = Logger(service="reconcile")


@dataclass(frozen=True)
class Settings:
    user_pool_id: str
    user_table_name: str
    event_bus_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            user_pool_id=settings.require("USER_POOL_ID"),
            user_table_name=settings.require("USER_TABLE_NAME"),
            event_bus_name=settings.require("EVENT_BUS_NAME"),
        )


class ReconcileIncompleteError(RuntimeError):
    """Some missing users could not be published (or cannot make a valid event)."""


@cache
def default_settings() -> Settings:
    return Settings.from_env()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    config = default_settings()
    summary = reconcile(
        config.user_pool_id,
        CognitoDirectory(
            boto3.client("cognito-idp"),
            config.user_pool_id,
            requests_per_second=DEFAULT_REQUESTS_PER_SECOND,
        ),
        DynamoProjection(boto3.client("dynamodb"), config.user_table_name),
        EventBridgeBatchPublisher(boto3.client("events"), config.event_bus_name),
    )
    counts = summary.as_dict()
    logger.info("reconciled", extra=counts)
    if not summary.complete:
        raise ReconcileIncompleteError(
            f"{summary.failed} event(s) not published, {summary.unpublishable} user(s) without "
            "a valid event (see the counts in the log)"
        )
    return counts
