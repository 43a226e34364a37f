"""Reading a user's email from Cognito by sub (``AdminGetUser``): our pools sign in by email
alias, so a user's username is their sub ("If username isn't an alias attribute in your user
pool, this value must be the sub of a local user or the username of a user from a third-party
IdP", AdminGetUser API reference). A federated user is found by their provider username only
(``Google_<id>``), so by sub they read as not found: no welcome — their address is their
provider's, which welcomes them itself. Welcoming them too would take ``ListUsers`` filtered by
sub (and its grant), as the projector does."""

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
