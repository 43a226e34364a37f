"""``userpipe`` — the command line. ``userpipe --help`` lists the commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="userpipe",
        description="Confirmed Cognito users to a durable, replayable User record.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="sign users up on an embedded AWS emulator and watch them flow through the pipeline",
    )
    demo.add_argument("--users", type=int, default=3, help="how many users sign up (1-50)")
    demo.add_argument("--verbose", action="store_true", help="show the functions' JSON logs")
    args = parser.parse_args(argv)

    if args.command == "demo":
        if not 1 <= args.users <= 50:
            parser.error("--users must be between 1 and 50")
        from userpipe.demo import run_demo

        return run_demo(users=args.users, verbose=args.verbose)
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it


if __name__ == "__main__":
    sys.exit(main())
