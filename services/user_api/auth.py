"""Who is calling, from the identity AppSync passes: a Cognito user (``sub`` and
``cognito:groups``), an IAM principal (an operator), or an end user federated through a Cognito
identity pool.

An IAM identity carries ``cognitoIdentityPoolId``/``cognitoIdentityId`` when its credentials came
from an identity pool — a guest or a signed-in app user, never an operator (AppSync developer
guide, "Resolver context reference", identity for AWS_IAM). IAM policy decides that such a caller
may reach the API; it gets nothing an operator or a user pool identity would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.user_api.errors import Unauthorized


@dataclass(frozen=True)
class Caller:
    sub: str | None  # None for any IAM caller
    groups: frozenset[str]
    operator: bool = False  # an IAM principal of the account itself, not an identity pool's

    def is_admin(self, admin_group: str) -> bool:
        return self.operator or admin_group in self.groups

    def may_see(self, user_id: str, admin_group: str) -> bool:
        return self.is_admin(admin_group) or (self.sub is not None and self.sub == user_id)


def caller_from(identity: Mapping[str, Any] | None) -> Caller:
    """Raises ``Unauthorized`` for an anonymous or unrecognised identity."""
    if not identity:
        raise Unauthorized()
    claims = identity.get("claims") or {}
    sub = identity.get("sub") or claims.get("sub")
    if sub:
        groups = identity.get("groups") or claims.get("cognito:groups") or []
        if isinstance(groups, str):  # some proxies flatten a single group to a string
            groups = [groups]
        return Caller(sub=str(sub), groups=frozenset(map(str, groups)))
    if identity.get("userArn") and identity.get("accountId"):
        federated = identity.get("cognitoIdentityPoolId") or identity.get("cognitoIdentityId")
        return Caller(sub=None, groups=frozenset(), operator=not federated)
    raise Unauthorized()
