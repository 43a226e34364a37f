"""A Cognito PostConfirmation event becomes at most one ``UserConfirmed`` — no AWS, no pydantic.

This module is on the trigger's cold path: it imports only plain-Python contracts. The detail it
builds is checked against the contract (``contracts.rules``, the same rules the projector's
pydantic model and the JSON Schema carry) before anything is published: an event the projector
would reject is never put on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from contracts.names import ORIGIN_COGNITO, TRIGGER_CONFIRM_SIGN_UP, UserConfirmedDetail
from contracts.rules import is_sub, is_user_pool_id
from contracts.user_confirmed import InvalidUserConfirmedError, from_cognito_user

#: Where each field of ``UserConfirmed`` comes from in Cognito's event (for error messages).
COGNITO_EVENT_PATH: Final = {
    "userPoolId": "userPoolId",
    "sub": "userAttributes.sub",
    "username": "userName",
    "email": "userAttributes.email",
    "emailVerified": "userAttributes.email_verified",
    "clientId": "callerContext.clientId",
}


class UnpublishableConfirmationError(ValueError):
    """The confirmation event cannot become a valid ``UserConfirmed``; nothing is published.

    The message names fields and rules, never their values (they may be personal data), and
    carries the pool id and sub only when they are well-formed ids."""

    def __init__(self, problems: list[str], user_pool_id: object, sub: object) -> None:
        self.problems = problems
        self.user_pool_id = user_pool_id if is_user_pool_id(user_pool_id) else None
        self.sub = sub if is_sub(sub) else None
        super().__init__(
            f"cannot publish UserConfirmed: {'; '.join(problems)} "
            f"(userPoolId={self.user_pool_id or '?'}, sub={self.sub or '?'})"
        )


class MissingUserAttributeError(UnpublishableConfirmationError):
    """Something a ``UserConfirmed`` needs is absent or empty."""

    def __init__(self, missing: list[str], user_pool_id: object, sub: object) -> None:
        super().__init__([f"missing {', '.join(missing)}"], user_pool_id, sub)
        self.missing = missing


class InvalidUserAttributeError(UnpublishableConfirmationError):
    """A value is present but breaks the ``UserConfirmed`` contract (e.g. an oversized email)."""


class UserConfirmedPublisher(Protocol):
    def publish(self, detail: UserConfirmedDetail) -> str:
        """Put one event on the bus and return its id, or raise."""
        ...


def user_confirmed_from(
    event: Mapping[str, Any], confirmed_at: datetime
) -> UserConfirmedDetail | None:
    """The ``UserConfirmed`` detail for a sign-up confirmation; ``None`` for any other source
    (a password reset confirms nothing new). Raises ``UnpublishableConfirmationError`` when the
    event lacks something or carries a value the contract refuses.

    Cognito always sends an object with string attribute values; anything else in a nested
    place (a list for ``request``, a number for an attribute) is refused by name here rather
    than crashing, so a malformed event can never reach the bus."""
    if event.get("triggerSource") != TRIGGER_CONFIRM_SIGN_UP:
        return None
    request = _mapping(event.get("request"))
    attributes = _mapping(request.get("userAttributes"))
    caller = _mapping(event.get("callerContext"))
    user_pool_id, username = event.get("userPoolId"), event.get("userName")
    sub = attributes.get("sub")
    found = {
        "userAttributes.sub": sub,
        "userAttributes.email": attributes.get("email"),
        "userPoolId": user_pool_id,
        "userName": username,
    }
    missing = [name for name, value in found.items() if value is None or value == ""]
    if missing:
        raise MissingUserAttributeError(missing, user_pool_id, sub)
    try:
        return from_cognito_user(
            user_pool_id=user_pool_id,
            username=username,
            attributes=attributes,
            confirmed_at=confirmed_at,
            origin=ORIGIN_COGNITO,
            client_id=caller.get("clientId"),
        )
    except InvalidUserConfirmedError as invalid:
        raise InvalidUserAttributeError(
            [
                f"{COGNITO_EVENT_PATH.get(field, field)}: {rule}"
                for field, rule in sorted(invalid.problems.items())
            ],
            user_pool_id,
            sub,
        ) from None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def handle_post_confirmation(
    event: Mapping[str, Any], publisher: UserConfirmedPublisher, now: datetime | None = None
) -> str | None:
    """Publish ``UserConfirmed`` for a sign-up confirmation. Returns the event id, or ``None``
    when the trigger source is not a sign-up. Raises on an unpublishable event or a failed
    publish."""
    detail = user_confirmed_from(event, now or datetime.now(UTC))
    if detail is None:
        return None
    return publisher.publish(detail)
