"""The rules every field of userpipe's contracts obeys — declared once, in plain Python.

The pydantic models (``contracts.events``; ``contracts.user_model`` through the field table
``contracts.user_fields``) declare their fields with these constants, so the generated JSON Schema
files carry them too. The Cognito trigger checks its outgoing ``UserConfirmed`` with
``user_confirmed_problems`` without importing pydantic (its cold path stays light); a test holds
that check, the pydantic model and the JSON Schema file to the same verdict on generated inputs.
The profile's rules (what the API lets a user write) are rows of the field table.

Every reason names the field and the rule, never the value: values may be personal data.

Patterns use explicit ASCII classes, never ``\\s`` or ``\\w``: pydantic (Rust's regex), Python's
``re`` and JSON Schema validators (ECMA-262) disagree about what those match beyond ASCII. And a
Python check uses ``fullmatch``: Python's ``$`` also matches before a trailing newline, Rust's and
ECMA-262's do not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

#: Cognito's ``sub``: a lowercase UUID.
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: EventBridge gives every event "a Version 4 UUID" as its id (EventBridge user guide, "Event
#: structure reference"); replays get a new one.
EVENT_ID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
#: EventBridge's rule for a replay name (StartReplay API reference: 1-64 of ``[.\-_A-Za-z0-9]``).
REPLAY_NAME_PATTERN: Final = r"^[.\-_A-Za-z0-9]{1,64}$"
#: Cognito's own rule for a pool id (API reference: ``[\w-]+_[0-9a-zA-Z]+``, 1-55 characters;
#: AWS's ``\w`` is ASCII).
USER_POOL_ID_PATTERN: Final = r"^[0-9A-Za-z_-]+_[0-9A-Za-z]+$"
USER_POOL_ID_MAX_LENGTH: Final = 55
#: One ``@`` between two non-empty parts with no spaces or control characters. Cognito validates
#: the address itself; this only keeps garbage out of the pipeline.
EMAIL_PATTERN: Final = r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+$"
EMAIL_MAX_LENGTH: Final = 320
#: Cognito usernames are 1-128 characters.
USERNAME_LENGTH: Final = (1, 128)
#: A time as every userpipe timestamp is written: RFC 3339 with seconds and a zone.
TIMESTAMP_PATTERN: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
ORIGINS: Final = ("cognito", "reconcile")
USER_CONFIRMED_FIELDS: Final = (
    "schemaVersion",
    "userPoolId",
    "sub",
    "username",
    "email",
    "emailVerified",
    "confirmedAt",
    "origin",
    "clientId",
)

_UUID = re.compile(UUID_PATTERN)
_USER_POOL_ID = re.compile(USER_POOL_ID_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)

USER_POOL_ID_RULE: Final = (
    f"must be a Cognito user pool id (<region>_<id>, at most {USER_POOL_ID_MAX_LENGTH} characters)"
)
SUB_RULE: Final = "must be a lowercase UUID"
EMAIL_RULE: Final = (
    f"must be an email address (one @, no spaces or control characters) "
    f"of at most {EMAIL_MAX_LENGTH} characters"
)
USERNAME_RULE: Final = f"must be a string of {USERNAME_LENGTH[0]}-{USERNAME_LENGTH[1]} characters"


def is_user_pool_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= USER_POOL_ID_MAX_LENGTH
        and _USER_POOL_ID.fullmatch(value) is not None
    )


def is_sub(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def is_email(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= EMAIL_MAX_LENGTH
        and _EMAIL.fullmatch(value) is not None
    )


def is_timestamp(value: object) -> bool:
    if not isinstance(value, str) or _TIMESTAMP.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:  # a day the month does not have
        return False
    return True


def user_confirmed_problems(detail: Mapping[str, Any]) -> dict[str, str]:
    """Which fields of a ``UserConfirmed`` v1 detail (as JSON) break which rule; empty when the
    detail obeys the contract. Types are JSON's: no coercion, as the JSON Schema file says."""
    checks: dict[str, tuple[bool, str]] = {
        "schemaVersion": (_is_one(detail.get("schemaVersion")), "must be the number 1"),
        "userPoolId": (is_user_pool_id(detail.get("userPoolId")), USER_POOL_ID_RULE),
        "sub": (is_sub(detail.get("sub")), SUB_RULE),
        "username": (_is_username(detail.get("username")), USERNAME_RULE),
        "email": (is_email(detail.get("email")), EMAIL_RULE),
        "emailVerified": (isinstance(detail.get("emailVerified"), bool), "must be true or false"),
        "confirmedAt": (
            is_timestamp(detail.get("confirmedAt")),
            "must be an RFC 3339 time with seconds and a time zone",
        ),
        "origin": (detail.get("origin") in ORIGINS, f"must be one of {', '.join(ORIGINS)}"),
        "clientId": (
            detail.get("clientId") is None or isinstance(detail.get("clientId"), str),
            "must be a string or null",
        ),
    }
    problems = {name: "is required" for name in USER_CONFIRMED_FIELDS if name not in detail}
    for name, (holds, rule) in checks.items():
        if name not in problems and not holds:
            problems[name] = rule
    return problems


def _is_one(value: object) -> bool:
    """JSON Schema's ``const: 1``: any number equal to 1 (``1.0`` too), never ``true``."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 1


def _is_username(value: object) -> bool:
    return isinstance(value, str) and USERNAME_LENGTH[0] <= len(value) <= USERNAME_LENGTH[1]
