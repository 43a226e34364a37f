"""``userpipe verify``: the post-deploy smoke test on the command line (``userpipe.ops.verify``).
Each step is printed as it completes (``✓ step — 123 ms`` or ``✗ step — why``), then the
cleanup and a verdict; ``--json`` prints the report as JSON instead. Exit 0 when every step
held and the cleanup did, 1 otherwise, 2 when it could not start."""

from __future__ import annotations

import argparse
import json
from typing import Any

from userpipe.aws.deployment import Deployment
from userpipe.cli.operations import on_deployment, target_parser
from userpipe.cli.register import UsageError, register
from userpipe.ops.progress import Progress

#: The address's domain on the local stack, whose mail never leaves the machine.
LOCAL_EMAIL_DOMAIN = "example.com"


def add_commands(commands: Any) -> None:
    parser = register(
        commands,
        "verify",
        _run,
        parents=[target_parser()],
        help="smoke-test a deployment end to end with a throw-away user, then delete it",
        description="Sign up and confirm a throw-away user (userpipe-verify+<random>@DOMAIN), "
        "then follow it: its item, its audit record, an onCreateUser subscription (as the IAM "
        "operator running this), me/getUser and an edit through GraphQL with its own token, "
        "its deletion with DeleteUser, the tombstone and the erasure (audit trail redacted, its "
        "key deleted). Each step is timed from the action that causes it; the first that fails "
        "ends the run. The Cognito user is always deleted (AdminDeleteUser if DeleteUser never "
        "ran); what stays is what erasure leaves by design: the tombstone, which the table's "
        "TTL removes, and audit records without personal data. On AWS the sign-up sends a real "
        "email to the address (a domain you receive or discard mail for: --email-domain) and "
        "verify confirms with AdminConfirmSignUp. Exit 0 if every step held, 1 otherwise.",
    )
    parser.set_defaults(error_prefix="userpipe verify")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long each step waits for the pipeline (default 30)",
    )
    parser.add_argument(
        "--email-domain",
        metavar="DOMAIN",
        help=f"the throw-away address's domain (required with --stack: Cognito mails the "
        f"sign-up code there; --local: {LOCAL_EMAIL_DOMAIN})",
    )
    parser.add_argument("--json", action="store_true", help="the steps as JSON on stdout")


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (got {value})")
    return number


def _run(args: argparse.Namespace) -> int:
    """Refuses ``--stack`` without ``--email-domain`` before anything reaches AWS."""
    if args.stack and not args.email_domain:
        raise UsageError(
            "--email-domain DOMAIN is needed with --stack: Cognito emails the sign-up code to "
            "userpipe-verify+<random>@DOMAIN, so use a domain whose mail you receive or discard "
            "(a reserved one such as example.com bounces, which counts against the pool's sender)"
        )
    return on_deployment(_verify)(args)


def _verify(deployment: Deployment, args: argparse.Namespace, progress: Progress, out: Any) -> int:
    from userpipe.ops import verify

    domain = args.email_domain or LOCAL_EMAIL_DOMAIN

    def say(line: str) -> None:
        if not args.json:
            out.print(line, markup=False)

    email = verify.throwaway_email(domain)
    progress.say(f"verifying {deployment.name} with a throw-away user, {email}")
    report = verify.verify(
        verify.DeploymentStage(deployment),
        email=email,
        timeout=args.timeout,
        on_step=lambda step: say(step.line()),
        on_cleanup=progress.say if args.json else say,  # also heard on Ctrl-C
    )
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        out.print(verify.verdict(report), style="bold green" if report.ok else "bold red")
    return 0 if report.ok else 1
