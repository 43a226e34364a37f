"""Amplify's filter inputs become DynamoDB expressions that DynamoDB (here moto) evaluates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import dynamodb
from services.user_api.errors import BadRequest
from services.user_api.expressions import (
    MAX_EXPRESSION_BYTES,
    Expression,
    conjunction,
    filter_expression,
    never,
    within_limits,
)

FIELDS = frozenset({"id", "email", "name", "age", "createdAt", "updatedAt", "_deleted"})
USERS = [
    {"id": "u1", "email": "ada@example.com", "name": "Ada", "age": 36},
    {"id": "u2", "email": "alan@example.org", "name": "Alan", "age": 41, "_deleted": True},
    {"id": "u3", "email": "grace@example.com", "name": "Grace"},
    {"id": "u4", "email": "edsger@example.nl", "age": 72},
]


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="users",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for user in USERS:
            client.put_item(TableName="users", Item=dynamodb.to_item(user))
        yield client


def matching(table: Any, spec: dict[str, Any]) -> list[str]:
    expression = filter_expression(spec, fields=FIELDS)
    request: dict[str, Any] = {"TableName": "users"}
    if expression is not None:
        request |= {
            "FilterExpression": expression.text,
            "ExpressionAttributeNames": expression.names,
        }
        if expression.values:
            request["ExpressionAttributeValues"] = expression.values
    return sorted(item["id"]["S"] for item in table.scan(**request)["Items"])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, ["u1", "u2", "u3", "u4"]),
        ({"email": {"beginsWith": "a"}}, ["u1", "u2"]),
        ({"email": {"contains": "example.com"}}, ["u1", "u3"]),
        ({"email": {"notContains": "example.com"}}, ["u2", "u4"]),
        ({"age": {"gt": 40}}, ["u2", "u4"]),
        ({"age": {"between": [30, 41]}}, ["u1", "u2"]),
        ({"age": {"ge": 36, "lt": 41}}, ["u1"]),  # every operator of a field must hold
        ({"name": {"attributeExists": False}}, ["u4"]),
        # (on an attribute every item has: moto's size() raises on a missing one)
        ({"email": {"size": {"le": 15}}}, ["u1"]),
        ({"age": {"attributeType": "number"}}, ["u1", "u2", "u4"]),
        ({"_deleted": {"ne": True}}, ["u1", "u3", "u4"]),  # as moto evaluates <> when absent
        ({"or": [{"name": {"eq": "Ada"}}, {"age": {"gt": 70}}]}, ["u1", "u4"]),
        ({"and": [{"age": {"gt": 30}}, {"not": {"name": {"eq": "Alan"}}}]}, ["u1", "u4"]),
        ({"name": {"beginsWith": "A"}, "age": {"lt": 40}}, ["u1"]),  # fields are ANDed
        ({"not": {"or": [{"id": {"eq": "u1"}}, {"id": {"eq": "u2"}}]}}, ["u3", "u4"]),
        ({"name": None, "and": None}, ["u1", "u2", "u3", "u4"]),  # a null input field: not given
    ],
)
def test_a_filter_selects_what_dynamodb_evaluates_it_to(
    table: Any, spec: dict[str, Any], expected: list[str]
) -> None:
    assert matching(table, spec) == expected


def test_eq_null_compares_with_dynamodbs_null() -> None:
    """What it matches on an item without the attribute is DynamoDB's call (moto matches it;
    not checked against DynamoDB yet), so only the translation is asserted here."""
    expression = filter_expression({"age": {"eq": None}}, fields=FIELDS)
    assert expression is not None
    assert expression.names == {"#f1": "age"}
    assert (expression.text, expression.values) == ("#f1 = :v0", {":v0": {"NULL": True}})


def test_placeholders_keep_names_and_values_out_of_the_expression_text() -> None:
    expression = filter_expression(
        {"name": {"eq": "Ada"}, "or": [{"age": {"gt": 1}}, {"age": {"lt": 0}}]}, fields=FIELDS
    )
    assert expression is not None
    assert "Ada" not in expression.text and "name" not in expression.text
    assert set(expression.names.values()) == {"name", "age"}
    assert expression.values == {":v0": {"S": "Ada"}, ":v1": {"N": "1"}, ":v2": {"N": "0"}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"owner": {"eq": "x"}}, r"filter\.owner: not a field this input can filter on"),
        ({"age": {"between": [1]}}, r"filter\.age\.between: must be a list of two values"),
        ({"and": [{"age": {"near": 3}}]}, r"filter\.and\[0\]\.age\.near: not an operator"),
        ({"age": {"attributeType": "float"}}, r"filter\.age\.attributeType: must be one of"),
        ({"name": "Ada"}, r"filter\.name: must be an object of operators"),
        # DynamoDB refuses these BETWEENs before reading an item; moto evaluates them to false
        ({"age": {"between": [41, 36]}}, r"filter\.age\.between: the low bound must not be"),
        ({"or": [{"name": {"between": ["b", "a"]}}]}, r"filter\.or\[0\]\.name\.between: the low"),
        ({"email": {"size": {"between": [9, 3]}}}, r"filter\.email\.size\.between: the low"),
        ({"age": {"between": [1, "9"]}}, r"filter\.age\.between: both bounds must be numbers"),
        ({"age": {"between": [False, True]}}, r"filter\.age\.between: both bounds must be"),
    ],
)
def test_a_malformed_filter_is_a_bad_request_naming_its_path(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        filter_expression(spec, fields=FIELDS)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": {}, "age": {"gt": 40}},
        {"email": {"size": {"eq": None}}, "age": {"gt": 40}},
        {"or": [{"name": {}}, {"age": {"gt": 40}}], "not": {"email": {}}},
    ],
    ids=["no operators", "only null size operators", "nested"],
)
def test_a_field_that_adds_no_clause_declares_no_placeholder(
    table: Any, spec: dict[str, Any]
) -> None:
    """DynamoDB refuses a request declaring a name its expressions do not use, so a field
    given as ``{}`` (or a size of nulls) must leave no ``#f`` behind beside other clauses."""
    expression = filter_expression(spec, fields=FIELDS)
    assert expression is not None
    assert expression.names == {"#f1": "age"}
    assert matching(table, spec) == ["u2", "u4"]


