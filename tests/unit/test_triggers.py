"""``userpipe attach-triggers``: the UpdateUserPool request carries every writable field the pool
is described with and nothing read-only; the triggers change as asked and no other; a foreign
pre token generation trigger is kept; ``--restore`` puts the saved triggers back. On fakes, on
botocore's own service model and on moto, whose UpdateUserPool resets what it is not given as
Cognito does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from userpipe.aws.deployment import Deployment
from userpipe.aws.status import confirm_trigger_arn
from userpipe.ops import triggers

REGION = "eu-west-1"
ACCOUNT = "123456789012"
OURS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:userpipe-prod-confirm-trigger"
RECIPE = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amplify-recipe-postconfirmation"
THEIR_TOKENS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:their-token-claims"
MODEL = boto3.client("cognito-idp", region_name=REGION).meta.service_model
DESCRIBED_SHAPE = MODEL.operation_model("DescribeUserPool").output_shape.members["UserPool"]
UPDATE_SHAPE = MODEL.operation_model("UpdateUserPool").input_shape
#: What DescribeUserPool returns that UpdateUserPool cannot take (read-only, or fixed at
#: creation: "Settings you can't change", Cognito developer guide).
READ_ONLY = {
    "Id", "Status", "LastModifiedDate", "CreationDate", "SchemaAttributes",
    "AliasAttributes", "UsernameAttributes", "EstimatedNumberOfUsers", "SmsConfigurationFailure",
    "EmailConfigurationFailure", "Domain", "CustomDomain", "UsernameConfiguration", "Arn",
}  # fmt: skip


def sample(shape: Any, depth: int = 0) -> Any:
    """A value of ``shape`` as botocore models it: every member of every structure."""
    kind = shape.type_name
    if kind == "structure":
        return {name: sample(member, depth + 1) for name, member in shape.members.items()}
    if kind == "list":
        return [sample(shape.member, depth + 1)]
    if kind == "map":
        return {"key": sample(shape.value, depth + 1)}
    if kind == "string":
        return shape.enum[0] if shape.enum else f"value-{shape.name}"
    if kind == "integer" or kind == "long":
        return 3
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime(2026, 1, 2, tzinfo=UTC)
    return "x"


#: A pool described with every field the model has (values made up, shapes real).
EVERYTHING: dict[str, Any] = {**sample(DESCRIBED_SHAPE), "Id": f"{REGION}_AbC123"}


def test_the_fields_sent_are_updateuserpools_own_from_the_service_model() -> None:
    writable = triggers.writable_fields()
    assert writable == set(UPDATE_SHAPE.members) - {"UserPoolId"}
    described = set(DESCRIBED_SHAPE.members)
    # Every field DescribeUserPool returns is either sent back (under UpdateUserPool's name)
    # or known to be read-only: a field AWS adds to both is carried over with no change here.
    sent = {triggers.RENAMED.get(name, name) for name in writable}
    assert described - sent == READ_ONLY
    assert {"DeletionProtection", "UserPoolTags", "EmailConfiguration", "SmsConfiguration",
            "AdminCreateUserConfig", "VerificationMessageTemplate"} <= writable  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.sets(st.sampled_from(sorted(EVERYTHING))))
def test_every_described_writable_field_is_carried_over_and_nothing_read_only(
    left_out: set[str],
) -> None:
    described = {k: v for k, v in EVERYTHING.items() if k not in left_out or k == "Id"}
    wanted = {"PostConfirmation": OURS}
    request = triggers.update_request(described, wanted)
    assert request["UserPoolId"] == described["Id"]
    assert request["LambdaConfig"] == wanted
    legacy = described.get("AdminCreateUserConfig", {}).get("UnusedAccountValidityDays")
    for name in triggers.writable_fields() - {"LambdaConfig"}:
        source = triggers.RENAMED.get(name, name)
        moved = name == "Policies" and bool(legacy)  # where the legacy validity goes
        assert (name in request) == (source in described or moved), name
    assert not set(request) & READ_ONLY
    if "Name" in described:
        assert request["PoolName"] == described["Name"]
    assert "UnusedAccountValidityDays" not in request.get("AdminCreateUserConfig", {})
    for name in set(request) - {"UserPoolId", "LambdaConfig", "AdminCreateUserConfig", "Policies"}:
        assert json.dumps(request[name], default=str) == json.dumps(
            described[triggers.RENAMED.get(name, name)], default=str
        )


def test_the_legacy_unused_account_validity_is_never_sent() -> None:
    """Sending it back fails ("Please use TemporaryPasswordValidityDays in PasswordPolicy
    instead of UnusedAccountValidityDays", aws-sdk-js#3817): moved where the policy has none."""
    described = {
        "Id": "p",
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": False,
            "UnusedAccountValidityDays": 5,
        },
        "Policies": {"PasswordPolicy": {"MinimumLength": 12}},
    }
    request = triggers.update_request(described, {})
    assert request["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": False}
    assert request["Policies"]["PasswordPolicy"]["TemporaryPasswordValidityDays"] == 5
    described["Policies"] = {"PasswordPolicy": {"TemporaryPasswordValidityDays": 3}}
    request = triggers.update_request(described, {})
    assert request["Policies"]["PasswordPolicy"]["TemporaryPasswordValidityDays"] == 3
    assert described["AdminCreateUserConfig"]["UnusedAccountValidityDays"] == 5  # not mutated


