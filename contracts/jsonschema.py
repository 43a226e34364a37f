"""JSON Schema files generated from the models; checked in under ``contracts/schemas/``.

Regenerate with ``python -m contracts.jsonschema`` (``make schemas``); a test fails on drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from contracts.events import UserConfirmed
from contracts.items import AuditRecord, User

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, type[BaseModel]] = {
    "UserConfirmed.v1.json": UserConfirmed,
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
