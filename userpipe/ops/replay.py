"""``userpipe replay``: send archived events (``UserConfirmed``, ``UserProfileChanged``) to the
bus again.

EventBridge replays only to the archive's source bus, in one-minute buckets of event time, in
no particular order; ``DescribeReplay``'s ``EventLastReplayedTime`` is "the time within the
specified time range associated with the last event replayed" (API reference,
``DescribeReplay``) — the progress. ``Destination.FilterArns`` limits a replay to the rules
named; without it every rule on the bus gets the events again (every subscriber's consumer
runs again). The projector creates once and applies an edit only over a lower ``_version``, so
a replay never changes an item already written; it marks its replay writes
(``contracts.replay_mark``) so that the table's stream consumers skip them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.topology import BUS, PROJECTION, ResourceNames, Subscription
from userpipe.aws.deployment import Deployment
from userpipe.aws.queues import depth, wait_until_drained
from userpipe.errors import OperatorError
from userpipe.ops.progress import Progress

RUNNING: Final = frozenset({"STARTING", "RUNNING", "CANCELLING"})
FAILED: Final = frozenset({"FAILED", "CANCELLED"})


class ReplayRefusedError(OperatorError):
    """The window asked for cannot be replayed as given."""


class ReplayFailedError(OperatorError):
    exit_code = 1

    def __init__(self, name: str, state: str, reason: str | None) -> None:
        super().__init__(f"replay {name} ended {state}{f': {reason}' if reason else ''}")
        self.state = state


class ReplayInterruptedError(OperatorError):
    """Ctrl-C while following a replay: it goes on in EventBridge; the message says how to
    follow or cancel it."""

    def __init__(self, name: str, deployment: Deployment, *, started: bool) -> None:
        lead = f"replay {name} {'continues' if started else 'may have started'} in EventBridge"
        follow = deployment.aws_command(f"events describe-replay --replay-name {name}")
        cancel = deployment.aws_command(f"events cancel-replay --replay-name {name}")
        super().__init__(f"{lead}: follow it with `{follow}`, cancel it with `{cancel}`")
        self.replay_name = name


def parse_time(value: str, option: str) -> datetime:
    """An ISO-8601 time with a zone (``Z`` or ``+hh:mm``); a date alone is midnight UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReplayRefusedError(
            f"{option} {value!r} is not an ISO-8601 time (e.g. 2026-11-28T09:30:00Z)"
        ) from None
    if len(value) == 10:  # YYYY-MM-DD
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ReplayRefusedError(f"{option} {value!r} has no time zone: add Z or +hh:mm")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def fraction(self, moment: datetime | None) -> float:
        if moment is None:
            return 0.0
        span = (self.end - self.start).total_seconds()
        return min(1.0, max(0.0, (moment - self.start).total_seconds() / span)) if span else 1.0


