"""``userpipe attach-triggers``: userpipe's confirm trigger on a pool the stack does not own
(``userpipe.ops.triggers``). Prints the pool's triggers as they are, what changes and why; saves
them to a file before writing (``--restore FILE`` puts them back); checks afterwards that
nothing else of the pool changed. ``--dry-run`` writes nothing; ``--json`` prints the report as
JSON. Exit 0 when the pool has the triggers asked for, 1 when it does not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from userpipe.aws.deployment import Deployment
from userpipe.cli.operations import InterruptedCommandError, on_deployment, target_parser
from userpipe.cli.register import register
from userpipe.ops.progress import Progress


def add_commands(commands: Any) -> None:
    parser = register(
        commands,
        "attach-triggers",
        on_deployment(_attach),
        parents=[target_parser()],
        help="attach userpipe's triggers to an existing user pool, changing nothing else",
        description="Set the pool's PostConfirmation trigger, and its pre token generation "
        "trigger unless another function has it (that one is kept), to the stage's confirm "
        "trigger, keeping every other trigger and setting: UpdateUserPool resets whatever it "
        "is not given, so the request carries everything DescribeUserPool returns. The "
        "triggers as they were are saved to a file first (--restore FILE puts them back); "
        "afterwards the pool is described again and anything else that changed is an error. "
        "Exit 0 when the pool has the triggers, 1 otherwise.",
    )
    parser.set_defaults(error_prefix="userpipe attach-triggers")
    parser.add_argument("--dry-run", action="store_true", help="print the change; write nothing")
    parser.add_argument(
        "--restore",
        type=Path,
        metavar="FILE",
        help="put back the triggers a previous run saved in FILE (the rollback)",
    )
    parser.add_argument(
        "--save-to",
        type=Path,
        metavar="FILE",
        help="where to save the triggers before writing (default: "
        "lambda-config-<pool id>-<UTC time>.json here)",
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")


def _attach(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import triggers

    def say(line: str) -> None:
        if not args.json:
            out.print(line, markup=False)

    progress.say(f"reading the user pool of {deployment.name}")
    described = triggers.describe_pool(deployment)
    pool_id = str(described["Id"])
    before = dict(described.get("LambdaConfig") or {})
    if args.restore:
        wanted = triggers.read_saved(args.restore, pool_id)
        report: dict[str, Any] = {"userPoolId": pool_id, "restoring": str(args.restore)}
        notes: list[str] = []
    else:
        plan = triggers.plan(deployment, described)
        wanted, notes, report = plan.attachment.after, plan.attachment.notes, plan.as_dict()
    changes = triggers.Attachment(before, wanted).changes
    report |= {"before": before, "after": wanted, "dryRun": args.dry_run, "written": False}
    say(f"user pool {pool_id}: its triggers now")
    say(json.dumps(before, indent=2, sort_keys=True))
    for name, (old, new) in changes.items():
        say(f"  {name}: {_shown(old)} → {_shown(new)}")
    for note in notes:
        say(f"note: {note}")
    if not changes:
        say("nothing to change: the pool already has these triggers")
        return _done(args, report)
    if args.dry_run:
        say("dry run: nothing written")
        return _done(args, report)
    saved = args.save_to or triggers.saved_path(pool_id)
    triggers.save(saved, pool_id, before)
    report["savedTo"] = str(saved)
    say(
        f"saved the triggers above to {saved}: `userpipe attach-triggers "
        f"{_target(deployment)} --restore {saved}` puts them back"
    )
    try:
        triggers.write(deployment, wanted, described)
    except KeyboardInterrupt:
        raise InterruptedCommandError(
            f"interrupted: the pool may or may not have the new triggers; `userpipe status` "
            f"tells, and `--restore {saved}` puts the old ones back"
        ) from None
    report["written"] = True
    say(f"written; described again: nothing but the triggers changed in {pool_id}")
    return _done(args, report)


def _done(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(report, default=str))
    return 0


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _target(deployment: Deployment) -> str:
    from userpipe.aws.status import attach_command

    return attach_command(deployment).removeprefix("userpipe attach-triggers ")
