"""``userpipe verify --local``: the smoke test follows its throw-away user through a running
local stack, every step holds, and what it leaves is what erasure leaves by design."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contracts.lifecycle import ERASED_FIELDS
from contracts.names import DELETED_ATTRIBUTE, USER_TTL_ATTRIBUTE
from userpipe.cli import main
from userpipe.local import outbox
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack
from userpipe.ops.verify import EMAIL_LOCAL_PART

pytestmark = pytest.mark.integration
TIMEOUT = "15"
STEP = re.compile(r"^✓ .+ — \d+ ms$")


def verify(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Its exit status and stdout."""
    capsys.readouterr()
    code = main(["verify", "--local", "--outputs", str(stack.outputs_path), *args])
    return code, capsys.readouterr().out


def cognito_users(client: StackClient) -> list[str]:
    users = client.aws.cognito.list_users(UserPoolId=client.pool_id)["Users"]
    return [
        attribute["Value"]
        for user in users
        for attribute in user["Attributes"]
        if attribute["Name"] == "email"
    ]


def test_verify_holds_on_the_local_stack_and_leaves_only_a_tombstone(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = verify(stack, capsys, "--json", "--timeout", TIMEOUT)

    report = json.loads(printed)
    failed = [step for step in report["steps"] if not step["ok"]]
    assert not failed, failed
    assert code == 0 and report["ok"] and report["cleaned"]
    names = [step["step"] for step in report["steps"]]
    assert names[0] == "sign up (SignUp)"
    assert "welcome mail in the outbox" in names
    assert names[-3:] == [
        "tombstone (_deleted, no email, name or age)",
        "audit trail redacted (no email, name or age, nor their fingerprints)",
        "key deleted from the keys table",
    ]
    assert all(isinstance(step["ms"], int) and step["ms"] >= 0 for step in report["steps"])

    email = report["email"]
    assert email.startswith(f"{EMAIL_LOCAL_PART}+") and email.endswith("@example.com")
    assert email not in cognito_users(client)
    sub = report["sub"]
    item = client.aws.dynamodb.get_item(
        TableName=client.outputs["user_table_name"], Key={"id": {"S": sub}}
    )["Item"]
    assert item[DELETED_ATTRIBUTE] == {"BOOL": True} and USER_TTL_ATTRIBUTE in item
    assert not set(ERASED_FIELDS) & item.keys()
    assert email not in json.dumps([r.model_dump(mode="json") for r in client.audit_records()])
    mail = Path(client.outputs["outbox_path"])
    sent = [entry["kind"] for entry in outbox.read(mail) if entry["to"] == email]
    assert sent == [outbox.SIGN_UP, outbox.EMAIL]  # the code and the welcome mail, nothing more


def test_verify_prints_each_step_with_its_latency_then_the_cleanup_and_a_verdict(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = verify(stack, capsys, "--timeout", TIMEOUT)

    lines = printed.splitlines()
    steps = [line for line in lines if line[:1] in "✓✗"]
    assert steps and all(STEP.match(line) for line in steps), printed
    assert any(line.startswith("cleanup: the user deleted itself (DeleteUser)") for line in lines)
    assert lines[-1].startswith("OK: every step held")
    assert code == 0
    assert not [email for email in cognito_users(client) if email.startswith(EMAIL_LOCAL_PART)]


def test_a_run_that_fails_before_the_deletion_deletes_its_cognito_user(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # No pipeline answers within a millisecond: a step before DeleteUser fails.
    code, printed = verify(stack, capsys, "--json", "--timeout", "0.001")

    report = json.loads(printed)
    assert code == 1 and not report["ok"] and report["cleaned"]
    assert report["steps"][-1]["ok"] is False
    assert report["cleanup"] == [
        "cleanup: the user was deleted (AdminDeleteUser); the pipeline erases it as after any "
        "deletion, leaving a tombstone and audit records without personal data"
    ]
    assert report["email"] not in cognito_users(client)
