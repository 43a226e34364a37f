"""AppSync's own scalars, parsed as AppSync parses them, for the local GraphQL endpoint.

graphql-core knows only GraphQL's five scalars; ``contracts.appsync`` declares AppSync's as bare
custom scalars, which accept any value. AppSync does not: ``syncUsers(lastSync: "yesterday")``
is a validation error there, because an ``AWSTimestamp`` is a number. ``appsync_scalars`` gives
each AWS scalar the schema uses AppSync's rules (AppSync developer guide, "Scalar types in
GraphQL", and the scalars' descriptions AppSync serves by introspection):

- ``AWSTimestamp``: an integer, seconds before or after 1970-01-01T00:00Z, "serialized and
  deserialized as numbers": an integer literal or an integer variable, never a string.
- ``AWSDateTime``: an extended ISO 8601 string ``YYYY-MM-DDThh:mm:ss.sssZ``; seconds and a
  fraction of 1 to 9 digits optional, the time zone offset compulsory (``Z`` or ``±hh:mm``,
  optionally ``:ss``).
- ``AWSEmail``: an address ``local-part@domain-part`` (RFC 822).
- ``AWSJSON``: a string holding JSON (RFC 8259); the resolver receives the parsed value.
  ``{a: 1}``, ``{'a': 1}`` or an unquoted string are validation errors.

A literal is checked when the document is validated, a variable when the request is executed;
both are refused in AppSync's terms, with graphql-core's wording. Output values are left as the
resolver gives them. ``test_local_scalars`` fails when the schema starts using an AWS scalar
this module has no rules for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from graphql import GraphQLScalarType, GraphQLSchema, IntValueNode, StringValueNode, ValueNode

#: Every scalar AppSync defines (AppSync developer guide, "Scalar types in GraphQL").
APPSYNC_SCALARS: Final[tuple[str, ...]] = (
    "AWSDate",
    "AWSTime",
    "AWSDateTime",
    "AWSTimestamp",
    "AWSEmail",
    "AWSJSON",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
)

_OFFSET = r"(?:Z|[+-]\d{2}:\d{2}(?::\d{2})?)"
_DATE_TIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,9})?)?"
    rf"(?P<offset>{_OFFSET})",
    re.ASCII,
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+", re.ASCII)


@dataclass(frozen=True)
class Rule:
    """How one scalar takes a variable's value (from the request's JSON) and a literal."""

    value: Callable[[Any], Any]
    literal: Callable[[ValueNode], Any]


def _timestamp(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("AWSTimestamp is an integer number of seconds since 1970-01-01T00:00Z")
    return value


def _timestamp_literal(node: ValueNode) -> int:
    if not isinstance(node, IntValueNode):
        raise ValueError("AWSTimestamp is an integer number of seconds since 1970-01-01T00:00Z")
    return int(node.value)


def _date_time(value: Any) -> str:
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or not _real_date_time(match):
        raise ValueError(
            "AWSDateTime is an extended ISO 8601 date and time with its offset, "
            "YYYY-MM-DDThh:mm:ss.sssZ"
        )
    return str(value)


def _real_date_time(match: re.Match[str]) -> bool:
    try:
        date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return False
    second = match["second"]
    offset = match["offset"]
    offset_hours, offset_minutes = (int(offset[1:3]), int(offset[4:6])) if offset != "Z" else (0, 0)
    return (
        int(match["hour"]) < 24
        and int(match["minute"]) < 60
        and (second is None or int(second) < 60)
        and offset_hours < 24
        and offset_minutes < 60
    )


def _email(value: Any) -> str:
    if not isinstance(value, str) or _EMAIL.fullmatch(value) is None:
        raise ValueError("AWSEmail is an address of the form local-part@domain-part")
    return value


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("AWSJSON is a string holding JSON")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise ValueError("AWSJSON is a string holding JSON") from None


def _string_literal(parse: Callable[[Any], Any], rule: str) -> Callable[[ValueNode], Any]:
    def literal(node: ValueNode) -> Any:
        if not isinstance(node, StringValueNode):
            raise ValueError(rule)
        return parse(node.value)

    return literal


RULES: Final[dict[str, Rule]] = {
    "AWSTimestamp": Rule(_timestamp, _timestamp_literal),
    "AWSDateTime": Rule(
        _date_time, _string_literal(_date_time, "AWSDateTime is a string (ISO 8601)")
    ),
    "AWSEmail": Rule(_email, _string_literal(_email, "AWSEmail is a string")),
    "AWSJSON": Rule(_json, _string_literal(_json, "AWSJSON is a string holding JSON")),
}


def appsync_scalars(schema: GraphQLSchema) -> GraphQLSchema:
    """``schema``, its AWS scalars parsing as AppSync's do (changed in place; returned)."""
    for name, rule in RULES.items():
        scalar = schema.type_map.get(name)
        if isinstance(scalar, GraphQLScalarType):
            scalar.coerce_input_value = rule.value
            scalar.coerce_input_literal = rule.literal
    return schema


def unruled(schema: GraphQLSchema) -> set[str]:
    """The AWS scalars ``schema`` uses that this module gives no rules: each would accept
    anything."""
    return {name for name in APPSYNC_SCALARS if name in schema.type_map} - set(RULES)
