"""What an Amplify JS v6 frontend configures itself with for a userpipe stack — local
(``userpipe local up`` writes both files next to its outputs) or deployed (``userpipe outputs
--stack NAME`` prints either):

- ``amplify_config``: the Gen 1-style ``ResourcesConfig``, passed to ``Amplify.configure``
  unchanged;
- ``amplify_outputs``: Amplify Gen 2's ``amplify_outputs.json`` (schema version 1.5, held to
  amplify-backend's published schema by ``tests/unit/test_amplify_outputs.py``), with the
  ``User`` model's introspection that ``generateClient()``'s ``client.models.User`` is built
  from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.names import USER_KEY, USER_TYPENAME
from contracts.topology import USER_POOL
from contracts.user_fields import UPDATE_INPUT, USER_FIELDS

#: The newest ``amplify_outputs.json`` schema: amplify-backend's
#: packages/client-config/src/client-config-schema/schema_v1.5.json (``DEFAULT_CLIENT_CONFIG_
#: VERSION`` of @aws-amplify/client-config 1.11.1). aws-amplify 6 reads any version starting
#: with "1" (@aws-amplify/core ``isAmplifyOutputs``).
OUTPUTS_VERSION: Final = "1.5"
#: The API's additional authorization: IAM, for operators and the pipeline
#: (``infra/parts/api.py``). Gen 2 lists only the additional types here (@aws-amplify/client-
#: config 1.11.1, client_config_contributor_v1.js); aws-amplify ignores the list.
ADDITIONAL_AUTHORIZATION: Final = ("AWS_IAM",)


def amplify_config(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """``outputs``: a stack's outputs under their snake-case names (CloudFormation's, or the
    local stack's file). Locally, Cognito is the stack's own endpoint (``userPoolEndpoint``,
    its TLS port, so a page served over HTTPS may call it); on AWS, Amplify finds Cognito
    from the pool id's region."""
    cognito: dict[str, Any] = {
        "userPoolId": outputs["user_pool_id"],
        "userPoolClientId": outputs["user_pool_client_id"],
        "loginWith": {"email": True},
        "signUpVerificationMethod": "code",
    }
    endpoint = outputs.get("tls_endpoint_url") or outputs.get("endpoint_url")
    if endpoint:
        cognito["userPoolEndpoint"] = endpoint
    return {
        "Auth": {"Cognito": cognito},
        "API": {
            "GraphQL": {
                "endpoint": outputs["graphql_url"],
                "region": outputs["region"],
                "defaultAuthMode": "userPool",
            }
        },
    }


