"""The GraphQL API's contract: the schema AppSync serves, and how the Python resolver answers.

AppSync predefines its scalars and auth directives; graphql-core does not, so ``load_schema``
declares them first. The resolver answers ``{"data": value}`` or ``{"error": {"type", "message",
"data"}}``: AppSync shows an error *thrown* by a Lambda only as ``Lambda:Unhandled`` and cannot
attach data to it (AppSync developer guide, Lambda resolver tutorial, "Returning errors"), so
errors travel as a value and ``resolver.js`` raises them with ``util.error(message, type,
data)``. The local stack's GraphQL endpoint applies the same contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from graphql import GraphQLSchema

SCHEMA_PATH = Path(__file__).parent / "schema.graphql"
RESOLVER_CODE_PATH = Path(__file__).parent / "resolver.js"
RESULT_KEY: Final = "data"
ERROR_KEY: Final = "error"


def data_answer(value: Any) -> dict[str, Any]:
    return {RESULT_KEY: value}


def error_answer(error_type: str, message: str, data: Any = None) -> dict[str, Any]:
    return {ERROR_KEY: {"type": error_type, "message": message, "data": data}}


APPSYNC_PREAMBLE = """
scalar AWSDateTime
scalar AWSEmail
scalar AWSTimestamp
scalar AWSJSON
directive @aws_cognito_user_pools(cognito_groups: [String]) on OBJECT | FIELD_DEFINITION
directive @aws_iam on OBJECT | FIELD_DEFINITION
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
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
