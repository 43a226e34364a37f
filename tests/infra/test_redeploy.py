"""``cdk destroy`` then ``cdk deploy`` of a kept (non-ephemeral) stage.

What such a stage retains on delete must either be named anew on every deploy or be taken back
by the ``cdk import`` docs/deploy.md gives (``infra/adopt.py`` writes its mapping): a retained
resource with a fixed name stops the next deploy ("already exists"), and a retained user pool
is worse — pool names are not unique, so a plain deploy would create a second, empty pool
beside the one that holds the users.

Nothing here runs against AWS. The checks hold the templates to the rules the import has to
pass: each imported resource has a ``DeletionPolicy`` (CloudFormation, "Bringing existing
resources into CloudFormation management"), and the CDK CLI, importing into a stack that does
not exist, sends exactly the mapped resources' definitions — the deployed template, empty
here, plus the additions (``@aws-cdk/toolkit-lib`` ``resource-import/importer.ts``,
``currentTemplateWithAdditions``) — so they may refer to nothing else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.adopt import InvalidUserPoolIdError, import_mapping, main
from infra.config import InvalidContextError, StageConfig
from tests.infra.conftest import WELCOME_SENDER, Synthesized, synthesize

ROOT = Path(__file__).resolve().parents[2]
USER_POOL_ID = "eu-west-1_AbC123xyz"
#: The property that names a resource of each type a stage may retain (None: nothing names
#: it, so a retained one never stands in the way of the next deploy). A type missing here
#: fails the test: say how it is named before retaining it.
NAME_PROPERTIES: dict[str, str | None] = {
    "AWS::Cognito::UserPool": "UserPoolName",  # not unique: a deploy makes a second pool
    "AWS::Cognito::UserPoolGroup": "GroupName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::Events::EventBus": "Name",
    "AWS::KMS::Key": None,
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",  # the trail's log bucket: unnamed, so never in the way
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
}


@pytest.fixture(scope="module")
def adopting(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The dev stage as ``cdk import -c adopt=true`` synthesizes it (with the same other
    context as its deploys, as the README says)."""
    return synthesize(
        tmp_path_factory.mktemp("adopt"),
        {"stage": "dev", "welcomeSender": WELCOME_SENDER, "adopt": "true"},
    )