def amplify_outputs(
    outputs: Mapping[str, Any], pool: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``amplify_outputs.json`` for a stack with these outputs (as ``amplify_config``'s).

    The pool's sign-up and sign-in settings (password policy, username and required
    attributes, verification, groups) are what Amplify's Authenticator builds its forms from,
    so they must be the pool's own: ``pool`` is the pool as Cognito describes it
    (``described_pool``), which ``userpipe outputs --format gen2`` reads — a stage deployed on
    an existing pool (``-c userPoolId=...``) has that pool's settings, not the ones userpipe
    declares. Without it, the pool as ``contracts.topology.USER_POOL`` declares it (what the
    local stack's pool is made from). Left out: MFA (Amplify reads it only for its
    Authenticator's set-up screens) and the local Cognito endpoint, for which the schema has
    no field: a local frontend adds ``Auth.Cognito.userPoolEndpoint`` to what
    ``Amplify.configure`` parsed (``Amplify.getConfig()``; docs/frontends.md)."""
    return {
        "version": OUTPUTS_VERSION,
        "auth": {
            "aws_region": outputs["region"],
            "user_pool_id": outputs["user_pool_id"],
            "user_pool_client_id": outputs["user_pool_client_id"],
            **(_declared_pool() if pool is None else _described(pool)),
        },
        "data": {
            "aws_region": outputs["region"],
            "url": outputs["graphql_url"],
            "default_authorization_type": "AMAZON_COGNITO_USER_POOLS",
            "authorization_types": list(ADDITIONAL_AUTHORIZATION),
            "model_introspection": model_introspection(),
        },
    }


def _declared_pool() -> dict[str, Any]:
    policy = USER_POOL.password
    return {
        "password_policy": {
            "min_length": policy.min_length,
            "require_numbers": policy.require_digits,
            "require_lowercase": policy.require_lowercase,
            "require_uppercase": policy.require_uppercase,
            "require_symbols": policy.require_symbols,
        },
        "standard_required_attributes": list(USER_POOL.required_attributes),
        "username_attributes": list(USER_POOL.sign_in_aliases),
        "user_verification_types": list(USER_POOL.auto_verified),
        "groups": [{group.name: {}} for group in USER_POOL.groups],
    }


#: Cognito's standard attributes (developer guide, "User pool attributes"): the only ones the
#: outputs schema lets ``standard_required_attributes`` name; a custom attribute is left out.
STANDARD_ATTRIBUTES: Final = frozenset({
    "address", "birthdate", "email", "family_name", "gender", "given_name", "locale",
    "middle_name", "name", "nickname", "phone_number", "picture", "preferred_username",
    "profile", "sub", "updated_at", "website", "zoneinfo",
})  # fmt: skip


def described_pool(cognito: Any, user_pool_id: str) -> dict[str, Any]:
    """The pool as ``_described`` reads it: DescribeUserPool's ``UserPool``, with its groups
    (ListGroups, every page) under ``Groups``."""
    pool = dict(cognito.describe_user_pool(UserPoolId=user_pool_id)["UserPool"])
    pages = cognito.get_paginator("list_groups").paginate(UserPoolId=user_pool_id)
    pool["Groups"] = [group for page in pages for group in page.get("Groups", [])]
    return pool


def _described(pool: Mapping[str, Any]) -> dict[str, Any]:
    """The auth settings of a pool as ``described_pool`` returns it (DescribeUserPool's field
    names: API reference, UserPoolType). A setting the pool does not state is left out."""
    details: dict[str, Any] = {}
    policy = (pool.get("Policies") or {}).get("PasswordPolicy") or {}
    if "MinimumLength" in policy:
        details["password_policy"] = {
            "min_length": int(policy["MinimumLength"]),
            "require_numbers": bool(policy.get("RequireNumbers")),
            "require_lowercase": bool(policy.get("RequireLowercase")),
            "require_uppercase": bool(policy.get("RequireUppercase")),
            "require_symbols": bool(policy.get("RequireSymbols")),
        }
    required = [
        attribute["Name"]
        for attribute in pool.get("SchemaAttributes") or []
        # Cognito lists ``sub`` as required; it is Cognito's to set, never a sign-up field.
        if attribute.get("Required") and attribute.get("Name") in STANDARD_ATTRIBUTES - {"sub"}
    ]
    details["standard_required_attributes"] = sorted(required)
    # No UsernameAttributes: users sign in with their username, or an alias the pool allows
    # (AliasAttributes; ``preferred_username`` has no place in the schema's list).
    aliases = [name for name in pool.get("AliasAttributes") or [] if name != "preferred_username"]
    details["username_attributes"] = list(pool.get("UsernameAttributes") or ["username", *aliases])
    details["user_verification_types"] = list(pool.get("AutoVerifiedAttributes") or [])
    groups = sorted(pool.get("Groups") or [], key=lambda group: group["GroupName"])
    details["groups"] = [
        {group["GroupName"]: {"precedence": group["Precedence"]} if "Precedence" in group else {}}
        for group in groups
    ]
    return details


def model_introspection() -> dict[str, Any]:
    """The ``User`` model as Amplify's model introspection describes it (the shape
    @aws-amplify/graphql-generator emits for the recipe's ``@model``), with every field the API
    serves (``contracts.user_fields``): Gen 2's client selects exactly the scalar fields listed
    here (@aws-amplify/data-schema 1.26.2, ``generateSelectionSet``), so ``_version``,
    ``_deleted`` and ``_lastChangedAt`` are listed to be read. A field ``updateUser`` does not
    take is ``isReadOnly``: the client leaves those out of an update's input
    (``buildGraphQLVariables``) — ``_version`` stays writable, it is how an edit says which
    version it read.

    Written here rather than generated by ``@aws-amplify/graphql-generator`` (0.5.4,
    ``generateModels({target: 'introspection'})``): that package is 176 MB of Node for one
    model, and what it emits for a ``@model`` never lists ``_version``, ``_deleted`` or
    ``_lastChangedAt``, which Gen 2 must select to update a conflict-detected table."""
    fields = {
        field.name: {
            "name": field.name,
            "isArray": False,
            "type": field.graphql.rstrip("!"),
            "isRequired": field.graphql.endswith("!"),
            "attributes": [],
            **({} if field.name in UPDATE_INPUT else {"isReadOnly": True}),
        }
        for field in USER_FIELDS
        if field.graphql is not None
    }
    owner_rule = {
        "provider": "userPools",
        "ownerField": USER_KEY,
        "allow": "owner",
        # The API compares the item's id with the token's sub (services/user_api/auth.py); in
        # userpipe's pool the username is the sub too, in a recipe's existing pool it may not be.
        "identityClaim": "sub",
        "operations": ["create", "update", "delete", "read"],
    }
    user = {
        "name": USER_TYPENAME,
        "fields": fields,
        "syncable": True,
        "pluralName": f"{USER_TYPENAME}s",
        "attributes": [
            {"type": "model", "properties": {}},
            {"type": "auth", "properties": {"rules": [owner_rule]}},
        ],
        "primaryKeyInfo": {
            "isCustomPrimaryKey": False,
            "primaryKeyFieldName": USER_KEY,
            "sortKeyFieldNames": [],
        },
    }
    return {"version": 1, "models": {USER_TYPENAME: user}, "enums": {}, "nonModels": {}}
