"""The local stack's own commands and the commands it prints: ``local admin`` makes an Admin,
``local codes`` says when nothing went to an address, and every command ``local up`` and
``replay`` print runs when pasted into a plain shell (no virtualenv active, no AWS
configuration), in the folder where ``local up`` ran."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.topology import ADMIN_GROUP
from userpipe.cli import main
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery!"
USERPIPE = Path(sys.executable).parent / "userpipe"


def userpipe(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*args, "--outputs", str(stack.outputs_path)])
    out, err = capsys.readouterr()
    return code, out, err


def plain_shell(home: Path) -> dict[str, str]:
    """A shell as an operator opens one: no virtualenv on PATH, no AWS configuration. (This
    checkout on PYTHONPATH, so that the commands run the code under test.)"""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


def pasted(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", command], cwd=cwd, env=plain_shell(cwd),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def test_local_admin_makes_a_signed_up_user_an_admin(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    email = "future.admin@example.com"
    client.sign_up(email, PASSWORD)

    code, out, err = userpipe(stack, capsys, "local", "admin", email)

    assert code == 0, err
    assert f"{email} is in the {ADMIN_GROUP} group" in out and "sign in again" in out
    groups = client.aws.cognito.admin_list_groups_for_user(UserPoolId=client.pool_id,
                                                           Username=email)["Groups"]  # fmt: skip
    assert [group["GroupName"] for group in groups] == [ADMIN_GROUP]
    assert claims(client.sign_in(email, PASSWORD).id)["cognito:groups"] == [ADMIN_GROUP]


def test_local_admin_for_an_unknown_address_is_one_line(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = userpipe(stack, capsys, "local", "admin", "nobody@example.com")
    assert code == 2 and out == ""
    assert err == (
        f"userpipe: nobody@example.com has not signed up to the local stack at "
        f"{stack.endpoint_url}: sign up first (the console, or `aws cognito-idp sign-up`), "
        "then run this again\n"
    )


def test_local_codes_for_another_address_says_nothing_went_there(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.sign_up("someone@example.com", PASSWORD, confirm=False)
    code, out, _ = userpipe(stack, capsys, "local", "codes", "Other@Example.com")
    assert code == 0
    assert " ".join(out.split()) == (
        "nothing was sent to other@example.com (`userpipe local codes` lists what was sent "
        "to every address)"
    )


def test_the_replay_command_it_prints_runs_when_pasted(
    stack: LocalStack,
    client: StackClient,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.sign_up("replayed@example.com", PASSWORD)
    monkeypatch.setenv("PATH", plain_shell(tmp_path)["PATH"])  # printed in the same shell
    monkeypatch.chdir(tmp_path)  # ...and folder it is pasted in
    code, out, err = userpipe(stack, capsys, "replay")
    assert code == 0, err
    (command,) = re.findall(r"`([^`]+)`", out)
    answer = pasted(command, tmp_path)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["ReplayName"] in command


def test_every_command_local_up_prints_runs_when_pasted(tmp_path: Path) -> None:
    """`local up` run as `.venv/bin/userpipe` without the virtualenv active, with its own
    outputs file: what it prints names both, and each line runs as it is."""
    process = subprocess.Popen(
        [str(USERPIPE), "local", "up", "--port", "0", "--outputs", "state/outputs.json"],
        cwd=tmp_path, env=plain_shell(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    try:
        wait_for(lambda: _read_until(process, printed, "Ctrl-C stops the stack"), timeout=90,
                 interval=0, what="local up's announcement")  # fmt: skip
        commands = _commands(printed)
        assert len(commands) >= 5, printed
        ours = [command for command in commands if " local " in command]
        assert ours and all("--outputs state/outputs.json" in command for command in ours)
        for command in commands:
            answer = pasted(command, tmp_path)
            assert answer.returncode == 0, f"{command}\n{answer.stdout}\n{answer.stderr}"
        outputs = json.loads((tmp_path / "state" / "outputs.json").read_text())
        client = StackClient(outputs)
        groups = client.aws.cognito.admin_list_groups_for_user(
            UserPoolId=client.pool_id, Username="you@example.com"
        )["Groups"]
        assert [group["GroupName"] for group in groups] == [ADMIN_GROUP]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _read_until(process: subprocess.Popen[str], lines: list[str], marker: str) -> bool:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        pytest.fail(f"local up ended: {''.join(lines)}")
    lines.append(line.rstrip("\n"))
    return marker in line


def _commands(printed: list[str]) -> list[str]:
    """The lines of the block that says to paste them."""
    start = next(i for i, line in enumerate(printed) if line.startswith("Paste into a shell"))
    block = []
    for line in printed[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block
