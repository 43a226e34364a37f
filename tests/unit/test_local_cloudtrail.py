"""The CloudTrail-shaped events the local stack puts on the default bus for Cognito calls:
AWS's envelope and record fields, ids in clear, private values hidden."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from userpipe.local import cloudtrail
from userpipe.local.cloudtrail import HIDDEN

POOL, SUB, ACCOUNT = "eu-west-1_Ab12Cd34E", "5f1c3a52-8d3e-4b0e-9b7a-0c1d2e3f4a5b", "123456789012"
EMAIL = "ada@example.com"
TOKEN = "eyJraWQiOiJsb2NhbCJ9.eyJzdWIiOiJ4In0.c2ln"

DETAIL_FIELDS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}


def event(name: str, request: dict[str, Any], **options: Any) -> dict[str, Any]:
    return cloudtrail.api_call_event(
        name,
        request,
        user_pool_id=POOL,
        sub=SUB,
        account=ACCOUNT,
        region="eu-west-1",
        at=datetime(2026, 12, 4, 2, 30, 15, 250_000, tzinfo=UTC),
        **options,
    )


def test_the_envelope_is_eventbridges_for_a_cloudtrail_api_call() -> None:
    built = event("DeleteUser", {"AccessToken": TOKEN})
    assert set(built) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert (built["version"], built["detail-type"], built["source"]) == (
        "0",
        "AWS API Call via CloudTrail",
        "aws.cognito-idp",
    )
    assert (built["account"], built["region"], built["resources"]) == (ACCOUNT, "eu-west-1", [])
    assert built["time"] == built["detail"]["eventTime"] == "2026-12-04T02:30:15Z"


def test_the_record_holds_cloudtrails_fields_and_names_the_user_by_sub() -> None:
    detail = event("DeleteUser", {"AccessToken": TOKEN})["detail"]
    assert set(detail) == DETAIL_FIELDS
    assert detail["eventSource"] == "cognito-idp.amazonaws.com"
    assert (detail["eventType"], detail["eventCategory"]) == ("AwsApiCall", "Management")
    assert detail["managementEvent"] is True and detail["readOnly"] is False
    assert detail["recipientAccountId"] == ACCOUNT
    assert detail["additionalEventData"] == {"sub": SUB, "userPoolId": POOL}
    assert detail["requestID"] != detail["eventID"]


@pytest.mark.parametrize(
    ("name", "request_", "shown"),
    [
        ("DeleteUser", {"AccessToken": TOKEN}, {"accessToken": HIDDEN}),
        (
            "AdminDeleteUser",
            {"UserPoolId": POOL, "Username": SUB},
            {"userPoolId": POOL, "username": HIDDEN},
        ),
        (
            "UpdateUserAttributes",
            {"AccessToken": TOKEN, "UserAttributes": [{"Name": "email", "Value": EMAIL}]},
            {"accessToken": HIDDEN, "userAttributes": HIDDEN},
        ),
        (
            "VerifyUserAttribute",
            {"AccessToken": TOKEN, "AttributeName": "email", "Code": "604917"},
            {"accessToken": HIDDEN, "attributeName": "email", "code": HIDDEN},
        ),
        (
            "AdminUpdateUserAttributes",
            {
                "UserPoolId": POOL,
                "Username": EMAIL,
                "UserAttributes": [
                    {"Name": "email", "Value": EMAIL},
                    {"Name": "email_verified", "Value": "true"},
                ],
            },
            {"userPoolId": POOL, "username": HIDDEN, "userAttributes": HIDDEN},
        ),
        (
            "AdminCreateUser",
            {
                "UserPoolId": POOL,
                "Username": EMAIL,
                "TemporaryPassword": "Temp-Passw0rd!",
                "MessageAction": "SUPPRESS",
                "UserAttributes": [{"Name": "email", "Value": EMAIL}],
            },
            {
                "userPoolId": POOL,
                "username": HIDDEN,
                "temporaryPassword": HIDDEN,
                "messageAction": "SUPPRESS",
                "userAttributes": HIDDEN,
            },
        ),
        (
            "RespondToAuthChallenge",
            {
                "ClientId": "client",
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "Session": "session",
                "ChallengeResponses": {"USERNAME": EMAIL, "NEW_PASSWORD": "x"},
            },
            {
                "clientId": "client",
                "challengeName": "NEW_PASSWORD_REQUIRED",
                "session": HIDDEN,
                "challengeResponses": HIDDEN,
            },
        ),
    ],
)
def test_requests_show_ids_and_hide_what_cognito_hides(
    name: str, request_: dict[str, Any], shown: dict[str, Any]
) -> None:
    built = event(name, request_)
    assert built["detail"]["eventName"] == name
    assert built["detail"]["requestParameters"] == shown
    text = json.dumps(built)
    assert EMAIL not in text and TOKEN not in text and "604917" not in text


def test_a_token_call_is_anonymous() -> None:
    identity = event("DeleteUser", {"AccessToken": TOKEN})["detail"]["userIdentity"]
    assert identity == {"type": "Unknown", "principalId": "Anonymous"}


@dataclass(frozen=True)
class Signer:
    access_key_id: str
    arn: str
    is_function: bool


@pytest.mark.parametrize(
    ("signer", "kind"),
    [
        (Signer("AKIALOCALOPERATOR", f"arn:aws:iam::{ACCOUNT}:user/operator", False), "IAMUser"),
        (
            Signer("ASIALOCALFUNCTION", f"arn:aws:sts::{ACCOUNT}:assumed-role/f/f", True),
            "AssumedRole",
        ),
    ],
)
def test_a_signed_call_names_its_signer(signer: Signer, kind: str) -> None:
    identity = cloudtrail.signer_identity(signer, ACCOUNT)
    built = event("AdminDeleteUser", {"UserPoolId": POOL, "Username": SUB}, user_identity=identity)
    assert built["detail"]["userIdentity"] == {
        "type": kind,
        "principalId": signer.access_key_id,
        "arn": signer.arn,
        "accountId": ACCOUNT,
        "accessKeyId": signer.access_key_id,
    }


def test_a_code_delivery_is_recorded_with_its_destination_hidden() -> None:
    delivery = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    built = event(
        "UpdateUserAttributes",
        {"AccessToken": TOKEN},
        response_elements={"codeDeliveryDetailsList": [cloudtrail.hidden_delivery(delivery)]},
    )
    assert built["detail"]["responseElements"] == {
        "codeDeliveryDetailsList": [
            {"destination": HIDDEN, "deliveryMedium": "EMAIL", "attributeName": "email"}
        ]
    }
