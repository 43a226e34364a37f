"""The ``AuditRecord`` kept for every change to a user, as the pydantic read model the API and
the JSON Schema file read through. The audit trail writes it in plain Python
(``contracts.audit_item``); a test holds the two together."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.stored_model import StoredModel

AuditEventName = Literal["INSERT", "MODIFY", "REMOVE"]


class FieldChange(BaseModel):
    """One field's change. Sensitive values are replaced by a ``sha256:`` fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old: str | int | bool | None = None
    new: str | int | bool | None = None


class AuditRecord(StoredModel):
    """One change to one user, derived from one DynamoDB stream record. Append-only."""

    model_config = ConfigDict(title="AuditRecord")

    user_id: str = Field(alias="userId", description="Partition key: the User id.")
    audit_id: str = Field(
        alias="auditId",
        description="Sort key, chronological: <stream time>#<zero-padded sequence number>.",
    )
    event_name: AuditEventName = Field(alias="eventName")
    changed_fields: list[str] = Field(alias="changedFields")
    changes: dict[str, FieldChange]
    old_version: int | None = Field(None, alias="oldVersion")
    new_version: int | None = Field(None, alias="newVersion")
    at: str = Field(description="ISO-8601: when DynamoDB recorded the change.")
    sequence_number: str = Field(alias="sequenceNumber")
    stream_event_id: str = Field(alias="streamEventId")
    expires_at: int | None = Field(
        None, alias="expiresAt", description="TTL, epoch seconds; absent = kept forever."
    )
