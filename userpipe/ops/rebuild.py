"""``userpipe rebuild``: the User table again from the archive, into an empty table only.

The procedure, as one command: refuse a table that holds items (a rebuild creates; it never
merges or overwrites), replay every archived event — ``UserConfirmed`` and
``UserProfileChanged`` — to the projector only (``Destination.FilterArns``), wait until its
queue is drained, no item carries the replay mark (``contracts.names.REPLAY_MARK``) and the
table's stream consumers have had their turn, then compare the table with Cognito's confirmed
users and report what differs.

The event log is the truth: every change to an item is an archived event, so each rebuilt item
is an exact reproduction of the archived changes — the first item from ``UserConfirmed``
(``createdAt`` and ``_lastChangedAt`` from its ``confirmedAt``, ``_version`` 1), every profile
edit from its ``UserProfileChanged`` (the edit's own ``_version``, ``updatedAt`` and
``_lastChangedAt``). EventBridge replays in one-minute buckets, "not necessarily ... in the
exact same order" (``StartReplay``): the projector applies an edit only over a lower
``_version`` and retries one whose user is not projected yet, so the order does not matter.
What a rebuild cannot restore: users confirmed before the archive existed — ``userpipe
reconcile`` creates them (``createdAt`` = Cognito's creation date).

How every consumer tells a rebuild from new changes, so that it announces, audits and mails
nothing:

- the change publisher and the audit trail read the table's stream, where the projector's
  writes of a replayed event look like any other; the projector writes them with the replay
  mark and then removes it, and both skip those two writes
  (``contracts.replay_mark.caused_by_replay``);
- the welcome notifier is not on the replay's rule at all, and skips any event carrying
  ``replay-name`` anyway (a ``userpipe replay --all-consumers``).

Waiting on the stream consumers: nothing answers "has this Lambda read the stream to its end"
without reading the stream, and a third reader of a shard is one too many (DynamoDB: "no more
than two processes ... reading from the same streams shard at the same time"). Their last
records are the projector's mark removals, written before its queue drains; the rebuild then
gives them ``Deployment.settle_seconds`` (while it compares the table with Cognito, which they do
not touch) and counts what their on-failure queues gained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.topology import STREAM_CONSUMERS
from userpipe.aws.deployment import Deployment
from userpipe.aws.queues import depth
from userpipe.aws.tables import is_empty, marked_item_ids, user_items
from userpipe.aws.users import DEFAULT_REQUESTS_PER_SECOND, confirmed_users
from userpipe.errors import OperatorError
from userpipe.ops import replay
from userpipe.ops.progress import Progress


class TableNotEmptyError(OperatorError):
    def __init__(self, deployment: Deployment) -> None:
        table = deployment.output("user_table_name")
        if deployment.local:
            how = (
                "to rebuild the local stack's table on purpose, empty it first with "
                "`userpipe local empty-user-table`"
            )
        else:
            how = (
                "on AWS do not delete items to make room (it cannot be undone, every delete "
                "lands in the audit trail, and the API serves nobody meanwhile): restore the "
                "table with point-in-time recovery, then `userpipe replay --from <restore "
                "time>` and `userpipe reconcile` fill in what came after (see "
                "docs/operations.md)"
            )
        super().__init__(
            f"the User table {table} holds items: rebuild only fills an empty table; {how}"
        )


@dataclass
class Report:
    replay_name: str
    confirmed: int = 0  # Cognito's confirmed users
    items: int = 0
    missing: list[str] = field(default_factory=list)  # confirmed, without an item
    orphans: list[str] = field(default_factory=list)  # live items without a confirmed user
    tombstones: int = 0  # deleted users' tombstones, rebuilt from their UserDeleted
    email_differs: list[str] = field(default_factory=list)  # Cognito's email changed since
    still_marked: list[str] = field(default_factory=list)  # a replay write not cleaned up
    dead_lettered: int = 0  # the projector's DLQ and the stream consumers' on-failure queues

    @property
    def complete(self) -> bool:
        return not (self.missing or self.orphans or self.still_marked or self.dead_lettered)


def _stream_dead_letters(deployment: Deployment) -> dict[str, int]:
    sqs = deployment.clients.sqs
    return {s.id: depth(sqs, deployment.declared(s.dlq_url)).total for s in STREAM_CONSUMERS}


def wait_until_unmarked(
    deployment: Deployment,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Poll until no item carries the replay mark; the ids still marked after ``timeout``
    (a projector that failed between its two writes: the message is retried, or dead-lettered
    with the mark left behind)."""
    deadline = clock() + timeout
    while True:
        marked = sorted(marked_item_ids(deployment))
        if not marked or clock() > deadline:
            return marked
        sleep(deployment.poll_seconds)


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    rate: float = DEFAULT_REQUESTS_PER_SECOND,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    if not is_empty(deployment, deployment.output("user_table_name")):
        raise TableNotEmptyError(deployment)
    streams_before = _stream_dead_letters(deployment)
    # The window ends when the rebuild starts, not ``archive_lag`` before it: an event of the
    # last minutes may have been applied to the table before it was emptied, and only the
    # replay can give it back. So the rebuild waits until the archive holds them (what comes
    # after ``started`` the projector applies live, to the table being rebuilt).
    started, lag = now(), deployment.archive_lag.total_seconds()
    if lag and not force:
        progress.say(
            f"Waiting {lag / 60:.0f} minutes, until the archive holds every event up to "
            f"{started:%Y-%m-%dT%H:%M:%SZ} (EventBridge archives with a delay; --force does not "
            "wait, and what was not archived yet is not replayed)"
        )
        sleep(lag)
    outcome = replay.run(
        deployment,
        progress,
        end_time=started,
        force=force,
        purpose="rebuild",
        sleep=sleep,
        timeout=timeout,
    )
    report = Report(outcome.replay.name, dead_lettered=outcome.dead_lettered)
    with progress.bar("waiting until no item carries the replay mark"):
        report.still_marked = wait_until_unmarked(
            deployment, timeout=timeout or 10 * deployment.settle_seconds, sleep=sleep
        )
    # The stream consumers' turn runs while the table is compared with Cognito: the comparison
    # reads the User table and the pool, which they never write; only the count of their
    # on-failure queues waits for the turn to end.
    turn_ends = clock() + deployment.settle_seconds
    items = user_items(deployment)
    report.items = len(items)
    tombstones = {user_id for user_id, item in items.items() if item.deleted}
    report.tombstones = len(tombstones)
    seen: set[str] = set()
    with progress.bar("comparing with Cognito's confirmed users") as bar:
        for user in confirmed_users(deployment, rate=rate):
            report.confirmed += 1
            bar.update(report.confirmed)
            seen.add(user.sub)
            item = items.get(user.sub)
            if item is None:
                report.missing.append(user.sub)
                continue
            if item.email != user.attributes.get("email"):
                report.email_differs.append(user.sub)
    report.orphans = sorted(set(items) - seen - tombstones)
    with progress.bar("giving the stream consumers their turn"):
        sleep(max(0.0, turn_ends - clock()))
    report.dead_lettered += sum(
        max(0, count - streams_before[name])
        for name, count in _stream_dead_letters(deployment).items()
    )
    return report


