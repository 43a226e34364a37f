from __future__ import annotations

import json
from typing import Any

from services.welcome_notifier.handler import process_batch
from tests.fakes import FakeEmailSender
from tests.support import sqs_event, user_confirmed_envelope


def test_a_new_verified_user_gets_one_welcome(lambda_context: Any, log_lines: Any) -> None:
    sender = FakeEmailSender()
    response = process_batch(sqs_event(user_confirmed_envelope()), lambda_context, sender)
    assert response == {"batchItemFailures": []}
    (email,) = sender.sent
    assert email.to == "ada@example.com"
    assert "ada@example.com" not in json.dumps(log_lines())


def test_replays_backfills_and_unverified_addresses_get_no_welcome(lambda_context: Any) -> None:
    replay = user_confirmed_envelope(replay_name="rebuild")
    backfill = user_confirmed_envelope()
    backfill["detail"]["origin"] = "reconcile"
    unverified = user_confirmed_envelope()
    unverified["detail"]["emailVerified"] = False
    sender = FakeEmailSender()
    process_batch(sqs_event(replay, backfill, unverified), lambda_context, sender)
    assert sender.sent == []


def test_an_unreadable_message_fails_alone(lambda_context: Any) -> None:
    sender = FakeEmailSender()
    event = sqs_event("{}", user_confirmed_envelope())
    response = process_batch(event, lambda_context, sender)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(sender.sent) == 1
