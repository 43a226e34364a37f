"""Records in the shape Lambda hands them to a function — what the local stack's event sources
deliver, and what ``userpipe redrive`` hands a stream consumer again."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any


def stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda delivers it: epoch-second times, binary values
    base64-encoded (the JSON Lambda sends), and the stream's ARN as ``eventSourceARN``."""
    change = _as_json(dict(record["dynamodb"]))
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        **{k: v for k, v in record.items() if k != "dynamodb"},
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def _as_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value
