"""Every command in README.md and docs/*.md runs as written, and every relative link resolves.

A command is a line of a ```sh block (a trailing ``\\`` joins the next line) or a ``$ `` line of
a ```console block, whose output follows it (``[exit N]`` there is the exit status expected,
else 0). Each is either run or skipped for the reason its kind is given in ``SKIPPED``; a command
that matches neither ``RUN`` nor ``SKIPPED`` fails the test, and so does a fence without a
language (a command must not hide in one).

"A fresh clone" is approximated: a temporary folder holding links to this checkout's files,
``.venv`` linking to the virtualenv running this test, and no ``.userpipe/``, ``cdk.out/`` or
``build/`` output of its own. Commands run there with bash, the virtualenv's ``bin`` first on
``PATH`` (as ``. .venv/bin/activate`` puts it), ``PYTHONPATH`` on the folder (what ``make
install``'s editable install does), and no AWS credentials or configuration. One local stack
serves every command: the documented ``.venv/bin/userpipe local up``, on free ports
(``--port 0``) since 4747 may be taken by another stack on this machine.

The files run in ``ORDER``: docs/local-stack.md signs up ``you@example.com`` (the README makes
them an Admin), and docs/operations.md, last, runs on the stack its examples describe: a user
whose event is dead-lettered (an item of another pool holds their id) and two users an
administrator created, so ``status`` needs attention and ``reconcile`` has users to publish.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
PAGES: Final = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
ORDER: Final = (
    "docs/local-stack.md",
    "README.md",
    "docs/api.md",
    "docs/architecture.md",
    "docs/lifecycle.md",
    "docs/adoption.md",
    "docs/frontends.md",
    "docs/deploy.md",
    "docs/performance.md",
    "docs/testing.md",
    "docs/operations.md",
)
PASSWORD: Final = "Correct-Horse-9-Battery!"

#: Commands run as written (against the shared local stack, or offline).
RUN: Final = (
    r"make (demo|help)",
    r"(\.venv/bin/)?userpipe (status|redrive|reconcile|replay|rebuild|verify) --local\b.*",
    r"(\.venv/bin/)?userpipe local (codes|admin|env|empty-user-table)\b.*",
    r'eval "\$\(\.venv/bin/userpipe local env\)"',
    r"[A-Z_]+=\$\((jq|\.venv/bin/userpipe) .*\)",  # a value read from the local stack's files
    r"aws (cognito-idp (sign-up|confirm-sign-up)|dynamodb scan) .*",  # after `local env`
    r"\.venv/bin/python -m infra\.adopt .*",
)
#: Commands not run here, by kind, with the reason.
SKIPPED: Final = {
    r"make test|make test-\w+|make lint|\.venv/bin/pytest .*": (
        "runs the test suite (this test is part of it) or the linters: .ci/run runs "
        "`make lint` and `make test` from a clean clone"
    ),
    r"make bench|make bench-quick": (
        "the benchmark: minutes of load on a shared machine; "
        "tests/unit/test_bench_report.py holds docs/performance.md to its committed report"
    ),
    r"make install\b.*": (
        "installs from PyPI, npm and Debian (network): what `make test` does first"
    ),
    r"npx cdk (bootstrap|deploy|destroy|import)\b.*": "deploys to, or changes, an AWS account",
    r"aws .*<[A-Za-z][^>]*>.*|aws cognito-idp list-user-pools\b.*": (
        "calls AWS with an account's credentials, on a deployed stack's values"
    ),
    r"userpipe outputs --stack .*": "reads a deployed stack's outputs (CloudFormation)",
    r"userpipe (adopt|attach-triggers|reconcile) --stack .*": (
        "the cutover's steps on a deployed stack and its pool (an AWS account); "
        "tests/integration/test_adoption.py runs the same sequence on the local stack"
    ),
    r"cp \.userpipe/amplify-config\.json src/.*": "writes into a frontend's own source folder",
    r"\.venv/bin/userpipe local up": (
        "serves until Ctrl-C on the fixed ports 4747/4748, which another stack may hold: "
        "this test starts the same command with --port 0 and runs the others against it"
    ),
}


@dataclass(frozen=True)
class Command:
    page: str
    block: int
    text: str  # as written, comment included
    expected_exit: int = 0

    @property
    def bare(self) -> str:
        """The command without its trailing ``# comment``."""
        return re.sub(r"\s+#\s.*$", "", self.text).strip()

    def kind(self) -> str | None:
        """``"run"``, a skip reason, or None when it is neither."""
        if any(re.fullmatch(pattern, self.bare) for pattern in RUN):
            return "run"
        for pattern, reason in SKIPPED.items():
            if re.fullmatch(pattern, self.bare):
                return reason
        return None


