"""Amplify's own reference copies (documents, the transformer's schema, the outputs schema) and
the one check against the outputs schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: amplify_outputs.json's published schema, version 1.5 (where from: the sibling .source.md).
OUTPUTS_SCHEMA = HERE / "amplify-outputs-schema_v1.5.json"


@cache
def _outputs_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(OUTPUTS_SCHEMA.read_text())
    return schema


def outputs_schema_errors(document: Any) -> list[str]:
    """Why ``document`` is not a valid ``amplify_outputs.json`` (empty: it is), by
    ``jsonschema``'s Draft 2020-12 validator, the schema's own ``$schema``."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_outputs_schema())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
