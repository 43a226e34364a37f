"""``userpipe status``: is anything stuck? Queue and DLQ depths, table and user counts, the
archive, the last replays, the last reconcile's drift, alarms — and one verdict, ``OK`` or
``NEEDS ATTENTION: <why>``.

Counts come from the services' own summaries, which on AWS are approximate: DynamoDB's
``ItemCount`` is refreshed about every six hours (``DescribeTable``), Cognito's
``EstimatedNumberOfUsers`` counts users in every state, the archive's ``EventCount`` and
``SizeBytes`` "have a reconciliation period of 24 hours" (EventBridge user guide). So counts
inform; the verdict rests on what is exact enough to act on: dead-letter queues holding
messages, alarms in ALARM, the archive not enabled, the last replay failed, the last reconcile
left drift it could not repair, the pool's PostConfirmation trigger not userpipe's (sign-ups
would make no record) or no pre token generation trigger at all. The reconcile's counts are
CloudWatch metrics each run writes (``userpipe.aws.users``: the scheduled function and
``userpipe reconcile`` alike), read here.

The triggers matter most on a pool the stack does not own (``-c userPoolId``): CloudFormation
cannot attach them there, ``userpipe attach-triggers`` does, and this is the check it was done.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.topology import CONFIRM_TRIGGER, ResourceNames
from userpipe.aws.dead_letters import peek, summary
from userpipe.aws.deployment import Deployment
from userpipe.aws.queues import Depth, depth
from userpipe.aws.users import last_drift


@dataclass(frozen=True)
class QueueState:
    name: str
    role: str  # "queue" (a subscription's) or "dlq"
    visible: int
    in_flight: int
    oldest_seconds: float | None = None  # DLQs holding messages only
    #: Why its messages were dead-lettered (DLQs holding messages, local stack); ``None``:
    #: not looked at — on AWS a look is a receive, so ``redrive --show`` does it on request.
    reasons: tuple[str, ...] | None = None
    missing: bool = False  # the queue does not exist


@dataclass(frozen=True)
class ReplayState:
    name: str
    state: str
    started: str
    reason: str | None = None


POST_CONFIRMATION = "PostConfirmation"
PRE_TOKEN_GENERATION = "PreTokenGeneration"  # noqa: S105 - a trigger's name


@dataclass(frozen=True)
class TriggerState:
    """One of the pool's triggers userpipe attaches: which function the pool names for it."""

    name: str  # POST_CONFIRMATION or PRE_TOKEN_GENERATION
    attached: str | None  # the function's ARN in the pool's LambdaConfig; None: none
    ours: bool  # it is this stage's confirm trigger


def confirm_trigger_arn(pool_arn: str, stage: str) -> str:
    """This stage's confirm trigger as a pool names it: in the pool's partition, Region and
    account (the stack deploys its functions beside the pool: ``infra.config`` refuses a pool
    in another Region), named after the stage. The local stack names its functions alike."""
    _, partition, _, region, account, _ = pool_arn.split(":", 5)
    name = ResourceNames(stage).function(CONFIRM_TRIGGER)
    return f"arn:{partition}:lambda:{region}:{account}:function:{name}"


def pre_token_generation_arn(lambda_config: dict[str, Any]) -> str | None:
    """The pre token generation function: ``PreTokenGenerationConfig.LambdaArn``, else the
    legacy ``PreTokenGeneration`` (the API requires both to be equal when both are set:
    ``LambdaConfigType`` in botocore's cognito-idp model)."""
    config = lambda_config.get("PreTokenGenerationConfig") or {}
    found = config.get("LambdaArn") or lambda_config.get(PRE_TOKEN_GENERATION)
    return str(found) if found else None


def same_function(arn: str | None, other: str) -> bool:
    """The same function, whatever the qualifier (``:$LATEST``, an alias) after its name."""
    return arn is not None and arn.split(":")[:7] == other.split(":")[:7]


def trigger_states(lambda_config: dict[str, Any], ours: str) -> tuple[TriggerState, ...]:
    attached = {
        POST_CONFIRMATION: lambda_config.get(POST_CONFIRMATION),
        PRE_TOKEN_GENERATION: pre_token_generation_arn(lambda_config),
    }
    return tuple(
        TriggerState(name, arn, same_function(arn, ours)) for name, arn in attached.items()
    )


