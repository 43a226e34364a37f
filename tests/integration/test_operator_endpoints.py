"""The operator commands against endpoints that misbehave, on real local sockets: one that takes
connections and never answers, and HTTP servers that are not AWS (HTML, a 404). Each command
ends with one line naming the endpoint — no traceback, no ``KeyError`` — within its clients'
bounded time (``userpipe.aws.clients``), for a local stack's outputs file and for ``--stack`` alike.

The commands run as an operator runs them, each in its own process (``python -m userpipe``);
how long each took is printed (``-s`` shows it), and only a generous bound is asserted: the
budget itself is checked where it is configured (tests/unit/test_clients.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topology import OUTPUTS
from tests.endpoints import SILENT, Answer, ScriptedEndpoint, scripted_endpoint
from userpipe.aws.clients import worst_case_seconds

pytestmark = pytest.mark.integration
#: Far above the clients' budget and far below what they took before they had one (botocore's
#: defaults: 60 s reads, 5 attempts): a hang fails the test instead of stalling the suite.
GIVE_UP_SECONDS = 60
HTML = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>Hello</body></html>"


def local_outputs(tmp_path: Path, endpoint: str) -> Path:
    """A local stack's outputs file whose every URL points at ``endpoint``, written by a
    process that is alive (this one), as a running stack's would be."""
    outputs: dict[str, object] = {
        output.local_name: f"{endpoint}/123456789012/userpipe-x-{output.local_name}"
        for output in OUTPUTS
    }
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[userpipe-local]\naws_access_key_id = AKIA0\naws_secret_access_key = s\n"
    )
    outputs |= {
        "endpoint_url": endpoint,
        "region": "eu-west-1",
        "stage": "x",
        "pid": os.getpid(),
        "credentials_path": str(credentials),
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def started(*args: str, endpoint: str | None = None) -> tuple[subprocess.Popen[str], float]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    if endpoint is not None:  # --stack: the AWS path, pointed here as an SDK user would
        env["AWS_ENDPOINT_URL"] = endpoint
    process = subprocess.Popen(
        [sys.executable, "-m", "userpipe", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, time.monotonic()


def finished(process: subprocess.Popen[str], since: float) -> tuple[int, str, float]:
    """(exit status, stderr, seconds taken); the test fails if it outlasts GIVE_UP_SECONDS."""
    try:
        _, err = process.communicate(timeout=max(1.0, GIVE_UP_SECONDS - (time.monotonic() - since)))
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{process.args} still ran after {GIVE_UP_SECONDS} s")
    return process.returncode, err, time.monotonic() - since


@pytest.fixture
def silent() -> Iterator[ScriptedEndpoint]:
    with scripted_endpoint(SILENT) as endpoint:
        yield endpoint


def test_status_and_redrive_against_an_endpoint_that_never_answers_end_in_one_line(
    silent: ScriptedEndpoint, tmp_path: Path
) -> None:
    outputs = str(local_outputs(tmp_path, silent.url))
    runs = {
        "status --outputs": started("status", "--outputs", outputs),
        "redrive --outputs": started("redrive", "--outputs", outputs),
        "status --stack": started(
            "status", "--stack", "userpipe-x", "--region", "eu-west-1", endpoint=silent.url
        ),
    }
    for name, (process, since) in runs.items():
        code, err, seconds = finished(process, since)
        print(f"{name} against a silent endpoint: exit {code} after {seconds:.1f} s")
        assert code == 2, err
        assert "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert silent.url in line and "no answer" in line, line
    assert worst_case_seconds("sqs") < 20 and worst_case_seconds("cloudformation") < 20


@pytest.mark.parametrize(
    "answer",
    [
        Answer(status="200 OK", body=HTML, content_type="text/html; charset=utf-8"),
        Answer(status="404 Not Found", body=HTML, content_type="text/html"),
        Answer(status="404 Not Found", body=b"Not Found", content_type="text/plain"),
    ],
    ids=["html-200", "html-404", "text-404"],
)
def test_an_endpoint_that_is_not_aws_is_named_not_a_key_error(
    answer: Answer, tmp_path: Path
) -> None:
    with scripted_endpoint(answer) as web:
        outputs = str(local_outputs(tmp_path, web.url))
        runs = {
            "status --outputs": started("status", "--outputs", outputs),
            "redrive --outputs": started("redrive", "--outputs", outputs),
            "status --stack": started(
                "status", "--stack", "userpipe-x", "--region", "eu-west-1", endpoint=web.url
            ),
        }
        for name, (process, since) in runs.items():
            code, err, seconds = finished(process, since)
            print(f"{name} against a web server ({answer.status}): exit {code}, {seconds:.1f} s")
            assert code == 2, err
            assert "Traceback" not in err and "KeyError" not in err
            (line,) = err.strip().splitlines()
            assert web.url in line and "not an AWS API" in line, line