def fences(page: str) -> Iterator[tuple[int, str, list[str]]]:
    """(index, language, lines) of each fenced block of a page, indentation removed."""
    lines = (ROOT / page).read_text().splitlines()
    index, i = 0, 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(.*)$", lines[i])
        if opening is None:
            i += 1
            continue
        indent, language = len(opening.group(1)), opening.group(2).strip()
        body: list[str] = []
        i += 1
        while not lines[i].strip().startswith("```"):
            body.append(lines[i][indent:])
            i += 1
        yield index, language, body
        index, i = index + 1, i + 1


def commands(page: str) -> list[Command]:
    found: list[Command] = []
    for index, language, body in fences(page):
        if language == "sh":
            joined: list[str] = []
            for line in body:
                if joined and joined[-1].endswith("\\"):
                    joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
                else:
                    joined.append(line)
            found += [
                Command(page, index, line.strip())
                for line in joined
                if line.strip() and not line.strip().startswith("#")
            ]
        elif language == "console":
            for line in body:
                if line.startswith("$ "):
                    found.append(Command(page, index, line[2:].strip()))
                elif exit_line := re.fullmatch(r"\[exit (\d+)\]", line.strip()):
                    last = found.pop()
                    found.append(Command(last.page, last.block, last.text, int(exit_line[1])))
    return found


def all_commands() -> list[Command]:
    return [command for page in ORDER for command in commands(page)]


def test_every_page_is_run_in_order_and_every_fence_names_its_language() -> None:
    assert sorted(ORDER) == sorted(PAGES)
    unlabelled = [(page, i) for page in PAGES for i, language, _ in fences(page) if not language]
    assert unlabelled == []


def test_every_command_is_run_or_skipped_for_a_stated_reason() -> None:
    unclassified = [(c.page, c.text) for c in all_commands() if c.kind() is None]
    assert unclassified == [], "add each to RUN, or to SKIPPED with the reason"
    assert sum(c.kind() == "run" for c in all_commands()) >= 20


def test_the_readme_is_a_first_page_with_a_two_command_quick_start() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    quick = [c.bare for c in commands("README.md")[:2]]
    assert quick == ["make demo", "make test"]


# --- links ------------------------------------------------------------------------------------


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found: set[str] = set()
    inside = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif not inside and (heading := re.match(r"^#{1,6}\s+(.*)$", line)):
            text = heading.group(1).strip().lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            found.add(slug)
    return found


def test_every_relative_link_points_to_a_file_and_anchor_that_exist() -> None:
    broken: list[str] = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", (ROOT / page).read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (ROOT / page).parent / path if path else ROOT / page
            if not file.exists():
                broken.append(f"{page}: {target} (no such file)")
            elif anchor and anchor not in anchors(file):
                broken.append(f"{page}: {target} (no such heading)")
    assert broken == []


# --- running them -------------------------------------------------------------------------------


