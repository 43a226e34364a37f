"""The events userpipe publishes as pydantic read models, generated from their field tables
(``contracts.event_fields``): every consumer that is not on a cold path reads through them, and
the JSON Schema files are rendered from them (``make schemas``).

The trigger builds and the projector reads ``UserConfirmed`` in plain Python
(``contracts.user_confirmed``), from the same table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from contracts.event_fields import (
    USER_ADOPTED_EVENT,
    USER_CONFIRMED_EVENT,
    USER_DELETED_EVENT,
    USER_EMAIL_CHANGED_EVENT,
    USER_PROFILE_CHANGED_EVENT,
    EventField,
    EventType,
)
from contracts.event_fields import InvalidEventError as InvalidEventError  # re-exported
from contracts.fields import Constant, Timestamp
from contracts.names import iso_utc
from contracts.rules import EVENT_ID_PATTERN, REPLAY_NAME_PATTERN

#: A timestamp in a detail: any RFC 3339 time with a zone in, ``iso_utc`` out.
AwareTime = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]


class EventDetail(BaseModel):
    """The base of every event's detail model."""

    model_config = ConfigDict(
        populate_by_name=True,
        frozen=True,
        # Consumers tolerate additive changes; the producer is held to exactly these fields.
        extra="ignore",
        json_schema_serialization_defaults_required=True,
    )

    if TYPE_CHECKING:
        # The fields are the table's (``detail_model``); to a type checker they read as Any.
        def __getattr__(self, name: str) -> Any: ...


Detail = TypeVar("Detail", bound=EventDetail)


def _declared(field: EventField) -> tuple[Any, FieldInfo]:
    """One row of an event's table as a pydantic field: its type, rule, alias and marks."""
    rule = field.rule
    python_type: Any = AwareTime if isinstance(rule, Timestamp) else rule.annotation()
    default: Any = rule.value if isinstance(rule, Constant) else (None if field.nullable else ...)
    constraints = rule.constraints()
    extra: dict[str, Any] = constraints.pop("json_schema_extra", {})
    if field.sensitive:
        extra = extra | {"x-sensitive": True}
    declared = Field(
        default,
        alias=field.name,
        description=field.about,
        json_schema_extra=extra or None,
        **constraints,
    )
    return (python_type | None if field.nullable else python_type), declared


def detail_model(event: EventType, base: type[Detail]) -> type[Detail]:
    """The pydantic model of ``event``'s detail, titled with its detail-type, on ``base`` (what
    the event offers beyond its fields, or ``EventDetail``)."""
    fields: dict[str, Any] = {field.attribute: _declared(field) for field in event.fields}
    return create_model(
        event.detail_type, __base__=base, __module__=__name__, __doc__=event.about, **fields
    )


class UserConfirmedDetailModel(EventDetail):
    """What a ``UserConfirmed`` detail offers beyond its fields."""

    @property
    def idempotency_key(self) -> str:
        return f"{self.user_pool_id}#{self.sub}"


if TYPE_CHECKING:
    UserConfirmed = UserConfirmedDetailModel
else:
    #: ``UserConfirmed`` v2: the event every consumer of userpipe reads.
    UserConfirmed = detail_model(USER_CONFIRMED_EVENT, UserConfirmedDetailModel)


if TYPE_CHECKING:
    UserProfileChanged = EventDetail
    UserEmailChanged = EventDetail
    UserDeleted = EventDetail
    UserAdopted = EventDetail
else:
    #: ``UserProfileChanged`` v2: an API edit of a profile, as the change publisher publishes it.
    UserProfileChanged = detail_model(USER_PROFILE_CHANGED_EVENT, EventDetail)
    #: ``UserEmailChanged`` v1: Cognito's verified email changed and the item took it.
    UserEmailChanged = detail_model(USER_EMAIL_CHANGED_EVENT, EventDetail)
    #: ``UserDeleted`` v1: the user was deleted; the item is a tombstone.
    UserDeleted = detail_model(USER_DELETED_EVENT, EventDetail)
    #: ``UserAdopted`` v1: a record taken over from a recipe app's table.
    UserAdopted = detail_model(USER_ADOPTED_EVENT, EventDetail)


class EventEnvelope(BaseModel):
    """An EventBridge event carrying the detail of ``event_type`` (what arrives in a queue)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")
    event_type: ClassVar[EventType]

    id: str = Field(pattern=EVENT_ID_PATTERN, description="EventBridge's event id (a UUID).")
    source: str
    detail_type: str = Field(alias="detail-type")
    time: AwareDatetime
    replay_name: str | None = Field(None, alias="replay-name", pattern=REPLAY_NAME_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _is_this_event(cls, data: Any) -> Any:
        """Reject other events by name first, before their detail produces a wall of errors.
        The reason states the rule, never the values it saw (they may be personal data)."""
        if isinstance(data, dict) and not cls.event_type.is_named_by(data):
            raise ValueError(cls.event_type.another_event)
        return data


class UserConfirmedEnvelope(EventEnvelope):
    """An EventBridge event carrying ``UserConfirmed`` (what arrives in the projector's queue)."""

    event_type = USER_CONFIRMED_EVENT
    detail: UserConfirmed


class UserProfileChangedEnvelope(EventEnvelope):
    """An EventBridge event carrying ``UserProfileChanged``."""

    event_type = USER_PROFILE_CHANGED_EVENT
    detail: UserProfileChanged


class UserEmailChangedEnvelope(EventEnvelope):
    """An EventBridge event carrying ``UserEmailChanged``."""

    event_type = USER_EMAIL_CHANGED_EVENT
    detail: UserEmailChanged


class UserDeletedEnvelope(EventEnvelope):
    """An EventBridge event carrying ``UserDeleted``."""

    event_type = USER_DELETED_EVENT
    detail: UserDeleted


class UserAdoptedEnvelope(EventEnvelope):
    """An EventBridge event carrying ``UserAdopted``."""

    event_type = USER_ADOPTED_EVENT
    detail: UserAdopted


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
