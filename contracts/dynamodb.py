"""DynamoDB attribute values to and from plain Python — without boto3, so contracts stay pure.

Writes what userpipe stores: strings, whole and decimal numbers, booleans, null, maps, lists.
Reads every type DynamoDB has (sets and binary too): a stored item may carry attributes
userpipe never wrote, and reading it — in the API or the audit trail — must not fail for that.
No I/O here: the conditional write that stores an item is ``services/shared/conditional_put.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


class UnsupportedAttributeError(TypeError):
    """A value (or attribute value) of a type userpipe does not store."""


def serialize(value: Any) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, Sequence):
        return {"L": [serialize(v) for v in value]}
    raise UnsupportedAttributeError(f"cannot store a {type(value).__name__} in DynamoDB")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    if len(attribute) != 1:
        raise UnsupportedAttributeError(f"malformed attribute value with keys {sorted(attribute)}")
    ((kind, raw),) = attribute.items()
    match kind:
        case "S":
            return raw
        case "N":
            return _number(raw)
        case "BOOL":
            return bool(raw)
        case "NULL":
            return None
        case "M":
            return {k: deserialize(v) for k, v in raw.items()}
        case "L":
            return [deserialize(v) for v in raw]
        case "SS":
            return set(raw)
        case "NS":
            return {_number(value) for value in raw}
        case "B":
            return _binary(raw)
        case "BS":
            return {_binary(value) for value in raw}
    raise UnsupportedAttributeError(f"not a DynamoDB attribute type: {kind}")


def _number(raw: str) -> int | Decimal:
    number = Decimal(raw)
    return int(number) if number == number.to_integral_value() else number


def _binary(raw: bytes | str) -> bytes:
    """boto3 hands binary over as bytes; a Lambda event carries it base64-encoded."""
    return raw if isinstance(raw, bytes) else base64.b64decode(raw)


def to_item(values: Mapping[str, Any]) -> Item:
    """Serialize a mapping as an item; ``None`` values are left out rather than stored as NULL."""
    return {name: serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: deserialize(value) for name, value in item.items()}
