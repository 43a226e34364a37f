"""How a command joins the tree: ``register`` adds its parser and the function that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from userpipe.errors import UserpipeError

#: A command: the parsed arguments in, the exit status out.
Run = Callable[[argparse.Namespace], int]


class UsageError(UserpipeError):
    """The arguments parse but do not make sense: reported as argparse reports a usage error."""


def register(commands: Any, name: str, run: Run, **parser: Any) -> argparse.ArgumentParser:
    """A subcommand ``name`` of ``commands`` (``add_subparsers()``), run by ``run``."""
    command: argparse.ArgumentParser = commands.add_parser(name, **parser)
    command.set_defaults(run=run)
    return command
