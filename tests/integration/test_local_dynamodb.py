"""The local emulator refuses what DynamoDB refuses and moto 5.2.5 does not
(``userpipe.local.dynamodb``): a Query filtering on a key attribute, an expression over 4 KB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from userpipe.local import dynamodb

pytestmark = pytest.mark.integration
KEY_IN_FILTER = "Filter Expression can only contain non-primary key attributes"
OWNED = {"#o": "owner"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A table keyed on ``id`` with an index keyed on (``kind``, ``at``), one item in it."""
    dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in (("id", "S"), ("kind", "S"), ("at", "N"))
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byKind",
                    "KeySchema": [
                        {"AttributeName": "kind", "KeyType": "HASH"},
                        {"AttributeName": "at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(
            TableName="t",
            Item={
                "id": {"S": "u1"},
                "kind": {"S": "User"},
                "at": {"N": "5"},
                "owner": {"S": "u1"},
                "profile": {"M": {"id": {"S": "p"}}},
            },
        )
        yield client


def query(client: Any, filter: str, names: dict[str, str] | None = None) -> int:
    """How many items a Query of ``u1`` by key, filtered by ``filter``, answers. (``owner`` is
    a reserved word: it takes a placeholder.)"""
    answer = client.query(
        TableName="t",
        KeyConditionExpression="#k = :k",
        FilterExpression=filter,
        ExpressionAttributeNames={"#k": "id", **(names or {})},
        ExpressionAttributeValues={":k": {"S": "u1"}},
    )
    return int(answer["Count"])


@pytest.mark.parametrize(
    ("filter", "names"),
    [
        ("attribute_exists(#i)", {"#i": "id"}),  # a placeholder, as userpipe writes them
        ("id = :k", {}),  # a bare name
        ("size(id) > :k", {}),  # inside a function
        ("attribute_exists(#o) AND (NOT (begins_with(#i, :k) OR #o = :k))", OWNED | {"#i": "id"}),
        ("#i.#x = :k", {"#i": "id", "#x": "x"}),  # a path whose head is the key
    ],
)
def test_a_query_whose_filter_names_its_key_is_refused_as_dynamodb_refuses_it(
    client: Any, filter: str, names: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as refused:
        query(client, filter, names)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        f"{KEY_IN_FILTER}: Primary key attribute: id"
    )


@pytest.mark.parametrize(
    ("filter", "names", "count"),
    [
        ("#o = :k", OWNED, 1),
        ("#o = :k AND attribute_exists(kind)", OWNED, 1),
        ("profile.id = :k", {}, 0),  # `id` nested in a map is not the key
        ("#p.#i = :k", {"#p": "profile", "#i": "id"}, 0),
        ("NOT #o = :k OR attribute_not_exists(#o)", OWNED, 0),  # keywords, functions
    ],
)
def test_a_query_whose_filter_names_no_key_is_answered(
    client: Any, filter: str, names: dict[str, str], count: int
) -> None:
    assert query(client, filter, names) == count


def test_an_index_query_may_filter_on_the_tables_key_but_not_on_its_own(client: Any) -> None:
    """Only the queried key schema counts (dynalite, tested against live DynamoDB): this is
    what an Admin's delta sync relies on when its filter names ``id``."""
    request: dict[str, Any] = {
        "TableName": "t",
        "IndexName": "byKind",
        "KeyConditionExpression": "kind = :kind AND #at > :zero",
        "ExpressionAttributeValues": {":kind": {"S": "User"}, ":zero": {"N": "0"}},
    }
    names = {"#id": "id", "#at": "at"}
    with pytest.raises(ClientError, match=f"{KEY_IN_FILTER}: Primary key attribute: at"):
        client.query(
            **request, FilterExpression="#id = :kind OR #at > :zero", ExpressionAttributeNames=names
        )
    answer = client.query(
        **request, FilterExpression="attribute_exists(#id)", ExpressionAttributeNames=names
    )
    assert answer["Count"] == 1


def test_a_scan_may_filter_on_the_key(client: Any) -> None:
    answer = client.scan(
        TableName="t", FilterExpression="id = :k", ExpressionAttributeValues={":k": {"S": "u1"}}
    )
    assert answer["Count"] == 1


def ors(size: int) -> str:
    """An expression of exactly ``size`` bytes (``OWNED``) that holds for the item."""
    text = "attribute_exists(#o)"
    while len(text) + len(" OR #o = :k") <= size:
        text += " OR #o = :k"
    return text + " " * (size - len(text))


@pytest.mark.parametrize("action", ["query", "scan", "update_item"])
def test_an_expression_of_4_kb_is_answered_and_one_byte_more_is_refused(
    client: Any, action: str
) -> None:
    def send(size: int) -> Any:
        if action == "query":
            return query(client, ors(size), OWNED)
        placeholders: dict[str, Any] = {
            "ExpressionAttributeNames": OWNED,
            "ExpressionAttributeValues": {":k": {"S": "u1"}},
        }
        if action == "scan":
            return client.scan(TableName="t", FilterExpression=ors(size), **placeholders)
        return client.update_item(
            TableName="t",
            Key={"id": {"S": "u1"}},
            UpdateExpression="SET seen = :k",
            ConditionExpression=ors(size),
            **placeholders,
        )

    send(4096)
    parameter = "ConditionExpression" if action == "update_item" else "FilterExpression"
    with pytest.raises(ClientError) as refused:
        send(4097)
    assert refused.value.response["Error"]["Message"] == (
        f"Invalid {parameter}: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )


def test_installing_again_checks_once() -> None:
    dynamodb.install()
    checked = {action: getattr(DynamoHandler, action) for action in dynamodb.ACTIONS}
    dynamodb.install()
    assert {action: getattr(DynamoHandler, action) for action in dynamodb.ACTIONS} == checked


def test_path_heads_are_the_top_level_names_with_placeholders_resolved() -> None:
    names = {"#a": "alpha", "#b": "beta"}
    expression = "size(#a.#b[2]) BETWEEN :lo AND :hi OR NOT contains(gamma.delta, :v) AND x IN (:p)"
    assert dynamodb.path_heads(expression, names) == ["alpha", "gamma", "x"]