def attach_command(deployment: Deployment) -> str:
    """``userpipe attach-triggers`` with this deployment's target options."""
    if deployment.local:
        return "userpipe attach-triggers --local"
    stack = deployment.name.removeprefix("stack ")
    region = deployment.outputs.get("region")
    return f"userpipe attach-triggers --stack {stack}" + (f" --region {region}" if region else "")


@dataclass
class Status:
    deployment: str
    counts_exact: bool
    queues: list[QueueState] = field(default_factory=list)
    tables: dict[str, int | None] = field(default_factory=dict)  # None: no such table
    cognito_users: int = 0  # every state, not only confirmed
    #: The pool's triggers userpipe attaches, by name: ``{"attached": ARN | None, "ours": bool}``.
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    archive: dict[str, Any] = field(default_factory=dict)
    replays: list[ReplayState] = field(default_factory=list)  # newest first
    #: The newest reconcile's drift counts by kind, when, and what it could not repair
    #: (``{"at", "drift", "failed"}``); ``None``: no run in the last days.
    reconcile: dict[str, Any] | None = None
    alarms: list[str] | None = None  # in ALARM; None: the deployment has no alarms (local)
    left_out: list[str] = field(default_factory=list)  # optional subscriptions it does not have
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return "OK" if self.ok else f"NEEDS ATTENTION: {'; '.join(self.problems)}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "verdict": self.verdict}


def collect(deployment: Deployment, *, now: datetime | None = None) -> Status:
    moment = now or datetime.now(UTC)
    status = Status(deployment.name, counts_exact=deployment.local)
    status.left_out = [subscription.id for subscription in deployment.parts.left_out]
    _queues(deployment, status, moment)
    _counts(deployment, status)
    _archive_and_replays(deployment, status)
    _reconcile(deployment, status, moment)
    _alarms(deployment, status)
    return status


def _queues(deployment: Deployment, status: Status, now: datetime) -> None:
    sqs = deployment.clients.sqs
    parts = deployment.parts
    for subscription in parts.subscriptions:
        url = deployment.declared(subscription.queue_url)
        found = _depth(sqs, url, status)
        if found is None:
            status.queues.append(QueueState(_name(url), "queue", 0, 0, missing=True))
            continue
        status.queues.append(
            QueueState(_name(url), "queue", found.visible, found.in_flight + found.delayed)
        )
    for declared in parts.dead_letters:
        url = deployment.declared(declared.url)
        found = _depth(sqs, url, status)
        if found is None:
            status.queues.append(QueueState(_name(url), "dlq", 0, 0, missing=True))
            continue
        oldest: float | None = None
        reasons: tuple[str, ...] | None = None
        if found.total and deployment.local:
            # The emulator publishes no SQS metrics: look at the messages without taking
            # them, which also reads why they are here (nothing on AWS: see QueueState).
            letters = peek(deployment, declared)
            sent = [letter.sent for letter in letters if letter.sent is not None]
            oldest = (now - min(sent)).total_seconds() if sent else None
            reasons = summary(letters)
        elif found.total:
            oldest = _oldest_seconds(deployment, url, now)
        status.queues.append(
            QueueState(
                _name(url), "dlq", found.visible, found.in_flight + found.delayed, oldest, reasons
            )
        )
        if found.total:
            age = f", oldest {describe_age(oldest)}" if oldest is not None else ""
            status.problems.append(
                f"{declared.name} holds {found.total} message(s){age} — "
                "`userpipe redrive --show` says why, `userpipe redrive` sends them back"
            )


def _depth(sqs: Any, url: str, status: Status) -> Depth | None:
    """The queue's depth; ``None`` (and a problem) when the queue does not exist."""
    try:
        return depth(sqs, url)
    except sqs.exceptions.QueueDoesNotExist:
        status.problems.append(f"queue {_name(url)} does not exist")
        return None


def _oldest_seconds(deployment: Deployment, url: str, now: datetime) -> float | None:
    # On AWS, receiving to look would count as a receive, and a standard queue moves a message
    # received 3 or more times without a delete to its back (SQS developer guide, "Available
    # CloudWatch metrics"). CloudWatch's ApproximateAgeOfOldestMessage reads without touching
    # it; for a DLQ it counts from when the message was moved there (SQS developer guide,
    # "Setting-up dead-letter queue retention").
    points = deployment.clients.cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": _name(url)}],
        StartTime=now - timedelta(minutes=15),
        EndTime=now,
        Period=300,
        Statistics=["Maximum"],
    )["Datapoints"]
    return max((float(p["Maximum"]) for p in points), default=None)


