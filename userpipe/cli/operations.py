"""The operator commands on the command line: ``replay``, ``rebuild``, ``reconcile``,
``adopt``, ``redrive``, ``status``, ``outputs``. Each names its target (``--local`` or
``--stack NAME``); progress goes to stderr, results to stdout (``--json`` where a machine reads
them); an error is one line unless ``--debug``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from rich.console import Console
from rich.table import Table

from userpipe.aws.clients import ATTEMPTS
from userpipe.aws.deployment import DEFAULT_OUTPUTS, Deployment, from_local, from_stack
from userpipe.aws.users import DEFAULT_REQUESTS_PER_SECOND, EXAMPLES
from userpipe.cli.register import Run, register
from userpipe.errors import OperatorError, UserpipeError
from userpipe.ops.progress import Progress, RichProgress

RATE = DEFAULT_REQUESTS_PER_SECOND
#: ``userpipe adopt``'s defaults (``userpipe.ops.adopt``), here so ``--help`` loads no more.
ADOPT_RATE = 25.0
ADOPT_WAIT = 300.0
#: ``userpipe outputs --format``: Amplify JS v6's ResourcesConfig (Gen 1 style) or Gen 2's
#: amplify_outputs.json (``userpipe.amplify``).
OUTPUT_FORMATS = ("gen1", "gen2")
#: What Ctrl-C leaves behind, per command (a replay already started says so itself).
INTERRUPTED = {
    "replay": "interrupted",
    "rebuild": "interrupted; the table holds what was projected so far: rebuild again only "
    "into an empty table",
    "reconcile": "interrupted; what was published or repaired stays so: run reconcile again, "
    "it repairs only what still drifts",
    "redrive": "interrupted; a message leaves a DLQ only after it was re-delivered: run "
    "redrive again for the rest",
    "status": "interrupted",
    "outputs": "interrupted",
    "adopt": "interrupted; what was published stays so and lands: run adopt again, it publishes "
    "only what the table does not hold yet",
    "verify": "interrupted after verify's cleanup: the line above says what became of its user",
}

#: An operator command: what it does with the deployment its arguments name.
OnDeployment = Callable[[Deployment, argparse.Namespace, Progress, Console], int]


def target_parser() -> argparse.ArgumentParser:
    """The options every operator command takes to name its deployment (a parent parser)."""
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_argument_group("target (one of)")
    where.add_argument(
        "--local",
        action="store_true",
        help=f"the local stack, from its outputs file (--outputs, else $USERPIPE_OUTPUTS, "
        f"else {DEFAULT_OUTPUTS})",
    )
    where.add_argument("--outputs", type=Path, help="the local stack's outputs file")
    where.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack")
    where.add_argument("--region", help="its Region (default: your AWS configuration's)")
    where.add_argument("--profile", help="the AWS profile to use")
    target.add_argument("--debug", action="store_true", help="show tracebacks")
    return target


def add_commands(commands: Any) -> None:
    target = target_parser()

    def command(
        name: str, run: OnDeployment, summary: str, description: str
    ) -> argparse.ArgumentParser:
        parser = register(
            commands,
            name,
            on_deployment(run),
            parents=[target],
            help=summary,
            description=description,
        )
        parser.set_defaults(error_prefix=f"userpipe {name}")
        return parser

    replay = command(
        "replay",
        _replay,
        "replay archived events (UserConfirmed and every change) to the projector",
        "Start an EventBridge replay from the archive to the bus, limited to the projector's "
        "rule unless --all-consumers. The projector creates once and applies an edit only over "
        "a lower _version, so a replay never changes an item it has already written; its "
        "replay writes are marked, and the audit trail and change publisher skip them. On AWS "
        "a window ending less than 10 minutes ago is refused (the archive lags) unless --force. "
        "With --wait, follow the replay, then wait until the receiving queues are drained; "
        "exit 1 if it ends FAILED or CANCELLED.",
    )
    replay.add_argument("--from", dest="start", metavar="ISO", help="default: the archive's start")
    replay.add_argument("--to", dest="end", metavar="ISO", help="default: now (AWS: 10 min ago)")
    replay.add_argument(
        "--all-consumers",
        action="store_true",
        help="replay to every subscriber's rule, not only the projector's",
    )
    replay.add_argument("--wait", action="store_true", help="follow it until delivered")
    replay.add_argument("--force", action="store_true", help="allow a window ending < 10 min ago")

    rebuild = command(
        "rebuild",
        _rebuild,
        "rebuild the User table from the archive (into an empty table only)",
        "Refuse a User table that holds items; replay every archived event (UserConfirmed, "
        "UserProfileChanged, UserEmailChanged, UserDeleted, UserAdopted) to the projector only; "
        "wait until its queue is drained and no item "
        "carries the replay mark; compare with Cognito's confirmed users and report what "
        "differs. Each item is an exact reproduction of its archived changes (createdAt, "
        "updatedAt, _version, _lastChangedAt); no audit record, subscription message or "
        "welcome mail comes of it. Exit 1 if users are missing, items have no Cognito user, "
        "items still carry the mark, or events were dead-lettered.",
    )
    rebuild.add_argument("--rate", type=_positive, default=RATE, help="ListUsers calls a second")
    rebuild.add_argument("--force", action="store_true", help="replay up to now (see replay)")

    reconcile = command(
        "reconcile",
        _reconcile,
        "bring the User table in line with Cognito: missing users, emails, deletions",
        "Page through the pool's users (ListUsers, rate-limited), look each up in the User "
        "table (BatchGetItem), then scan the table. Drift, by kind: missing (a confirmed user "
        "without an item: UserConfirmed, origin reconcile, is published unless --dry-run), "
        "email (an item's email is not Cognito's: changed with --apply), deleted (an item "
        "whose user Cognito no longer has: tombstoned and the user's data key destroyed with "
        "--apply; more than 5% of the pool at once only with --allow-many-deletions), "
        "foreignPool (an item of another pool: reported only). Counts and up to "
        f"{EXAMPLES} example ids per kind, never emails; the counts are kept for `userpipe "
        "status`. Safe to run any time. Exit 1 if something could not be repaired.",
    )
    changes = reconcile.add_mutually_exclusive_group()
    changes.add_argument("--dry-run", action="store_true", help="report; change nothing")
    changes.add_argument(
        "--apply", action="store_true", help="also change emails and tombstone deleted users"
    )
    reconcile.add_argument(
        "--allow-many-deletions",
        action="store_true",
        help="with --apply: tombstone the deleted users even when they are more than 5%% of "
        "the pool (checked: the pool is the right one and Cognito answered in full)",
    )
    reconcile.add_argument("--rate", type=_positive, default=RATE, help="ListUsers calls a second")
    reconcile.add_argument("--json", action="store_true", help="the summary as JSON on stdout")

    adopt = command(
        "adopt",
        _adopt,
        "take a running recipe app's User table into userpipe (through the event log)",
        "Read the recipe's User-<apiId>-<env> table (consistent Scan, rate-limited), look each "
        "user up in Cognito and in userpipe's User table, and publish what the table lacks: "
        "UserAdopted (the recipe's createdAt, updatedAt, _version, _lastChangedAt, name and "
        "age; the email is Cognito's) or, for an item DataStore deleted, UserDeleted (a "
        "tombstone). Items of users the pool does not have, and items that break the User "
        "item's rules, are reported, not copied; a user deleted since is never brought back. "
        "A confirmation's bare first item is replaced at the recipe's _version; a userpipe item "
        "with more of its own is merged: the higher _version wins the profile, the recipe's on "
        "a tie, createdAt is the recipe's (docs/adoption.md). Then wait "
        "until the projector has written what was published. Safe to run again: a second run "
        "finds nothing to do. Exit 1 if anything was invalid, not published or not written in "
        "time.",
    )
    adopt.add_argument(
        "--from-table", required=True, metavar="NAME", help="the recipe's User table"
    )
    adopt.add_argument("--dry-run", action="store_true", help="decide and report; publish nothing")
    adopt.add_argument(
        "--rate", type=_positive, default=ADOPT_RATE, help="recipe items a second (Cognito reads)"
    )
    adopt.add_argument(
        "--wait",
        type=_positive,
        default=ADOPT_WAIT,
        metavar="SECONDS",
        help="how long to wait for the projector to write what was published",
    )
    adopt.add_argument("--json", action="store_true", help="the summary as JSON on stdout")

    redrive = command(
        "redrive",
        _redrive,
        "send dead-lettered messages back, once their cause is fixed",
        "Subscription DLQs: events back to their queue (SQS's message move task on AWS). The "
        "audit stream's DLQ: the failed records read again from the stream (while it has them, "
        "24 h) and handed to the audit function. The reconcile schedule's DLQ: reconcile runs "
        "again. A message is deleted only once re-delivered. Exit 1 if any stays.",
    )
    redrive.add_argument("--queue", metavar="NAME", help="one DLQ (default: every one)")
    redrive.add_argument("--max", type=_count, metavar="N", help="at most N messages per queue")
    redrive.add_argument(
        "--show",
        action="store_true",
        help="move nothing: list what each DLQ holds and why it is there (up to --max, else "
        "10, per queue; on AWS a look counts as a receive)",
    )

    status = command(
        "status",
        _status,
        "queues, dead letters, counts, replays, alarms: OK or NEEDS ATTENTION",
        "Queue and DLQ depths, table and user counts (approximate on AWS), the archive, the "
        "last replays, the last reconcile's drift counts, alarms in ALARM (AWS). Ends with a "
        "verdict line; exit 0 if OK, 1 if anything needs attention.",
    )
    status.add_argument("--json", action="store_true", help="everything as JSON on stdout")

    outputs = command(
        "outputs",
        _outputs,
        "print the Amplify JS v6 configuration a frontend loads (or every output)",
        "The stack's Amplify JS v6 ResourcesConfig as JSON on stdout: pass it to "
        "Amplify.configure(...) unchanged (Cognito user pool and client, the GraphQL endpoint "
        "and region; locally also userPoolEndpoint). --format gen2 prints Amplify Gen 2's "
        "amplify_outputs.json instead (schema 1.5, with the User model's introspection for "
        "generateClient's client.models.User). --all prints every stack output.",
    )
    shown = outputs.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="every output, by its local name")
    shown.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="gen1",
        help="gen1: the ResourcesConfig (default); gen2: amplify_outputs.json",
    )


def _positive(value: str) -> float:
    """A rate: a number above 0, refused before anything is called."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (got {value})")
    return number


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return number


