"""Cognito's confirmed users, and the confirmed users without a ``User`` item — read with the
reconcile function's own adapters and logic (``services/reconcile``), so the ``ListUsers``
filter, its paging and pacing, and the rule for "missing" are written once: for the scheduled
function, ``userpipe rebuild`` and ``userpipe reconcile`` alike. Operator commands reach them
through here; ``userpipe/ops`` imports nothing from ``services/``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from services.reconcile.logic import CognitoUser, Summary, reconcile
from services.reconcile.store import (
    DEFAULT_REQUESTS_PER_SECOND,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
)
from userpipe.aws.deployment import Deployment

__all__ = [
    "DEFAULT_REQUESTS_PER_SECOND",
    "CognitoUser",
    "Summary",
    "confirmed_users",
    "publish_missing",
]


def confirmed_users(deployment: Deployment, *, rate: float) -> Iterator[CognitoUser]:
    """Every confirmed user of the deployment's pool, at most ``rate`` ``ListUsers`` a second."""
    directory = CognitoDirectory(
        deployment.clients.cognito, deployment.output("user_pool_id"), requests_per_second=rate
    )
    for page in directory.confirmed_users():
        yield from page


def publish_missing(
    deployment: Deployment,
    *,
    rate: float,
    dry_run: bool,
    item_ids: Iterable[str],
    on_progress: Callable[[Summary], None],
) -> Summary:
    """The scheduled reconcile function's job on ``deployment``: ``UserConfirmed`` (origin
    reconcile) for each confirmed user without an item (none when ``dry_run``); orphans among
    ``item_ids`` reported."""
    clients = deployment.clients
    pool = deployment.output("user_pool_id")
    return reconcile(
        pool,
        CognitoDirectory(clients.cognito, pool, requests_per_second=rate),
        DynamoProjection(clients.dynamodb, deployment.output("user_table_name")),
        EventBridgeBatchPublisher(clients.events, deployment.output("event_bus_name")),
        dry_run=dry_run,
        item_ids=item_ids,
        on_progress=on_progress,
    )
