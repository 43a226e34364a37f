"""The GraphQL schema AppSync serves, and what a plain GraphQL library needs to read it.

AppSync predefines its scalars and auth directives; graphql-core does not, so ``load_schema``
declares them first. Used by the tests and the local stack's GraphQL endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphql import GraphQLSchema

SCHEMA_PATH = Path(__file__).parent / "schema.graphql"

APPSYNC_PREAMBLE = """
scalar AWSDateTime
scalar AWSEmail
scalar AWSTimestamp
scalar AWSJSON
directive @aws_cognito_user_pools(cognito_groups: [String]) on OBJECT | FIELD_DEFINITION
directive @aws_iam on OBJECT | FIELD_DEFINITION
"""


def schema_sdl() -> str:
    return SCHEMA_PATH.read_text()


def load_schema() -> GraphQLSchema:
    from graphql import build_schema

    return build_schema(APPSYNC_PREAMBLE + schema_sdl())


def root_fields() -> list[tuple[str, str]]:
    """Every (type, field) of Query and Mutation: each needs a resolver."""
    schema = load_schema()
    fields = []
    for type_name in ("Query", "Mutation"):
        root = schema.get_type(type_name)
        fields += [(type_name, field) for field in getattr(root, "fields", {})]
    return fields
