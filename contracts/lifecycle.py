"""What a user's email change and deletion do to the ``User`` item, and the events that record
them — plain Python (the change publisher and the projector read it on their cold paths).

Two writes change an item besides the projector's first one and the API's edits; user_sync and
reconcile make them (``services.shared.lifecycle``), the change publisher publishes each from the
table's stream, and the projector applies the events again in a replay:

- **an email change**: Cognito's verified email differs from the item's. ``email``,
  ``updatedAt``, ``_lastChangedAt`` and ``_version`` (+1) change; nothing else.
  → ``UserEmailChanged`` (no address: Cognito holds it; the projector asks Cognito again).
- **a tombstone**: the user is gone from Cognito. ``_deleted`` is set, ``_version`` +1,
  ``updatedAt``/``_lastChangedAt`` are the deletion's time, ``_ttl`` expires it after
  ``TOMBSTONE_DAYS`` (DataStore's window: clients that synced the user learn of the deletion
  before it disappears), and every personal field (``ERASED_FIELDS``) is removed.
  → ``UserDeleted``, carrying the tombstone's whole state, so a rebuild writes it again even
  though the user's ``UserConfirmed`` then projects nothing (Cognito no longer knows the sub).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.event_fields import (
    SCHEMA_VERSION,
    USER_DELETED_EVENT,
    USER_EMAIL_CHANGED_EVENT,
    EventType,
    InvalidEventError,
    ReceivedEvent,
)
from contracts.names import DELETED_ATTRIBUTE, TOMBSTONE_DAYS, USER_KEY, USER_TTL_ATTRIBUTE
from contracts.user_fields import SENSITIVE_USER_FIELDS

#: What a tombstone no longer holds: every field that is personal data (email, name, age).
ERASED_FIELDS: Final = tuple(sorted(SENSITIVE_USER_FIELDS))
#: What an email change writes: the address and the bookkeeping of every write.
EMAIL_CHANGE_FIELDS: Final = frozenset({"email", "updatedAt", "_version", "_lastChangedAt"})
SECONDS_PER_DAY: Final = 86_400

Detail = dict[str, Any]


def tombstone_expiry(deleted_at_seconds: float) -> int:
    """When a tombstone made at ``deleted_at_seconds`` (epoch) expires: its ``_ttl``."""
    return int(deleted_at_seconds) + TOMBSTONE_DAYS * SECONDS_PER_DAY


def is_tombstone(item: Mapping[str, Any]) -> bool:
    """Whether an item (plain values) is a deleted user's tombstone."""
    return item.get(DELETED_ATTRIBUTE) is True


def is_email_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``old`` → ``new`` (plain values, marks removed) is an email change: only the
    address and the bookkeeping changed, the address did, and ``_version`` went up by one."""
    changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    version = old.get("_version")
    return (
        "email" in changed
        and changed <= EMAIL_CHANGE_FIELDS
        and isinstance(version, int)
        and new.get("_version") == version + 1
        and not is_tombstone(new)
    )


def _detail(event: EventType, item: Mapping[str, Any], renamed: Mapping[str, str]) -> Detail:
    detail: Detail = {SCHEMA_VERSION: event.version}
    for field in event.fields[1:]:
        detail[field.name] = item.get(renamed.get(field.name, field.name))
    problems = event.problems(detail)
    if problems:
        raise InvalidEventError("; ".join(f"{name}: {rule}" for name, rule in problems.items()))
    return detail


def email_changed_detail(item: Mapping[str, Any]) -> Detail:
    """The ``UserEmailChanged`` detail for the item an email change left (plain values), or
    ``InvalidEventError`` naming the fields that break the contract (never their values)."""
    return _detail(USER_EMAIL_CHANGED_EVENT, item, {"sub": USER_KEY})


def user_deleted_detail(item: Mapping[str, Any]) -> Detail:
    """The ``UserDeleted`` detail for a tombstone (plain values): its whole state."""
    return _detail(
        USER_DELETED_EVENT,
        item,
        {"sub": USER_KEY, "deletedAt": "updatedAt", "expiresAt": USER_TTL_ATTRIBUTE},
    )


def tombstone_of(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The tombstone a ``UserDeleted`` detail describes (plain values, without the fields only
    the first item has: the projector keeps what the item holds and adds these)."""
    return {
        USER_KEY: detail["sub"],
        "userPoolId": detail["userPoolId"],
        "createdAt": detail["createdAt"],
        "updatedAt": detail["updatedAt"],
        "_version": detail["_version"],
        "_lastChangedAt": detail["_lastChangedAt"],
        DELETED_ATTRIBUTE: True,
        USER_TTL_ATTRIBUTE: detail["expiresAt"],
    }


def read_user_email_changed(body: str | bytes) -> ReceivedEvent[Detail]:
    """Read an EventBridge event carrying ``UserEmailChanged`` (an SQS message body)."""
    return USER_EMAIL_CHANGED_EVENT.read(body)


def read_user_deleted(body: str | bytes) -> ReceivedEvent[Detail]:
    """Read an EventBridge event carrying ``UserDeleted`` (an SQS message body)."""
    return USER_DELETED_EVENT.read(body)
