"""The rules every field of userpipe's contracts obeys — declared once, in plain Python.

The field tables (``contracts.user_fields``, ``contracts.event_fields``) write their rows with
these constants, so the plain checks derived from them, the pydantic models and the generated JSON
Schema files all carry them; a test holds the plain check of ``UserConfirmed``, the pydantic model
and the JSON Schema file to the same verdict on generated inputs. The profile's rules (what the
API lets a user write) are rows of the User's field table.

Every reason names the field and the rule, never the value: values may be personal data.

Patterns use explicit ASCII classes, never ``\\s`` or ``\\w``: pydantic (Rust's regex), Python's
``re`` and JSON Schema validators (ECMA-262) disagree about what those match beyond ASCII. And a
Python check uses ``fullmatch``: Python's ``$`` also matches before a trailing newline, Rust's and
ECMA-262's do not.
"""

from __future__ import annotations

import re
from typing import Final

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
ORIGINS: Final = ("cognito", "reconcile", "sync")
#: A Cognito trigger source (``PostConfirmation_ConfirmSignUp``): Cognito's names are short.
TRIGGER_SOURCE_LENGTH: Final = (1, 64)
#: A value sealed under a user's data key (``services.shared.sealing``): ``v1.`` and base64url.
SEALED_PATTERN: Final = r"^v1\.[A-Za-z0-9_-]+$"
SEALED_MAX_LENGTH: Final = 8192
SEALED_RULE: Final = (
    f"must be a sealed value (v1. and base64url) of at most {SEALED_MAX_LENGTH} characters"
)
#: A DynamoDB table name: "3 to 255 characters long … a-z, A-Z, 0-9, _ (underscore), -
#: (dash), . (dot)" (DynamoDB Developer Guide, "Supported data types and naming rules").
TABLE_NAME_PATTERN: Final = r"^[A-Za-z0-9_.-]{3,255}$"
TABLE_NAME_MAX_LENGTH: Final = 255
TABLE_NAME_RULE: Final = "must be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .)"

_UUID = re.compile(UUID_PATTERN)
_USER_POOL_ID = re.compile(USER_POOL_ID_PATTERN)

USER_POOL_ID_RULE: Final = (
    f"must be a Cognito user pool id (<region>_<id>, at most {USER_POOL_ID_MAX_LENGTH} characters)"
)
SUB_RULE: Final = "must be a lowercase UUID"
EMAIL_RULE: Final = (
    f"must be an email address (one @, no spaces or control characters) "
    f"of at most {EMAIL_MAX_LENGTH} characters"
)


def is_user_pool_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= USER_POOL_ID_MAX_LENGTH
        and _USER_POOL_ID.fullmatch(value) is not None
    )


def is_sub(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