def describe(report: Report) -> list[str]:
    lines = [
        f"Rebuilt from replay {report.replay_name}: {report.items} item(s) for "
        f"{report.confirmed} confirmed Cognito user(s). Each item is an exact reproduction of "
        "its archived changes: UserConfirmed, then every UserProfileChanged, with their "
        "createdAt, updatedAt, _version and _lastChangedAt."
    ]
    if report.missing:
        lines.append(
            f"{len(report.missing)} confirmed user(s) have no item — their UserConfirmed is not "
            "in the archive (confirmed before it existed, or in the window not replayed): "
            "`userpipe reconcile` creates them. First: " + ", ".join(report.missing[:5])
        )
    if report.tombstones:
        lines.append(
            f"{report.tombstones} deleted user(s) are tombstones again (from their UserDeleted), "
            "without personal data; none came back."
        )
    if report.orphans:
        lines.append(
            f"{len(report.orphans)} live item(s) have no confirmed Cognito user (deleted while "
            "their deletion did not reach the log). Not deleted here: `userpipe reconcile "
            "--apply` erases them. First: " + ", ".join(report.orphans[:5])
        )
    if report.email_differs:
        lines.append(
            f"{len(report.email_differs)} item(s) carry another email than Cognito's (changed "
            "while the rebuild ran): `userpipe reconcile --apply` brings them in line."
        )
    if report.still_marked:
        lines.append(
            f"{len(report.still_marked)} item(s) still carry the replay mark: the projector "
            "failed between its two writes. `userpipe status`, then `userpipe redrive`. First: "
            + ", ".join(report.still_marked[:5])
        )
    if report.dead_lettered:
        lines.append(
            f"{report.dead_lettered} event(s) or record(s) went to a dead-letter queue: "
            "`userpipe status`, then `userpipe redrive` once the cause is fixed."
        )
    return lines
