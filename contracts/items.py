"""The ``User`` item AppSync serves and the ``AuditRecord`` kept for every change to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import dynamodb
from contracts.events import UserConfirmed
from contracts.names import AUDIT_KEY as AUDIT_KEY  # re-exported
from contracts.names import OWNER_ATTRIBUTE, USER_TYPENAME, iso_utc
from contracts.names import USER_KEY as USER_KEY  # re-exported
from contracts.rules import (
    AGE_RANGE,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    NAME_LENGTH,
    USER_POOL_ID_MAX_LENGTH,
    USER_POOL_ID_PATTERN,
)

AUDIT_TTL_ATTRIBUTE: Final = "expiresAt"


class _Item(BaseModel):
    """A model stored as a DynamoDB item under its aliases (the names AppSync and Amplify use).

    Writing is strict (``extra="forbid"``): userpipe never stores an attribute it does not
    declare. Reading is tolerant: a stored item may carry attributes the model does not know (a
    migration, a console edit, a later version of userpipe); ``from_item`` leaves them out —
    never echoed, never an error — so one such item cannot break a read or a page of reads.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")

    def to_item(self) -> dynamodb.Item:
        return dynamodb.to_item(self.model_dump(by_alias=True, mode="json"))

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        known = cls.stored_names()
        return cls.model_validate(
            dynamodb.from_item({name: value for name, value in item.items() if name in known})
        )

    @classmethod
    def stored_names(cls) -> frozenset[str]:
        """The attribute names this model is stored under."""
        return frozenset(field.alias or name for name, field in cls.model_fields.items())


class User(_Item):
    """A user as AppSync serves it. The projector creates it; only the API changes it."""

    model_config = ConfigDict(title="User")

    id: str = Field(description="Cognito sub; partition key.")
    typename: Literal["User"] = Field(USER_TYPENAME, alias="__typename")
    user_pool_id: str = Field(
        alias="userPoolId",
        pattern=USER_POOL_ID_PATTERN,
        max_length=USER_POOL_ID_MAX_LENGTH,
        description="The Cognito user pool the user belongs to; the projector never creates "
        "a user whose id exists for another pool.",
    )
    email: str = Field(
        pattern=EMAIL_PATTERN, max_length=EMAIL_MAX_LENGTH, json_schema_extra={"x-sensitive": True}
    )
    owner: str = Field(description="Owner for Amplify's owner rule: the sub, always equal to id.")
    name: str | None = Field(None, min_length=NAME_LENGTH[0], max_length=NAME_LENGTH[1])
    age: int | None = Field(None, ge=AGE_RANGE[0], le=AGE_RANGE[1])
    created_at: str = Field(alias="createdAt", description="ISO-8601, the confirmation time.")
    updated_at: str = Field(alias="updatedAt", description="ISO-8601.")
    version: int = Field(alias="_version", ge=1, description="1 on creation, +1 per API change.")
    last_changed_at: int = Field(alias="_lastChangedAt", description="Epoch milliseconds.")
    deleted: bool | None = Field(None, alias="_deleted")

    @model_validator(mode="after")
    def _owned_by_its_id(self) -> Self:
        """An owner's filter on ``id`` is evaluated on ``owner`` (DynamoDB refuses a Query's
        filter on its key; ``services.user_api.store``), which is right only while the two
        are equal: an item where they differ is never served."""
        if self.owner != self.id:
            raise ValueError(f"{OWNER_ATTRIBUTE}: must equal {USER_KEY}")
        return self

    @classmethod
    def first_version(cls, event: UserConfirmed, *, now_ms: int) -> User:
        """The item for a newly confirmed user; timestamps come from the event, so a rebuild
        reproduces them."""
        confirmed_at = iso_utc(event.confirmed_at)
        return cls(
            id=event.sub,
            user_pool_id=event.user_pool_id,
            email=event.email,
            owner=event.sub,
            created_at=confirmed_at,
            updated_at=confirmed_at,
            version=1,
            last_changed_at=now_ms,
        )


AuditEventName = Literal["INSERT", "MODIFY", "REMOVE"]


class FieldChange(BaseModel):
    """One field's change. Sensitive values are replaced by a ``sha256:`` fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old: str | int | bool | None = None
    new: str | int | bool | None = None


class AuditRecord(_Item):
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
