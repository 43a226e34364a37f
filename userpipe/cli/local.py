"""The commands of this machine: ``userpipe demo`` and ``userpipe local up|codes|
empty-user-table|env|admin``."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import threading
from pathlib import Path
from typing import Any

from contracts.topology import (
    ADMIN_GROUP,
    OFF,
    ON,
    SETTINGS,
    SUBSCRIPTIONS,
    SWITCHES,
    InvalidStageError,
    snake_case,
)
from userpipe.aws.deployment import DEFAULT_OUTPUTS, from_local
from userpipe.aws.shell import local_aws_cli, userpipe_command
from userpipe.aws.shell import outputs_option as outputs_option_for
from userpipe.cli.register import UsageError, register
from userpipe.errors import UserpipeError

DEFAULT_PORT = 4747
#: The declared settings that take one of a few values (``logLevel``, ``announceChanges``): the
#: local stack takes each as an option, as a deployment takes its context value.
CHOSEN_SETTINGS = tuple(s for s in SETTINGS if s.choices)
MAX_PORT = 65535
#: A password the local pool's policy accepts, for the sign-up line it prints.
EXAMPLE_PASSWORD = "Correct-Horse-9-Battery!"  # noqa: S105 - an example, printed


class CommandError(UserpipeError):
    """A local command could not do its job: printed as one line, exit status 2."""


def add_commands(commands: Any) -> None:
    demo = register(
        commands,
        "demo",
        _demo,
        help="start the local stack and drive the whole flow through its public endpoints",
    )
    demo.add_argument("--users", type=int, default=3, help="how many users sign up (1-50)")
    demo.add_argument("--verbose", action="store_true", help="show the functions' JSON logs")

    local = commands.add_parser("local", help="the local stack: the whole stack on this machine")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = register(
        local_commands,
        "up",
        _local_up,
        help="serve the whole stack (AWS APIs, Cognito, GraphQL, real-time) until Ctrl-C",
        description="Serve every AWS API the stack uses, Cognito's codes and trigger, GraphQL "
        "and its real-time endpoint on two ports (plain HTTP for SDKs, TLS signed by this "
        "machine's local CA for frontends); provision the stack from its declaration; run the "
        "functions and their event sources; write the outputs file and the Amplify "
        "configuration. Ctrl-C or SIGTERM stops it cleanly.",
    )
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    up.add_argument("--tls-port", type=int, default=None, help="the TLS port (default: --port + 1)")
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: loopback; anything else opens the stack to the "
        "network, see docs/local-stack.md)",
    )
    up.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="a browser origin besides the stack's own that may call it, e.g. a frontend's dev "
        "server http://localhost:5173 (repeatable)",
    )
    up.add_argument(
        "--allow-remote-admin",
        action="store_true",
        help="let other machines read the confirmation codes, the console's status and the "
        "emulator's admin API (/moto-api): anyone who can reach the port can then take over any "
        "account",
    )
    up.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="outputs file to write")
    up.add_argument("--stage", default="local", help="names the resources (default: local)")
    for subscription in SUBSCRIPTIONS:
        if subscription.switch is not None:
            key = subscription.switch.key
            up.add_argument(
                f"--{snake_case(key).replace('_', '-')}",
                dest=key,
                choices=(ON, OFF),
                default=ON,
                help=f"{OFF} leaves the {subscription.consumer.id} subscription out, as "
                f"`-c {key}={OFF}` does a deployment (default: {ON})",
            )
    for setting in CHOSEN_SETTINGS:
        up.add_argument(
            f"--{snake_case(setting.key).replace('_', '-')}",
            dest=setting.key,
            choices=setting.choices,
            default=setting.local,
            help=f"as `-c {setting.key}=...` does a deployment (default: {setting.local})",
        )
    up.add_argument("--verbose", action="store_true", help="print the functions' logs")
    codes = register(
        local_commands,
        "codes",
        _local_codes,
        help="the confirmation codes and emails the local stack has 'sent'",
    )
    codes.add_argument("email", nargs="?", help="only this address")
    codes.add_argument("--outputs", type=Path, default=None, help=_outputs_help())
    empty = register(
        local_commands,
        "empty-user-table",
        _local_empty_user_table,
        help="delete every item of the local stack's User table (to try `userpipe rebuild`)",
        description="Delete every item of the local stack's User table, on purpose: the "
        "deletes go through the stream like any other, so the audit trail records them. "
        "Local only; on AWS, see docs/operations.md for why you restore instead.",
    )
    empty.add_argument("--outputs", type=Path, default=None, help=_outputs_help())
    env = register(
        local_commands,
        "env",
        _local_env,
        help="print the local stack's credentials, region and endpoint as shell exports",
        description="Print `export` lines for the AWS CLI and SDKs: the local stack's own "
        "credentials (it refuses any others), its region and its endpoint. Use: "
        'eval "$(.venv/bin/userpipe local env)", then e.g. `aws dynamodb scan --table-name '
        "userpipe-local-User`.",
    )
    env.add_argument("--outputs", type=Path, default=None, help=_outputs_help())
    admin = register(
        local_commands,
        "admin",
        _local_admin,
        help=f"add a signed-up user to the local stack's {ADMIN_GROUP} group",
        description=f"Add the user who signed up with EMAIL to the {ADMIN_GROUP} group of the "
        "local stack's user pool: they read every user's record and audit trail. Tokens issued "
        "before carry no group: the user signs in again. On AWS: `aws cognito-idp "
        f"admin-add-user-to-group --user-pool-id <UserPoolId> --group-name {ADMIN_GROUP} "
        "--username EMAIL --region <Region>` (docs/operations.md).",
    )
    admin.add_argument("email", help="the address the user signed up with")
    admin.add_argument("--outputs", type=Path, default=None, help=_outputs_help())


def _demo(args: argparse.Namespace) -> int:
    if not 1 <= args.users <= 50:
        raise UsageError("--users must be between 1 and 50")
    from userpipe.demo import run_demo

    return run_demo(users=args.users, verbose=args.verbose)


def _outputs_help() -> str:
    return f"the local stack's outputs file (default: $USERPIPE_OUTPUTS, else {DEFAULT_OUTPUTS})"


def _local_up(args: argparse.Namespace) -> int:
    from rich.console import Console

    from userpipe.local.stack import DEFAULT_SETTINGS, LocalStack, LocalStackOptions

    for option, port in (("--port", args.port), ("--tls-port", args.tls_port)):
        if port is not None and not 0 <= port <= MAX_PORT:
            raise CommandError(
                f"{option} {port} is not a port: choose 0-{MAX_PORT} (0 picks a free one)"
            )
    if args.tls_port is None and args.port == MAX_PORT:
        raise CommandError(
            f"--tls-port defaults to --port + 1, and {MAX_PORT + 1} is not a port: choose one "
            "with --tls-port"
        )
    console = Console()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    options = LocalStackOptions(
        host=args.host,
        port=args.port,
        tls_port=args.tls_port,
        stage=args.stage,
        state_dir=args.outputs.parent,
        outputs_path=args.outputs,
        settings={
            **DEFAULT_SETTINGS,
            **{s.key: getattr(args, s.key) for s in SWITCHES},
            **{s.key: getattr(args, s.key) for s in CHOSEN_SETTINGS},
        },
        allow_origins=tuple(args.allow_origin),
        allow_remote_admin=args.allow_remote_admin,
        on_log=(
            lambda name, line: console.print(f"[dim]{name}[/] {line}", markup=True, highlight=False)
        )
        if args.verbose
        else None,
    )
    try:
        stack = LocalStack(options)
        stack.start()
    except InvalidStageError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise CommandError(
            f"cannot listen on {args.host} (--port {args.port}): {error.strerror}; choose "
            "another --host or --port (ports below 1024 need privileges)"
        ) from None
    try:
        _announce(console, stack)
        stop.wait()
        console.print("stopping…")
    finally:
        stack.stop()
    console.print("stopped")
    return 0


def _announce(console: Any, stack: Any) -> None:
    outputs = stack.outputs()
    console.print(f"[bold green]userpipe local stack[/] ready in {stack.started_in:.1f} s")
    for line in exposure_warning(stack.options.host, stack.options.allow_remote_admin):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if stack.certificates.created_ca:
        console.print(
            f"A new local certificate authority was made: trust {outputs['ca_cert_path']} "
            "(again) in your browser and tools (docs/local-stack.md).",
            markup=False,
            soft_wrap=True,  # a path folded across lines cannot be copied
        )
    for key in (
        "console_url",
        "endpoint_url",
        "graphql_url",
        "realtime_url",
        "user_pool_id",
        "user_pool_client_id",
        "outbox_path",
        "amplify_config_path",
        "amplify_outputs_path",
        "ca_cert_path",
    ):
        console.print(f"  {key:<22} {outputs[key]}")
    console.print(f"  outputs written to      {stack.outputs_path}")
    console.print("\n[bold]Amplify JS v6[/] (a frontend): Amplify.configure(config) with")
    console.print_json(json.dumps(stack.amplify_config()))
    console.print(
        "Trust the local CA once: Node with NODE_EXTRA_CA_CERTS="
        f"{outputs['ca_cert_path']} (and --experimental-websocket on Node 20); a browser by "
        "importing it as a certificate authority (docs/local-stack.md).",
        soft_wrap=True,  # a path folded across lines cannot be copied
    )
    # Each runs as printed, in this shell and folder: userpipe as it was started here, the
    # AWS CLI with the stack's endpoint, Region and credentials (soft_wrap: never folded).
    userpipe = userpipe_command()
    outputs_option = outputs_option_for(stack.outputs_path, DEFAULT_OUTPUTS)
    aws = local_aws_cli(outputs)
    commands = [
        f"{aws} cognito-idp sign-up --client-id {outputs['user_pool_client_id']} "
        f"--username you@example.com --password '{EXAMPLE_PASSWORD}'",
        f"{userpipe} local codes you@example.com{outputs_option}  # the code it 'emailed'",
        f"{userpipe} local admin you@example.com{outputs_option}  # make them an {ADMIN_GROUP}",
        f"{aws} cognito-idp admin-add-user-to-group --user-pool-id {outputs['user_pool_id']} "
        f"--group-name {ADMIN_GROUP} --username you@example.com  # the same, with the AWS CLI",
        f"{aws} dynamodb scan --table-name {outputs['user_table_name']}",
        f'eval "$({userpipe} local env{outputs_option})"  # or: its credentials, Region and '
        "endpoint in this shell, for any SDK",
    ]
    console.print("\nPaste into a shell in this folder (each line runs as it is):")
    for command in commands:
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
    console.print("\nCtrl-C stops the stack")


def exposure_warning(host: str, allow_remote_admin: bool) -> list[str]:
    """What a bind beyond loopback makes reachable, in plain words (nothing for loopback)."""
    from userpipe.local.guard import is_loopback

    if host in ("localhost",) or is_loopback(host):
        return []
    where = "every network interface" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    lines = [
        f"WARNING: listening on {where}: other machines can reach this stack.",
        "  Open to them, as on AWS: Cognito's public API (sign up, sign in),",
        "  GraphQL and its real-time endpoint with a user's token, the console page.",
        "  Closed to them: the AWS APIs, IAM GraphQL and Lambda Invoke (only requests",
        "  signed with this stack's credentials file), browsers on other sites.",
    ]
    if allow_remote_admin:
        lines += [
            "  OPEN TOO (--allow-remote-admin): the confirmation codes, the console's",
            "  status and the emulator's admin API: anyone who reaches the port can take",
            "  over any account and read or wipe every table.",
        ]
    else:
        lines += [
            "  This machine only: the confirmation codes, the console's status and the",
            "  emulator's admin API (--allow-remote-admin would open them).",
        ]
    return lines


def _local_codes(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from userpipe.local.outbox import read

    outputs = from_local(args.outputs).outputs
    wanted = args.email.lower() if args.email else None
    entries = [
        entry
        for entry in read(Path(outputs["outbox_path"]))
        if wanted is None or entry["to"] == wanted
    ]
    if wanted and not entries:
        print(
            f"nothing was sent to {wanted} (`userpipe local codes` lists what was sent to "
            "every address)"
        )
        return 0
    table = Table(title=f"Outbox ({outputs['outbox_path']})")
    for column in ("at", "to", "kind", "code", "subject"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            entry["at"],
            entry["to"],
            entry["kind"],
            entry.get("code") or "",
            entry.get("subject", ""),
        )
    Console().print(table if entries else "nothing sent yet")
    return 0


def _local_env(args: argparse.Namespace) -> int:
    import shlex

    from userpipe.aws.clients import read_credentials

    outputs = from_local(args.outputs).outputs
    key, secret = read_credentials(outputs["credentials_path"])  # from_local checked it
    region = outputs["region"]
    for name, value in (
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ENDPOINT_URL", outputs["endpoint_url"]),
    ):
        print(f"export {name}={shlex.quote(value)}")
    print("unset AWS_SESSION_TOKEN AWS_PROFILE")
    return 0


def _local_admin(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    deployment = from_local(args.outputs)
    cognito = deployment.clients.cognito
    try:
        cognito.admin_add_user_to_group(
            UserPoolId=deployment.output("user_pool_id"),
            Username=args.email,  # Cognito takes the email: the pool signs in by email
            GroupName=ADMIN_GROUP,
        )
    except cognito.exceptions.UserNotFoundException:
        raise CommandError(
            f"{args.email} has not signed up to {deployment.name}: sign up first (the console, "
            "or `aws cognito-idp sign-up`), then run this again"
        ) from None
    except ClientError as error:
        problem = error.response.get("Error", {})
        raise CommandError(
            f"AdminAddUserToGroup failed: {problem.get('Code')}: {problem.get('Message')}"
        ) from None
    except BotoCoreError as error:
        raise CommandError(str(error)) from None
    print(
        f"{args.email} is in the {ADMIN_GROUP} group of {deployment.name}; tokens issued "
        "before now do not carry it: sign in again"
    )
    return 0


def _local_empty_user_table(args: argparse.Namespace) -> int:
    from userpipe.aws.tables import empty_user_table

    deployment = from_local(args.outputs)
    deleted = empty_user_table(deployment)
    print(f"deleted {deleted} item(s) from {deployment.output('user_table_name')}")
    return 0
