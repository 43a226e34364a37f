"""``userpipe reconcile``: the scheduled reconcile function's job, run now from here, with
progress and a summary: every kind of drift between Cognito and the User table
(``services.reconcile.logic``), the missing users' ``UserConfirmed`` published (unless
``--dry-run``), emails changed and deleted users tombstoned only with ``--apply``. The run's
counts are left where ``userpipe status`` reads them. The logic and the adapters are the
function's own, reached through ``userpipe.aws.users``."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from userpipe.aws.deployment import Deployment
from userpipe.aws.users import (
    DEFAULT_REQUESTS_PER_SECOND,
    EXAMPLES,
    Summary,
    reconcile_users,
    record_drift,
)
from userpipe.errors import OperatorError
from userpipe.ops.progress import Progress

#: What each kind of drift is, and what ``--apply`` does about it (for the summary's lines).
DRIFT: dict[str, tuple[str, str]] = {
    "missing": ("confirmed user(s) without an item", "UserConfirmed (origin reconcile)"),
    "email": ("item(s) whose email is not Cognito's", "email change(s)"),
    "deleted": ("item(s) whose user Cognito no longer has", "tombstone(s), keys destroyed"),
    "foreignPool": ("item(s) of another user pool", ""),
}


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    dry_run: bool = False,
    apply: bool = False,
    allow_many_deletions: bool = False,
    rate: float = DEFAULT_REQUESTS_PER_SECOND,
) -> Summary:
    if rate <= 0:
        raise OperatorError(f"--rate must be above 0 (got {rate})")
    if dry_run and apply:
        raise OperatorError("choose --dry-run (change nothing) or --apply (repair), not both")
    if allow_many_deletions and not apply:
        raise OperatorError("--allow-many-deletions goes with --apply")
    clients = deployment.clients
    pool = deployment.output("user_pool_id")
    estimated = int(
        clients.cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get(
            "EstimatedNumberOfUsers", 0
        )
    )
    started = datetime.now(UTC)
    with progress.bar("checking Cognito's users, then the User table's items") as bar:
        summary = reconcile_users(
            deployment,
            rate=rate,
            dry_run=dry_run,
            apply=apply,
            allow_many_deletions=allow_many_deletions,
            on_progress=lambda so_far: bar.update(
                so_far.scanned + so_far.items, total=estimated or None
            ),
        )
    try:
        record_drift(deployment, summary, started)
    except (ClientError, BotoCoreError) as error:
        progress.say(f"the counts were not recorded for `userpipe status` ({error})")
    return summary


def describe(summary: Summary) -> list[str]:
    """The summary: one line per kind of drift (ids of up to ``EXAMPLES``), then what to do."""
    lines = [
        f"read {summary.scanned} Cognito user(s) and {summary.items} item(s)"
        + (" (dry run: nothing changed)" if summary.dry_run else "")
    ]
    for kind, drift in summary.drift.items():
        what, repair = DRIFT[kind]
        line = f"{kind}: {drift.found} {what}"
        if kind == "missing" and not summary.dry_run:
            line += f"; published {drift.repaired} {repair}"
        elif repair and summary.applied:
            line += f"; {drift.repaired} {repair}"
        if drift.failed:
            line += f"; {drift.failed} failed"
        if drift.examples:
            more = " …" if drift.found > len(drift.examples) else ""
            line += f" — e.g. {', '.join(drift.examples)}{more}"
        lines.append(line)
    found = summary.drift
    if summary.unpublishable:
        lines.append(
            f"{summary.unpublishable} missing user(s) cannot make a valid event: fix them in "
            "Cognito, then run reconcile again."
        )
    if summary.deletions_refused:
        lines.append(
            f"no deleted user was tombstoned: {summary.deletions_refused} (--allow-many-deletions)."
        )
    if summary.failed:
        lines.append(f"{summary.failed} repair(s) failed: run reconcile again.")
    if not summary.applied and (found["email"].found or found["deleted"].found):
        lines.append("`userpipe reconcile --apply` changes the emails and tombstones the deleted.")
    if found["foreignPool"].found:
        lines.append(
            "items of another user pool are reported only: this deployment never changes them."
        )
    if not summary.dry_run and found["missing"].repaired:
        lines.append("The projector creates their items as it receives the events.")
    return lines


__all__ = ["EXAMPLES", "describe", "run"]
