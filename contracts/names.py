"""Names consumers match on, and the trigger's view of ``UserConfirmed`` — plain Python only.

The Cognito trigger imports this module on its cold path, so it must never import pydantic.
The pydantic model in ``contracts.event_models`` is the authority on the shape; a test holds
``UserConfirmedDetail`` below against it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, TypedDict

EVENT_SOURCE: Final = "userpipe.identity"
USER_CONFIRMED: Final = "UserConfirmed"
USER_CONFIRMED_SCHEMA_VERSION: Final = 2

#: The EventBridge pattern every ``UserConfirmed`` consumer subscribes with.
USER_CONFIRMED_PATTERN: Final[dict[str, list[str]]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [USER_CONFIRMED],
}

#: An owner's (or an Admin's) edit of the profile through the API, published by the change
#: publisher from the table's stream (``contracts.user_profile_changed``).
USER_PROFILE_CHANGED: Final = "UserProfileChanged"
USER_PROFILE_CHANGED_SCHEMA_VERSION: Final = 2
USER_PROFILE_CHANGED_PATTERN: Final[dict[str, list[str]]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [USER_PROFILE_CHANGED],
}
#: A user's email changed in Cognito and reached the item (user_sync, reconcile). The event
#: carries no address: Cognito holds it (``docs/architecture.md``, "A user's whole life").
USER_EMAIL_CHANGED: Final = "UserEmailChanged"
USER_EMAIL_CHANGED_SCHEMA_VERSION: Final = 1
#: A user was deleted from Cognito and the item became a tombstone; consumers erase their copies.
USER_DELETED: Final = "UserDeleted"
USER_DELETED_SCHEMA_VERSION: Final = 1
USER_DELETED_PATTERN: Final[dict[str, list[str]]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [USER_DELETED],
}
#: A user's record taken over from a running recipe app's table (``userpipe adopt``): the item's
#: whole state at the version the recipe's clients know (``contracts.adoption``).
USER_ADOPTED: Final = "UserAdopted"
USER_ADOPTED_SCHEMA_VERSION: Final = 1
#: What the projector applies: every event that changes a User item. The table is their
#: projection, so replaying them all (``userpipe rebuild``) writes it again exactly.
USER_CHANGES_PATTERN: Final[dict[str, list[str]]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [
        USER_CONFIRMED,
        USER_PROFILE_CHANGED,
        USER_EMAIL_CHANGED,
        USER_DELETED,
        USER_ADOPTED,
    ],
}

#: Cognito's management API calls as CloudTrail puts them on the account's default bus
#: (EventBridge user guide, "Events from AWS services": detail-type "AWS API Call via
#: CloudTrail"; they need a trail logging management events).
CLOUDTRAIL_SOURCE: Final = "aws.cognito-idp"
CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
COGNITO_EVENT_SOURCE: Final = "cognito-idp.amazonaws.com"
#: The calls after which a user's record may have to follow Cognito: user_sync reads the user
#: again after each (it never trusts what the event says).
USER_LIFECYCLE_CALLS: Final = (
    "UpdateUserAttributes",
    "VerifyUserAttribute",
    "AdminUpdateUserAttributes",
    "DeleteUser",
    "AdminDeleteUser",
)
USER_SYNC_PATTERN: Final[dict[str, object]] = {
    "source": [CLOUDTRAIL_SOURCE],
    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
    "detail": {
        "eventSource": [COGNITO_EVENT_SOURCE],
        "eventName": list(USER_LIFECYCLE_CALLS),
        # A failed call changed nothing (CloudTrail records it with an errorCode).
        "errorCode": [{"exists": False}],
    },
}

#: Where a ``UserConfirmed`` came from.
ORIGIN_COGNITO: Final = "cognito"
ORIGIN_RECONCILE: Final = "reconcile"
ORIGIN_SYNC: Final = "sync"  # user_sync found a confirmed user without an item
Origin = Literal["cognito", "reconcile", "sync"]

#: Cognito PostConfirmation trigger sources. AdminConfirmSignUp also arrives as ConfirmSignUp.
TRIGGER_CONFIRM_SIGN_UP: Final = "PostConfirmation_ConfirmSignUp"
TRIGGER_CONFIRM_FORGOT_PASSWORD: Final = "PostConfirmation_ConfirmForgotPassword"  # noqa: S105
#: Pre token generation, when an admin-created user answers NEW_PASSWORD_REQUIRED: their first
#: sign-in, the moment they arrive (PostConfirmation never fires for them).
TRIGGER_NEW_PASSWORD_CHALLENGE: Final = "TokenGeneration_NewPasswordChallenge"  # noqa: S105

USER_TYPENAME: Final = "User"
#: The User table's partition key: the Cognito sub.
USER_KEY: Final = "id"
#: Amplify's owner field. Every User item holds the same string here as in ``USER_KEY``
#: (``contracts.user_model.User`` refuses one that does not), so an owner's Query, which may not
#: filter on its key, filters on this attribute where the client named ``id``.
OWNER_ATTRIBUTE: Final = "owner"
#: The User table's index of changes: every item (partition ``__typename``, always "User") by
#: ``_lastChangedAt`` — an Admin's delta sync reads only what changed after ``lastSync``.
LAST_CHANGED_INDEX: Final = "byLastChangedAt"
TYPENAME_ATTRIBUTE: Final = "__typename"
LAST_CHANGED_ATTRIBUTE: Final = "_lastChangedAt"
#: The attribute that marks a User item the projector wrote while applying a replayed event,
#: for the moment between its two writes (``contracts.replay_mark``). Never served, never left
#: on an item.
REPLAY_MARK: Final = "_replayedBy"
#: On an adopted record (``contracts.user_fields``): which adoption wrote it.
ADOPTED_ATTRIBUTE: Final = "_adoptedFrom"
#: Amplify's delete marker: a tombstone has it ``true``.
DELETED_ATTRIBUTE: Final = "_deleted"
#: The User table's time-to-live attribute (epoch seconds): only tombstones carry it, Amplify's
#: name for it on DataStore tables.
USER_TTL_ATTRIBUTE: Final = "_ttl"
#: How long a tombstone stays before DynamoDB's TTL removes it: DataStore's base-table window.
TOMBSTONE_DAYS: Final = 30
#: The per-user data keys' table's key: the sub.
KEY_OWNER: Final = "id"
#: The Audit table's key: (partition, sort).
AUDIT_KEY: Final = ("userId", "auditId")
#: The Audit table's time-to-live attribute (epoch seconds; absent: kept forever).
AUDIT_TTL_ATTRIBUTE: Final = "expiresAt"


class UserConfirmedDetail(TypedDict):
    """The ``detail`` of a ``UserConfirmed`` v2 event, as JSON (see ``contracts.event_models``)."""

    schemaVersion: int
    userPoolId: str
    sub: str
    confirmedAt: str
    origin: Origin
    clientId: str | None
    triggerSource: str | None


def iso_utc(moment: datetime) -> str:
    """Format a moment the way every userpipe timestamp is written (AWSDateTime, ms, ``Z``)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
