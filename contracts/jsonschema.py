"""JSON Schema files generated from the models (themselves built from the field tables); checked
in under ``contracts/schemas/``.

Regenerate with ``python -m contracts.jsonschema`` (``make schemas``); a test fails on drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.audit_model import AuditRecord
from contracts.event_fields import (
    USER_ADOPTED_EVENT,
    USER_CONFIRMED_EVENT,
    USER_DELETED_EVENT,
    USER_EMAIL_CHANGED_EVENT,
    USER_PROFILE_CHANGED_EVENT,
)
from contracts.event_models import (
    UserAdopted,
    UserConfirmed,
    UserDeleted,
    UserEmailChanged,
    UserProfileChanged,
)
from contracts.names import EVENT_SOURCE, USER_CONFIRMED
from contracts.user_model import User

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, type[BaseModel]] = {
    USER_CONFIRMED_EVENT.schema_file: UserConfirmed,
    USER_PROFILE_CHANGED_EVENT.schema_file: UserProfileChanged,
    USER_EMAIL_CHANGED_EVENT.schema_file: UserEmailChanged,
    USER_DELETED_EVENT.schema_file: UserDeleted,
    USER_ADOPTED_EVENT.schema_file: UserAdopted,
    "User.json": User,
    "AuditRecord.json": AuditRecord,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for filename, model in MODELS.items():
        (SCHEMA_DIR / filename).write_text(render(model))
        print(f"wrote {SCHEMA_DIR / filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def eventbridge_schema() -> dict[str, Any]:
    """The whole ``UserConfirmed`` event as JSON Schema draft 4, the dialect EventBridge's
    schema registry accepts (no ``const``)."""
    detail = _draft4(UserConfirmed.model_json_schema(by_alias=True, mode="serialization"))
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "UserConfirmed",
        "type": "object",
        "required": ["id", "source", "detail-type", "time", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "source": {"type": "string", "enum": [EVENT_SOURCE]},
            "detail-type": {"type": "string", "enum": [USER_CONFIRMED]},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": detail,
        },
    }


def _draft4(schema: Any) -> Any:
    if isinstance(schema, dict):
        converted = {key: _draft4(value) for key, value in schema.items() if key != "const"}
        if "const" in schema:
            converted["enum"] = [schema["const"]]
        return converted
    if isinstance(schema, list):
        return [_draft4(item) for item in schema]
    return schema
