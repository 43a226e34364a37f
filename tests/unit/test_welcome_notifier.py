"""The welcome notifier: who is welcomed (fakes), and reading the address from Cognito by sub
(moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from services.welcome_notifier.contacts import CognitoContacts
from services.welcome_notifier.handler import process_batch
from services.welcome_notifier.logic import Contact
from tests.fakes import FakeEmailSender
from tests.support import sqs_event, user_confirmed_envelope

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"


class FakeContacts:
    """Cognito's users by sub; records who was asked."""

    def __init__(self, users: dict[str, Contact] | None = None) -> None:
        self.users = {SUB: Contact("ada@example.com", True)} if users is None else users
        self.asked: list[tuple[str, str]] = []

    def contact(self, user_pool_id: str, sub: str) -> Contact | None:
        self.asked.append((user_pool_id, sub))
        return self.users.get(sub)


def test_a_new_verified_user_gets_one_welcome_at_the_address_cognito_holds(
    lambda_context: Any, log_lines: Any
) -> None:
    sender, contacts = FakeEmailSender(), FakeContacts()
    response = process_batch(sqs_event(user_confirmed_envelope()), lambda_context, sender, contacts)
    assert response == {"batchItemFailures": []}
    (email,) = sender.sent
    assert email.to == "ada@example.com"
    assert contacts.asked == [(POOL, SUB)]
    assert "ada@example.com" not in json.dumps(log_lines())


def test_replays_and_backfills_get_no_welcome_and_cognito_is_not_asked(
    lambda_context: Any,
) -> None:
    replay = user_confirmed_envelope(replay_name="rebuild")
    backfill = user_confirmed_envelope()
    backfill["detail"]["origin"] = "reconcile"
    synced = user_confirmed_envelope()
    synced["detail"]["origin"] = "sync"
    sender, contacts = FakeEmailSender(), FakeContacts()
    response = process_batch(sqs_event(replay, backfill, synced), lambda_context, sender, contacts)
    assert response == {"batchItemFailures": []}
    assert sender.sent == [] and contacts.asked == []


@pytest.mark.parametrize(
    "users",
    [
        {},  # deleted from Cognito since: nothing to send
        {SUB: Contact(None, False)},  # no email attribute
        {SUB: Contact("ada@example.com", False)},  # unverified: never written to
    ],
    ids=["user-gone", "no-email", "unverified"],
)
def test_nothing_to_send_is_a_success(users: dict[str, Contact], lambda_context: Any) -> None:
    sender = FakeEmailSender()
    event = sqs_event(user_confirmed_envelope())
    response = process_batch(event, lambda_context, sender, FakeContacts(users))
    assert response == {"batchItemFailures": []}
    assert sender.sent == []


def test_an_unreadable_message_fails_alone(lambda_context: Any) -> None:
    sender = FakeEmailSender()
    event = sqs_event("{}", user_confirmed_envelope())
    response = process_batch(event, lambda_context, sender, FakeContacts())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(sender.sent) == 1


# --- Cognito (moto) ---------------------------------------------------------------------------


@pytest.fixture
def cognito(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("cognito-idp", region_name="eu-west-1")
        pool = client.create_user_pool(PoolName="users", UsernameAttributes=["email"])
        yield client, pool["UserPool"]["Id"]


def _sub_of(client: Any, pool: str, username: str) -> str:
    user = client.admin_get_user(UserPoolId=pool, Username=username)
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def test_cognito_is_read_by_sub(cognito: tuple[Any, str]) -> None:
    client, pool = cognito
    client.admin_create_user(
        UserPoolId=pool,
        Username="grace@example.com",
        UserAttributes=[
            {"Name": "email", "Value": "grace@example.com"},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    sub = _sub_of(client, pool, "grace@example.com")
    assert CognitoContacts(client).contact(pool, sub) == Contact("grace@example.com", True)


def test_a_user_cognito_no_longer_has_is_none(cognito: tuple[Any, str]) -> None:
    client, pool = cognito
    assert CognitoContacts(client).contact(pool, SUB) is None


def test_a_user_without_email_verified_is_unverified(cognito: tuple[Any, str]) -> None:
    client, pool = cognito
    client.admin_create_user(
        UserPoolId=pool,
        Username="lin@example.com",
        UserAttributes=[{"Name": "email", "Value": "lin@example.com"}],
    )
    sub = _sub_of(client, pool, "lin@example.com")
    assert CognitoContacts(client).contact(pool, sub) == Contact("lin@example.com", False)
