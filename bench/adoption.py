"""``python -m bench.adoption [--users N]``: what each step of docs/adoption.md's cutover costs,
on the local stack — the numbers that page's "What each step costs" extrapolates from.

A fresh local stack; the recipe app of ``tests/recipe`` on it (its table, its trigger, N users
signed up and confirmed through Cognito's API, a quarter edited, a tenth deleted by DataStore);
then the operator's commands, in-process, each timed: ``adopt`` (unthrottled, so the stack sets
the pace), ``attach-triggers``, ``adopt`` again (nothing new: the window run of a quiet
cutover), ``reconcile --dry-run``. Each command's summary is checked: every item landed, the
second run finds everything ``unchanged``, no drift — a time for a run that went wrong is not a
result. Prints one line per step and, with ``--json``, the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.recipe.app import TABLE_NAME, RecipeApp
from userpipe.cli import main as userpipe
from userpipe.local.stack import LocalStack, LocalStackOptions


def _command(outputs: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """One operator command's time and JSON summary; exit status 0 or an error."""
    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out):
        code = userpipe([*args, "--local", "--json", "--outputs", str(outputs)])
    took = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"userpipe {' '.join(args)}: exit {code}: {out.getvalue()[-2000:]}")
    return took, json.loads(out.getvalue())


def measure(users: int, state: Path) -> dict[str, Any]:
    numbers: dict[str, Any] = {"users": users}
    with LocalStack(LocalStackOptions(state_dir=state, stage="benchadopt")) as stack:
        app = RecipeApp.deploy(stack)
        started = time.monotonic()
        signed_up = app.sign_up(users)
        numbers["recipeSignUps"] = time.monotonic() - started
        for user in signed_up[1::4]:
            app.edit(user, name="Recipe user", age=30)
        for user in signed_up[3::10]:
            app.datastore_delete(user)
        outputs = stack.outputs_path
        took, first = _command(outputs, "adopt", "--from-table", TABLE_NAME, "--rate", "100000")
        if first["landed"] != users or first["read"] != users:
            raise SystemExit(f"adopt: not every item landed: {first}")
        numbers["adopt"] = took
        took, _ = _command(outputs, "attach-triggers", "--save-to", str(state / "saved.json"))
        numbers["attachTriggers"] = took
        took, second = _command(outputs, "adopt", "--from-table", TABLE_NAME)
        if second["counts"]["unchanged"] != users:
            raise SystemExit(f"adopt again: not every item unchanged: {second}")
        numbers["adoptAgain"] = took
        took, drift = _command(outputs, "reconcile", "--dry-run")
        if any(drift["drift"].values()):
            raise SystemExit(f"reconcile: drift after the adoption: {drift['drift']}")
        numbers["reconcile"] = took
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adoption", description=__doc__)
    parser.add_argument("--users", type=int, default=1000, help="recipe users (1000)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="userpipe-bench-adoption-") as tmp:
        numbers = measure(args.users, Path(tmp) / "state")
    if args.json:
        print(json.dumps(numbers, indent=2))
        return 0
    for step in ("recipeSignUps", "adopt", "attachTriggers", "adoptAgain", "reconcile"):
        seconds = numbers[step]
        print(f"{step:15} {seconds:7.1f} s  {seconds / args.users * 1000:6.1f} ms a user")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
