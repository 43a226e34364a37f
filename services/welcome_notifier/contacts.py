"""Reading a user's email from Cognito by sub (``services.shared.cognito_users``: a local user by
``AdminGetUser``, a federated one by ``ListUsers``): ``UserConfirmed`` carries no email."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.shared.cognito_users import find_by_sub
from services.welcome_notifier.logic import Contact

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class CognitoContacts:
    def __init__(self, client: CognitoIdentityProviderClient) -> None:
        self._client = client

    def contact(self, user_pool_id: str, sub: str) -> Contact | None:
        user = find_by_sub(self._client, user_pool_id, sub)
        if user is None:
            return None
        return Contact(email=user.email, email_verified=user.email_verified)
