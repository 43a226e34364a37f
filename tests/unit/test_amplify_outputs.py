"""``amplify_outputs.json`` (Amplify Gen 2's configuration file, ``userpipe.amplify``) is what
amplify-backend's published schema allows, for the local stack and for a deployed one, and its
``User`` model introspection is the field table's (``contracts/user_fields.py``) as the API
serves it: the fields ``UserType`` serves, read-only wherever ``UpdateUserInput`` does not take
them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType

from contracts.appsync import load_schema
from contracts.user_fields import USER_FIELDS
from tests.amplify import OUTPUTS_SCHEMA, outputs_schema_errors
from userpipe.amplify import OUTPUTS_VERSION, amplify_outputs, model_introspection

#: The local stack's outputs as amplify_outputs reads them (userpipe.local.stack).
LOCAL = {
    "region": "eu-west-1",
    "user_pool_id": "eu-west-1_0123456789abcdef0123456789abcdef",
    "user_pool_client_id": "abcdefghijklmnopqrstuvwxyz",
    "endpoint_url": "http://127.0.0.1:4747",
    "tls_endpoint_url": "https://127.0.0.1:4748",
    "graphql_url": "https://127.0.0.1:4748/graphql",
}


#: A deployed stack's CloudFormation outputs, under their local names (its pool: ``pool``).
def deployed(user_pool_id: str) -> list[dict[str, str]]:
    return [
        {"OutputKey": "EventBusName", "OutputValue": "userpipe-prod-users"},
        {"OutputKey": "UserPoolId", "OutputValue": user_pool_id},
        {"OutputKey": "UserPoolClientId", "OutputValue": "client123"},
        {"OutputKey": "GraphqlUrl", "OutputValue": "https://x.appsync-api.eu-central-1.amazonaws.com/graphql"},
    ]  # fmt: skip


def test_the_schema_copy_is_amplifys_draft_2020_12_schema_for_version_1_5() -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads(OUTPUTS_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["version"]["const"] == OUTPUTS_VERSION == "1.5"


def test_the_schema_check_can_fail() -> None:
    """A field amplify-js's own type has but the schema refuses, and a missing section field."""
    document = amplify_outputs(LOCAL)
    document["data"]["conflict_resolution_mode"] = "AUTOMERGE"
    del document["auth"]["user_pool_client_id"]
    errors = outputs_schema_errors(document)
    assert any("conflict_resolution_mode" in error for error in errors), errors
    assert any("user_pool_client_id" in error for error in errors), errors


def test_the_local_stacks_amplify_outputs_validate_against_amplifys_schema() -> None:
    document = amplify_outputs(LOCAL)
    assert outputs_schema_errors(document) == []
    assert document["data"]["url"] == LOCAL["graphql_url"]  # TLS: Amplify's socket is wss://
    # A top-level aws_* key would make aws-amplify read the file as Gen 1 aws-exports
    # (@aws-amplify/core parseAmplifyConfig); and no custom Cognito endpoint: no such field.
    assert not [key for key in document if key.startswith("aws_")]
    assert "127.0.0.1:4747" not in json.dumps(document)