def window(
    *,
    start: datetime | None,
    end: datetime | None,
    archive_created: datetime,
    now: datetime,
    lag: timedelta,
    force: bool = False,
) -> Window:
    """The window to replay. ``start`` defaults to the archive's creation (nothing in it is
    older), ``end`` to ``now - lag``. A window ending within ``lag`` of now (10 minutes on AWS:
    the archive lags) is refused unless ``force``."""
    chosen_end = end or now - lag
    chosen_start = start or archive_created.replace(second=0, microsecond=0)
    if chosen_end > now:
        raise ReplayRefusedError(f"--to {chosen_end:%Y-%m-%dT%H:%M:%SZ} is in the future")
    if chosen_start >= chosen_end:
        raise ReplayRefusedError(
            f"the window is empty: --from {chosen_start:%Y-%m-%dT%H:%M:%SZ} is not before "
            f"--to {chosen_end:%Y-%m-%dT%H:%M:%SZ}"
        )
    if not force and now - chosen_end < lag:
        minutes = int(lag.total_seconds() // 60)
        raise ReplayRefusedError(
            f"the window ends less than {minutes} minutes ago: EventBridge may not have "
            f"archived the last {minutes} minutes' events yet (\"We recommend you delay "
            f'replaying archived events for {minutes} minutes", EventBridge user guide); '
            "end it earlier, or pass --force to replay what is archived so far"
        )
    return Window(chosen_start, chosen_end)


@dataclass(frozen=True)
class Replay:
    name: str
    window: Window
    subscriptions: tuple[Subscription, ...]  # whose rules receive the events
    all_consumers: bool


def receivers(deployment: Deployment, all_consumers: bool) -> tuple[Subscription, ...]:
    """Whose rules a replay reaches: the projector's, or every subscriber's on our bus the
    deployment has. A replay reaches only rules of the archive's bus ("You can replay events
    only to the event bus specified to create the archive": EventBridge API reference,
    ReplayDestination), never the default bus's, where user_sync's CloudTrail rule is."""
    if not all_consumers:
        return (PROJECTION,)
    return tuple(s for s in deployment.parts.subscriptions if s.bus == BUS.id)


def replay_name(deployment: Deployment, purpose: str, now: datetime) -> str:
    """At most 64 of ``[.-_A-Za-z0-9]`` (``StartReplay``); unique to the millisecond."""
    stamp = f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z"
    return ResourceNames(deployment.stage).of(f"{purpose}-{stamp}")[:64]


def start(
    deployment: Deployment,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    all_consumers: bool = False,
    force: bool = False,
    purpose: str = "replay",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Replay:
    """Start a replay to the projector's rule (or every rule with ``all_consumers``)."""
    events = deployment.clients.events
    archive = events.describe_archive(ArchiveName=deployment.output("archive_name"))
    moment = now()
    chosen = window(
        start=start_time,
        end=end_time,
        archive_created=archive["CreationTime"],
        now=moment,
        lag=deployment.archive_lag,
        force=force,
    )
    subscriptions = receivers(deployment, all_consumers)
    destination: Any = {"Arn": deployment.output("event_bus_arn")}
    if not all_consumers:
        destination["FilterArns"] = [deployment.declared(PROJECTION.rule_arn)]
    name = replay_name(deployment, purpose, moment)
    try:
        events.start_replay(
            ReplayName=name,
            Description=f"userpipe {purpose}"
            + ("" if all_consumers else " (the projector's rule only)"),
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=chosen.start,
            EventEndTime=chosen.end,
            Destination=destination,
        )
    except KeyboardInterrupt:
        raise ReplayInterruptedError(name, deployment, started=False) from None
    except events.exceptions.LimitExceededException as error:
        raise ReplayRefusedError(
            f"EventBridge refused the replay: {error.response['Error'].get('Message')} "
            "(at most 10 replays run at once per account and Region)"
        ) from None
    return Replay(name, chosen, subscriptions, all_consumers)


def follow(
    deployment: Deployment,
    replay: Replay,
    progress: Progress,
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Follow ``DescribeReplay`` until the replay ends; its last description. Raises
    ``ReplayFailedError`` when it ends ``FAILED`` or ``CANCELLED``."""
    events = deployment.clients.events
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with progress.bar(f"replay {replay.name}", total=100) as bar:
            while True:
                described: dict[str, Any] = dict(events.describe_replay(ReplayName=replay.name))
                state = described["State"]
                done = state == "COMPLETED"
                bar.update(
                    100
                    if done
                    else 100 * replay.window.fraction(described.get("EventLastReplayedTime")),
                    description=f"replay {replay.name} {state.lower()}",
                )
                if state not in RUNNING:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"replay {replay.name} still {state} after {timeout} s")
                sleep(deployment.poll_seconds)
    except KeyboardInterrupt:
        raise ReplayInterruptedError(replay.name, deployment, started=True) from None
    if state in FAILED:
        raise ReplayFailedError(replay.name, state, described.get("StateReason"))
    return described


@dataclass(frozen=True)
class Outcome:
    replay: Replay
    dead_lettered: int  # events the consumers failed while the replay was delivered


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    all_consumers: bool = False,
    force: bool = False,
    wait: bool = True,
    purpose: str = "replay",
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
) -> Outcome:
    """Start a replay and (with ``wait``) follow it, then wait until the receiving queues are
    drained; counts what their DLQs gained meanwhile."""
    if all_consumers:
        progress.say(
            "Every subscriber receives these events again: "
            + ", ".join(s.consumer.id for s in receivers(deployment, all_consumers))
            + " (each must be idempotent)."
        )
    sqs = deployment.clients.sqs
    dlqs_before = {
        s.id: depth(sqs, deployment.declared(s.dlq_url)).total
        for s in receivers(deployment, all_consumers)
    }
    replay = start(
        deployment,
        start_time=start_time,
        end_time=end_time,
        all_consumers=all_consumers,
        force=force,
        purpose=purpose,
    )
    progress.say(
        f"Started replay {replay.name}: events from {replay.window.start:%Y-%m-%dT%H:%M:%SZ} "
        f"to {replay.window.end:%Y-%m-%dT%H:%M:%SZ} to "
        + ("every rule" if all_consumers else "the projector's rule")
    )
    if not wait:
        return Outcome(replay, 0)
    follow(deployment, replay, progress, sleep=sleep, timeout=timeout)
    try:
        with progress.bar("waiting for the queues to drain") as bar:
            wait_until_drained(
                sqs,
                [deployment.declared(s.queue_url) for s in replay.subscriptions],
                settle_seconds=deployment.settle_seconds,
                poll_seconds=deployment.poll_seconds,
                on_depth=lambda left: bar.update(
                    0, description=f"waiting for the queues to drain ({left} left)"
                ),
                sleep=sleep,
                timeout=timeout,
            )
    except KeyboardInterrupt:
        raise OperatorError(
            f"replay {replay.name} completed; stopped waiting for the queues to drain "
            "(`userpipe status` shows them)"
        ) from None
    gained = sum(
        max(0, depth(sqs, deployment.declared(s.dlq_url)).total - dlqs_before[s.id])
        for s in replay.subscriptions
    )
    return Outcome(replay, gained)


def describe_outcome(outcome: Outcome) -> Sequence[str]:
    lines = [f"Replay {outcome.replay.name} completed; the queues are drained."]
    if outcome.dead_lettered:
        lines.append(
            f"{outcome.dead_lettered} event(s) went to a dead-letter queue meanwhile: "
            "`userpipe status` shows where, `userpipe redrive` sends them back once fixed."
        )
    return lines