def deployment_from(args: argparse.Namespace) -> Deployment:
    if args.local and args.stack:
        raise OperatorError("choose one target: --local or --stack NAME, not both")
    if args.stack:
        return from_stack(args.stack, region=args.region, profile=args.profile)
    if args.local or args.outputs:
        return from_local(args.outputs)
    raise OperatorError(
        "which stack? --local (the local stack's outputs: --outputs, $USERPIPE_OUTPUTS or "
        f"{DEFAULT_OUTPUTS}) or --stack NAME [--region R] [--profile P]"
    )


class InterruptedCommandError(UserpipeError):
    """Ctrl-C during an operator command: the message says what it left behind."""

    exit_code = 130


def on_deployment(command: OnDeployment) -> Run:
    """``command`` run on the deployment that ``--local``/``--stack`` name, with progress on
    stderr and results on stdout. Any failure becomes a ``UserpipeError`` with one sentence
    (a botocore error says which call failed, and how); ``--debug`` keeps the original."""

    def run(args: argparse.Namespace) -> int:
        out = Console(highlight=False, soft_wrap=True)
        progress = RichProgress(Console(stderr=True, highlight=False, soft_wrap=True))
        try:
            return command(deployment_from(args), args, progress, out)
        except UserpipeError:
            raise
        except Exception as error:
            if args.debug:
                raise
            raise OperatorError(_sentence(error)) from error
        except KeyboardInterrupt:
            if args.debug:
                raise
            raise InterruptedCommandError(INTERRUPTED[args.command]) from None

    return run