def test_moving_the_legacy_validity_is_not_taken_for_an_unwanted_change() -> None:
    """The after-write check compares both descriptions as the request meant them: a pool that
    had only the legacy field (a fresh pool in the emulator) is not reported as changed."""
    before = {
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": False,
            "UnusedAccountValidityDays": 7,
        },
        "Policies": {"PasswordPolicy": {"MinimumLength": 12}},
    }
    after = {
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
        "Policies": {"PasswordPolicy": {"MinimumLength": 12, "TemporaryPasswordValidityDays": 7}},
    }
    assert triggers.differences(before, after) == []
    after["Policies"]["PasswordPolicy"]["TemporaryPasswordValidityDays"] = 3
    assert triggers.differences(before, after) == ["Policies"]


OTHER_TRIGGERS = st.dictionaries(
    st.sampled_from(["PreSignUp", "CustomMessage", "PreAuthentication", "PostAuthentication",
                     "DefineAuthChallenge", "CreateAuthChallenge", "UserMigration",
                     "VerifyAuthChallengeResponse"]),
    st.sampled_from([RECIPE, THEIR_TOKENS, OURS]),
)  # fmt: skip


@given(OTHER_TRIGGERS, st.sampled_from([None, RECIPE, OURS]))
def test_attaching_sets_ours_and_keeps_every_other_trigger(
    others: dict[str, str], post_confirmation: str | None
) -> None:
    config = {**others, **({"PostConfirmation": post_confirmation} if post_confirmation else {})}
    attached = triggers.attach(config, OURS)
    assert attached.after["PostConfirmation"] == OURS
    assert attached.after["PreTokenGenerationConfig"] == {
        "LambdaArn": OURS,
        "LambdaVersion": "V1_0",
    }
    assert {k: v for k, v in attached.after.items() if k in others} == others
    assert set(attached.changes) <= {"PostConfirmation", "PreTokenGenerationConfig"}
    assert any("replaced" in n for n in attached.notes) == (post_confirmation == RECIPE)
    assert triggers.attach(attached.after, OURS).changes == {}  # a second run changes nothing


def test_a_foreign_pre_token_trigger_is_kept_and_said_so() -> None:
    for config in (
        {"PreTokenGeneration": THEIR_TOKENS},
        {"PreTokenGenerationConfig": {"LambdaArn": THEIR_TOKENS, "LambdaVersion": "V2_0"}},
    ):
        attached = triggers.attach({"PostConfirmation": RECIPE, **config}, OURS)
        assert attached.after == {"PostConfirmation": OURS, **config}
        (replaced, kept) = attached.notes
        assert RECIPE in replaced
        assert THEIR_TOKENS in kept and "reconcile" in kept


def test_the_legacy_pre_token_field_follows_the_config_when_ours() -> None:
    """The API requires PreTokenGeneration to equal PreTokenGenerationConfig's ARN."""
    attached = triggers.attach({"PreTokenGeneration": OURS}, OURS)
    assert attached.after["PreTokenGeneration"] == attached.after["PreTokenGenerationConfig"][
        "LambdaArn"
    ] == OURS  # fmt: skip