def retained(stack: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in stack.template["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    }


def references(value: Any) -> set[str]:
    """The logical ids and pseudo parameters a template value refers to."""
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    if not isinstance(value, dict):
        return set()
    if "Ref" in value:
        return {value["Ref"]}
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return {target[0] if isinstance(target, list) else target.split(".")[0]}
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else sub
        names = {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)}
        return (names - set(variables)) | references(list(variables.values()))
    return set().union(*(references(item) for item in value.values()))


def refers_to(resource: dict[str, Any]) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    named = references(resource.get("Properties", {})) | set(
        [depends_on] if isinstance(depends_on, str) else depends_on
    )
    return {name for name in named if not name.startswith("AWS::")}


def fixed_name(stack: Synthesized, resource: dict[str, Any]) -> Any:
    """The resource's name if the same on every deploy, else None. A name made from a resource
    the deploy creates anew (the AppSync log group's API id) differs each time."""
    kind = resource["Type"]
    assert kind in NAME_PROPERTIES, f"{kind} is retained: add how it is named to NAME_PROPERTIES"
    name_property = NAME_PROPERTIES[kind]
    name = resource.get("Properties", {}).get(name_property) if name_property else None
    made_anew = {
        logical_id
        for logical_id in references(name)
        if logical_id in stack.template["Resources"] and logical_id not in retained(stack)
    }
    return None if made_anew else name


def test_a_kept_stage_keeps_its_users_their_groups_keys_events_and_logs_and_nothing_else(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    """The page-token key and the alarm topic's KMS key hold nothing worth keeping once their
    stack is gone: retained, each would be an orphan after every destroy (the secret one with
    a fixed name that stops the next deploy). The archive is the events the User table is
    rebuilt from; the trail's log bucket cannot be deleted while it holds logs (in any stage)."""
    assert {r["Type"] for r in retained(dev).values()} == {
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolGroup",  # the Admin group: who is an Admin
        "AWS::DynamoDB::Table",  # users, their audit records, their data keys
        "AWS::Events::EventBus",
        "AWS::Events::Archive",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",  # CloudTrail's logs
    }
    assert {r["Type"] for r in retained(ephemeral).values()} == {"AWS::S3::Bucket"}


def test_every_retained_resource_with_a_fixed_name_is_taken_back_by_the_import(
    dev: Synthesized,
) -> None:
    named = {
        logical_id: fixed_name(dev, resource)
        for logical_id, resource in retained(dev).items()
        if fixed_name(dev, resource) is not None
    }
    mapping = import_mapping(dev.template, user_pool_id=USER_POOL_ID)
    assert sorted(mapping) == sorted(named)
    resources = dev.template["Resources"]
    for logical_id, identifier in mapping.items():
        properties = resources[logical_id]["Properties"]
        expected = {
            "AWS::Cognito::UserPool": {"UserPoolId": USER_POOL_ID},
            "AWS::Cognito::UserPoolGroup": {
                "UserPoolId": USER_POOL_ID,
                "GroupName": properties.get("GroupName"),
            },
            "AWS::DynamoDB::Table": {"TableName": properties.get("TableName")},
            "AWS::Events::EventBus": {"Name": properties.get("Name")},
            "AWS::Events::Archive": {"ArchiveName": properties.get("ArchiveName")},
            "AWS::Logs::LogGroup": {"LogGroupName": properties.get("LogGroupName")},
        }[resources[logical_id]["Type"]]
        assert identifier == expected


def test_the_import_creates_a_stack_that_refers_to_nothing_it_lacks(
    dev: Synthesized, adopting: Synthesized
) -> None:
    """The template ``cdk import`` sends for a stack that does not exist yet holds only the
    mapped resources: each has a DeletionPolicy, refers to none but the others, and
    cfn-lint finds no error in it."""
    mapping = import_mapping(adopting.template, user_pool_id=USER_POOL_ID)
    assert sorted(mapping) == sorted(import_mapping(dev.template, user_pool_id=USER_POOL_ID))
    imported = {lid: adopting.template["Resources"][lid] for lid in mapping}
    assert all(resource.get("DeletionPolicy") == "Retain" for resource in imported.values())
    lacking = {lid: refers_to(resource) - set(imported) for lid, resource in imported.items()}
    assert {lid: names for lid, names in lacking.items() if names} == {}

    from cfnlint.api import ManualArgs, lint

    matches = lint(
        json.dumps({"Resources": imported}),
        config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"]),
    )
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(e) for e in errors)


def test_adopting_leaves_out_only_the_pools_trigger_which_the_next_deploy_adds(
    dev: Synthesized, adopting: Synthesized
) -> None:
    """So the ``cdk deploy`` after the import changes no imported resource but the pool's
    LambdaConfig (no replacement, no drift), and cdk-nag is as quiet as for a deploy."""
    assert adopting.error is None, adopting.error

    def described(stack: Synthesized, logical_id: str) -> dict[str, Any]:
        resource = dict(stack.template["Resources"][logical_id])
        resource.pop("Metadata", None)
        resource["Properties"] = dict(resource["Properties"])
        resource["Properties"].pop("LambdaConfig", None)
        return resource

    for logical_id in import_mapping(dev.template, user_pool_id=USER_POOL_ID):
        assert described(adopting, logical_id) == described(dev, logical_id)
    pools = [r for r in retained(adopting).values() if r["Type"] == "AWS::Cognito::UserPool"]
    assert [pool["Properties"].get("LambdaConfig") for pool in pools] == [None]
    (pool,) = (r for r in retained(dev).values() if r["Type"] == "AWS::Cognito::UserPool")
    assert "PostConfirmation" in pool["Properties"]["LambdaConfig"]


def test_the_command_writes_the_mapping_for_the_template_cdk_import_adopts_with(
    adopting: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        ["-c", "stage=dev", "-c", f"welcomeSender={WELCOME_SENDER}", "--user-pool-id", USER_POOL_ID]
    )
    written = json.loads(capsys.readouterr().out)
    assert written == import_mapping(adopting.template, user_pool_id=USER_POOL_ID)


@pytest.mark.parametrize("user_pool_id", ["", "userpipe-dev-users", "eu-west-1_", "a b_c"])
def test_a_malformed_user_pool_id_is_refused(dev: Synthesized, user_pool_id: str) -> None:
    with pytest.raises(InvalidUserPoolIdError, match="--user-pool-id"):
        import_mapping(dev.template, user_pool_id=user_pool_id)


def test_an_ephemeral_stage_has_nothing_to_adopt() -> None:
    with pytest.raises(InvalidContextError, match="adopt=True is invalid"):
        StageConfig.from_context({"ephemeral": "true", "adopt": "true"}.get)


def test_the_deploy_docs_give_the_commands_that_take_a_kept_stage_back() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    lines = deploy.splitlines()
    assert any("python -m infra.adopt" in line and "--user-pool-id" in line for line in lines)
    assert any(
        line.startswith("npx cdk import")
        and "-c adopt=true" in line
        and "--resource-mapping" in line
        for line in lines
    )
    assert any("list-user-pools" in line for line in lines)
