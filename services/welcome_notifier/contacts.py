"""Reading a user's email from Cognito by sub (``AdminGetUser``): our pools sign in by email
alias, so a user's username is their sub ("If username isn't an alias attribute in your user
pool, this value must be the sub of a local user", AdminGetUser API reference)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.welcome_notifier.logic import Contact

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class CognitoContacts:
    def __init__(self, client: CognitoIdentityProviderClient) -> None:
        self._client = client

    def contact(self, user_pool_id: str, sub: str) -> Contact | None:
        try:
            user = self._client.admin_get_user(UserPoolId=user_pool_id, Username=sub)
        except self._client.exceptions.UserNotFoundException:
            return None
        attributes = {a["Name"]: a.get("Value", "") for a in user.get("UserAttributes", [])}
        return Contact(
            email=attributes.get("email") or None,
            email_verified=attributes.get("email_verified", "false").lower() == "true",
        )
