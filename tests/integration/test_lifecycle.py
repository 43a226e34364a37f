"""Step 13's "done when", on the local stack through its public APIs only (boto3 against its
Cognito, GraphQL, the operator commands): every way a user's record changes after sign-up
reaches the User table within 10 s, and a deletion erases.

- an admin-created user answers NEW_PASSWORD_REQUIRED at their first sign-in: their item
  appears (pre token generation; PostConfirmation never fires for them);
- a user changes their email: nothing changes until they verify the new address (Cognito keeps
  the old one active); after VerifyUserAttribute the item holds the new one, ``_version`` +1;
- an admin changes a user's email (``email_verified=true``): the item follows;
- a user deletes their account: the item becomes a tombstone without email, name or age; then
  no table, audit record, archived event, dead-letter message or log line holds the email or
  the name readably, the user's data key is gone, and a replay of the whole archive and an
  empty-and-rebuild leave the tombstone exactly as it was.

Each latency is printed (``pytest -s``); docs/lifecycle.md's table quotes them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import events_backends

from contracts.topology import DEAD_LETTERS
from tests.support import STACK_PASSWORD, run_userpipe, user_item
from userpipe.aws.tables import scan
from userpipe.local import outbox
from userpipe.local.client import StackClient, wait_for
from userpipe.local.sandbox import ACCOUNT
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration

WITHIN = 10.0  # seconds: the bound for every change to reach the table
EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name _version }
}"""
LATENCIES: dict[str, float] = {}


def _timed(what: str, condition: Callable[[], Any]) -> Any:
    """Wait for ``condition`` at most ``WITHIN`` seconds; record how long it took."""
    started = time.monotonic()
    value = wait_for(condition, timeout=WITHIN, interval=0.05, what=what)
    LATENCIES[what] = time.monotonic() - started
    return value


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for what, seconds in LATENCIES.items():
        print(f"{what}: {seconds * 1000:.0f} ms")


def _email() -> str:
    return f"life-{uuid.uuid4().hex[:10]}@example.com"


def test_an_admin_created_user_gets_a_record_at_their_first_sign_in(client: StackClient) -> None:
    email = _email()
    cognito = client.aws.cognito
    created = cognito.admin_create_user(
        UserPoolId=client.pool_id,
        Username=email,
        TemporaryPassword="Temporary-Pass-1!",
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
        MessageAction="SUPPRESS",
    )["User"]
    sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
    challenge = cognito.initiate_auth(
        ClientId=client.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": "Temporary-Pass-1!"},
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    time.sleep(0.5)
    assert user_item(client, sub) is None  # not in until they set their password
    cognito.respond_to_auth_challenge(
        ClientId=client.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": STACK_PASSWORD},
    )
    item = _timed("admin-created user: first sign-in → item", lambda: user_item(client, sub))
    assert item["email"] == {"S": email} and item["_version"] == {"N": "1"}


def test_an_email_change_reaches_the_record_only_once_verified(client: StackClient) -> None:
    email, new = _email(), _email()
    sub, tokens = client.confirmed_user(email, STACK_PASSWORD)
    cognito = client.aws.cognito
    cognito.update_user_attributes(
        AccessToken=tokens.access, UserAttributes=[{"Name": "email", "Value": new}]
    )
    code = client.code(new, outbox.VERIFY_ATTRIBUTE)
    time.sleep(1.0)  # user_sync has run by now: Cognito still has the old, verified address
    assert user_item(client, sub)["email"] == {"S": email}  # type: ignore[index]
    cognito.verify_user_attribute(AccessToken=tokens.access, AttributeName="email", Code=code)
    item = _timed(
        "email change: VerifyUserAttribute → item",
        lambda: (found := user_item(client, sub)) and found["email"] == {"S": new} and found,
    )
    assert item["_version"] == {"N": "2"}


def test_an_admins_email_change_reaches_the_record(client: StackClient) -> None:
    email, new = _email(), _email()
    sub, _ = client.confirmed_user(email, STACK_PASSWORD)
    client.aws.cognito.admin_update_user_attributes(
        UserPoolId=client.pool_id,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": new},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    item = _timed(
        "admin email change → item",
        lambda: (found := user_item(client, sub)) and found["email"] == {"S": new} and found,
    )
    assert item["_version"] == {"N": "2"}


def _readable_anywhere(stack: LocalStack, client: StackClient, values: list[str]) -> list[str]:
    """Where any of ``values`` can still be read: the tables, the archive, every dead-letter
    queue, every function's log and the stack's own log lines."""
    found: list[str] = []

    def look(where: str, text: str) -> None:
        found.extend(f"{where}: {value}" for value in values if value in text)

    for table in ("user_table_name", "audit_table_name", "keys_table_name"):
        look(
            table, json.dumps(list(scan(client.aws.dynamodb, client.outputs[table])), default=repr)
        )
    backend = events_backends[ACCOUNT][client.outputs["region"]]
    archived = backend.archives[client.outputs["archive_name"]].events
    look("archive", json.dumps(archived, default=str))
    for dead in DEAD_LETTERS:
        url = client.outputs.get(dead.url.local_name)
        if url:
            messages = client.aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            look(dead.name, json.dumps(messages))
    for log in Path(stack.logs_dir).glob("*.log"):
        look(log.name, log.read_text(errors="replace"))
    return found


def test_a_deletion_erases_and_no_replay_or_rebuild_brings_the_user_back(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    email = _email()
    name = f"Name-{uuid.uuid4().hex[:8]}"
    sub, tokens = client.confirmed_user(email, STACK_PASSWORD)
    edited = client.graphql(EDIT, {"input": {"id": sub, "name": name}}, token=tokens.id)
    assert edited.data["updateUser"]["name"] == name, edited.errors
    stack.settle(timeout=60)  # the edit is audited and on the bus (sealed)
    keys = client.aws.dynamodb.get_item(
        TableName=client.outputs["keys_table_name"], Key={"id": {"S": sub}}
    )
    assert "Item" in keys  # the profile change was sealed under the user's key

    # The search finds what is there: before the deletion, the item holds both.
    before = _readable_anywhere(stack, client, [email, name])
    assert f"user_table_name: {email}" in before and f"user_table_name: {name}" in before
    assert not [where for where in before if where.startswith("archive")]  # sealed, no email
    assert list(Path(stack.logs_dir).glob("*.log"))  # the functions' logs are searched too

    client.aws.cognito.delete_user(AccessToken=tokens.access)
    tombstone = _timed(
        "DeleteUser → tombstone",
        lambda: (found := user_item(client, sub)) and "_deleted" in found and found,
    )
    assert tombstone["_deleted"] == {"BOOL": True}
    assert not {"email", "name", "age"} & set(tombstone)
    assert int(tombstone["_ttl"]["N"]) > time.time() + 29 * 86_400
    stack.settle(timeout=60)

    assert _readable_anywhere(stack, client, [email, name]) == []
    keys = client.aws.dynamodb.get_item(
        TableName=client.outputs["keys_table_name"], Key={"id": {"S": sub}}
    )
    assert "Item" not in keys  # shredded: the archived profile can no longer be opened

    run_userpipe(stack, capsys, "replay", "--local", "--wait", "--force")
    stack.settle(timeout=60)
    assert user_item(client, sub) == tombstone

    run_userpipe(stack, capsys, "local", "empty-user-table")
    run_userpipe(stack, capsys, "rebuild", "--local", "--force")
    stack.settle(timeout=60)
    assert user_item(client, sub) == tombstone
    assert _readable_anywhere(stack, client, [email, name]) == []
