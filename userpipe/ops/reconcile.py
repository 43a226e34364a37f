"""``userpipe reconcile``: the scheduled reconcile function's job, run now from here, with
progress, a summary and orphans (items without a confirmed Cognito user — reported, never
deleted). The logic and the adapters are the function's own, reached through
``userpipe.aws.users``."""

from __future__ import annotations

from userpipe.aws.deployment import Deployment
from userpipe.aws.tables import user_ids
from userpipe.aws.users import DEFAULT_REQUESTS_PER_SECOND, Summary, publish_missing
from userpipe.errors import OperatorError
from userpipe.ops.progress import Progress


def run(
    deployment: Deployment,
    progress: Progress,
    *,
    dry_run: bool = False,
    rate: float = DEFAULT_REQUESTS_PER_SECOND,
) -> Summary:
    if rate <= 0:
        raise OperatorError(f"--rate must be above 0 (got {rate})")
    clients = deployment.clients
    pool = deployment.output("user_pool_id")
    estimated = int(
        clients.cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get(
            "EstimatedNumberOfUsers", 0
        )
    )
    with progress.bar("reading the User table's ids") as bar:
        ids = []
        for user_id in user_ids(deployment):
            ids.append(user_id)
            if len(ids) % 100 == 0:
                bar.update(len(ids))
    with progress.bar("checking Cognito's confirmed users", total=estimated or None) as bar:
        summary = publish_missing(
            deployment,
            rate=rate,
            dry_run=dry_run,
            item_ids=ids,
            on_progress=lambda so_far: bar.update(so_far.scanned),
        )
    return summary


def describe(summary: Summary, *, dry_run: bool) -> list[str]:
    verb = "would publish" if dry_run else "published"
    lines = [
        f"scanned {summary.scanned} confirmed user(s): {summary.missing} without an item; "
        f"{verb} {summary.missing - summary.unpublishable if dry_run else summary.published} "
        f"UserConfirmed (origin reconcile); {summary.failed} failed; "
        f"{len(summary.orphans or [])} orphan item(s)"
    ]
    if summary.unpublishable:
        lines.append(
            f"{summary.unpublishable} user(s) cannot make a valid event (no email, say): fix "
            "them in Cognito, then run reconcile again."
        )
    if summary.failed:
        lines.append(f"{summary.failed} event(s) could not be published: run reconcile again.")
    if summary.orphans:
        lines.append(
            "orphans (items without a confirmed Cognito user), not deleted: "
            + ", ".join(summary.orphans[:5])
            + (" …" if len(summary.orphans) > 5 else "")
        )
    if not dry_run and summary.published:
        lines.append("The projector creates their items as it receives the events.")
    return lines