def _counts(deployment: Deployment, status: Status) -> None:
    dynamodb = deployment.clients.dynamodb
    for key in ("user_table_name", "audit_table_name"):
        table = deployment.output(key)
        try:
            described = dynamodb.describe_table(TableName=table)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            status.tables[table] = None
            status.problems.append(f"table {table} does not exist")
            continue
        status.tables[table] = int(described["ItemCount"])
    pool = deployment.clients.cognito.describe_user_pool(
        UserPoolId=deployment.output("user_pool_id")
    )["UserPool"]
    status.cognito_users = int(pool.get("EstimatedNumberOfUsers", 0))
    _triggers(deployment, status, dict(pool))


def _triggers(deployment: Deployment, status: Status, pool: dict[str, Any]) -> None:
    """Is the pool's PostConfirmation this stage's confirm trigger, and is there a pre token
    generation trigger? A foreign pre token generation trigger is kept by ``attach-triggers``
    (it is someone's token customization): reported, not a problem — admin-created users then
    arrive through reconcile only."""
    ours = confirm_trigger_arn(str(pool["Arn"]), deployment.stage)
    command = attach_command(deployment)
    for state in trigger_states(pool.get("LambdaConfig") or {}, ours):
        status.triggers[state.name] = {"attached": state.attached, "ours": state.ours}
        if state.ours:
            continue
        if state.name == POST_CONFIRMATION:
            now = f"is {state.attached}" if state.attached else "is not set"
            status.problems.append(
                f"the pool's PostConfirmation trigger {now}, not userpipe's confirm trigger: "
                f"sign-ups get no record until `{command}` attaches it"
            )
        elif state.attached is None:
            status.problems.append(
                "the pool has no pre token generation trigger: admin-created users get a "
                f"record only from reconcile until `{command}` attaches it"
            )


def _archive_and_replays(deployment: Deployment, status: Status) -> None:
    events = deployment.clients.events
    archive = events.describe_archive(ArchiveName=deployment.output("archive_name"))
    status.archive = {
        "name": archive["ArchiveName"],
        "state": archive["State"],
        "events": int(archive.get("EventCount", 0)),
        "bytes": int(archive.get("SizeBytes", 0)),
    }
    if archive["State"] != "ENABLED":
        status.problems.append(f"the archive is {archive['State']}: events are not being kept")
    replays = events.list_replays(EventSourceArn=archive["ArchiveArn"]).get("Replays", [])
    replays = sorted(replays, key=lambda r: r.get("ReplayStartTime") or datetime.min, reverse=True)
    for replay in replays[:5]:
        started = replay.get("ReplayStartTime")
        status.replays.append(
            ReplayState(
                replay["ReplayName"],
                replay["State"],
                started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if started else "",
                replay.get("StateReason"),
            )
        )
    if status.replays and status.replays[0].state == "FAILED":
        status.problems.append(f"the last replay, {status.replays[0].name}, FAILED")


def _reconcile(deployment: Deployment, status: Status, now: datetime) -> None:
    last = last_drift(deployment, now)
    if last is None:
        return
    status.reconcile = {
        "at": last.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "drift": last.counts,
        "failed": last.failed,
    }
    if last.failed:
        status.problems.append(
            f"the last reconcile could not repair {last.failed} drift(s) — "
            "`userpipe reconcile --dry-run` lists them"
        )


def _alarms(deployment: Deployment, status: Status) -> None:
    topic = deployment.outputs.get("alarm_topic_arn")
    if topic is None:
        return  # the local stack creates no CloudWatch alarms
    paginator = deployment.clients.cloudwatch.get_paginator("describe_alarms")
    status.alarms = sorted(
        alarm["AlarmName"]
        for page in paginator.paginate(StateValue="ALARM")
        for alarm in page.get("MetricAlarms", [])
        if topic in alarm.get("AlarmActions", [])
    )
    status.problems += [f"alarm {name} is in ALARM" for name in status.alarms]


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def describe_age(seconds: float | None) -> str:
    """``95 s``, ``12 min``, ``3.5 h``; nothing for no age."""
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