def test_the_trigger_is_named_in_the_pools_partition_region_and_account() -> None:
    pool = f"arn:aws-cn:cognito-idp:cn-north-1:{ACCOUNT}:userpool/cn-north-1_X1"
    assert confirm_trigger_arn(pool, "prod") == (
        f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:userpipe-prod-confirm-trigger"
    )


# --- on moto: its UpdateUserPool resets what it is not given, as Cognito does -------------------


@pytest.fixture
def pool() -> Iterator[tuple[Deployment, dict[str, Any]]]:
    """A recipe app's pool with much set: tags, deletion protection, email and verification
    messages, admin-create settings, a recipe PostConfirmation and someone's token trigger.
    Not its sign-in attributes: UpdateUserPool cannot change those in AWS ("Settings you
    can't change"), but moto 5.2.5 forgets them on every update (``update_extended_config``
    starts from its defaults), which the check after the write reports (the last test)."""
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        created = cognito.create_user_pool(
            PoolName="recipe-users",
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireSymbols": False,
                                         "TemporaryPasswordValidityDays": 3}},
            DeletionProtection="ACTIVE",
            UserPoolTags={"app": "recipes", "env": "prod"},
            MfaConfiguration="OFF",
            EmailConfiguration={"EmailSendingAccount": "COGNITO_DEFAULT"},
            VerificationMessageTemplate={
                "DefaultEmailOption": "CONFIRM_WITH_CODE",
                "EmailSubject": "Your code",
                "EmailMessage": "Code {####}",
            },
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
            AccountRecoverySetting={
                "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
            },
            UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["email"]},
            LambdaConfig={"PostConfirmation": RECIPE, "CustomMessage": RECIPE,
                          "PreTokenGeneration": THEIR_TOKENS},
        )["UserPool"]  # fmt: skip
        outputs = {"user_pool_id": created["Id"], "stage": "prod", "region": REGION}
        clients = SimpleNamespace(cognito=cognito)
        deployment = Deployment("stack userpipe-prod", outputs, clients, local=True)  # type: ignore[arg-type]
        yield deployment, cognito.describe_user_pool(UserPoolId=created["Id"])["UserPool"]


def test_attaching_changes_the_triggers_and_nothing_else(
    pool: tuple[Deployment, dict[str, Any]],
) -> None:
    deployment, before = pool
    plan = triggers.plan(deployment)
    after = triggers.write(deployment, plan.attachment.after, before)
    assert triggers.differences(before, after) == []
    assert after["LambdaConfig"] == {
        "PostConfirmation": OURS,  # the recipe's replaced
        "CustomMessage": RECIPE,  # kept
        "PreTokenGeneration": THEIR_TOKENS,  # someone's, kept
    }
    assert after["UserPoolTags"] == {"app": "recipes", "env": "prod"}
    assert after["DeletionProtection"] == "ACTIVE"


