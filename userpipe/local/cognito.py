"""What Cognito would send the PostConfirmation trigger, built from the emulator's user.

moto stores a pool's Lambda triggers but never invokes them, so the local stack builds the
event the way Cognito does and invokes the trigger itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.names import TRIGGER_CONFIRM_SIGN_UP
from userpipe.local.clients import REGION

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


def post_confirmation_event(
    cognito: CognitoIdentityProviderClient,
    user_pool_id: str,
    username: str,
    client_id: str,
    trigger_source: str = TRIGGER_CONFIRM_SIGN_UP,
) -> dict[str, Any]:
    user = cognito.admin_get_user(UserPoolId=user_pool_id, Username=username)
    attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
    attributes["cognito:user_status"] = user["UserStatus"]
    # Confirming with the emailed code verifies the address; moto never sets the flag itself.
    attributes.setdefault("email_verified", "true")
    return {
        "version": "1",
        "region": REGION,
        "userPoolId": user_pool_id,
        "userName": user["Username"],
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "triggerSource": trigger_source,
        "request": {"userAttributes": attributes},
        "response": {},
    }
