"""``userpipe rebuild``: the User table again from the archive, into an empty table only.

The procedure, as one command: refuse a table that holds items (a rebuild creates; it never
merges or overwrites), replay every archived event to the projector, wait until its queue is
drained, then compare the table with Cognito's confirmed users and report what differs.

What a rebuild restores: every user whose ``UserConfirmed`` is archived, with ``createdAt``
from the event (the original confirmation time) at ``_version`` 1. What it cannot: profile
edits (``updateUser``) are not events — point-in-time recovery restores those; users confirmed
before the archive existed — ``userpipe reconcile`` creates them (``createdAt`` = Cognito's
creation date).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from userpipe.aws.deployment import Deployment
from userpipe.aws.tables import is_empty, user_items
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
    orphans: list[str] = field(default_factory=list)  # items without a confirmed user
    email_differs: list[str] = field(default_factory=list)  # Cognito's email changed since
    not_first_version: list[str] = field(default_factory=list)  # written to during the rebuild
    dead_lettered: int = 0

    @property
    def complete(self) -> bool:
        return not (self.missing or self.orphans or self.dead_lettered)


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    rate: float = DEFAULT_REQUESTS_PER_SECOND,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
) -> Report:
    if not is_empty(deployment, deployment.output("user_table_name")):
        raise TableNotEmptyError(deployment)
    outcome = replay.run(
        deployment, progress, force=force, purpose="rebuild", sleep=sleep, timeout=timeout
    )
    report = Report(outcome.replay.name, dead_lettered=outcome.dead_lettered)
    items = user_items(deployment)
    report.items = len(items)
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
            if item.version != 1:
                report.not_first_version.append(user.sub)
    report.orphans = sorted(set(items) - seen)
    return report


def describe(report: Report) -> list[str]:
    lines = [
        f"Rebuilt from replay {report.replay_name}: {report.items} item(s) for "
        f"{report.confirmed} confirmed Cognito user(s); createdAt comes from each archived "
        "event, so it is the original confirmation time."
    ]
    if report.missing:
        lines.append(
            f"{len(report.missing)} confirmed user(s) have no item — their UserConfirmed is not "
            "in the archive (confirmed before it existed, or in the window not replayed): "
            "`userpipe reconcile` creates them. First: " + ", ".join(report.missing[:5])
        )
    if report.orphans:
        lines.append(
            f"{len(report.orphans)} item(s) have no confirmed Cognito user (deleted since; the "
            "archive still holds their event). Not deleted: review them. First: "
            + ", ".join(report.orphans[:5])
        )
    if report.email_differs:
        lines.append(
            f"{len(report.email_differs)} item(s) carry the email from confirmation, not "
            "Cognito's current one (changes after confirmation are not events)."
        )
    if report.not_first_version:
        lines.append(
            f"{len(report.not_first_version)} item(s) were edited through the API during the "
            "rebuild (_version above 1)."
        )
    if report.dead_lettered:
        lines.append(
            f"{report.dead_lettered} event(s) went to the projector's DLQ: `userpipe status`, "
            "then `userpipe redrive` once the cause is fixed."
        )
    lines.append(
        "Profile edits (name, age) are not events, so no replay brings them back: "
        "point-in-time recovery does."
    )
    return lines
