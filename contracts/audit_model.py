"""The ``AuditRecord`` kept for every change to a user, as the pydantic read model the API and
the JSON Schema file read through, generated from the audit record's field table
(``contracts.audit_fields``). The audit trail writes it in plain Python
(``contracts.audit_item``) from the same table; a test holds the two together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from contracts.audit_fields import AUDIT_FIELDS, AUDIT_RECORD_ABOUT, CHANGES, NAMES, AuditField
from contracts.stored_model import StoredModel


class FieldChange(BaseModel):
    """One field's change. Sensitive values are replaced by a ``sha256:`` fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old: str | int | bool | None = None
    new: str | int | bool | None = None


class AuditRecordModel(StoredModel):
    """The base of ``AuditRecord``: a record stored as one item of the Audit table."""

    model_config = ConfigDict(title="AuditRecord")

    if TYPE_CHECKING:
        # The fields are the table's (``AuditRecord`` below); to a type checker they read as Any.
        def __getattr__(self, name: str) -> Any: ...


#: The read model's type for each of the table's kinds of value.
_TYPES: dict[object, Any] = {str: str, int: int, NAMES: list[str], CHANGES: dict[str, FieldChange]}


def _declared(field: AuditField) -> tuple[Any, FieldInfo]:
    """One row of the table as a pydantic field: its type, alias and description."""
    python_type = field.rule.annotation() if field.rule is not None else _TYPES[field.type]
    default: Any = ... if field.required else None
    declared = Field(
        default,
        alias=None if field.name == field.attribute else field.name,
        description=field.about,
    )
    return (python_type if field.required else python_type | None), declared


if TYPE_CHECKING:
    AuditRecord = AuditRecordModel
else:
    AuditRecord = create_model(
        "AuditRecord",
        __base__=AuditRecordModel,
        __module__=__name__,
        __doc__=AUDIT_RECORD_ABOUT,
        **{field.attribute: _declared(field) for field in AUDIT_FIELDS},
    )