def _sentence(error: Exception) -> str:
    if isinstance(error, ClientError):
        problem = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "a call")
        return f"{operation} failed: {problem.get('Code')}: {problem.get('Message')}"
    if isinstance(error, ReadTimeoutError | ConnectionClosedError):
        return (
            f"no answer from {error.kwargs.get('endpoint_url')} (gave up after {ATTEMPTS} "
            "attempts): it takes connections but does not answer; check that it is the endpoint "
            "you meant and that what serves it is healthy"
        )
    if isinstance(error, ConnectTimeoutError | EndpointConnectionError):
        return (
            f"could not connect to {error.kwargs.get('endpoint_url')} (gave up after {ATTEMPTS} "
            "attempts): check the endpoint, the network and --region"
        )
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: configure some (aws configure, AWS_PROFILE) or --profile"
    if isinstance(error, BotoCoreError | TimeoutError):
        return str(error)
    return f"{type(error).__name__}: {error} (--debug shows where)"


def _replay(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import replay

    outcome = replay.run(
        deployment,
        progress,
        start_time=replay.parse_time(args.start, "--from") if args.start else None,
        end_time=replay.parse_time(args.end, "--to") if args.end else None,
        all_consumers=args.all_consumers,
        force=args.force,
        wait=args.wait,
    )
    if not args.wait:
        follow = deployment.aws_command(
            f"events describe-replay --replay-name {outcome.replay.name}"
        )
        out.print(
            f"Replay {outcome.replay.name} started; `{follow}` follows it (or run with --wait).",
            markup=False,
        )
        return 0
    for line in replay.describe_outcome(outcome):
        out.print(line)
    return 1 if outcome.dead_lettered else 0


def _rebuild(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import rebuild

    report = rebuild.run(deployment, progress, rate=args.rate, force=args.force)
    for line in rebuild.describe(report):
        out.print(line)
    return 0 if report.complete else 1


def _reconcile(
    deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any
) -> int:
    from userpipe.ops import reconcile

    summary = reconcile.run(
        deployment,
        progress,
        dry_run=args.dry_run,
        apply=args.apply,
        allow_many_deletions=args.allow_many_deletions,
        rate=args.rate,
    )
    if args.json:
        print(json.dumps({**summary.as_dict(), "examples": summary.examples()}))
    else:
        for line in reconcile.describe(summary):
            out.print(line, markup=False)
    return 0 if summary.complete else 1


def _adopt(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import adopt

    summary = adopt.run(
        deployment,
        args.from_table,
        progress,
        dry_run=args.dry_run,
        rate=args.rate,
        wait_seconds=args.wait,
    )
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        for line in adopt.describe(summary):
            out.print(line, markup=False)
    return 0 if summary.complete else 1


def _redrive(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import redrive

    if args.show:
        return _show_dead_letters(deployment, args, out)
    results = redrive.run(deployment, progress, queue=args.queue, limit=args.max)
    for line in redrive.describe(results):
        out.print(line)
    return 1 if any(result.kept for result in results) else 0


def _show_dead_letters(deployment: Deployment, args: argparse.Namespace, out: Any) -> int:
    from datetime import UTC, datetime

    from userpipe.aws.dead_letters import LOOK_AT, peek
    from userpipe.aws.queues import depth
    from userpipe.aws.status import describe_age
    from userpipe.ops.redrive import choose

    held = False
    for declared in choose(args.queue, deployment):
        total = depth(deployment.clients.sqs, deployment.declared(declared.url)).total
        if not total:
            out.print(f"{declared.name}: empty")
            continue
        held = True
        out.print(f"{declared.name}: {total} message(s) ({declared.holds})", markup=False)
        for letter in peek(deployment, declared, limit=args.max or LOOK_AT):
            age = datetime.now(UTC) - letter.sent if letter.sent else None
            when = f", sent {describe_age(age.total_seconds())} ago" if age else ""
            out.print(f"  {letter.message_id}{when}: {letter.reason}", markup=False)
    return 1 if held else 0


def _status(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.aws import status as status_module

    with progress.bar(f"reading {deployment.name}"):
        found = status_module.collect(deployment)
    if args.json:
        print(json.dumps(found.as_dict(), default=str))
        return 0 if found.ok else 1
    exact = "" if found.counts_exact else " (approximate)"
    queues = Table(title=f"{found.deployment}: queues")
    for column in ("queue", "role", "waiting", "in flight", "oldest"):
        queues.add_column(column)
    for queue in found.queues:
        queues.add_row(
            queue.name,
            queue.role,
            "no such queue" if queue.missing else str(queue.visible),
            str(queue.in_flight),
            status_module.describe_age(queue.oldest_seconds),
        )
    out.print(queues)
    if found.left_out:
        out.print(f"not in this deployment (switched off): {', '.join(found.left_out)}")
    for queue in found.queues:
        if queue.reasons:
            out.print(f"why {queue.name} holds messages:")
            for reason in queue.reasons:
                out.print(f"  {reason}", markup=False)
    counts = Table(title=f"counts{exact}")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for table, items in found.tables.items():
        counts.add_row(f"items in {table}", "no such table" if items is None else str(items))
    counts.add_row("Cognito users (every status)", str(found.cognito_users))
    archive = found.archive
    counts.add_row(
        f"events in archive {archive['name']} ({archive['state']})", str(archive["events"])
    )
    counts.add_row("archive size, bytes", str(archive["bytes"]))
    out.print(counts)
    drift = found.reconcile
    if drift is None:
        out.print("last reconcile: none in the last 3 days")
    else:
        kinds = ", ".join(f"{kind} {count}" for kind, count in drift["drift"].items())
        out.print(f"last reconcile ({drift['at']}): drift {kinds}; {drift['failed']} failed")
    if found.replays:
        replays = Table(title="last replays")
        for column in ("replay", "state", "started"):
            replays.add_column(column)
        for replay in found.replays:
            replays.add_row(replay.name, replay.state, replay.started)
        out.print(replays)
    if found.alarms is None:
        out.print("alarms: none here (the local stack creates no CloudWatch alarms)")
    else:
        out.print(f"alarms in ALARM: {', '.join(found.alarms) or 'none'}")
    out.print(found.verdict, style="bold green" if found.ok else "bold red")
    return 0 if found.ok else 1


def _outputs(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.amplify import amplify_config, amplify_outputs, described_pool

    if args.all:
        shown = dict(deployment.outputs)
    elif args.format == "gen2":  # the pool's own settings: it may be one the stack did not make
        pool = described_pool(deployment.clients.cognito, deployment.output("user_pool_id"))
        shown = amplify_outputs(deployment.outputs, pool)
    else:
        shown = amplify_config(deployment.outputs)
    print(json.dumps(shown, indent=2, sort_keys=args.all))
    return 0
