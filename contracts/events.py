"""``UserConfirmed`` v1: the event every consumer of userpipe reads (pydantic, authoritative)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from contracts.names import (
    EVENT_SOURCE,
    USER_CONFIRMED,
    USER_CONFIRMED_SCHEMA_VERSION,
    Origin,
    iso_utc,
)
from contracts.rules import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    EVENT_ID_PATTERN,
    REPLAY_NAME_PATTERN,
    TIMESTAMP_PATTERN,
    USER_POOL_ID_MAX_LENGTH,
    USER_POOL_ID_PATTERN,
    USERNAME_LENGTH,
    UUID_PATTERN,
)
from contracts.user_confirmed import InvalidEventError as InvalidEventError  # re-exported


class UserConfirmed(BaseModel):
    """A user finished sign-up (or was found by reconcile). Idempotency key: pool + ``sub``."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # Consumers tolerate additive changes; the producer is held to exactly these fields.
        extra="ignore",
        title="UserConfirmed",
        json_schema_serialization_defaults_required=True,
    )

    schema_version: Literal[1] = Field(
        USER_CONFIRMED_SCHEMA_VERSION, description="Version of this detail's shape."
    )
    user_pool_id: str = Field(
        pattern=USER_POOL_ID_PATTERN,
        max_length=USER_POOL_ID_MAX_LENGTH,
        description="Cognito user pool id.",
    )
    sub: str = Field(pattern=UUID_PATTERN, description="Cognito sub; becomes User.id.")
    username: str = Field(min_length=USERNAME_LENGTH[0], max_length=USERNAME_LENGTH[1])
    email: str = Field(
        pattern=EMAIL_PATTERN, max_length=EMAIL_MAX_LENGTH, json_schema_extra={"x-sensitive": True}
    )
    email_verified: bool
    confirmed_at: AwareDatetime = Field(
        description="When the user was confirmed; becomes createdAt.",
        # "format" is only an annotation in JSON Schema 2020-12; the pattern makes the shape
        # every producer writes (iso_utc) part of the contract.
        json_schema_extra={"format": "date-time", "pattern": TIMESTAMP_PATTERN},
    )
    origin: Origin = Field(description="cognito: the trigger; reconcile: backfill.")
    client_id: str | None = Field(None, description="App client that confirmed, when known.")

    @field_serializer("confirmed_at")
    def _iso(self, value: datetime) -> str:
        return iso_utc(value)

    @property
    def idempotency_key(self) -> str:
        return f"{self.user_pool_id}#{self.sub}"


class UserConfirmedEnvelope(BaseModel):
    """An EventBridge event carrying ``UserConfirmed`` (what arrives in the projector's queue)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    id: str = Field(pattern=EVENT_ID_PATTERN, description="EventBridge's event id (a UUID).")
    source: str
    detail_type: str = Field(alias="detail-type")
    time: AwareDatetime
    detail: UserConfirmed
    replay_name: str | None = Field(None, alias="replay-name", pattern=REPLAY_NAME_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _is_user_confirmed(cls, data: Any) -> Any:
        """Reject other events by name first, before their detail produces a wall of errors.
        The reason states the rule, never the values it saw (they may be personal data)."""
        if isinstance(data, dict):
            source, detail_type = data.get("source"), data.get("detail-type")
            if (source, detail_type) != (EVENT_SOURCE, USER_CONFIRMED):
                raise ValueError(
                    f"not a {USER_CONFIRMED} event: source must be {EVENT_SOURCE!r} "
                    f"and detail-type {USER_CONFIRMED!r}"
                )
        return data


def parse_user_confirmed(body: str | bytes) -> UserConfirmedEnvelope:
    """Parse an EventBridge event carrying ``UserConfirmed`` (e.g. an SQS message body)."""
    try:
        return UserConfirmedEnvelope.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEventError(describe(exc)) from None


def describe(error: ValidationError) -> str:
    """Where and why validation failed, without the offending values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'message'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)
    )