def test_a_deployed_stacks_outputs_gen2_describe_its_own_pool(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stage deployed on a recipe app's existing pool (``-c userPoolId=...``) has that pool's
    sign-up settings, not the ones userpipe declares: ``outputs --format gen2`` reads them from
    Cognito (moto here), so Amplify's Authenticator asks for what the pool requires."""
    import boto3
    from moto import mock_aws

    from tests.unit.test_operations import fake_clients
    from userpipe.aws.deployment import from_stack
    from userpipe.cli import main
    from userpipe.cli import operations as ops_cli

    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name="eu-central-1")
        pool = cognito.create_user_pool(  # the recipe's: usernames, a weaker policy, a name
            PoolName="recipe",
            AliasAttributes=["email"],  # usernames, or the email as an alias
            AutoVerifiedAttributes=["email"],
            Schema=[{"Name": "name", "AttributeDataType": "String", "Required": True}],
            Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": False,
                                         "RequireLowercase": True, "RequireNumbers": True,
                                         "RequireSymbols": False}},
        )["UserPool"]["Id"]  # fmt: skip
        cognito.create_group(GroupName="Admin", UserPoolId=pool, Precedence=0)
        cognito.create_group(GroupName="Editors", UserPoolId=pool)
        make = fake_clients({"userpipe-prod": deployed(pool)})

        def clients(**kw: Any) -> Any:
            found = make(**kw)
            found.cognito = cognito
            return found

        monkeypatch.setattr(
            ops_cli, "from_stack", lambda name, **kw: from_stack(name, clients=clients)
        )
        assert main(["outputs", "--stack", "userpipe-prod", "--format", "gen2"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert main(["outputs", "--stack", "userpipe-prod"]) == 0  # the default is unchanged
        assert "Auth" in json.loads(capsys.readouterr().out)

    assert outputs_schema_errors(document) == []
    auth = document["auth"]
    assert auth["aws_region"] == document["data"]["aws_region"] == "eu-central-1"
    assert auth["user_pool_id"] == pool
    assert auth["password_policy"] == {
        "min_length": 8, "require_numbers": True, "require_lowercase": True,
        "require_uppercase": False, "require_symbols": False,
    }  # fmt: skip
    assert auth["username_attributes"] == ["username", "email"]
    assert auth["standard_required_attributes"] == ["name"]  # never sub: Cognito sets it
    assert auth["user_verification_types"] == ["email"]
    assert auth["groups"] == [{"Admin": {"precedence": 0}}, {"Editors": {}}]
    assert document["data"]["default_authorization_type"] == "AMAZON_COGNITO_USER_POOLS"
    assert document["data"]["authorization_types"] == ["AWS_IAM"]
    assert document["data"]["model_introspection"] == model_introspection()


def test_an_unknown_output_format_is_refused_naming_the_formats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from userpipe.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["outputs", "--stack", "userpipe-prod", "--format", "gen3"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "--format: invalid choice: 'gen3'" in err and "'gen1', 'gen2'" in err


def _user() -> dict[str, Any]:
    model: dict[str, Any] = model_introspection()["models"]["User"]
    return model


def test_the_introspection_lists_exactly_the_fields_the_api_serves_with_their_types() -> None:
    served = load_schema().get_type("User")
    assert isinstance(served, GraphQLObjectType)
    fields = _user()["fields"]
    assert list(fields) == [field.name for field in USER_FIELDS if field.graphql]
    assert set(fields) == set(served.fields)
    for name, field in fields.items():
        assert (field["name"], field["isArray"]) == (name, False)
        declared = str(served.fields[name].type)
        assert (field["type"], field["isRequired"]) == (declared.rstrip("!"), declared[-1] == "!")


def test_what_update_user_does_not_take_is_read_only_and_version_stays_writable() -> None:
    """Gen 2's client drops read-only fields from an update's input (@aws-amplify/data-schema
    1.26.2 ``buildGraphQLVariables``) and keeps the rest; ``_version`` must get through."""
    update = load_schema().get_type("UpdateUserInput")
    assert isinstance(update, GraphQLInputObjectType)
    fields = _user()["fields"]
    read_only = {name for name, field in fields.items() if field.get("isReadOnly")}
    assert read_only == set(fields) - set(update.fields)
    assert "_version" not in read_only
    assert {"_deleted", "_lastChangedAt", "email", "owner", "createdAt", "updatedAt"} <= read_only


def test_the_introspection_is_shaped_as_generate_client_needs_it() -> None:
    """``enums`` and ``nonModels`` present (without them generateClient throws), the key and
    the owner rule on ``id`` as codegen writes them for the recipe's model."""
    introspection = model_introspection()
    assert (introspection["version"], introspection["enums"], introspection["nonModels"]) == (
        1, {}, {},
    )  # fmt: skip
    user = _user()
    assert user["pluralName"] == "Users"
    assert user["primaryKeyInfo"]["primaryKeyFieldName"] == "id"
    (auth,) = [attribute for attribute in user["attributes"] if attribute["type"] == "auth"]
    assert auth["properties"]["rules"][0]["ownerField"] == "id"
