"""The local Cognito front's codes: Cognito's wording and its 24-hour validity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from userpipe.local import outbox
from userpipe.local.cognito import CODE_VALIDITY_SECONDS, CognitoError, CognitoFront
from userpipe.local.outbox import Outbox


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_849_200.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def front(tmp_path: Path) -> tuple[CognitoFront, Clock, Outbox]:
    clock, box = Clock(), Outbox(tmp_path / "outbox.jsonl")
    unused: Any = None
    return (
        CognitoFront(
            unused,
            aws=unused,
            user_pool_id="eu-west-1_Ab12Cd34E",
            client_id="client",
            region="eu-west-1",
            functions=unused,
            outbox=box,
            jwks={"keys": []},
            clock=clock,
        ),
        clock,
        box,
    )


def test_a_code_is_six_digits_in_the_outbox_and_works_once(front: Any) -> None:
    cognito, _, box = front
    cognito._send_code(outbox.SIGN_UP, "user-1", "Ada@Example.com")
    (sent,) = box.entries("ada@example.com")
    assert sent["kind"] == outbox.SIGN_UP and sent["code"].isdigit() and len(sent["code"]) == 6
    cognito._check_code(outbox.SIGN_UP, "user-1", sent["code"])
    with pytest.raises(CognitoError) as again:
        cognito._check_code(outbox.SIGN_UP, "user-1", sent["code"])
    assert again.value.code == "CodeMismatchException"


def test_a_code_expires_after_24_hours(front: Any) -> None:
    cognito, clock, box = front
    cognito._send_code(outbox.FORGOT_PASSWORD, "user-1", "ada@example.com")
    (sent,) = box.entries()
    clock.now += CODE_VALIDITY_SECONDS + 1
    with pytest.raises(CognitoError) as expired:
        cognito._check_code(outbox.FORGOT_PASSWORD, "user-1", sent["code"])
    assert (expired.value.code, expired.value.message) == (
        "ExpiredCodeException",
        "Invalid code provided, please request a code again.",
    )


def test_a_code_of_one_kind_does_not_confirm_another(front: Any) -> None:
    cognito, _, box = front
    cognito._send_code(outbox.FORGOT_PASSWORD, "user-1", "ada@example.com")
    (sent,) = box.entries()
    with pytest.raises(CognitoError, match="Invalid verification code"):
        cognito._check_code(outbox.SIGN_UP, "user-1", sent["code"])
