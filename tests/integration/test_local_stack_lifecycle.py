"""The local stack as a process: `userpipe local up` with real clients (the AWS CLI), signals,
a port in use, a clean stop and restart, and a trigger that fails the way Cognito reports it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from userpipe.local.client import StackClient, wait_for
from userpipe.local.server import PortInUseError, bind
from userpipe.local.stack import LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery!"
USERPIPE = Path(sys.executable).parent / "userpipe"
AWS = Path(sys.executable).parent / "aws"
#: The issue's bounds (a correctness bound for a process, not a benchmark).
READY_WITHIN_SECONDS = 15
STOPS_WITHIN_SECONDS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, object], float]]:
    """`userpipe local up` in its own process: (process, outputs, seconds until ready)."""
    outputs_path = tmp_path / "state" / "outputs.json"
    started = time.monotonic()
    process = subprocess.Popen(
        [str(USERPIPE), "local", "up", "--port", "0", "--outputs", str(outputs_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(outputs_path.exists, timeout=60, interval=0.05, what="the outputs file")
        ready = time.monotonic() - started
        yield process, json.loads(outputs_path.read_text()), ready
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_local_up_serves_the_aws_cli_and_stops_cleanly_on_sigterm(
    local_up: tuple[subprocess.Popen[str], dict[str, object], float],
) -> None:
    process, outputs, ready = local_up
    assert ready < READY_WITHIN_SECONDS
    endpoint, client_id = str(outputs["endpoint_url"]), str(outputs["user_pool_client_id"])
    outputs_file = str(Path(str(outputs["outbox_path"])).parent / "outputs.json")
    exports = subprocess.run(
        [str(USERPIPE), "local", "env", "--outputs", outputs_file],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    env = {**os.environ, **dict(_exported(exports))}
    email = "cli.user@example.com"
    signed = subprocess.run(
        [str(AWS), "--endpoint-url", endpoint, "cognito-idp", "sign-up", "--client-id", client_id,
         "--username", email, "--password", PASSWORD],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    sub = json.loads(signed.stdout)["UserSub"]
    codes = subprocess.run(
        [str(USERPIPE), "local", "codes", email, "--outputs",
         str(Path(str(outputs["outbox_path"])).parent / "outputs.json")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    client = StackClient(outputs)
    assert client.code(email) in codes.stdout
    subprocess.run(
        [str(AWS), "--endpoint-url", endpoint, "cognito-idp", "confirm-sign-up", "--client-id",
         client_id, "--username", email, "--confirmation-code", client.code(email)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wait_for(lambda: sub in client.users(), what="the CLI user's item")
    scanned = subprocess.run(  # AWS_ENDPOINT_URL from `local env`: no --endpoint-url
        [str(AWS), "dynamodb", "scan", "--table-name", str(outputs["user_table_name"])],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(scanned.stdout)["Count"] == 1
    stranger = {**env, "AWS_ACCESS_KEY_ID": "anything", "AWS_SECRET_ACCESS_KEY": "anything"}
    refused = subprocess.run(
        [str(AWS), "dynamodb", "scan", "--table-name", str(outputs["user_table_name"])],
        env=stranger, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "UnrecognizedClientException" in refused.stderr
    assert "security token included in the request is invalid" in refused.stderr

    port = int(endpoint.rsplit(":", 1)[1])
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOPS_WITHIN_SECONDS) == 0
    assert time.monotonic() - stopping < STOPS_WITHIN_SECONDS
    assert not listening(port)


def _exported(lines: str) -> Iterator[tuple[str, str]]:
    """The variables ``export NAME=value`` lines set (values as the shell reads them)."""
    import shlex

    for line in lines.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            yield name, shlex.split(value)[0]


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(USERPIPE), "local", "up", "--port", str(port), "--outputs",
             str(tmp_path / "outputs.json")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"userpipe: 127.0.0.1:{port} is already in use: stop what listens there, or choose "
        "another port with --port (0 picks a free one)"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "outputs.json").exists()


def test_local_codes_without_a_stack_says_what_it_looked_for(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(USERPIPE), "local", "codes", "--outputs", str(tmp_path / "missing.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no local stack outputs at" in result.stderr and "missing.json" in result.stderr


def test_a_stack_stops_cleanly_and_starts_again_on_the_same_port(tmp_path: Path) -> None:
    port = free_port()
    options = LocalStackOptions(port=port, state_dir=tmp_path)
    with LocalStack(options) as first:
        client = StackClient(first.outputs())
        sub = client.sign_up("first@example.com", PASSWORD)
        wait_for(lambda: sub in client.users(), what="the first stack's item")
        sandboxes = list(first.sandboxes.values())
    assert not listening(port)
    assert all(sandbox._process is None for sandbox in sandboxes)  # no function left running
    with pytest.raises(PortInUseError), bind("127.0.0.1", port), LocalStack(options):
        pass  # while something else holds the port, a stack refuses to start
    with LocalStack(options) as second:
        client = StackClient(second.outputs())
        assert client.users() == {}  # a new stack starts empty (the emulator keeps no state)
        sub = client.sign_up("second@example.com", PASSWORD)
        wait_for(lambda: sub in client.users(), what="the second stack's item")


def test_a_failing_trigger_answers_as_cognito_does_and_the_user_stays_confirmed(
    tmp_path: Path,
) -> None:
    with LocalStack(LocalStackOptions(state_dir=tmp_path)) as stack:
        client = StackClient(stack.outputs())
        events, bus = client.aws.events, str(client.outputs["event_bus_name"])
        events.delete_archive(ArchiveName=str(client.outputs["archive_name"]))
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            ids = [target["Id"] for target in targets]
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=ids)
            events.delete_rule(Name=rule["Name"], EventBusName=bus)
        events.delete_event_bus(Name=bus)
        email = "unlucky@example.com"
        client.sign_up(email, PASSWORD, confirm=False)

        with pytest.raises(ClientError) as failed:
            client.aws.cognito.confirm_sign_up(
                ClientId=client.client_id, Username=email, ConfirmationCode=client.code(email)
            )

        error = failed.value.response["Error"]
        assert error["Code"] == "UserLambdaValidationException"
        assert error["Message"].startswith("PostConfirmation failed with error UserConfirmed not")
        assert "@" not in error["Message"]
        user = client.aws.cognito.admin_get_user(UserPoolId=client.pool_id, Username=email)
        assert user["UserStatus"] == "CONFIRMED"  # as in Cognito: reconcile repairs the gap
        client.sign_in(email, PASSWORD)


def test_an_event_whose_target_queue_is_gone_lands_in_the_rules_dlq(tmp_path: Path) -> None:
    """EventBridge accepts it and sends it straight to the target's DLQ; the trigger's
    publish succeeds (the user is confirmed without an error)."""
    with LocalStack(LocalStackOptions(state_dir=tmp_path)) as stack:
        client = StackClient(stack.outputs())
        client.aws.sqs.delete_queue(QueueUrl=str(client.outputs["projector_queue_url"]))
        email = "lost.queue@example.com"
        sub = client.sign_up(email, PASSWORD)  # confirms: the trigger publishes fine

        (dead,) = wait_for(
            lambda: client.aws.sqs.receive_message(
                QueueUrl=str(client.outputs["projector_dlq_url"]), MessageAttributeNames=["All"]
            ).get("Messages"),
            what="the event in the rule's DLQ",
        )
        assert json.loads(dead["Body"])["detail"]["sub"] == sub
        attributes = dead["MessageAttributes"]
        assert attributes["RULE_ARN"]["StringValue"] == client.outputs["projector_rule_arn"]
        assert attributes["ERROR_CODE"]["StringValue"] == "SQS.NonExistentQueue"
        assert sub not in client.users()
        # The other subscriber still got it: the welcome email went out.
        wait_for(lambda: client.code
                 and [e for e in stack.outbox.entries(email) if e["kind"] == "email"],
                 what="the welcome email")  # fmt: skip


def test_local_up_on_every_interface_warns_what_becomes_reachable(tmp_path: Path) -> None:
    outputs_path = tmp_path / "outputs.json"
    process = subprocess.Popen(
        [str(USERPIPE), "local", "up", "--host", "0.0.0.0", "--port", "0",  # noqa: S104
         "--outputs", str(outputs_path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(outputs_path.exists, timeout=60, interval=0.05, what="the outputs file")
        process.send_signal(signal.SIGTERM)
        printed, _ = process.communicate(timeout=STOPS_WITHIN_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
    assert "WARNING: listening on every network interface" in printed
    assert "This machine only: the confirmation codes" in printed
