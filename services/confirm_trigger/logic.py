"""A Cognito trigger event becomes at most one ``UserConfirmed`` — no AWS, no pydantic.

One function serves two of the pool's triggers (``contracts.topology.USER_POOL``):

- **PostConfirmation**: ``PostConfirmation_ConfirmSignUp`` publishes — a self sign-up confirmed
  (ConfirmSignUp, AdminConfirmSignUp), and a federated user's first sign-in, which Cognito
  reports as this source too (user status ``EXTERNAL_PROVIDER``; the attributes may lack
  ``email_verified``: ``UserConfirmed`` v2 needs only the sub).
  ``PostConfirmation_ConfirmForgotPassword`` confirms nothing new: nothing published.
- **Pre token generation**: ``TokenGeneration_NewPasswordChallenge`` publishes — an
  admin-created user answered NEW_PASSWORD_REQUIRED, their first sign-in (PostConfirmation
  never fires for them). Every other ``TokenGeneration_*`` source (sign-in, refresh, hosted UI,
  device) publishes nothing, and the handler returns before doing anything: this function sits
  on every token Cognito issues, so there it must cost nothing.

Sources (Cognito developer guide; notes in /work/shared/notes/step13-research.md §1):
"Customizing user pool workflows with Lambda triggers", sections "Connecting API operations to
Lambda triggers" (AdminCreateUser → ``TokenGeneration_NewPasswordChallenge``; InitiateAuth,
RespondToAuthChallenge, refresh → ``TokenGeneration_Authentication`` /
``TokenGeneration_RefreshTokens``) and "Lambda triggers for federated users" (first sign-in →
``PostConfirmation_ConfirmSignUp``, every sign-in → ``TokenGeneration_HostedAuth``); "Post
confirmation Lambda trigger" ("only for users who sign up in your user pool, not for user
accounts that you create with your administrator credentials"). Migrated users get no
PostConfirmation and only ``TokenGeneration_Authentication``: reconcile finds them.

This module is on the trigger's cold path: it imports only plain-Python contracts. The detail it
builds is checked against the contract (``contracts.rules``, the same rules the projector's
pydantic model and the JSON Schema carry) before anything is published: an event the projector
would reject is never put on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from contracts.names import (
    ORIGIN_COGNITO,
    TRIGGER_CONFIRM_SIGN_UP,
    TRIGGER_NEW_PASSWORD_CHALLENGE,
    UserConfirmedDetail,
)
from contracts.rules import is_sub, is_user_pool_id
from contracts.user_confirmed import InvalidUserConfirmedError, from_cognito_user

#: The trigger sources that publish ``UserConfirmed``: the moments a user arrives.
PUBLISHING_SOURCES: Final = frozenset({TRIGGER_CONFIRM_SIGN_UP, TRIGGER_NEW_PASSWORD_CHALLENGE})
#: Pre token generation's sources all start so. Cognito retries a failed call and then fails the
#: sign-in; a sign-in is never failed for a ``UserConfirmed`` not published (reconcile and
#: user_sync are the safety net), while a PostConfirmation failure surfaces as before.
TOKEN_GENERATION_PREFIX: Final = "TokenGeneration_"  # noqa: S105 - a trigger source

#: Where each field of ``UserConfirmed`` comes from in Cognito's event (for error messages).
COGNITO_EVENT_PATH: Final = {
    "userPoolId": "userPoolId",
    "sub": "userAttributes.sub",
    "clientId": "callerContext.clientId",
    "triggerSource": "triggerSource",
}


def publishes_on(event: Mapping[str, Any]) -> bool:
    """Whether ``event``'s trigger source publishes ``UserConfirmed``: a dict lookup and a set
    membership test, the whole cost of every other token issuance."""
    source = event.get("triggerSource")
    return isinstance(source, str) and source in PUBLISHING_SOURCES


def is_token_generation(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is pre token generation's: a failure there must not fail a sign-in."""
    source = event.get("triggerSource")
    return isinstance(source, str) and source.startswith(TOKEN_GENERATION_PREFIX)


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
    """A value is present but breaks the ``UserConfirmed`` contract (e.g. a sub not a UUID)."""


class UserConfirmedPublisher(Protocol):
    def publish(self, detail: UserConfirmedDetail) -> str:
        """Put one event on the bus and return its id, or raise."""
        ...


def user_confirmed_from(
    event: Mapping[str, Any], confirmed_at: datetime
) -> UserConfirmedDetail | None:
    """The ``UserConfirmed`` detail for a user's arrival (``PUBLISHING_SOURCES``); ``None`` for
    any other source. Raises ``UnpublishableConfirmationError`` when the event lacks something
    or carries a value the contract refuses.

    Cognito always sends an object with string attribute values; anything else in a nested
    place (a list for ``request``, a number for an attribute) is refused by name here rather
    than crashing, so a malformed event can never reach the bus. Only ids are read: the email
    stays with Cognito."""
    if not publishes_on(event):
        return None
    request = _mapping(event.get("request"))
    attributes = _mapping(request.get("userAttributes"))
    caller = _mapping(event.get("callerContext"))
    user_pool_id, sub = event.get("userPoolId"), attributes.get("sub")
    found = {"userAttributes.sub": sub, "userPoolId": user_pool_id}
    missing = [name for name, value in found.items() if value is None or value == ""]
    if missing:
        raise MissingUserAttributeError(missing, user_pool_id, sub)
    try:
        return from_cognito_user(
            user_pool_id=user_pool_id,
            attributes=attributes,
            confirmed_at=confirmed_at,
            origin=ORIGIN_COGNITO,
            client_id=caller.get("clientId"),
            trigger_source=event.get("triggerSource"),
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


def handle_trigger(
    event: Mapping[str, Any], publisher: UserConfirmedPublisher, now: datetime | None = None
) -> str | None:
    """Publish ``UserConfirmed`` for a user's arrival. Returns the event id, or ``None`` when
    the trigger source publishes nothing. Raises on an unpublishable event or a failed publish
    (the handler decides what a failure does to the sign-in)."""
    detail = user_confirmed_from(event, now or datetime.now(UTC))
    if detail is None:
        return None
    return publisher.publish(detail)
