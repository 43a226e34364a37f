"""AppSync's scalars as the local GraphQL endpoint parses them: a literal is refused when the
document is validated, a variable when it is executed, each as AppSync refuses it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import ExecutionResult, execute_sync, parse, validate
from hypothesis import given
from hypothesis import strategies as st

from contracts.appsync import load_schema
from userpipe.local.scalars import RULES, appsync_scalars, unruled

SCHEMA = appsync_scalars(load_schema())
SYNC = "query Q($t: AWSTimestamp) { syncUsers(lastSync: $t) { startedAt } }"
PUBLISH = """mutation P($e: AWSEmail!, $at: AWSDateTime!, $t: AWSTimestamp!) {
  publishUserCreated(input: {id: "u", email: $e, createdAt: $at, updatedAt: $at,
                             _version: 1, _lastChangedAt: $t}) { id }
}"""


def literal_errors(document: str) -> list[str]:
    return [error.message for error in validate(SCHEMA, parse(document))]


def run(document: str, **variables: Any) -> ExecutionResult:
    return execute_sync(
        SCHEMA, parse(document), variable_values=variables, field_resolver=lambda *_, **__: None
    )


def test_every_aws_scalar_the_schema_uses_has_appsyncs_rules() -> None:
    assert unruled(SCHEMA) == set()


@pytest.mark.parametrize("literal", ['"yesterday"', '"1700000000"', "{a: 1}", "1.5", "true"])
def test_an_awstimestamp_literal_that_is_not_an_integer_is_a_validation_error(
    literal: str,
) -> None:
    errors = literal_errors(f"{{ syncUsers(lastSync: {literal}) {{ startedAt }} }}")
    assert len(errors) == 1
    assert "AWSTimestamp" in errors[0]


@pytest.mark.parametrize("literal", ["0", "1700000000", "-86400", "1795849200000"])
def test_an_integer_awstimestamp_literal_is_valid(literal: str) -> None:
    assert literal_errors(f"{{ syncUsers(lastSync: {literal}) {{ startedAt }} }}") == []


@pytest.mark.parametrize("value", ["yesterday", "1700000000", {"a": 1}, 1.5, True, [1]])
def test_an_awstimestamp_variable_that_is_not_an_integer_is_refused(value: Any) -> None:
    result = run(SYNC, t=value)
    assert result.data is None
    assert result.errors and "AWSTimestamp" in result.errors[0].message


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_integer_is_an_awstimestamp(value: int) -> None:
    assert run(SYNC, t=value).errors is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-28T07:00:00.000Z",
        "2026-11-28T07:00Z",
        "2026-11-28T07:00:00Z",
        "2026-11-28T07:00:00.123456789+05:30",
        "2024-02-29T23:59:59-07:00:00",
    ],
)
def test_an_iso_8601_date_time_with_its_offset_is_an_awsdatetime(value: str) -> None:
    assert run(PUBLISH, e="ada@example.com", at=value, t=1).errors is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-28T07:00:00",  # no offset: compulsory for AWSDateTime
        "2026-11-28",
        "2026-11-28 07:00:00Z",
        "2026-02-30T07:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T07:00:00.1234567890Z",
        "2026-11-28T07:00:00+0530",
        "yesterday",
        1_795_849_200,
    ],
)
def test_anything_else_is_not_an_awsdatetime(value: Any) -> None:
    result = run(PUBLISH, e="ada@example.com", at=value, t=1)
    assert result.errors and "AWSDateTime" in result.errors[0].message


@pytest.mark.parametrize("value", ["ada", "ada@", "@example.com", "a b@example.com", 5])
def test_an_address_without_local_and_domain_parts_is_not_an_awsemail(value: Any) -> None:
    result = run(PUBLISH, e=value, at="2026-11-28T07:00:00.000Z", t=1)
    assert result.errors and "AWSEmail" in result.errors[0].message


def test_an_awsdatetime_literal_must_be_a_string() -> None:
    document = PUBLISH.replace(", $at: AWSDateTime!", "").replace("$at", "1795849200")
    errors = literal_errors(document)
    assert errors and all("AWSDateTime" in error for error in errors)


@pytest.mark.parametrize("text", ['{"upvotes": 10}', "[1,2,3]", '"AWSJSON example string"', "1"])
def test_an_awsjson_string_reaches_the_resolver_parsed(text: str) -> None:
    assert RULES["AWSJSON"].value(text) == json.loads(text)


@pytest.mark.parametrize("value", ["{a: 1}", "{'a': 1}", "Unquoted string", {"a": 1}, "[" * 5000])
def test_an_awsjson_value_that_is_not_a_json_string_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="AWSJSON is a string holding JSON"):
        RULES["AWSJSON"].value(value)
