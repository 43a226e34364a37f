"""The ``User``'s fields, each declared once: the table every other place of the shape reads.

Plain Python (no pydantic): the projector builds its items from this table on its cold path.
The classes are plain ones with ``__slots__``, not dataclasses: a dataclass writes and compiles
its methods when the module is imported, ~1.5 ms each, and this module is on that path. The kinds
of value (``Text``, ``WholeNumber``, ...) are shared with the other tables (``contracts.fields``).

Derived from the table, never written out again:

- the projector's first item (``contracts.user_item.first_version_item``);
- the pydantic read model and the JSON Schema file (``contracts.user_model``, ``make schemas``);
- what the API lets a client edit, filter and name in a condition, and its messages
  (``services.user_api``);
- what the change publisher publishes and selects, and how it recognises an API edit
  (``services.change_publisher``);
- which values the audit trail fingerprints instead of keeping (``services.audit_trail``).

Written by hand, and held to this table by ``tests/unit/test_user_fields.py``: the GraphQL schema
(``contracts/schema.graphql``, itself held to Amplify's reference), the console's record and
edit form (``console/src``), and the Amplify model fixture (``tests/clients/models/schema.mjs``).

To add a profile field (one a user edits), add a row here with ``writer=OWNER`` and a rule, then
the schema, the console and the fixture: ``docs/`` lists the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Literal

from contracts.fields import Kind, Matching, Text, WholeNumber, attribute
from contracts.names import USER_KEY, USER_TYPENAME, iso_utc
from contracts.rules import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    EMAIL_RULE,
    USER_POOL_ID_MAX_LENGTH,
    USER_POOL_ID_PATTERN,
    USER_POOL_ID_RULE,
)

#: Who writes a field:
#: - PIPELINE: the projector, once, when the user is confirmed; nothing changes it later;
#: - OWNER: the user through the API's ``updateUser`` (an Admin may too, for anyone);
#: - EVERY_WRITE: the projector on creation, then the API with every edit (bookkeeping);
#: - IDENTITY: Cognito's: the projector copies it on creation, user_sync and reconcile when it
#:   changes there (the events carry none: Cognito is asked);
#: - ERASURE: the tombstone a deletion leaves (user_sync, reconcile; an operator may too);
#: - ADOPTION: ``userpipe adopt``, taking a recipe app's record over (``UserAdopted``).
Writer = Literal["pipeline", "owner", "every write", "identity", "erasure", "adoption"]
PIPELINE: Final = "pipeline"
OWNER: Final = "owner"
EVERY_WRITE: Final = "every write"
IDENTITY: Final = "identity"
ERASURE: Final = "erasure"
ADOPTION: Final = "adoption"

#: The GraphQL inputs that filter on User fields (contracts/schema.graphql).
LIST_FILTER: Final = "ModelUserFilterInput"  # listUsers, syncUsers
CONDITION: Final = "ModelUserConditionInput"  # updateUser's condition
SUBSCRIPTION_FILTER: Final = "ModelSubscriptionUserFilterInput"  # onCreate/Update/DeleteUser
EVERY_FILTER: Final = frozenset({LIST_FILTER, CONDITION, SUBSCRIPTION_FILTER})

#: A field's value on the first item, from the checked ``UserConfirmed`` detail and the email
#: Cognito holds (``email``): the first item is a function of the two, so a rebuild from the
#: archive writes it again exactly.
Initial = Callable[[Mapping[str, Any]], Any]


class UserField:
    """One attribute of a User item, under the name DynamoDB, GraphQL and Amplify all use.

    - ``type``: its Python type;
    - ``required``: on every item (the pipeline writes it), or absent until someone sets it;
    - ``graphql``: its type in schema.graphql's ``User``; ``None``: stored, never served;
    - ``writer``: who writes it (``Writer``);
    - ``rule``: what a value must be (the API checks the profile's; the read model, the JSON
      Schema and the console carry them all);
    - ``sensitive``: personal data: never logged, only a fingerprint in the audit trail;
    - ``filterable``: the GraphQL filter inputs that can name it;
    - ``published``: in ``PublishUserChangeInput``, what the change publisher sends subscribers;
    - ``initial``: its value on the first item (``None``: absent until written);
    - ``fixed``: always this value;
    - ``about``: its description in the JSON Schema file.
    """

    __slots__ = (
        "about",
        "filterable",
        "fixed",
        "graphql",
        "initial",
        "name",
        "published",
        "required",
        "rule",
        "sensitive",
        "type",
        "writer",
    )

    def __init__(
        self,
        name: str,
        type: type[str] | type[int] | type[bool],
        required: bool,
        graphql: str | None,
        writer: Writer,
        *,
        rule: Kind | None = None,
        sensitive: bool = False,
        filterable: frozenset[str] = frozenset(),
        published: bool = False,
        initial: Initial | None = None,
        fixed: str | None = None,
        about: str | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.required = required
        self.graphql = graphql
        self.writer = writer
        self.rule = rule
        self.sensitive = sensitive
        self.filterable = filterable
        self.published = published
        self.initial = initial
        self.fixed = fixed
        self.about = about

    def __repr__(self) -> str:
        return f"UserField({self.name!r})"

    @property
    def attribute(self) -> str:
        """Its Python name on the read model: ``_lastChangedAt`` is ``last_changed_at``."""
        return attribute(self.name)


def _from_event(key: str) -> Initial:
    return lambda detail: detail[key]


def _confirmation_time(detail: Mapping[str, Any]) -> str:
    """Timestamps come from the event, so a rebuild reproduces them."""
    return iso_utc(datetime.fromisoformat(detail["confirmedAt"]))


def _confirmation_ms(detail: Mapping[str, Any]) -> int:
    """``_lastChangedAt`` of the first version: the confirmation time in epoch ms, not the time
    of the write, so a rebuild reproduces it. What that costs, and why it is taken, is in
    docs/architecture.md ("The event log is the truth")."""
    return int(datetime.fromisoformat(detail["confirmedAt"]).timestamp() * 1000)


USER_FIELDS: Final = (
    UserField(
        "id",
        str,
        True,
        "ID!",
        PIPELINE,
        filterable=EVERY_FILTER,
        published=True,
        initial=_from_event("sub"),
        about="Cognito sub; partition key.",
    ),
    UserField(
        "__typename",
        str,
        True,
        None,
        PIPELINE,
        initial=lambda detail: USER_TYPENAME,
        fixed=USER_TYPENAME,
    ),
    UserField(
        "userPoolId",
        str,
        True,
        None,
        PIPELINE,
        rule=Matching(USER_POOL_ID_PATTERN, USER_POOL_ID_MAX_LENGTH, USER_POOL_ID_RULE),
        initial=_from_event("userPoolId"),
        about="The Cognito user pool the user belongs to; the projector never creates "
        "a user whose id exists for another pool.",
    ),
    UserField(
        "email",
        str,
        False,
        "AWSEmail",
        IDENTITY,
        rule=Matching(EMAIL_PATTERN, EMAIL_MAX_LENGTH, EMAIL_RULE),
        sensitive=True,
        filterable=frozenset({LIST_FILTER}),
        published=True,
        initial=_from_event("email"),
        about="Cognito's verified email; none on a deleted user's tombstone.",
    ),
    UserField(
        "owner",
        str,
        True,
        "String",
        PIPELINE,
        published=True,
        initial=_from_event("sub"),
        about="Owner for Amplify's owner rule: the sub, always equal to id.",
    ),
    UserField(
        "name",
        str,
        False,
        "String",
        OWNER,
        rule=Text((1, 100)),
        sensitive=True,
        filterable=EVERY_FILTER,
        published=True,
    ),
    UserField(
        "age",
        int,
        False,
        "Int",
        OWNER,
        rule=WholeNumber(0, 150),
        sensitive=True,
        filterable=EVERY_FILTER,
        published=True,
    ),
    UserField(
        "createdAt",
        str,
        True,
        "AWSDateTime!",
        PIPELINE,
        filterable=EVERY_FILTER,
        published=True,
        initial=_confirmation_time,
        about="ISO-8601, the confirmation time.",
    ),
    UserField(
        "updatedAt",
        str,
        True,
        "AWSDateTime!",
        EVERY_WRITE,
        filterable=EVERY_FILTER,
        published=True,
        initial=_confirmation_time,
        about="ISO-8601.",
    ),
    UserField(
        "_version",
        int,
        True,
        "Int!",
        EVERY_WRITE,
        rule=WholeNumber(1),
        published=True,
        initial=lambda detail: 1,
        about="1 on creation, +1 per API change.",
    ),
    UserField(
        "_deleted",
        bool,
        False,
        "Boolean",
        ERASURE,
        filterable=EVERY_FILTER,
        published=True,
    ),
    UserField(
        "_lastChangedAt",
        int,
        True,
        "AWSTimestamp!",
        EVERY_WRITE,
        published=True,
        initial=_confirmation_ms,
        about="Epoch milliseconds.",
    ),
    UserField(
        "_ttl",
        int,
        False,
        None,
        ERASURE,
        about="A tombstone's expiry (epoch seconds): DynamoDB's TTL removes it then.",
    ),
    UserField(
        "_adoptedFrom",
        str,
        False,
        None,
        ADOPTION,
        about="On an adopted record: the recipe's table and the version adopted "
        "(``<table>#<_version>``). A confirmation never corrects such an item.",
    ),
)

FIELD: Final = {field.name: field for field in USER_FIELDS}
#: The fields the API writes on a user's behalf: the profile.
PROFILE_FIELDS: Final = tuple(field.name for field in USER_FIELDS if field.writer == OWNER)
#: ``UpdateUserInput``: the profile, the key and the version the client last read (optional:
#: without it the edit is unconditional). Every other served field is read-only to a client.
UPDATE_INPUT: Final = frozenset({USER_KEY, "_version", *PROFILE_FIELDS})
#: What an API edit writes: the profile and the bookkeeping that goes with every write.
WRITTEN_BY_AN_EDIT: Final = frozenset(
    field.name for field in USER_FIELDS if field.writer in (OWNER, EVERY_WRITE)
)
SENSITIVE_USER_FIELDS: Final = frozenset(field.name for field in USER_FIELDS if field.sensitive)
#: ``PublishUserChangeInput``'s fields, in the schema's order.
PUBLISHED_FIELDS: Final = tuple(field.name for field in USER_FIELDS if field.published)
FILTER_FIELDS: Final = frozenset(
    field.name for field in USER_FIELDS if LIST_FILTER in field.filterable
)
CONDITION_FIELDS: Final = frozenset(
    field.name for field in USER_FIELDS if CONDITION in field.filterable
)
SUBSCRIPTION_FILTER_FIELDS: Final = frozenset(
    field.name for field in USER_FIELDS if SUBSCRIPTION_FILTER in field.filterable
)


def listed(names: tuple[str, ...], conjunction: str = "and") -> str:
    """``name and age``; ``name, age and phone``."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def profile_problem(field: str, value: object) -> str | None:
    """Why ``value`` cannot be stored in the profile field ``field`` (``None``: it can).
    ``None`` as a value clears the field and is always allowed."""
    rule = FIELD[field].rule
    if value is None or rule is None:
        return None
    return rule.problem(field, value)
