"""The audit record's fields, each declared once: the table the plain record the audit trail
writes (``contracts.audit_item``) and the pydantic read model the API reads through
(``contracts.audit_model``, and so the JSON Schema file) are both built from.

Plain Python, no dataclasses: the audit trail imports it on its cold path.
"""

from __future__ import annotations

from typing import Final

from contracts.fields import OneOf, attribute

AUDIT_EVENT_NAMES: Final = ("INSERT", "MODIFY", "REMOVE")
#: The audit record's description in the JSON Schema file.
AUDIT_RECORD_ABOUT: Final = (
    "One change to one user, derived from one DynamoDB stream record. Append-only."
)

#: The kinds of value a record holds besides strings and whole numbers.
NAMES: Final = "names"  # a list of field names
CHANGES: Final = "changes"  # each changed field's old and new value, by field name


class AuditField:
    """One attribute of an audit record, under its stored name.

    - ``type``: ``str``, ``int``, ``NAMES`` or ``CHANGES``;
    - ``required``: on every record; otherwise ``None`` when it does not apply (stored as null);
    - ``rule``: what a string must be (``None``: any);
    - ``about``: its description in the JSON Schema file.
    """

    __slots__ = ("about", "name", "required", "rule", "type")

    def __init__(
        self,
        name: str,
        type: type[str] | type[int] | str,
        *,
        required: bool = True,
        rule: OneOf | None = None,
        about: str | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.required = required
        self.rule = rule
        self.about = about

    def __repr__(self) -> str:
        return f"AuditField({self.name!r})"

    @property
    def attribute(self) -> str:
        """Its Python name on both records: ``changedFields`` is ``changed_fields``."""
        return attribute(self.name)


AUDIT_FIELDS: Final = (
    AuditField("userId", str, about="Partition key: the User id."),
    AuditField(
        "auditId",
        str,
        about="Sort key, chronological: <stream time>#<zero-padded sequence number>.",
    ),
    AuditField("eventName", str, rule=OneOf(*AUDIT_EVENT_NAMES)),
    AuditField("changedFields", NAMES),
    AuditField("changes", CHANGES),
    AuditField("oldVersion", int, required=False),
    AuditField("newVersion", int, required=False),
    AuditField("at", str, about="ISO-8601: when DynamoDB recorded the change."),
    AuditField("sequenceNumber", str),
    AuditField("streamEventId", str),
    AuditField(
        "expiresAt", int, required=False, about="TTL, epoch seconds; absent = kept forever."
    ),
)
