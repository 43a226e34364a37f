"""Who is calling, from the identity AppSync passes: a Cognito user (``sub`` and
``cognito:groups``) or an IAM principal (an operator)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.user_api.errors import Unauthorized


@dataclass(frozen=True)
class Caller:
    sub: str | None  # None for an IAM operator
    groups: frozenset[str]
    operator: bool = False

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
        return Caller(sub=None, groups=frozenset(), operator=True)
    raise Unauthorized()
