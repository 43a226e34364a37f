"""``userpipe`` — the command line. ``userpipe --help`` lists the commands."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from userpipe.ops.cli import COMMANDS, add_commands, dispatch
from userpipe.ops.deployment import DEFAULT_OUTPUTS, from_local
from userpipe.ops.errors import OperatorError

DEFAULT_PORT = 4747


class CommandError(OperatorError):
    """A failure the user can act on: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            if not 1 <= args.users <= 50:
                parser.error("--users must be between 1 and 50")
            from userpipe.demo import run_demo

            return run_demo(users=args.users, verbose=args.verbose)
        if args.command == "local" and args.local_command == "up":
            return _local_up(args)
        if args.command == "local" and args.local_command == "codes":
            return _local_codes(args)
        if args.command == "local" and args.local_command == "empty-user-table":
            return _local_empty_user_table(args)
        if args.command in COMMANDS:
            return dispatch(args)
    except OperatorError as error:
        print(f"userpipe: {error}", file=sys.stderr)
        return error.exit_code
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userpipe",
        description="Confirmed Cognito users to a durable, replayable User record.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="start the local stack and drive the whole flow through its public endpoints",
    )
    demo.add_argument("--users", type=int, default=3, help="how many users sign up (1-50)")
    demo.add_argument("--verbose", action="store_true", help="show the functions' JSON logs")

    local = commands.add_parser("local", help="the local stack: the whole stack on this machine")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser(
        "up",
        help="serve the whole stack (AWS APIs, Cognito, GraphQL, real-time) until Ctrl-C",
        description="Serve every AWS API the stack uses, Cognito's codes and trigger, GraphQL "
        "and its real-time endpoint on two ports (plain HTTP for SDKs, TLS signed by this "
        "machine's local CA for frontends); provision the stack from its declaration; run the "
        "functions and their event sources; write the outputs file and the Amplify "
        "configuration. Ctrl-C or SIGTERM stops it cleanly.",
    )
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    up.add_argument("--tls-port", type=int, default=None, help="the TLS port (default: --port + 1)")
    up.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    up.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="outputs file to write")
    up.add_argument("--stage", default="local", help="names the resources (default: local)")
    up.add_argument("--verbose", action="store_true", help="print the functions' logs")
    codes = local_commands.add_parser(
        "codes", help="the confirmation codes and emails the local stack has 'sent'"
    )
    codes.add_argument("email", nargs="?", help="only this address")
    codes.add_argument("--outputs", type=Path, default=None, help=_outputs_help())
    empty = local_commands.add_parser(
        "empty-user-table",
        help="delete every item of the local stack's User table (to try `userpipe rebuild`)",
        description="Delete every item of the local stack's User table, on purpose: the "
        "deletes go through the stream like any other, so the audit trail records them. "
        "Local only; on AWS, see README (Operations) for why you restore instead.",
    )
    empty.add_argument("--outputs", type=Path, default=None, help=_outputs_help())
    add_commands(commands)
    return parser


def _outputs_help() -> str:
    return f"the local stack's outputs file (default: $USERPIPE_OUTPUTS, else {DEFAULT_OUTPUTS})"


def _local_up(args: argparse.Namespace) -> int:
    from rich.console import Console

    from userpipe.local.server import PortInUseError
    from userpipe.local.stack import LocalStack, LocalStackOptions, OutputsInUseError

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
        on_log=(
            lambda name, line: console.print(f"[dim]{name}[/] {line}", markup=True, highlight=False)
        )
        if args.verbose
        else None,
    )
    stack = LocalStack(options)
    try:
        stack.start()
    except (PortInUseError, OutputsInUseError) as error:
        raise CommandError(str(error)) from None
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
    for key in (
        "console_url",
        "endpoint_url",
        "graphql_url",
        "realtime_url",
        "user_pool_id",
        "user_pool_client_id",
        "outbox_path",
        "amplify_config_path",
        "ca_cert_path",
    ):
        console.print(f"  {key:<22} {outputs[key]}")
    console.print(f"  outputs written to      {stack.outputs_path}")
    console.print("\n[bold]Amplify JS v6[/] (a frontend): Amplify.configure(config) with")
    console.print_json(json.dumps(stack.amplify_config()))
    console.print(
        "Trust the local CA once: Node with NODE_EXTRA_CA_CERTS="
        f"{outputs['ca_cert_path']} (and --experimental-websocket on Node 20); a browser by "
        "importing it as a certificate authority (README, The local stack)."
    )
    endpoint = outputs["endpoint_url"]
    console.print(f"\n[bold]AWS CLI[/] (any credentials; region {outputs['region']}):")
    console.print(
        f"  aws --endpoint-url {endpoint} cognito-idp sign-up --client-id "
        f"{outputs['user_pool_client_id']} --username you@example.com --password '...'"
    )
    console.print(
        f"  aws --endpoint-url {endpoint} dynamodb scan --table-name {outputs['user_table_name']}"
    )
    console.print("\nConfirmation codes: `userpipe local codes` · Ctrl-C stops the stack")


def _local_codes(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from userpipe.local.outbox import read

    outputs = from_local(args.outputs).outputs
    entries = [
        entry
        for entry in read(Path(outputs["outbox_path"]))
        if args.email is None or entry["to"] == args.email.lower()
    ]
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


def _local_empty_user_table(args: argparse.Namespace) -> int:
    from userpipe.ops.tables import empty_user_table

    deployment = from_local(args.outputs)
    deleted = empty_user_table(deployment)
    print(f"deleted {deleted} item(s) from {deployment.output('user_table_name')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
