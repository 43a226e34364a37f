"""Amplify clients work unchanged: our schema is a superset of what Amplify's transformer
generates for the recipe's ``User`` model, and every document Amplify sends validates.

Sources: ``tests/amplify/transformer-user-model.graphql`` (the transformer v2's output with
conflict detection on, the team's reference copy); the codegen statements in
``tests/amplify/*.graphql``; DataStore's own operations as aws-amplify/amplify-js builds them
in ``packages/datastore/src/sync/utils.ts`` (``buildGraphQLOperation``: sync, create, update,
delete; ``buildSubscriptionGraphQLOperation``: the three subscriptions, with ``$id: String!``
for owner auth on ``id``). Its selection set is the model's scalar fields, then
``_version _lastChangedAt _deleted``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    parse,
    validate,
)

from contracts.appsync import APPSYNC_PREAMBLE, load_schema

HERE = Path(__file__).resolve().parent
DOCUMENTS = HERE.parent / "amplify"
REFERENCE = DOCUMENTS / "transformer-user-model.graphql"
#: A transformer extra the reference says may be left out (Amplify AI, unused by the model).
UNUSED_EXTRAS = {"AmplifyAIConversationTurnErrorInput"}

SELECTION = "id\nname\nage\ncreatedAt\nupdatedAt\n_version\n_lastChangedAt\n_deleted"
DATASTORE_OPERATIONS = {
    "sync": (
        "query operation($limit: Int, $nextToken: String, $lastSync: AWSTimestamp, "
        "$filter: ModelUserFilterInput){\n syncUsers(limit: $limit, nextToken: $nextToken, "
        f"lastSync: $lastSync, filter: $filter){{\n items {{\n {SELECTION}\n }}\n nextToken\n "
        "startedAt\n }\n }"
    ),
    "create": (
        "mutation operation($input: CreateUserInput!){\n createUser(input: $input){\n "
        f"{SELECTION}\n }}\n }}"
    ),
    "update": (
        "mutation operation($input: UpdateUserInput!, $condition: ModelUserConditionInput){\n "
        f"updateUser(input: $input, condition: $condition){{\n {SELECTION}\n }}\n }}"
    ),
    "delete": (
        "mutation operation($input: DeleteUserInput!, $condition: ModelUserConditionInput){\n "
        f"deleteUser(input: $input, condition: $condition){{\n {SELECTION}\n }}\n }}"
    ),
    **{
        f"on{kind}": (
            f"subscription operation($id: String!){{\n on{kind}User(id: $id){{\n "
            f"{SELECTION}\n }}\n }}"
        )
        for kind in ("Create", "Update", "Delete")
    },
}


def reference_schema() -> GraphQLSchema:
    return build_schema(APPSYNC_PREAMBLE + REFERENCE.read_text())


@pytest.mark.parametrize(
    "name",
    ["queries", "mutations", "subscriptions"],
)
def test_the_documents_amplify_codegen_emits_validate_against_our_schema(name: str) -> None:
    document = parse((DOCUMENTS / f"{name}.graphql").read_text())
    assert [error.message for error in validate(load_schema(), document)] == []


@pytest.mark.parametrize("operation", sorted(DATASTORE_OPERATIONS))
def test_the_operations_datastore_sends_validate_against_our_schema(operation: str) -> None:
    document = parse(DATASTORE_OPERATIONS[operation])
    assert [error.message for error in validate(load_schema(), document)] == []


def test_our_schema_has_every_type_field_and_argument_the_transformer_generates() -> None:
    """Same names, same types (nullability included): an Amplify client cannot tell."""
    ours, reference = load_schema(), reference_schema()
    missing = []
    for name, expected in reference.type_map.items():
        if name.startswith("__") or name in UNUSED_EXTRAS:
            continue
        actual = ours.type_map.get(name)
        if actual is None:
            missing.append(f"type {name}")
            continue
        if isinstance(expected, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in expected.fields.items():
                mine = getattr(actual, "fields", {}).get(field_name)
                if mine is None or str(mine.type) != str(field.type):
                    missing.append(f"{name}.{field_name}: {field.type}")
                    continue
                for arg_name, arg in getattr(field, "args", {}).items():
                    their = mine.args.get(arg_name)
                    if their is None or str(their.type) != str(arg.type):
                        missing.append(f"{name}.{field_name}({arg_name}: {arg.type})")
    assert missing == []
