"""The events userpipe publishes, each declared once: one ``EventType`` per event, a table of its
detail's fields — plain Python.

Plain (no pydantic, no dataclasses): the Cognito trigger builds and the projector reads events
on their cold paths with this module (``contracts.user_confirmed``).

Derived from an ``EventType``, never written out again:

- the plain check of a detail (``problems``: the trigger and reconcile check what they publish)
  and the plain reading of an EventBridge event carrying it (``read``: the projector);
- the pydantic read model and the JSON Schema file ``<detail-type>.v<version>.json``
  (``contracts.event_models``, ``make schemas``);
- the EventBridge pattern its consumers subscribe with (``pattern``).

Written by hand, and held to the table by ``tests/unit/test_event_fields.py``: the trigger's
``TypedDict`` of the detail (``contracts.names.UserConfirmedDetail``), the builder
(``contracts.user_confirmed``: the table's fields in its order) and the subscription pattern
(``contracts.names.USER_CONFIRMED_PATTERN``).

To add an event: one ``EventType`` here (its fields use the kinds in ``contracts.fields``), its
model in ``contracts.event_models`` (one ``detail_model`` call) and its file in
``contracts.jsonschema.MODELS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, Generic, NamedTuple, TypeVar

from contracts.fields import (
    AnyString,
    Chars,
    Constant,
    Kind,
    Matching,
    OneOf,
    Timestamp,
    WholeNumber,
    attribute,
)
from contracts.names import (
    EVENT_SOURCE,
    USER_ADOPTED,
    USER_ADOPTED_SCHEMA_VERSION,
    USER_CONFIRMED,
    USER_CONFIRMED_SCHEMA_VERSION,
    USER_DELETED,
    USER_DELETED_SCHEMA_VERSION,
    USER_EMAIL_CHANGED,
    USER_EMAIL_CHANGED_SCHEMA_VERSION,
    USER_PROFILE_CHANGED,
    USER_PROFILE_CHANGED_SCHEMA_VERSION,
)
from contracts.rules import (
    EVENT_ID_PATTERN,
    ORIGINS,
    REPLAY_NAME_PATTERN,
    SEALED_MAX_LENGTH,
    SEALED_PATTERN,
    SEALED_RULE,
    SUB_RULE,
    TABLE_NAME_MAX_LENGTH,
    TABLE_NAME_PATTERN,
    TABLE_NAME_RULE,
    TRIGGER_SOURCE_LENGTH,
    USER_POOL_ID_MAX_LENGTH,
    USER_POOL_ID_PATTERN,
    USER_POOL_ID_RULE,
    UUID_PATTERN,
)

#: Every detail's first field: the version of its shape.
SCHEMA_VERSION: Final = "schemaVersion"
#: The envelope's ``time``, as EventBridge writes it.
_TIME: Final = Timestamp()


class InvalidEventError(ValueError):
    """A message that is not a readable event of the type expected. The reason names fields and
    rules, never the values (they may be personal data)."""


Detail = TypeVar("Detail", bound=Mapping[str, Any])


class ReceivedEvent(NamedTuple, Generic[Detail]):
    """An EventBridge event carrying a checked detail."""

    id: str  # EventBridge's event id; a replay gives the event a new one
    detail: Detail
    replay_name: str | None  # set when the event comes from an archive replay


class EventField:
    """One field of an event's detail, under its JSON name.

    - ``rule``: what a value must be (a kind from ``contracts.fields``; it gives the type too);
    - ``nullable``: ``null`` is a value too (the field is still required: producers write it);
    - ``sensitive``: personal data: never logged, marked ``x-sensitive`` in the JSON Schema;
    - ``about``: its description in the JSON Schema file.
    """

    __slots__ = ("about", "name", "nullable", "rule", "sensitive")

    def __init__(
        self,
        name: str,
        rule: Kind,
        *,
        nullable: bool = False,
        sensitive: bool = False,
        about: str | None = None,
    ) -> None:
        self.name = name
        self.rule = rule
        self.nullable = nullable
        self.sensitive = sensitive
        self.about = about

    def __repr__(self) -> str:
        return f"EventField({self.name!r})"

    @property
    def attribute(self) -> str:
        """Its Python name on the read model: ``userPoolId`` is ``user_pool_id``."""
        return attribute(self.name)

    @property
    def requirement(self) -> str:
        return self.rule.requirement + (" or null" if self.nullable else "")

    def holds(self, value: object) -> bool:
        return (self.nullable and value is None) or self.rule.holds(value)


class EventType:
    """An event userpipe publishes on EventBridge: its ``source`` and ``detail-type``, the
    ``version`` of its detail's shape, and the detail's fields (``schemaVersion`` first, added
    here: every detail carries it)."""

    __slots__ = ("about", "detail_type", "fields", "source", "version")

    def __init__(
        self,
        detail_type: str,
        *,
        source: str,
        version: int,
        fields: tuple[EventField, ...],
        about: str,
    ) -> None:
        self.detail_type = detail_type
        self.source = source
        self.version = version
        self.about = about
        self.fields = (
            EventField(SCHEMA_VERSION, Constant(version), about="Version of this detail's shape."),
            *fields,
        )

    def __repr__(self) -> str:
        return f"EventType({self.detail_type!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The detail's fields, in the order producers write them."""
        return tuple(field.name for field in self.fields)

    @property
    def pattern(self) -> dict[str, list[str]]:
        """The EventBridge pattern its consumers subscribe with."""
        return {"source": [self.source], "detail-type": [self.detail_type]}

    @property
    def schema_file(self) -> str:
        return f"{self.detail_type}.v{self.version}.json"

    def put_events_entry(self, detail: Mapping[str, Any], bus_name: str) -> dict[str, str]:
        """The ``PutEvents`` entry that publishes ``detail`` (already checked) on ``bus_name``."""
        return {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": bus_name,
        }

    def problems(self, detail: Mapping[str, Any]) -> dict[str, str]:
        """Which fields of a detail (as JSON) break which rule; empty when the detail obeys the
        contract. Types are JSON's: no coercion, as the JSON Schema file says. Every field is
        required: producers write them all, ``null`` included."""
        problems = {field.name: "is required" for field in self.fields if field.name not in detail}
        for field in self.fields:
            if field.name not in problems and not field.holds(detail[field.name]):
                problems[field.name] = field.requirement
        return problems

    def is_named_by(self, event: Mapping[str, Any]) -> bool:
        """Whether an EventBridge event says it is one of these (its source and detail-type)."""
        return (event.get("source"), event.get("detail-type")) == (self.source, self.detail_type)

    @property
    def another_event(self) -> str:
        """Why an event that is not one of these is refused: by name, before its detail
        produces a wall of errors."""
        return (
            f"not a {self.detail_type} event: source must be {self.source!r} "
            f"and detail-type {self.detail_type!r}"
        )

    def envelope_problems(self, event: Mapping[str, Any]) -> dict[str, str]:
        """Which fields of an EventBridge event that ``is_named_by`` this type break which rule
        (``detail.<name>`` for the detail's); empty when it is a valid one."""
        problems: dict[str, str] = {}
        event_id, replay_name, detail = (
            event.get("id"),
            event.get("replay-name"),
            event.get("detail"),
        )
        if not (isinstance(event_id, str) and re.fullmatch(EVENT_ID_PATTERN, event_id)):
            problems["id"] = "must be a UUID"
        if not _TIME.holds(event.get("time")):
            problems["time"] = _TIME.requirement
        if replay_name is not None and not (
            isinstance(replay_name, str) and re.fullmatch(REPLAY_NAME_PATTERN, replay_name)
        ):
            problems["replay-name"] = "must be 1-64 of . - _ A-Z a-z 0-9"
        if not isinstance(detail, dict):
            problems["detail"] = "must be an object"
        else:
            problems |= {f"detail.{name}": rule for name, rule in self.problems(detail).items()}
        return problems

    def read(self, body: str | bytes) -> ReceivedEvent[dict[str, Any]]:
        """Read an EventBridge event of this type (e.g. an SQS message body), or raise
        ``InvalidEventError`` naming each field and the rule it breaks."""
        try:
            event = json.loads(body)
        except ValueError:  # UnicodeDecodeError too
            raise InvalidEventError("message: not a JSON document") from None
        if not isinstance(event, dict):
            raise InvalidEventError("message: must be a JSON object")
        if not self.is_named_by(event):
            raise InvalidEventError(f"message: {self.another_event}")
        problems = self.envelope_problems(event)
        if problems:
            raise InvalidEventError("; ".join(f"{name}: {rule}" for name, rule in problems.items()))
        return ReceivedEvent(event["id"], event["detail"], event.get("replay-name"))


