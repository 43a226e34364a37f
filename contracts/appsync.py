"""The GraphQL API's contract: the schema AppSync serves, and how the Python resolver answers.

AppSync predefines its scalars and auth directives; graphql-core does not, so ``load_schema``
declares them first. The resolver answers ``{"data": value}`` or ``{"error": {"type", "message",
"data"}}``: AppSync shows an error *thrown* by a Lambda only as ``Lambda:Unhandled`` and cannot
attach data to it (AppSync developer guide, Lambda resolver tutorial, "Returning errors"), so
errors travel as a value and ``resolver.js`` raises them with ``util.error(message, type,
data)``. A subscription field's answer may carry a ``subscriptionFilter`` (Amplify's filter
input shape), which ``resolver.js`` sets with ``extensions.setSubscriptionFilter`` (AppSync
developer guide, "Defining enhanced subscriptions filters"). The local stack's GraphQL endpoint
applies the same contract.

The ``publishUser*`` mutations are the fields no Lambda resolves: local resolvers (a NONE data
source, AppSync developer guide, "Using local resolvers") running ``publish.js`` return their
input, and AppSync publishes it to the subscriptions naming them in ``@aws_subscribe``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from graphql import GraphQLSchema

SCHEMA_PATH = Path(__file__).parent / "schema.graphql"
RESOLVER_CODE_PATH = Path(__file__).parent / "resolver.js"
PUBLISH_CODE_PATH = Path(__file__).parent / "publish.js"
RESULT_KEY: Final = "data"
ERROR_KEY: Final = "error"
SUBSCRIPTION_FILTER_KEY: Final = "subscriptionFilter"
#: The IAM-only mutations the change publisher calls, one per subscription (AppSync routes a
#: mutation to subscriptions by its name); resolved locally, never by the Lambda.
PUBLISH_MUTATIONS: Final = ("publishUserCreated", "publishUserUpdated", "publishUserDeleted")


def data_answer(value: Any, subscription_filter: Any = None) -> dict[str, Any]:
    answer = {RESULT_KEY: value}
    if subscription_filter is not None:
        answer[SUBSCRIPTION_FILTER_KEY] = subscription_filter
    return answer


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
    """Every (type, field) of Query, Mutation and Subscription the Lambda resolves (all but
    ``PUBLISH_MUTATIONS``): each needs a resolver. A subscription field's resolver runs when a
    client subscribes and decides whether it may, and with which filter."""
    schema = load_schema()
    fields = []
    for type_name in ("Query", "Mutation", "Subscription"):
        root = schema.get_type(type_name)
        fields += [
            (type_name, field)
            for field in getattr(root, "fields", {})
            if type_name != "Mutation" or field not in PUBLISH_MUTATIONS
        ]
    return fields


def subscribed_mutations(schema: GraphQLSchema) -> dict[str, list[str]]:
    """mutation field -> the subscription fields whose ``@aws_subscribe`` names it."""
    from graphql import ListValueNode, StringValueNode

    subscribers: dict[str, list[str]] = {}
    root = schema.subscription_type
    for name, field in (root.fields if root else {}).items():
        for directive in getattr(field.ast_node, "directives", None) or ():
            if directive.name.value != "aws_subscribe":
                continue
            for argument in directive.arguments:
                if argument.name.value == "mutations" and isinstance(argument.value, ListValueNode):
                    for value in argument.value.values:
                        if isinstance(value, StringValueNode):
                            subscribers.setdefault(value.value, []).append(name)
    return subscribers
