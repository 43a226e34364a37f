"""The local Cognito front over an in-process moto: a user's whole life as Cognito serves it
(email change with verification, deletion, an admin-created user's first sign-in) and the
CloudTrail-shaped events AWS would put on the default bus for each call."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from userpipe.local import cloudtrail, outbox
from userpipe.local.aws import EmulatorError, InProcessAws
from userpipe.local.cognito import CODE_VALIDITY_SECONDS, CognitoFront
from userpipe.local.outbox import Outbox
from userpipe.local.sandbox import ACCOUNT, Invocation
from userpipe.local.server import emulator

REGION = "eu-west-1"
TARGET = "AWSCognitoIdentityProviderService."
PASSWORD = "Passw0rd!-long-enough"
OLD, NEW = "ada@example.com", "ada.lovelace@example.org"
TRIGGER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:users-confirm-trigger"


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_849_200.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeTrigger:
    """A function sandbox that records each event and answers ``error`` (or success)."""

    error: dict[str, str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: Any) -> Invocation:
        self.events.append(copy.deepcopy(event))
        return Invocation(str(uuid.uuid4()), result=event, error=self.error)


@dataclass
class Stack:
    front: CognitoFront
    aws: InProcessAws  # clients' calls, through the front
    emulator: InProcessAws  # straight to moto
    pool: str
    client: str
    clock: Clock
    box: Outbox
    trigger: FakeTrigger
    events: list[dict[str, Any]]

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.aws.call("cognito-idp", f"{TARGET}{operation}", payload)

    def user(self, username: str) -> dict[str, str]:
        found = self.emulator.call(
            "cognito-idp", f"{TARGET}AdminGetUser", {"UserPoolId": self.pool, "Username": username}
        )
        return {a["Name"]: a["Value"] for a in found["UserAttributes"]}

    def signed_in_user(self, email: str = OLD) -> tuple[str, str]:
        """A confirmed user with a verified email: (sub, access token)."""
        created = self.call(
            "AdminCreateUser",
            {
                "UserPoolId": self.pool,
                "Username": email,
                "MessageAction": "SUPPRESS",
                "UserAttributes": [
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
            },
        )
        sub = created["User"]["Username"]
        self.emulator.call(
            "cognito-idp",
            f"{TARGET}AdminSetUserPassword",
            {"UserPoolId": self.pool, "Username": sub, "Password": PASSWORD, "Permanent": True},
        )
        tokens = self.call(
            "InitiateAuth",
            {
                "ClientId": self.client,
                "AuthFlow": "USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": email, "PASSWORD": PASSWORD},
            },
        )["AuthenticationResult"]
        self.events.clear()
        return sub, tokens["AccessToken"]

    def code(self, to: str) -> str:
        code = outbox.latest_code(self.box.path, to, outbox.VERIFY_ATTRIBUTE)
        assert code is not None
        return code


def make_pool(aws: InProcessAws) -> tuple[str, str]:
    pool = aws.call(
        "cognito-idp",
        f"{TARGET}CreateUserPool",
        {
            "PoolName": f"users-{uuid.uuid4().hex[:8]}",
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "LambdaConfig": {
                "PreTokenGenerationConfig": {"LambdaArn": TRIGGER_ARN, "LambdaVersion": "V1_0"}
            },
        },
    )["UserPool"]["Id"]
    client = aws.call(
        "cognito-idp",
        f"{TARGET}CreateUserPoolClient",
        {
            "UserPoolId": pool,
            "ClientName": "web",
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        },
    )["UserPoolClient"]["ClientId"]
    return pool, client


def build(tmp_path: Path, *, trigger: FakeTrigger | None = None, emit: Any = None) -> Stack:
    app = emulator()
    direct = InProcessAws(app, REGION)
    pool, client = make_pool(direct)
    clock, box, events = Clock(), Outbox(tmp_path / "outbox.jsonl"), []
    pre_token = trigger or FakeTrigger()
    front = CognitoFront(
        app,
        aws=direct,
        user_pool_id=pool,
        client_id=client,
        region=REGION,
        functions=lambda arn: pre_token if arn == TRIGGER_ARN else None,
        outbox=box,
        jwks={"keys": []},
        clock=clock,
        cloudtrail=emit or events.append,
    )
    return Stack(
        front, InProcessAws(front, REGION), direct, pool, client, clock, box, pre_token, events
    )


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return build(tmp_path)


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(EmulatorError) as raised:
        call()
    return raised.value.code, raised.value.message


# --- email change by the user ----------------------------------------------------------------


def test_a_new_email_waits_for_its_code_and_the_old_verified_one_stays(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    answer = stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    assert answer == {
        "CodeDeliveryDetailsList": [
            {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
        ]
    }
    assert stack.user(sub)["email"] == OLD and stack.user(sub)["email_verified"] == "true"
    (sent,) = stack.box.entries(NEW)
    assert sent["kind"] == outbox.VERIFY_ATTRIBUTE and len(sent["code"]) == 6

    stack.call(
        "VerifyUserAttribute",
        {"AccessToken": token, "AttributeName": "email", "Code": sent["code"]},
    )
    assert stack.user(sub)["email"] == NEW and stack.user(sub)["email_verified"] == "true"
    assert stack.call("GetUser", {"AccessToken": token})["Username"] == sub  # still signed in


def test_other_attributes_change_at_once_beside_a_waiting_email(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "UpdateUserAttributes",
        {
            "AccessToken": token,
            "UserAttributes": [{"Name": "email", "Value": NEW}, {"Name": "name", "Value": "Ada"}],
        },
    )
    assert stack.user(sub)["name"] == "Ada" and stack.user(sub)["email"] == OLD


def test_a_wrong_code_is_a_mismatch_and_changes_nothing(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    wrong = f"{(int(stack.code(NEW)) + 1) % 1_000_000:06d}"
    verify = {"AccessToken": token, "AttributeName": "email", "Code": wrong}
    assert error_of(lambda: stack.call("VerifyUserAttribute", verify)) == (
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
    assert stack.user(sub)["email"] == OLD
    assert [e["detail"]["eventName"] for e in stack.events] == ["UpdateUserAttributes"]


def test_a_code_expires_after_24_hours(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    stack.clock.now += CODE_VALIDITY_SECONDS + 1
    verify = {"AccessToken": token, "AttributeName": "email", "Code": stack.code(NEW)}
    assert error_of(lambda: stack.call("VerifyUserAttribute", verify))[0] == "ExpiredCodeException"
    assert stack.user(sub)["email"] == OLD


def test_a_resent_code_replaces_the_first(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    first = stack.code(NEW)
    answer = stack.call(
        "GetUserAttributeVerificationCode", {"AccessToken": token, "AttributeName": "email"}
    )
    assert answer["CodeDeliveryDetails"]["Destination"] == "a***@e***"
    assert [e["kind"] for e in stack.box.entries(NEW)] == [outbox.VERIFY_ATTRIBUTE] * 2
    second = stack.code(NEW)
    if first != second:
        stale = {"AccessToken": token, "AttributeName": "email", "Code": first}
        assert error_of(lambda: stack.call("VerifyUserAttribute", stale))[0] == (
            "CodeMismatchException"
        )
    stack.call(
        "VerifyUserAttribute", {"AccessToken": token, "AttributeName": "email", "Code": second}
    )
    assert stack.user(sub)["email"] == NEW


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("UpdateUserAttributes", {"UserAttributes": [{"Name": "email", "Value": NEW}]}),
        ("GetUserAttributeVerificationCode", {"AttributeName": "email"}),
        ("VerifyUserAttribute", {"AttributeName": "email", "Code": "123456"}),
        ("DeleteUser", {}),
    ],
)
def test_a_revoked_or_unknown_token_is_not_authorized(
    stack: Stack, operation: str, payload: dict[str, Any]
) -> None:
    sub, token = stack.signed_in_user()
    stack.call("GlobalSignOut", {"AccessToken": token})  # moto forgets the user's tokens
    for bad in (token, "not-a-token"):
        code, _ = error_of(lambda bad=bad: stack.call(operation, {"AccessToken": bad, **payload}))
        assert code == "NotAuthorizedException"
    assert stack.user(sub)["email"] == OLD
    assert stack.events == []


# --- deletion ----------------------------------------------------------------------------------


def test_delete_user_removes_the_user_and_its_token_stops_working(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    assert stack.call("DeleteUser", {"AccessToken": token}) == {}
    assert error_of(lambda: stack.user(sub))[0] == "UserNotFoundException"
    assert error_of(lambda: stack.call("DeleteUser", {"AccessToken": token}))[0] == (
        "NotAuthorizedException"
    )
    (event,) = stack.events
    assert event["detail"]["eventName"] == "DeleteUser"
    assert event["detail"]["additionalEventData"] == {"sub": sub, "userPoolId": stack.pool}
    assert event["detail"]["requestParameters"] == {"accessToken": cloudtrail.HIDDEN}


def test_admin_delete_user_passes_through_and_is_recorded(stack: Stack) -> None:
    sub, _ = stack.signed_in_user()
    stack.call("AdminDeleteUser", {"UserPoolId": stack.pool, "Username": OLD})
    assert error_of(lambda: stack.user(sub))[0] == "UserNotFoundException"
    (event,) = stack.events
    assert event["detail"]["requestParameters"] == {
        "userPoolId": stack.pool,
        "username": cloudtrail.HIDDEN,
    }
    assert event["detail"]["additionalEventData"]["sub"] == sub
    assert event["detail"]["userIdentity"]["type"] == "IAMUser"


# --- admin email change ------------------------------------------------------------------------


def test_an_admin_change_with_email_verified_is_active_at_once(stack: Stack) -> None:
    sub, _ = stack.signed_in_user()
    stack.call(
        "AdminUpdateUserAttributes",
        {
            "UserPoolId": stack.pool,
            "Username": sub,
            "UserAttributes": [
                {"Name": "email", "Value": NEW},
                {"Name": "email_verified", "Value": "true"},
            ],
        },
    )
    assert stack.user(sub)["email"] == NEW and stack.user(sub)["email_verified"] == "true"
    assert stack.box.entries(NEW) == []


def test_an_admin_change_without_email_verified_waits_for_the_users_code(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "AdminUpdateUserAttributes",
        {
            "UserPoolId": stack.pool,
            "Username": sub,
            "UserAttributes": [{"Name": "email", "Value": NEW}],
        },
    )
    assert stack.user(sub)["email"] == OLD
    stack.call(
        "VerifyUserAttribute",
        {"AccessToken": token, "AttributeName": "email", "Code": stack.code(NEW)},
    )
    assert stack.user(sub)["email"] == NEW
    assert [e["detail"]["eventName"] for e in stack.events] == [
        "AdminUpdateUserAttributes",
        "VerifyUserAttribute",
    ]


# --- the admin-created user's first sign-in ---------------------------------------------------


def first_sign_in(stack: Stack, *, admin: bool = False) -> tuple[str, dict[str, Any]]:
    created = stack.call(
        "AdminCreateUser",
        {
            "UserPoolId": stack.pool,
            "Username": OLD,
            "TemporaryPassword": "Temp-Passw0rd!",
            "MessageAction": "SUPPRESS",
            "UserAttributes": [{"Name": "email", "Value": OLD}],
        },
    )
    sub = created["User"]["Username"]
    challenge = stack.call(
        "InitiateAuth",
        {
            "ClientId": stack.client,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": OLD, "PASSWORD": "Temp-Passw0rd!"},
        },
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    answer = {
        "ClientId": stack.client,
        "ChallengeName": "NEW_PASSWORD_REQUIRED",
        "Session": challenge["Session"],
        "ChallengeResponses": {
            "USERNAME": challenge["ChallengeParameters"]["USERNAME"],
            "NEW_PASSWORD": PASSWORD,
        },
    }
    if admin:
        answer["UserPoolId"] = stack.pool
    operation = "AdminRespondToAuthChallenge" if admin else "RespondToAuthChallenge"
    return sub, stack.call(operation, answer)


@pytest.mark.parametrize("admin", [False, True])
def test_the_new_password_challenge_runs_pre_token_generation_once(
    stack: Stack, admin: bool
) -> None:
    sub, answer = first_sign_in(stack, admin=admin)
    assert "AccessToken" in answer["AuthenticationResult"]
    (event,) = stack.trigger.events
    assert event == {
        "version": "1",
        "triggerSource": "TokenGeneration_NewPasswordChallenge",
        "region": REGION,
        "userPoolId": stack.pool,
        "userName": sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": stack.client},
        "request": {
            "userAttributes": {"sub": sub, "email": OLD, "cognito:user_status": "CONFIRMED"},
            "groupConfiguration": {
                "groupsToOverride": [],
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
        },
        "response": {"claimsOverrideDetails": None},
    }
    names = [e["detail"]["eventName"] for e in stack.events]
    assert names == [
        "AdminCreateUser",
        "AdminRespondToAuthChallenge" if admin else "RespondToAuthChallenge",
    ]
    assert all(e["detail"]["additionalEventData"]["sub"] == sub for e in stack.events)


def test_a_failing_pre_token_trigger_answers_cognitos_error(tmp_path: Path) -> None:
    failing = FakeTrigger(error={"errorType": "RuntimeError", "errorMessage": "boom"})
    stack = build(tmp_path, trigger=failing)
    with pytest.raises(EmulatorError) as raised:
        first_sign_in(stack)
    assert (raised.value.code, raised.value.message) == (
        "UserLambdaValidationException",
        "PreTokenGeneration failed with error boom.",
    )
    assert len(failing.events) == 1


def test_an_ordinary_sign_in_does_not_run_the_trigger(stack: Stack) -> None:
    stack.signed_in_user()
    assert stack.trigger.events == []


# --- CloudTrail delivery and privacy ----------------------------------------------------------


def test_no_event_carries_an_email_or_a_token(stack: Stack) -> None:
    sub, token = stack.signed_in_user()
    stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    stack.call(
        "VerifyUserAttribute",
        {"AccessToken": token, "AttributeName": "email", "Code": stack.code(NEW)},
    )
    stack.call(
        "AdminUpdateUserAttributes",
        {
            "UserPoolId": stack.pool,
            "Username": NEW,
            "UserAttributes": [
                {"Name": "email", "Value": OLD},
                {"Name": "email_verified", "Value": "true"},
            ],
        },
    )
    stack.call("DeleteUser", {"AccessToken": token})
    assert [e["detail"]["eventName"] for e in stack.events] == [
        "UpdateUserAttributes",
        "VerifyUserAttribute",
        "AdminUpdateUserAttributes",
        "DeleteUser",
    ]
    for event in stack.events:
        text = json.dumps(event)
        assert "@" not in text and token not in text
        assert event["source"] == "aws.cognito-idp"
        assert event["detail-type"] == "AWS API Call via CloudTrail"
        assert event["account"] == ACCOUNT == event["detail"]["recipientAccountId"]
        assert event["detail"]["additionalEventData"] == {"sub": sub, "userPoolId": stack.pool}


def test_a_failing_emitter_does_not_fail_the_call(tmp_path: Path) -> None:
    def broken(_event: dict[str, Any]) -> None:
        raise ConnectionError("the bus is down")

    stack = build(tmp_path, emit=broken)
    sub, token = stack.signed_in_user()
    assert stack.call("DeleteUser", {"AccessToken": token}) == {}
    assert error_of(lambda: stack.user(sub))[0] == "UserNotFoundException"


# --- other pools are not the front's ----------------------------------------------------------


def test_another_pools_calls_reach_the_emulator_unchanged(stack: Stack) -> None:
    other_pool, other_client = make_pool(stack.emulator)
    created = stack.call(
        "AdminCreateUser",
        {
            "UserPoolId": other_pool,
            "Username": OLD,
            "MessageAction": "SUPPRESS",
            "UserAttributes": [{"Name": "email", "Value": OLD}],
        },
    )
    sub = created["User"]["Username"]
    stack.emulator.call(
        "cognito-idp",
        f"{TARGET}AdminSetUserPassword",
        {"UserPoolId": other_pool, "Username": sub, "Password": PASSWORD, "Permanent": True},
    )
    token = stack.call(
        "InitiateAuth",
        {
            "ClientId": other_client,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": OLD, "PASSWORD": PASSWORD},
        },
    )["AuthenticationResult"]["AccessToken"]
    stack.call(
        "UpdateUserAttributes",
        {"AccessToken": token, "UserAttributes": [{"Name": "email", "Value": NEW}]},
    )
    found = stack.emulator.call(
        "cognito-idp", f"{TARGET}AdminGetUser", {"UserPoolId": other_pool, "Username": sub}
    )
    assert {a["Name"]: a["Value"] for a in found["UserAttributes"]}["email"] == NEW  # moto's way
    stack.call("AdminDeleteUser", {"UserPoolId": other_pool, "Username": sub})
    assert stack.events == [] and stack.box.entries() == []