def test_a_between_beside_other_clauses_keeps_its_own_and(table: Any) -> None:
    """BETWEEN binds before AND, so its clause needs no parentheses of its own."""
    spec = {"age": {"between": [30, 41], "ne": 41}, "name": {"beginsWith": "A"}}
    expression = filter_expression(spec, fields=FIELDS)
    assert expression is not None
    assert expression.text == "(#f1 BETWEEN :v0 AND :v1 AND #f1 <> :v2 AND begins_with(#f5, :v3))"
    assert matching(table, spec) == ["u1"]


def ages(count: int, root: str = "filter") -> Expression:
    """``count`` comparisons joined by ``count - 1`` ORs: ``2 * count - 1`` operators."""
    expression = filter_expression(
        {"or": [{"age": {"eq": age}} for age in range(count)]}, fields=FIELDS, root=root
    )
    assert expression is not None
    return expression


def test_the_whole_expression_sent_is_held_to_dynamodbs_300_operators() -> None:
    alone, past = ages(150), ages(151)  # 299 and 301 operators
    assert within_limits(alone.text, alone) == alone.text
    with pytest.raises(BadRequest, match=r"^filter: too large for DynamoDB \(at most 300 "):
        within_limits(past.text, past)
    # An update adds attribute_exists, the version check and two ANDs: 4 operators.
    fits, over = ages(148, "condition"), ages(149, "condition")  # 295 + 4, 297 + 4
    assert within_limits(updated := conjunction([*CHECKS, fits.text]), fits) == updated
    with pytest.raises(BadRequest, match=r"^condition: too large for DynamoDB \(at most 296 "):
        within_limits(conjunction([*CHECKS, over.text]), over)


def test_the_whole_expression_sent_is_held_to_dynamodbs_4_kb() -> None:
    def condition(size: int) -> Expression:  # one clause padded with spaces: bytes, no operators
        clause = ages(1, "condition")
        return replace(clause, text=clause.text + " " * (size - len(clause.text)))

    left = MAX_EXPRESSION_BYTES - len(conjunction([*CHECKS, ""]))  # what the checks leave
    fits, over = condition(left), condition(left + 1)
    sent = conjunction([*CHECKS, fits.text])
    assert len(sent) == MAX_EXPRESSION_BYTES and within_limits(sent, fits) == sent
    with pytest.raises(BadRequest, match=rf"^condition: .* of at most {left} bytes\)"):
        within_limits(conjunction([*CHECKS, over.text]), over)


CHECKS = ["attribute_exists(#id)", "#v = :expected"]


def test_a_deeply_nested_filter_is_a_bad_request_not_a_crash() -> None:
    spec: dict[str, Any] = {"age": {"eq": 1}}
    for _ in range(2000):
        spec = {"and": [spec]}
    with pytest.raises(BadRequest, match="nest deeper than 32 levels"):
        filter_expression(spec, fields=FIELDS)


def test_a_querys_key_is_decided_with_its_value_and_never_sent() -> None:
    """DynamoDB refuses a Query's filter naming its key; the key's value is known, so its
    clauses are decided here and only the rest is sent (or nothing, or a filter none meets)."""
    fields = frozenset({"id", "name"})
    known = {"id": "u07"}
    mixed = filter_expression(
        {"or": [{"id": {"beginsWith": "x"}}, {"name": {"eq": "A"}}]}, fields=fields, known=known
    )
    assert mixed is not None and "id" not in mixed.names.values()
    assert filter_expression({"id": {"size": {"eq": 3}}}, fields=fields, known=known) is None
    assert filter_expression({"not": {"id": {"eq": "u07"}}}, fields=fields, known=known) == never()
    with pytest.raises(BadRequest, match=r"^filter\.id\.between: "):
        filter_expression({"id": {"between": ["b", "a"]}}, fields=fields, known=known)


def test_a_clause_folded_away_by_a_decided_one_sends_none_of_its_names_or_values() -> None:
    """``not`` over a decided false (``id eq null``) AND a name clause is true: the name clause is
    gone from the text, and DynamoDB refuses names and values a text does not use."""
    spec = {
        "email": {"attributeExists": True},
        "not": {"id": {"eq": None}, "name": {"ne": None}},
    }
    fields = frozenset({"id", "email", "name"})
    expression = filter_expression(spec, fields=fields, known={"id": "u01"})
    assert expression is not None
    assert set(expression.names.values()) == {"email"}
    assert all(name in expression.text for name in (*expression.names, *expression.values))
