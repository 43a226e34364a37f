"""A Cognito PostConfirmation event becomes at most one ``UserConfirmed`` — no AWS, no pydantic.

This module is on the trigger's cold path: it imports only plain-Python contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.names import (
    ORIGIN_COGNITO,
    TRIGGER_CONFIRM_SIGN_UP,
    USER_CONFIRMED_SCHEMA_VERSION,
    UserConfirmedDetail,
    iso_utc,
)

REQUIRED_ATTRIBUTES = ("sub", "email")


class MissingUserAttributeError(ValueError):
    """The confirmation event lacks something a ``UserConfirmed`` needs; nothing is published."""

    def __init__(self, missing: list[str], user_pool_id: str | None, sub: str | None) -> None:
        super().__init__(
            f"cannot publish UserConfirmed: missing {', '.join(missing)} "
            f"(userPoolId={user_pool_id or '?'}, sub={sub or '?'})"
        )
        self.missing = missing
        self.user_pool_id = user_pool_id
        self.sub = sub


class Publisher(Protocol):
    def publish(self, detail: UserConfirmedDetail) -> str:
        """Put one event on the bus and return its id, or raise."""
        ...


def user_confirmed_from(
    event: Mapping[str, Any], confirmed_at: datetime
) -> UserConfirmedDetail | None:
    """The ``UserConfirmed`` detail for a sign-up confirmation; ``None`` for any other source
    (a password reset confirms nothing new)."""
    if event.get("triggerSource") != TRIGGER_CONFIRM_SIGN_UP:
        return None
    request = event.get("request") or {}
    attributes: Mapping[str, Any] = request.get("userAttributes") or {}
    user_pool_id, username = event.get("userPoolId"), event.get("userName")
    sub = attributes.get("sub")
    missing = [f"userAttributes.{name}" for name in REQUIRED_ATTRIBUTES if not attributes.get(name)]
    missing += [
        name for name, value in (("userPoolId", user_pool_id), ("userName", username)) if not value
    ]
    if missing:
        raise MissingUserAttributeError(missing, user_pool_id, sub)
    return {
        "schemaVersion": USER_CONFIRMED_SCHEMA_VERSION,
        "userPoolId": str(user_pool_id),
        "sub": str(sub),
        "username": str(username),
        "email": str(attributes["email"]),
        "emailVerified": str(attributes.get("email_verified", "false")).lower() == "true",
        "confirmedAt": iso_utc(confirmed_at),
        "origin": ORIGIN_COGNITO,
        "clientId": (event.get("callerContext") or {}).get("clientId"),
    }


def handle_post_confirmation(
    event: Mapping[str, Any], publisher: Publisher, now: datetime | None = None
) -> str | None:
    """Publish ``UserConfirmed`` for a sign-up confirmation. Returns the event id, or ``None``
    when the trigger source is not a sign-up. Raises on missing attributes or a failed publish."""
    detail = user_confirmed_from(event, now or datetime.now(UTC))
    if detail is None:
        return None
    return publisher.publish(detail)
