"""The scheduled reconcile (an EventBridge schedule invokes it; daily by default): the User table
brought in line with Cognito (``services.reconcile.logic``: every kind of drift found, the
missing published, emails changed, deleted users tombstoned and their keys destroyed). Logs
counts and example ids only, and writes the counts as CloudWatch metrics (embedded metric
format) where ``userpipe status`` reads them. A run that could not repair everything raises,
so the function's error alarm notices."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.reconcile.logic import drift_metrics_emf, reconcile
from services.reconcile.store import (
    DEFAULT_REQUESTS_PER_SECOND,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
    LifecycleRepairs,
)
from services.shared.key_shredder import DynamoKeyShredder

logger = Logger(service="reconcile")


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


class ReconcileIncompleteError(RuntimeError):
    """Some drift could not be repaired (or a missing user cannot make a valid event)."""


@cache
def default_settings() -> Settings:
    return Settings.from_env()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    config = default_settings()
    dynamodb = boto3.client("dynamodb")
    started = datetime.now(UTC)
    summary = reconcile(
        config.user_pool_id,
        CognitoDirectory(
            boto3.client("cognito-idp"),
            config.user_pool_id,
            requests_per_second=DEFAULT_REQUESTS_PER_SECOND,
        ),
        DynamoProjection(dynamodb, config.user_table_name),
        EventBridgeBatchPublisher(boto3.client("events"), config.event_bus_name),
        repairs=LifecycleRepairs(
            dynamodb,
            config.user_table_name,
            config.user_pool_id,
            DynamoKeyShredder(dynamodb, config.keys_table_name),
        ),
        now=started,
    )
    # One line CloudWatch turns into the drift metrics; printed, not logged, so that it is the
    # whole line (the embedded metric format reads top-level keys).
    print(json.dumps(drift_metrics_emf(config.user_pool_id, summary, started)), file=sys.stdout)
    counts = summary.as_dict()
    logger.info("reconciled", extra={**counts, "examples": summary.examples()})
    if not summary.complete:
        refused = f"; {summary.deletions_refused}" if summary.deletions_refused else ""
        raise ReconcileIncompleteError(
            f"{summary.failed} repair(s) failed, {summary.unpublishable} user(s) without a "
            f"valid event (see the counts in the log){refused}; the next run tries again"
        )
    return counts
