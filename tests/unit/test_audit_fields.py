"""The audit record's plain builder (``contracts.audit_item``) and its pydantic read model
(``contracts.audit_model``, and so ``AuditRecord.json``) agree with its field table
(``contracts/audit_fields.py``). ``tests/unit/test_audit_trail.py`` holds the two to the same
stored item on generated stream records."""

from __future__ import annotations

import json
import typing

import pytest

from contracts import audit_item, audit_model, jsonschema
from contracts.audit_fields import AUDIT_EVENT_NAMES, AUDIT_FIELDS, AUDIT_RECORD_ABOUT, CHANGES
from contracts.audit_item import AuditEntry
from contracts.audit_model import AuditRecord
from contracts.names import AUDIT_KEY, AUDIT_TTL_ATTRIBUTE

NAMES = [field.name for field in AUDIT_FIELDS]


def test_the_read_model_declares_the_tables_fields_in_order() -> None:
    assert [field.alias or name for name, field in AuditRecord.model_fields.items()] == NAMES
    assert AuditRecord.stored_names() == set(NAMES)


def test_the_plain_record_has_exactly_the_tables_fields_in_order() -> None:
    typed = typing.get_type_hints(AuditEntry)
    assert list(typed) == [field.attribute for field in AUDIT_FIELDS]
    assert set(AuditEntry.__slots__) == set(typed)
    for field in AUDIT_FIELDS:
        optional = type(None) in typing.get_args(typed[field.attribute])
        assert optional == (not field.required), field.name


def test_the_two_field_changes_have_the_same_fields() -> None:
    assert set(audit_item.FieldChange.__slots__) == set(audit_model.FieldChange.model_fields)
    assert [f.name for f in AUDIT_FIELDS if f.type == CHANGES] == ["changes"]


def test_the_schema_file_requires_and_describes_the_tables_fields() -> None:
    schema = json.loads((jsonschema.SCHEMA_DIR / "AuditRecord.json").read_text())
    assert jsonschema.MODELS["AuditRecord.json"] is AuditRecord
    assert schema["description"] == AUDIT_RECORD_ABOUT
    assert schema["required"] == [field.name for field in AUDIT_FIELDS if field.required]
    assert list(schema["properties"]) == sorted(NAMES)
    for field in AUDIT_FIELDS:
        assert schema["properties"][field.name].get("description") == field.about, field.name
    assert schema["properties"]["eventName"]["enum"] == list(AUDIT_EVENT_NAMES)


def test_the_tables_key_and_time_to_live_are_the_audit_tables() -> None:
    fields = {field.name: field for field in AUDIT_FIELDS}
    assert all(fields[name].required and fields[name].type is str for name in AUDIT_KEY)
    ttl = fields[AUDIT_TTL_ATTRIBUTE]
    assert (ttl.type, ttl.required) == (int, False)


def test_a_plain_record_takes_every_field_once_and_is_never_changed() -> None:
    values = {field.attribute: None for field in AUDIT_FIELDS}
    with pytest.raises(TypeError, match="missing \\['user_id'\\]"):
        AuditEntry(**{name: value for name, value in values.items() if name != "user_id"})
    with pytest.raises(TypeError, match="unknown \\['colour'\\]"):
        AuditEntry(**values, colour="red")
    entry = AuditEntry(**values | {"changed_fields": [], "changes": {}})
    with pytest.raises(AttributeError, match="append-only"):
        entry.user_id = "someone else"  # type: ignore[misc]
    assert list(entry.values()) == NAMES