def test_a_request_that_forgets_a_field_fails_loudly_naming_it(
    pool: tuple[Deployment, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the check after the write is for: the emulator, like Cognito, resets what the
    request leaves out (here, as if the model had no tags and no deletion protection)."""
    deployment, before = pool
    forgetful = triggers.writable_fields() - {"UserPoolTags", "DeletionProtection"}
    monkeypatch.setattr(triggers, "writable_fields", lambda: forgetful)
    with pytest.raises(triggers.PoolChangedError, match="DeletionProtection, UserPoolTags"):
        triggers.write(deployment, {"PostConfirmation": OURS}, before)


def test_restore_puts_the_saved_triggers_back(
    pool: tuple[Deployment, dict[str, Any]], tmp_path: Path
) -> None:
    deployment, before = pool
    saved = tmp_path / "saved.json"
    triggers.save(saved, before["Id"], before["LambdaConfig"])
    after = triggers.write(deployment, triggers.plan(deployment).attachment.after, before)
    restored = triggers.write(deployment, triggers.read_saved(saved, before["Id"]), after)
    assert restored["LambdaConfig"] == before["LambdaConfig"]
    assert triggers.differences(before, restored) == []
    with pytest.raises(triggers.SavedConfigError, match="not of eu-west-1_other"):
        triggers.read_saved(saved, "eu-west-1_other")


def test_the_command_shows_saves_writes_and_rolls_back(
    pool: tuple[Deployment, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from userpipe.cli import main, operations

    deployment, before = pool
    monkeypatch.setattr(operations, "from_stack", lambda name, **_: deployment)
    cognito = deployment.clients.cognito
    saved = tmp_path / "before.json"

    assert main(["attach-triggers", "--stack", "userpipe-prod", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changes"]["PostConfirmation"] == {"before": RECIPE, "after": OURS}
    assert not report["written"] and "PreTokenGenerationConfig" not in report["changes"]
    assert (
        cognito.describe_user_pool(UserPoolId=before["Id"])["UserPool"]["LambdaConfig"]
        == (before["LambdaConfig"])
    )

    code = main(["attach-triggers", "--stack", "userpipe-prod", "--save-to", str(saved)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert f"PostConfirmation: {RECIPE} → {OURS}" in out
    assert f"pre token generation is {THEIR_TOKENS}, not userpipe's: kept" in out
    assert f"--restore {saved}` puts them back" in out
    assert json.loads(saved.read_text())["LambdaConfig"] == before["LambdaConfig"]

    assert main(["attach-triggers", "--stack", "userpipe-prod"]) == 0
    assert "nothing to change" in capsys.readouterr().out

    undo = tmp_path / "attached.json"
    restore = ["--restore", str(saved), "--save-to", str(undo)]
    assert main(["attach-triggers", "--stack", "userpipe-prod", *restore]) == 0
    capsys.readouterr()
    found = cognito.describe_user_pool(UserPoolId=before["Id"])["UserPool"]
    assert found["LambdaConfig"] == before["LambdaConfig"]
    assert json.loads(undo.read_text())["LambdaConfig"]["PostConfirmation"] == OURS


def test_on_aws_a_trigger_that_is_not_deployed_is_not_attached(
    pool: tuple[Deployment, dict[str, Any]],
) -> None:
    deployment, _ = pool

    class NoFunctionError(Exception):
        pass

    def missing(**_: Any) -> Any:
        raise NoFunctionError

    lambda_ = SimpleNamespace(
        get_function_configuration=missing,
        exceptions=SimpleNamespace(ResourceNotFoundException=NoFunctionError),
    )
    on_aws = Deployment(
        deployment.name,
        deployment.outputs,
        SimpleNamespace(cognito=deployment.clients.cognito, lambda_=lambda_),  # type: ignore[arg-type]
        local=False,
    )
    with pytest.raises(triggers.NotAttachedError, match="does not exist: deploy the stack") as e:
        triggers.plan(on_aws)
    assert e.value.exit_code == 1


def test_the_emulator_forgetting_sign_in_attributes_is_reported_not_hidden() -> None:
    """moto's UpdateUserPool drops ``UsernameAttributes`` (AWS keeps them: they are not
    UpdateUserPool's to change); the write's check names it rather than passing silently."""
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        created = cognito.create_user_pool(PoolName="p", UsernameAttributes=["email"])["UserPool"]
        deployment = Deployment(
            "the local stack", {"user_pool_id": created["Id"], "stage": "prod"},
            SimpleNamespace(cognito=cognito), local=True,  # type: ignore[arg-type]
        )  # fmt: skip
        before = cognito.describe_user_pool(UserPoolId=created["Id"])["UserPool"]
        with pytest.raises(triggers.PoolChangedError, match="UsernameAttributes"):
            triggers.write(deployment, {"PostConfirmation": OURS}, before)


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"AttributesRequireVerificationBeforeUpdate": ["email"]}, False),
        ({"AttributesRequireVerificationBeforeUpdate": []}, True),
        (None, True),
    ],
)
def test_a_pool_that_replaces_emails_before_verification_is_told_never_changed(
    settings: dict[str, Any] | None, said: bool
) -> None:
    pool = {"Id": "p"} | ({"UserAttributeUpdateSettings": settings} if settings is not None else {})
    notes = triggers.email_update_notes(pool)
    assert bool(notes) is said
    assert "UserAttributeUpdateSettings" not in triggers.update_request(pool, {}) or settings