_POOL = EventField(
    "userPoolId",
    Matching(USER_POOL_ID_PATTERN, USER_POOL_ID_MAX_LENGTH, USER_POOL_ID_RULE),
    about="Cognito user pool id.",
)
_SUB = EventField(
    "sub", Matching(UUID_PATTERN, None, SUB_RULE), about="Cognito sub; the User's id."
)
#: What every change of an item carries besides its own fields: when, and the version it made.
_BOOKKEEPING = (
    EventField("updatedAt", Timestamp(), about="When the change was made."),
    EventField(
        "_version",
        WholeNumber(2),
        about="The item's version after the change (1 is the first item's).",
    ),
    EventField("_lastChangedAt", WholeNumber(0), about="When the change was made, in epoch ms."),
)

USER_CONFIRMED_EVENT: Final = EventType(
    USER_CONFIRMED,
    source=EVENT_SOURCE,
    version=USER_CONFIRMED_SCHEMA_VERSION,
    about="A user arrived: confirmed sign-up, an admin-created user's first sign-in, or found by "
    "reconcile or user_sync. Idempotency key: pool + ``sub``. Carries no personal data: the "
    "email is Cognito's, read there by sub (``AdminGetUser``).",
    fields=(
        EventField(
            "userPoolId",
            Matching(USER_POOL_ID_PATTERN, USER_POOL_ID_MAX_LENGTH, USER_POOL_ID_RULE),
            about="Cognito user pool id.",
        ),
        EventField(
            "sub", Matching(UUID_PATTERN, None, SUB_RULE), about="Cognito sub; becomes User.id."
        ),
        EventField(
            "confirmedAt", Timestamp(), about="When the user was confirmed; becomes createdAt."
        ),
        EventField(
            "origin",
            OneOf(*ORIGINS),
            about="cognito: a trigger; reconcile: the daily backfill; sync: user_sync.",
        ),
        EventField(
            "clientId", AnyString(), nullable=True, about="App client that confirmed, when known."
        ),
        EventField(
            "triggerSource",
            Chars(TRIGGER_SOURCE_LENGTH),
            nullable=True,
            about="The Cognito trigger source that published it (origin cognito), else null.",
        ),
    ),
)