@dataclass
class Clone:
    path: Path
    env: dict[str, str]

    def run(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clone]:
    path = tmp_path_factory.mktemp("clone")
    own = {".git", ".venv", ".userpipe", "cdk.out", "build"}
    for entry in ROOT.iterdir():
        if entry.name not in own and not entry.name.startswith((".pytest", ".mypy", ".ruff")):
            (path / entry.name).symlink_to(entry)
    # The stamp `make install` leaves in .venv, as the Makefile names it (one definition).
    stamp = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval",
         "print-stamp: ; @echo $(notdir $(STAMP))", "print-stamp"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not (Path(sys.prefix) / stamp).exists():  # a failure, not a skip: CI must run this
        pytest.fail(f"the virtualenv has no {stamp}: not installed for this checkout's "
                    "pyproject.toml and constraints.txt (run `make install`)")  # fmt: skip
    # the installed virtualenv's parts, and a stamp of its own, so make installs nothing
    venv = path / ".venv"
    venv.mkdir()
    for part in Path(sys.prefix).iterdir():
        if not part.name.startswith(".installed-"):
            (venv / part.name).symlink_to(part)
    (venv / stamp).touch()
    (path / "build").mkdir()
    if (ROOT / "build" / "layer").exists():
        (path / "build" / "layer").symlink_to((ROOT / "build" / "layer").resolve())
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "USERPIPE_"))}
    env |= {
        "PATH": f"{path / '.venv' / 'bin'}:{env['PATH']}",
        "PYTHONPATH": str(path),
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    env.pop("VIRTUAL_ENV", None)
    yield Clone(path, env)
    shutil.rmtree(path / "cdk.out", ignore_errors=True)


@pytest.fixture(scope="module")
def local_stack(clone: Clone) -> Iterator[dict[str, str]]:
    """``.venv/bin/userpipe local up --port 0`` in the clone, until the module ends."""
    server = subprocess.Popen(
        [".venv/bin/userpipe", "local", "up", "--port", "0"],
        cwd=clone.path,
        env=clone.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    outputs = clone.path / ".userpipe" / "outputs.json"
    deadline = time.monotonic() + 120
    while not outputs.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"local up did not start: {server.stderr.read() if server.stderr else ''}")
        time.sleep(0.2)
    try:
        yield json.loads(outputs.read_text())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def operations_scenario(outputs: dict[str, str]) -> Callable[[], None]:
    """The stack docs/operations.md describes; returns the fix its `redrive` comes after."""
    from contracts.user_model import User
    from userpipe.aws.queues import wait_until_drained
    from userpipe.local.client import StackClient, wait_for

    client = StackClient(outputs)
    for email in ("early1@example.com", "early2@example.com"):  # no trigger: predate userpipe
        client.aws.cognito.admin_create_user(
            UserPoolId=client.pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
        client.aws.cognito.admin_set_user_password(
            UserPoolId=client.pool_id, Username=email, Password=PASSWORD, Permanent=True
        )
    email = "blocked@example.com"
    sub = client.sign_up(email, PASSWORD, confirm=False)
    squatter = User(
        id=sub,
        userPoolId="eu-west-1_Other0000",
        email="someone-else@example.com",
        owner=sub,
        createdAt="2025-01-01T00:00:00.000Z",
        updatedAt="2025-01-01T00:00:00.000Z",
        _version=1,
        _lastChangedAt=0,
    )
    table = outputs["user_table_name"]
    client.aws.dynamodb.put_item(TableName=table, Item=squatter.to_item())
    client.aws.cognito.confirm_sign_up(
        ClientId=client.client_id, Username=email, ConfirmationCode=client.code(email)
    )
    dlq = outputs["projector_dlq_url"]
    wait_for(lambda: client.depth(dlq) == 1, timeout=60, what="the blocked event in the DLQ")
    wait_until_drained(client.aws.sqs, client.queue_urls, timeout=60)

    def remove_the_item_that_blocked_the_event() -> None:
        client.aws.dynamodb.delete_item(TableName=table, Key={"id": {"S": sub}})

    return remove_the_item_that_blocked_the_event


def test_every_command_that_runs_here_runs_as_written(
    clone: Clone, local_stack: dict[str, str]
) -> None:
    failures: list[str] = []
    for page in ORDER:
        runnable = [c for c in commands(page) if c.kind() == "run"]
        if page == "docs/operations.md":
            started = time.monotonic()
            fix = operations_scenario(local_stack)
            print(f"{time.monotonic() - started:6.1f} s  the operations scenario")
            for command in runnable:  # one by one: the fix comes between two of them
                if command.bare == "userpipe redrive --local":
                    fix()
                started = time.monotonic()
                result = clone.run(f"set -o pipefail\n{command.text}")
                print(f"{time.monotonic() - started:6.1f} s  {command.text}")
                if result.returncode != command.expected_exit:
                    failures.append(describe(command, result))
            continue
        for block in sorted({c.block for c in runnable}):  # one shell per block: `eval` carries
            in_block = [c for c in runnable if c.block == block]
            script = "set -o pipefail\n" + "".join(
                f"{c.text}\necho $? >> .exits-{block}\n" for c in in_block
            )
            started = time.monotonic()
            result = clone.run(f"rm -f .exits-{block}\n{script}")
            print(f"{time.monotonic() - started:6.1f} s  {page}, block {block}")
            exits = (clone.path / f".exits-{block}").read_text().split()
            for command, status in zip(in_block, exits, strict=True):
                if int(status) != command.expected_exit:
                    failures.append(describe(command, result, int(status)))
    assert failures == [], "\n\n".join(failures)


def describe(
    command: Command, result: subprocess.CompletedProcess[str], status: int | None = None
) -> str:
    return (
        f"{command.page}: `{command.text}` exited {result.returncode if status is None else status}"
        f" (expected {command.expected_exit})\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    )
