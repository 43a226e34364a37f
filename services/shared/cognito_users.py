"""A user of the pool, found by sub: how every function that needs Cognito's view of a user reads
it (the projector, user_sync, the welcome notifier). No event carries the email; Cognito is
asked.

``AdminGetUser`` takes the sub for a local user: "If username isn't an alias attribute in your
user pool, this value must be the sub of a local user or the username of a user from a
third-party IdP" (Cognito API reference, AdminGetUser). Our pools sign in by the email alias, so a
local user's username is their sub. A federated user's username is the provider's
(``Google_1035…``), so ``AdminGetUser`` by sub does not find them: only ``ListUsers`` filtered on
``sub`` (an exact match; "sub" is one of ListUsers' searchable attributes) tells such a user
from one that is gone. ``None`` therefore means gone from both: the only answer on which a
caller may erase a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts.rules import is_sub

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class CognitoThrottledError(RuntimeError):
    """Cognito refused the read for now (``TooManyRequestsException``): retried."""

    def __init__(self, sub: str) -> None:
        super().__init__(f"Cognito throttled reading user {sub}; retried")


class UnexpectedUserError(RuntimeError):
    """Cognito answered with a user whose sub is not the one asked for: never acted on."""

    def __init__(self, sub: str) -> None:
        super().__init__(f"Cognito answered another user for sub {sub}; nothing done")


@dataclass(frozen=True)
class PoolUser:
    """A user as Cognito holds them now."""

    sub: str
    status: str  # UserStatus: CONFIRMED, EXTERNAL_PROVIDER, FORCE_CHANGE_PASSWORD, ...
    email: str | None  # the address Cognito keeps active; None: the user has none
    email_verified: bool
    created: datetime  # UserCreateDate


def find_by_sub(
    client: CognitoIdentityProviderClient, user_pool_id: str, sub: str
) -> PoolUser | None:
    """The user with ``sub``, or ``None`` when the pool has no such user (see the module)."""
    if not is_sub(sub):  # nothing else may reach ListUsers' filter
        raise ValueError("sub: must be a lowercase UUID")
    try:
        try:
            found: Any = client.admin_get_user(UserPoolId=user_pool_id, Username=sub)
            attributes, status, created = (
                found.get("UserAttributes", []),
                found.get("UserStatus", ""),
                found["UserCreateDate"],
            )
        except client.exceptions.UserNotFoundException:
            listed = client.list_users(UserPoolId=user_pool_id, Filter=f'sub = "{sub}"', Limit=1)
            users: Any = listed.get("Users", [])
            if not users:
                return None
            attributes, status, created = (
                users[0].get("Attributes", []),
                users[0].get("UserStatus", ""),
                users[0]["UserCreateDate"],
            )
    except client.exceptions.TooManyRequestsException:
        raise CognitoThrottledError(sub) from None
    values = {attribute["Name"]: attribute.get("Value") for attribute in attributes}
    if values.get("sub") != sub:
        raise UnexpectedUserError(sub)
    email = values.get("email")
    return PoolUser(
        sub=sub,
        status=str(status),
        email=email if isinstance(email, str) and email else None,
        email_verified=str(values.get("email_verified", "false")).lower() == "true",
        created=created,
    )
