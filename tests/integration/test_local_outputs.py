"""The local stack's outputs file is how commands find a stack, so it belongs to one stack: a
second ``local up`` never overwrites a running stack's, a running stack never reads another's,
and a command aimed at a stack that has stopped says so and how to start one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.amplify import outputs_schema_errors
from userpipe.cli import main
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_local_up_refuses_a_running_stacks_outputs_file_and_says_how_to_choose(
    stack: LocalStack, tmp_path: Path
) -> None:
    before = stack.outputs_path.read_text()
    second = subprocess.Popen(
        [sys.executable, "-m", "userpipe", "local", "up", "--port", "0",
         "--outputs", str(stack.outputs_path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        _, err = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate()
        pytest.fail("a second local up kept running on the first stack's outputs file")
    finally:
        replaced = stack.outputs_path.read_text() != before
    assert not replaced, "the second stack overwrote the running stack's outputs"
    assert second.returncode == 2
    (line,) = err.strip().splitlines()
    assert f"a local stack is running at {stack.endpoint_url}" in line
    assert str(stack.outputs_path) in line and "--outputs" in line
    StackClient(stack.outputs()).users()  # the first stack still answers, state intact


def test_the_console_shows_its_own_stack_even_when_its_outputs_file_names_another(
    stack: LocalStack,
) -> None:
    original = stack.outputs_path.read_text()
    other = {**json.loads(original), "endpoint_url": f"http://127.0.0.1:{closed_port()}"}
    stack.outputs_path.write_text(json.dumps(other))
    try:
        found = stack.console_status()
        stack.outputs_path.unlink()
        again = stack.console_status()
    finally:
        stack.outputs_path.write_text(original)
    assert found["deployment"] == again["deployment"] == f"the local stack at {stack.endpoint_url}"
    assert found["verdict"] == "OK"


@pytest.mark.parametrize("gone", ["port", "process"])
def test_a_command_aimed_at_a_stopped_stack_says_it_is_not_running_and_how_to_start_it(
    gone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    pid = ended_pid() if gone == "process" else os.getpid()
    path = tmp_path / "stopped" / "outputs.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"endpoint_url": endpoint, "stage": "local", "pid": pid}))

    started = time.monotonic()
    code = main(["status", "--outputs", str(path)])
    _, err = capsys.readouterr()

    assert code == 2
    assert err.strip() == (
        f"userpipe status: the local stack at {endpoint} is not running ("
        + (f"its process {pid} has ended" if gone == "process" else
           f"nothing listens on 127.0.0.1:{endpoint.rsplit(':', 1)[1]}")
        + f"); start one with `userpipe local up --outputs {path}` (a new stack starts empty)"
    )  # fmt: skip
    assert time.monotonic() - started < 10  # told at once, not after connection retries


def test_the_stack_writes_amplify_outputs_next_to_its_outputs_as_outputs_gen2_prints_them(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Amplify Gen 2's amplify_outputs.json, valid by amplify-backend's schema 1.5, named in
    the outputs; ``userpipe outputs --format gen2`` prints the same document."""
    outputs = stack.outputs()
    written = Path(outputs["amplify_outputs_path"])
    assert written == stack.outputs_path.parent.resolve() / "amplify_outputs.json"
    document = json.loads(written.read_text())
    assert outputs_schema_errors(document) == []
    assert document["data"]["url"] == outputs["graphql_url"]
    assert document["auth"]["user_pool_id"] == outputs["user_pool_id"]

    assert main(["outputs", "--outputs", str(stack.outputs_path), "--format", "gen2"]) == 0
    assert json.loads(capsys.readouterr().out) == document