USER_PROFILE_CHANGED_EVENT: Final = EventType(
    USER_PROFILE_CHANGED,
    source=EVENT_SOURCE,
    version=USER_PROFILE_CHANGED_SCHEMA_VERSION,
    about="A user's profile was edited through the API. Carries the whole new state of what an "
    "edit writes: the profile, sealed under the user's own data key (erasing the user destroys "
    "the key), and the bookkeeping. Idempotency key: pool + ``sub`` + ``_version``; of two, the "
    "higher ``_version`` wins.",
    fields=(
        _POOL,
        _SUB,
        EventField(
            "sealedProfile",
            Matching(SEALED_PATTERN, SEALED_MAX_LENGTH, SEALED_RULE),
            about="The profile fields (contracts.user_fields, writer OWNER; null: cleared) as "
            "a JSON object, sealed with AES-256-GCM under the user's data key; associated data "
            "``<userPoolId>/<sub>/<_version>``.",
        ),
        *_BOOKKEEPING,
    ),
)

USER_EMAIL_CHANGED_EVENT: Final = EventType(
    USER_EMAIL_CHANGED,
    source=EVENT_SOURCE,
    version=USER_EMAIL_CHANGED_SCHEMA_VERSION,
    about="A user's verified email changed in Cognito and the User item took it. Carries no "
    "address: read it from Cognito (``AdminGetUser`` by sub) or the item. Idempotency key: pool "
    "+ ``sub`` + ``_version``.",
    fields=(_POOL, _SUB, *_BOOKKEEPING),
)

USER_DELETED_EVENT: Final = EventType(
    USER_DELETED,
    source=EVENT_SOURCE,
    version=USER_DELETED_SCHEMA_VERSION,
    about="A user was deleted from Cognito: the User item is a tombstone without personal data "
    "and the user's data key is destroyed. Erase your copies. Carries the tombstone's whole "
    "state, so a rebuild writes it again.",
    fields=(
        _POOL,
        _SUB,
        EventField("createdAt", Timestamp(), about="The user's createdAt (kept on the tombstone)."),
        *_BOOKKEEPING,
        EventField(
            "expiresAt",
            WholeNumber(0),
            about="When the tombstone expires (its TTL, epoch seconds).",
        ),
    ),
)

USER_ADOPTED_EVENT: Final = EventType(
    USER_ADOPTED,
    source=EVENT_SOURCE,
    version=USER_ADOPTED_SCHEMA_VERSION,
    about="A user's record was taken over from a recipe app's table (``userpipe adopt``). "
    "Carries the item's whole state at the version the recipe's clients know: the profile "
    "sealed under the user's data key as in ``UserProfileChanged``, ``createdAt`` and the "
    "bookkeeping; no email (Cognito's, read there by sub). Idempotency key: pool + ``sub`` + "
    "``_version``; of two, the higher ``_version`` wins.",
    fields=(
        _POOL,
        _SUB,
        EventField("createdAt", Timestamp(), about="The recipe's createdAt, kept."),
        EventField(
            "sealedProfile",
            Matching(SEALED_PATTERN, SEALED_MAX_LENGTH, SEALED_RULE),
            about="The profile fields (null: none) as a JSON object, sealed with AES-256-GCM "
            "under the user's data key; associated data ``<userPoolId>/<sub>/<_version>``.",
        ),
        EventField("updatedAt", Timestamp(), about="The recipe's updatedAt (or the merge's)."),
        EventField(
            "_version",
            WholeNumber(1),
            about="The item's version: the recipe's, or one above both when merged.",
        ),
        EventField("_lastChangedAt", WholeNumber(0), about="The last change, in epoch ms."),
        EventField(
            "adoptedFrom",
            Matching(TABLE_NAME_PATTERN, TABLE_NAME_MAX_LENGTH, TABLE_NAME_RULE),
            about="The recipe's table the record was read from.",
        ),
    ),
)

#: Every event userpipe publishes.
EVENT_TYPES: Final = (
    USER_CONFIRMED_EVENT,
    USER_PROFILE_CHANGED_EVENT,
    USER_EMAIL_CHANGED_EVENT,
    USER_DELETED_EVENT,
    USER_ADOPTED_EVENT,
)
