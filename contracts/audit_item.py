"""An ``AuditRecord`` built in plain Python, for the audit trail's cold path.

Its attributes come from the audit record's field table (``contracts.audit_fields``), as the
pydantic read model's do (``contracts.audit_model``); a test holds ``AuditEntry.to_item()`` to
``AuditRecord.model_validate(entry.values()).to_item()`` on generated stream records, attribute
for attribute. Plain classes with ``__slots__``, not dataclasses: a dataclass compiles its
methods when the module is imported, and this module is on the audit trail's cold path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from contracts import dynamodb
from contracts.audit_fields import AUDIT_EVENT_NAMES as AUDIT_EVENT_NAMES  # re-exported
from contracts.audit_fields import AUDIT_FIELDS, CHANGES, NAMES

AuditedValue = str | int | bool | None  # what the audit keeps of a value (see services.audit_trail)
#: What a sensitive value's fingerprint becomes when its user is erased (the audit trail redacts
#: every record of a deleted user): the record still says the field changed, no longer to what.
ERASED = "erased"

_ATTRIBUTES = frozenset(field.attribute for field in AUDIT_FIELDS)


def fingerprint(value: Any) -> str:
    """What the audit trail keeps of a sensitive value: its SHA-256, never the value."""
    return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()


class FieldChange:
    """One field's change. Sensitive values are replaced by a ``sha256:`` fingerprint, and the
    fingerprint by ``ERASED`` once the user is deleted."""

    __slots__ = ("new", "old")

    def __init__(self, old: AuditedValue = None, new: AuditedValue = None) -> None:
        self.old = old
        self.new = new

    def __repr__(self) -> str:
        return f"FieldChange(old={self.old!r}, new={self.new!r})"

    def values(self) -> dict[str, AuditedValue]:
        return {"old": self.old, "new": self.new}


class AuditEntry:
    """One change to one user, derived from one DynamoDB stream record. Append-only: built once
    with every field of the table (by its Python name), never changed — but for the one change
    erasure makes in the table: its sensitive values' fingerprints become ``ERASED``."""

    __slots__ = tuple(sorted(_ATTRIBUTES))

    # The table's fields, typed for the checker (a test holds them to the table).
    user_id: str
    audit_id: str
    event_name: str  # one of AUDIT_EVENT_NAMES
    changed_fields: list[str]
    changes: dict[str, FieldChange]
    old_version: int | None
    new_version: int | None
    at: str
    sequence_number: str
    stream_event_id: str
    expires_at: int | None

    def __init__(self, **fields: Any) -> None:
        if fields.keys() != _ATTRIBUTES:
            missing, unknown = _ATTRIBUTES - fields.keys(), fields.keys() - _ATTRIBUTES
            raise TypeError(f"AuditEntry: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"AuditEntry is append-only: cannot set {name}")

    def __repr__(self) -> str:
        return f"AuditEntry(user_id={self.user_id!r}, audit_id={self.audit_id!r})"

    def values(self) -> dict[str, Any]:
        """The attributes under their stored names, as ``AuditRecord`` dumps them."""
        stored: dict[str, Any] = {}
        for field in AUDIT_FIELDS:
            value = getattr(self, field.attribute)
            if field.type == NAMES:
                value = list(value)
            elif field.type == CHANGES:
                value = {name: change.values() for name, change in value.items()}
            stored[field.name] = value
        return stored

    def to_item(self) -> dynamodb.Item:
        return dynamodb.to_item(self.values())
