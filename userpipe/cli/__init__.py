"""``userpipe`` — the command line. ``userpipe --help`` lists the commands.

One argparse tree; every command is a function ``run(args) -> exit status`` registered with
``register``. A ``UserpipeError`` is printed as one line (``userpipe: ...``, or
``userpipe COMMAND: ...`` for an operator command) and becomes its ``exit_code``; under
``--debug`` (operator commands) it is raised with its traceback instead."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from userpipe.cli import local, operations, triggers, verify
from userpipe.cli.register import UsageError
from userpipe.errors import UserpipeError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except UsageError as error:
        parser.error(str(error))
    except UserpipeError as error:
        if args.debug:
            raise
        print(f"{args.error_prefix}: {error}", file=sys.stderr)
        return error.exit_code
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userpipe",
        description="Confirmed Cognito users to a durable, replayable User record.",
    )
    parser.set_defaults(error_prefix="userpipe", debug=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.add_commands(commands)
    operations.add_commands(commands)
    verify.add_commands(commands)
    triggers.add_commands(commands)
    return parser
