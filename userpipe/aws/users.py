"""Cognito's users against the ``User`` table — read and repaired with the reconcile function's
own adapters and logic (``services/reconcile``), so the ``ListUsers`` filter, its paging and
pacing, the kinds of drift and their repairs are written once: for the scheduled function,
``userpipe rebuild`` and ``userpipe reconcile`` alike; and the drift counts each run leaves for
``userpipe status`` (CloudWatch metrics: the function writes them as embedded-metric log lines,
the command with ``PutMetricData``; the local stack's emulator serves CloudWatch too). Operator
commands reach them through here; ``userpipe/ops`` imports nothing from ``services/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from services.reconcile.logic import (
    DRIFT_DIMENSION,
    DRIFT_METRICS,
    DRIFT_NAMESPACE,
    EXAMPLES,
    KINDS,
    CognitoUser,
    Summary,
    drift_values,
    reconcile,
)
from services.reconcile.store import (
    DEFAULT_REQUESTS_PER_SECOND,
    CognitoDirectory,
    DynamoProjection,
    EventBridgeBatchPublisher,
    LifecycleRepairs,
)
from services.shared.key_shredder import DynamoKeyShredder
from userpipe.aws.deployment import Deployment

__all__ = [
    "DEFAULT_REQUESTS_PER_SECOND",
    "EXAMPLES",
    "KINDS",
    "CognitoUser",
    "LastDrift",
    "Summary",
    "confirmed_users",
    "last_drift",
    "reconcile_users",
    "record_drift",
]

#: How far back ``userpipe status`` looks for the last run: the schedule is daily, so a run
#: missed twice still shows, older counts are not the table's state any more.
DRIFT_LOOKBACK: Final = timedelta(days=3)
#: The counts are high-resolution metrics, kept to the second for 3 hours (then to the minute):
#: a dry run followed at once by a real one shows as two runs, not one merged (CloudWatch
#: user guide, "High-resolution metrics"; GetMetricData: a period of 1 s only within 3 hours).
HIGH_RESOLUTION_WINDOW: Final = timedelta(hours=3)


def confirmed_users(deployment: Deployment, *, rate: float) -> Iterator[CognitoUser]:
    """Every confirmed user of the deployment's pool, at most ``rate`` ``ListUsers`` a second."""
    directory = CognitoDirectory(
        deployment.clients.cognito, deployment.output("user_pool_id"), requests_per_second=rate
    )
    for page in directory.confirmed_users():
        yield from page


def reconcile_users(
    deployment: Deployment,
    *,
    rate: float,
    dry_run: bool,
    apply: bool,
    on_progress: Callable[[Summary], None],
    allow_many_deletions: bool = False,
) -> Summary:
    """The scheduled reconcile function's job on ``deployment``: every kind of drift found;
    ``UserConfirmed`` (origin reconcile) for each missing user (none when ``dry_run``); with
    ``apply``, emails changed and deleted users tombstoned, their data keys destroyed."""
    clients = deployment.clients
    pool = deployment.output("user_pool_id")
    table = deployment.output("user_table_name")
    repairs = None
    if apply:
        keys = DynamoKeyShredder(clients.dynamodb, deployment.output("keys_table_name"))
        repairs = LifecycleRepairs(clients.dynamodb, table, pool, keys)
    return reconcile(
        pool,
        CognitoDirectory(clients.cognito, pool, requests_per_second=rate),
        DynamoProjection(clients.dynamodb, table),
        EventBridgeBatchPublisher(clients.events, deployment.output("event_bus_name")),
        dry_run=dry_run,
        repairs=repairs,
        allow_many_deletions=allow_many_deletions,
        on_progress=on_progress,
    )


def record_drift(deployment: Deployment, summary: Summary, at: datetime) -> None:
    """Leave the run's counts where ``userpipe status`` reads them (the function's own metrics)."""
    pool = deployment.output("user_pool_id")
    deployment.clients.cloudwatch.put_metric_data(
        Namespace=DRIFT_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": DRIFT_DIMENSION, "Value": pool}],
                "Timestamp": at,
                "Value": float(value),
                "Unit": "Count",
                "StorageResolution": 1,
            }
            for name, value in drift_values(summary).items()
        ],
    )


@dataclass(frozen=True)
class LastDrift:
    """The newest reconcile's counts: drift by kind, and what it could not repair."""

    at: datetime
    counts: dict[str, int]
    failed: int


def last_drift(deployment: Deployment, now: datetime) -> LastDrift | None:
    """The newest run's counts within ``DRIFT_LOOKBACK``; ``None``: no run in that time. Runs
    within one second (the last 3 hours) or one minute (before) show as one: the larger count
    of each kind."""
    recent = now - HIGH_RESOLUTION_WINDOW
    return _newest_drift(deployment, recent, now + timedelta(seconds=1), 1) or _newest_drift(
        deployment, now - DRIFT_LOOKBACK, recent, 60
    )


def _newest_drift(
    deployment: Deployment, start: datetime, end: datetime, period: int
) -> LastDrift | None:
    pool = deployment.output("user_pool_id")
    queries = [
        {
            "Id": f"m{index}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": DRIFT_NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": DRIFT_DIMENSION, "Value": pool}],
                },
                "Period": period,
                "Stat": "Maximum",
            },
        }
        for index, name in enumerate(DRIFT_METRICS)
    ]
    answer = deployment.clients.cloudwatch.get_metric_data(
        MetricDataQueries=queries,  # type: ignore[arg-type]
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampDescending",
    )
    by_name = {DRIFT_METRICS[int(r["Id"][1:])]: r for r in answer.get("MetricDataResults", [])}
    newest = max(
        (stamp for result in by_name.values() for stamp in result.get("Timestamps", [])),
        default=None,
    )
    if newest is None:
        return None
    values: dict[str, int] = {}
    for name in DRIFT_METRICS:
        result = by_name.get(name, {})
        pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
        values[name] = next((int(value) for stamp, value in pairs if stamp == newest), 0)
    return LastDrift(
        at=newest.astimezone(UTC),
        counts={kind: values[kind] for kind in KINDS},
        failed=values["failed"],
    )
