"""An ``AuditRecord`` built in plain Python, for the audit trail's cold path.

``contracts.audit_model.AuditRecord`` (pydantic) is the declaration and what the API reads; a test
holds ``AuditEntry.to_item()`` to ``AuditRecord.model_validate(entry.values()).to_item()`` on
generated stream records, attribute for attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from contracts import dynamodb

AUDIT_EVENT_NAMES: Final = ("INSERT", "MODIFY", "REMOVE")

AuditedValue = str | int | bool | None  # what the audit keeps of a value (see services.audit_trail)


@dataclass(frozen=True)
class FieldChange:
    old: AuditedValue = None
    new: AuditedValue = None


@dataclass(frozen=True)
class AuditEntry:
    """One change to one user, derived from one DynamoDB stream record. Append-only."""

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

    def values(self) -> dict[str, Any]:
        """The attributes under their stored names, as ``AuditRecord`` dumps them."""
        return {
            "userId": self.user_id,
            "auditId": self.audit_id,
            "eventName": self.event_name,
            "changedFields": list(self.changed_fields),
            "changes": {
                name: {"old": change.old, "new": change.new}
                for name, change in self.changes.items()
            },
            "oldVersion": self.old_version,
            "newVersion": self.new_version,
            "at": self.at,
            "sequenceNumber": self.sequence_number,
            "streamEventId": self.stream_event_id,
            "expiresAt": self.expires_at,
        }

    def to_item(self) -> dynamodb.Item:
        return dynamodb.to_item(self.values())
