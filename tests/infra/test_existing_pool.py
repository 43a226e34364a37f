"""The stage on an existing user pool (``-c userPoolId=... -c userPoolClientId=...``): it
creates no pool, client, domain or group, sets no trigger through CloudFormation, and
everything that names the pool names the one it was given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.topology import CONFIRM_TRIGGER, FUNCTIONS, ResourceNames
from infra.config import InvalidContextError, StageConfig
from tests.infra.conftest import WELCOME_SENDER, Synthesized, synthesize

NAMES = ResourceNames("dev")
POOL_ID = "eu-west-1_AbC123xyz"
CLIENT_ID = "4abc5defghijklmnop12qrstuv"
EXISTING = {"userPoolId": POOL_ID, "userPoolClientId": CLIENT_ID}
#: The imported pool's ARN as the template spells it: its own Region, the stack's account.
POOL_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":cognito-idp:eu-west-1:",
            {"Ref": "AWS::AccountId"},
            f":userpool/{POOL_ID}",
        ],
    ]
}
COGNITO_TYPES = (
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolDomain",
)


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every part (the example consumer too), on an existing pool."""
    return synthesize(
        tmp_path_factory.mktemp("existing-pool"),
        {"stage": "dev", "welcomeSender": WELCOME_SENDER, **EXISTING},
    )


def function_id(stack: Synthesized, spec: Any) -> str:
    return stack.logical_id("AWS::Lambda::Function", FunctionName=NAMES.function(spec))


def test_it_creates_no_pool_client_group_or_domain(existing: Synthesized) -> None:
    for kind in COGNITO_TYPES:
        assert existing.resources(kind) == {}, kind


def test_only_that_pool_may_invoke_the_trigger_from_this_account(existing: Synthesized) -> None:
    trigger = {"Fn::GetAtt": [function_id(existing, CONFIRM_TRIGGER), "Arn"]}
    permissions = [p["Properties"] for p in existing.resources("AWS::Lambda::Permission").values()]
    (permission,) = [p for p in permissions if p["FunctionName"] == trigger]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": trigger,
        "Principal": "cognito-idp.amazonaws.com",
        "SourceArn": POOL_ARN,
        "SourceAccount": {"Ref": "AWS::AccountId"},
    }


def test_every_grant_on_cognito_names_the_imported_pool(existing: Synthesized) -> None:
    granted = 0
    for policy in existing.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions = [value] if isinstance(value, str) else value
            if any(action.startswith("cognito-idp:") for action in actions):
                assert statement["Resource"] == POOL_ARN, statement
                granted += 1
    assert granted >= 3  # reconcile, user_sync, the welcome notifier, the change publisher...


def test_functions_the_api_and_outputs_name_the_imported_pool_and_client(
    existing: Synthesized,
) -> None:
    for spec in FUNCTIONS:
        variables = existing.one("AWS::Lambda::Function", FunctionName=NAMES.function(spec))[
            "Properties"
        ]["Environment"]["Variables"]
        if "USER_POOL_ID" in variables:
            assert variables["USER_POOL_ID"] == POOL_ID, spec.id
    (api,) = existing.resources("AWS::AppSync::GraphQLApi").values()
    assert api["Properties"]["UserPoolConfig"] == {
        "AppIdClientRegex": f"^{CLIENT_ID}$",
        "AwsRegion": "eu-west-1",
        "DefaultAction": "ALLOW",
        "UserPoolId": POOL_ID,
    }
    outputs = existing.template["Outputs"]
    assert outputs["UserPoolId"]["Value"] == POOL_ID
    assert outputs["UserPoolClientId"]["Value"] == CLIENT_ID


def test_nothing_refers_to_a_pool_the_stack_would_own(existing: Synthesized) -> None:
    text = json.dumps(existing.template)
    assert 'UserPoolId": {"Ref"' not in text
    assert "cognito-idp.amazonaws.com" in text  # the permission above, and only by ARN


def test_an_agnostic_stack_is_refused_at_deploy_in_another_region(existing: Synthesized) -> None:
    (rule,) = [r for name, r in existing.template["Rules"].items() if "PoolInStack" in name]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}
    assert POOL_ID in assertion["AssertDescription"]


def test_cdk_nag_and_cfn_lint_are_clean(existing: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint

    assert existing.error is None, existing.error
    assert [v for p in existing.validation["pluginReports"] for v in p["violations"]] == []
    matches = lint(existing.template_path.read_text(), config=ManualArgs(regions=["eu-west-1"]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(e) for e in errors)


def test_a_stack_in_another_region_is_refused_at_synth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.app import build_app

    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    with pytest.raises(InvalidContextError, match=r"userPoolId='eu-west-1_AbC123xyz'.*us-east-1"):
        build_app({"stage": "dev", **EXISTING}, outdir=str(tmp_path))


def context(**given: str) -> Any:
    return lambda key: given.get(key)


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"userPoolId": "AbC123"}, "userPoolId='AbC123' is invalid: expected a user pool id"),
        ({"userPoolId": "eu-west-1_Ab-1", "userPoolClientId": CLIENT_ID}, "userPoolId="),
        ({"userPoolId": POOL_ID}, "userPoolClientId=None is invalid: expected the app client"),
        ({"userPoolClientId": CLIENT_ID}, "given only with -c userPoolId"),
        ({**EXISTING, "userPoolClientId": "a b"}, "expected an app client id"),
        ({**EXISTING, "adopt": "true"}, "adopt=True is invalid"),
    ],
)
def test_the_context_is_checked_with_a_message_naming_the_setting(
    given: dict[str, str], names: str
) -> None:
    with pytest.raises(InvalidContextError, match=names.replace("(", r"\(")):
        StageConfig.from_context(context(**given))


def test_the_settings_name_the_pool_and_none_without_it() -> None:
    config = StageConfig.from_context(context(**EXISTING))
    assert config.existing_pool is not None and config.existing_pool.region == "eu-west-1"
    assert config.settings()["userPoolId"] == POOL_ID
    plain = StageConfig.from_context(context())
    assert plain.existing_pool is None and plain.settings()["userPoolId"] == ""
