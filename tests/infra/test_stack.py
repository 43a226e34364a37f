"""The synthesized template, asserted on the properties that make userpipe safe to run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.jsonschema import eventbridge_schema
from contracts.names import (
    LAST_CHANGED_INDEX,
    USER_CHANGES_PATTERN,
    USER_CONFIRMED_PATTERN,
    USER_SYNC_PATTERN,
    USER_TTL_ATTRIBUTE,
)
from contracts.topology import (
    AUDIT,
    AUDIT_SOURCE,
    AUDIT_TABLE,
    AUDIT_TRAIL,
    BUS,
    CHANGE_PUBLISHER,
    CHANGES,
    CONFIRM_TRIGGER,
    DEAD_LETTERS,
    FUNCTIONS,
    KEYS_TABLE,
    PAGE_TOKEN_KEY,
    PROJECTION,
    PROJECTOR_SOURCE,
    RECONCILE,
    STREAM_CONSUMERS,
    SUBSCRIBER_SOURCE,
    SUBSCRIPTIONS,
    TABLES,
    USER_API,
    USER_POOL,
    USER_PROJECTOR,
    USER_SYNC,
    USER_SYNC_SUBSCRIPTION,
    USER_TABLE,
    WELCOME,
    WELCOME_NOTIFIER,
    Attr,
    Ref,
    ResourceNames,
    SesIdentities,
    default_settings,
    function_environment,
    resolve_fixed_or_setting,
)
from tests.infra.conftest import WELCOME_SENDER, Synthesized

NAMES = ResourceNames("dev")
SPECS = FUNCTIONS


def function(stack: Synthesized, spec: Any) -> dict[str, Any]:
    return stack.one("AWS::Lambda::Function", FunctionName=NAMES.function(spec))


def function_id(stack: Synthesized, spec: Any) -> str:
    return stack.logical_id("AWS::Lambda::Function", FunctionName=NAMES.function(spec))


def policy_statements(stack: Synthesized, spec: Any) -> list[dict[str, Any]]:
    role_id = function(stack, spec)["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def mappings_of(stack: Synthesized, spec: Any) -> list[dict[str, Any]]:
    fid = function_id(stack, spec)
    return [
        m["Properties"]
        for m in stack.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fid}
    ]


def as_in_template(stack: Synthesized, ref: Ref) -> Any:
    """What a reference of the declaration becomes in the template."""
    settings = {**default_settings("deploy"), "welcomeSender": WELCOME_SENDER}
    if not isinstance(ref, Attr):
        return resolve_fixed_or_setting(ref, settings)
    kinds = {
        "UserTable": ("AWS::DynamoDB::Table", "TableName", USER_TABLE.base_name),
        "AuditTable": ("AWS::DynamoDB::Table", "TableName", AUDIT_TABLE.base_name),
        "KeysTable": ("AWS::DynamoDB::Table", "TableName", KEYS_TABLE.base_name),
        "Bus": ("AWS::Events::EventBus", "Name", BUS.base_name),
        "PageTokenKey": ("AWS::SecretsManager::Secret", "Name", PAGE_TOKEN_KEY.base_name),
        "UserPool": ("AWS::Cognito::UserPool", "UserPoolName", USER_POOL.base_name),
    }
    if ref == Attr("Api", "graphql_url"):
        api = stack.logical_id("AWS::AppSync::GraphQLApi", Name=NAMES.graphql_api)
        return {"Fn::GetAtt": [api, "GraphQLUrl"]}
    kind, name_property, base_name = kinds[ref.resource]
    logical_id = stack.logical_id(kind, **{name_property: NAMES.of(base_name)})
    return {"Ref": logical_id}  # each of these resources' Ref is the attribute functions use


# --- checks that run over the whole template ------------------------------------------------


def test_cdk_nag_finds_nothing_unacknowledged(dev: Synthesized, ephemeral: Synthesized) -> None:
    for stack in (dev, ephemeral):
        assert stack.error is None, stack.error
        violations = [v for p in stack.validation["pluginReports"] for v in p["violations"]]
        assert violations == []


def test_cdk_nag_packs_really_run(tmp_path: Any) -> None:
    """Guards the test above: an unencrypted queue without a DLQ must be reported."""
    from aws_cdk import aws_sqs as sqs

    from infra.app import build_app

    app, stack = build_app({"stage": "nagcheck", "ephemeral": "true"}, outdir=str(tmp_path))
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(Exception, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS" in str(failure.value) or "Serverless-SQS" in str(failure.value)


def test_cfn_lint_reports_no_errors(dev: Synthesized, ephemeral: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint

    for stack in (dev, ephemeral):
        # Regions with every service the stack uses (Cognito, schema registry, ...).
        regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
        matches = lint(stack.template_path.read_text(), config=ManualArgs(regions=regions))
        errors = [m for m in matches if m.rule.id.startswith("E")]
        assert errors == [], "\n".join(str(e) for e in errors)


def test_no_role_has_a_managed_policy(dev: Synthesized) -> None:
    for role in dev.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_wildcard_resources_only_where_aws_has_no_resource_level_form(dev: Synthesized) -> None:
    allowed = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}
    for policy in dev.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                assert actions(statement) <= allowed, statement


# --- the shared declaration (contracts/topology.py) holds in the template -------------------


def test_projector_rule_takes_every_user_change_the_contract_names(dev: Synthesized) -> None:
    rule = dev.one("AWS::Events::Rule", Name=NAMES.of(PROJECTION.rule))
    assert rule["Properties"]["EventPattern"] == USER_CHANGES_PATTERN
    assert set(USER_CHANGES_PATTERN["detail-type"]) == {
        "UserConfirmed", "UserProfileChanged", "UserEmailChanged", "UserDeleted", "UserAdopted"
    }  # fmt: skip
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 86_400,
        "MaximumRetryAttempts": 185,
    }
    assert "DeadLetterConfig" in target


def test_projector_queue_wiring_matches_the_declaration(dev: Synthesized) -> None:
    queue = dev.one("AWS::SQS::Queue", QueueName=NAMES.of(PROJECTION.queue))["Properties"]
    assert queue["VisibilityTimeout"] == PROJECTOR_SOURCE.visibility_timeout_seconds(USER_PROJECTOR)
    assert queue["VisibilityTimeout"] >= 6 * USER_PROJECTOR.timeout_seconds
    assert queue["RedrivePolicy"]["maxReceiveCount"] == PROJECTOR_SOURCE.max_receive_count == 5
    assert queue["SqsManagedSseEnabled"] is True
    (mapping,) = mappings_of(dev, USER_PROJECTOR)
    assert mapping["BatchSize"] == PROJECTOR_SOURCE.batch_size == 10
    assert mapping["MaximumBatchingWindowInSeconds"] == PROJECTOR_SOURCE.max_batching_window_seconds
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": PROJECTOR_SOURCE.max_concurrency}


def test_audit_stream_wiring_matches_the_declaration(dev: Synthesized) -> None:
    (mapping,) = mappings_of(dev, AUDIT_TRAIL)
    assert mapping["BatchSize"] == AUDIT_SOURCE.batch_size <= 100
    assert mapping["BisectBatchOnFunctionError"] is AUDIT_SOURCE.bisect_batch_on_error is True
    assert mapping["MaximumRetryAttempts"] == AUDIT_SOURCE.max_retry_attempts
    assert mapping["StartingPosition"] == AUDIT_SOURCE.starting_position
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    dlq_id = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(AUDIT.on_failure.base_name))
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [dlq_id, "Arn"]
    }
    user_table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [user_table, "StreamArn"]}


#: DynamoDB Streams: "More than 2 processes are reading from the same streams shard at the same
#: time. Exceeding this limit may result in request throttling" (Streams API reference,
#: LimitExceededException). Every standing reader counts: event source mappings and Pipes.
MAX_STREAM_READERS = 2


def stream_readers(template: dict[str, Any]) -> dict[str, list[str]]:
    """Each table's standing stream readers (logical ids), by the table's logical id."""
    readers: dict[str, list[str]] = {}
    sources = {"AWS::Lambda::EventSourceMapping": "EventSourceArn", "AWS::Pipes::Pipe": "Source"}
    for key, resource in template["Resources"].items():
        source = resource.get("Properties", {}).get(sources.get(resource["Type"], ""))
        if isinstance(source, dict) and source.get("Fn::GetAtt", [None, None])[1] == "StreamArn":
            readers.setdefault(source["Fn::GetAtt"][0], []).append(key)
    return readers


def test_no_table_stream_has_more_readers_than_dynamodb_streams_supports(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    """The User table's stream has the two readers it may have (audit trail, change publisher):
    a new consumer of its changes must take the place of one, not be a third."""
    user_table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    for stack in (dev, ephemeral):
        readers = stream_readers(stack.template)
        assert all(len(found) <= MAX_STREAM_READERS for found in readers.values()), readers
    assert len(stream_readers(dev.template)[user_table]) == len(STREAM_CONSUMERS) == 2
    # The count sees a third reader, whether a mapping or a pipe.
    for kind, prop in (("AWS::Lambda::EventSourceMapping", "EventSourceArn"),
                       ("AWS::Pipes::Pipe", "Source")):  # fmt: skip
        third = {"Type": kind, "Properties": {prop: {"Fn::GetAtt": [user_table, "StreamArn"]}}}
        more = {"Resources": {**dev.template["Resources"], "Third": third}}
        assert len(stream_readers(more)[user_table]) == MAX_STREAM_READERS + 1


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_functions_are_made_alike_and_run_with_the_declared_settings(
    dev: Synthesized, spec: Any
) -> None:
    props = function(dev, spec)["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == spec.handler
    assert props["Timeout"] == spec.timeout_seconds
    assert props["MemorySize"] == spec.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    expected = function_environment(spec, lambda ref: as_in_template(dev, ref))
    assert props["Environment"]["Variables"] == expected
    log_group = dev.one("AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{NAMES.function(spec)}")
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_each_function_gets_exactly_the_layers_it_declares(dev: Synthesized, spec: Any) -> None:
    """The trigger's bundle carries no pydantic: it attaches the Powertools layer only.

    Compared as sets: CDK sorts a function's layers (see ``infra.layer``), and the layers are
    checked to agree on every distribution they share, so their merge order does not matter.
    """
    layers = {
        logical: layer["Properties"]["Description"]  # "userpipe <layer> layer for arm64: ..."
        for logical, layer in dev.resources("AWS::Lambda::LayerVersion").items()
    }
    attached = [layers[ref["Ref"]] for ref in function(dev, spec)["Properties"]["Layers"]]
    assert sorted(description.split()[1] for description in attached) == sorted(spec.layers)
    if spec is CONFIRM_TRIGGER:
        assert not any("pydantic" in description for description in attached)


# --- identity ---------------------------------------------------------------------------------


def test_user_pool_signs_up_by_verified_email_with_a_strong_password(dev: Synthesized) -> None:
    pool = dev.one("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    props = pool["Properties"]
    assert props["UsernameAttributes"] == ["email"]
    assert props["AutoVerifiedAttributes"] == ["email"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert props["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }
    password = props["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(
        password[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols")
    )
    assert props["LambdaConfig"]["PostConfirmation"] == {
        "Fn::GetAtt": [function_id(dev, CONFIRM_TRIGGER), "Arn"]
    }
    assert props["DeletionProtection"] == "ACTIVE"
    assert "PreTokenGeneration" not in props["LambdaConfig"]  # the legacy field: V1_0 below
    assert pool["DeletionPolicy"] == "Retain"


def test_admin_created_users_first_sign_in_runs_the_trigger_before_tokens(
    dev: Synthesized,
) -> None:
    """PostConfirmation never fires for a user an admin created: pre token generation (on
    their NEW_PASSWORD_REQUIRED answer) is when they arrive. V1_0 events suffice: the function
    returns the event unchanged."""
    pool = dev.one("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    assert USER_POOL.pre_token_generation is CONFIRM_TRIGGER
    assert pool["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"] == {
        "LambdaArn": {"Fn::GetAtt": [function_id(dev, CONFIRM_TRIGGER), "Arn"]},
        "LambdaVersion": "V1_0",
    }


def test_a_changed_email_is_used_only_once_verified(dev: Synthesized) -> None:
    pool = dev.one("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    assert USER_POOL.verify_before_update == ("email",)
    assert pool["Properties"]["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": list(USER_POOL.verify_before_update)
    }


def test_admin_group_and_a_public_app_client(dev: Synthesized) -> None:
    dev.one("AWS::Cognito::UserPoolGroup", GroupName="Admin")
    (client,) = dev.resources("AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert {"ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH"} <= set(props["ExplicitAuthFlows"])
    assert props["PreventUserExistenceErrors"] == "ENABLED"


def test_only_cognito_may_invoke_the_trigger_and_only_its_schedule_reconcile(
    dev: Synthesized,
) -> None:
    pool = dev.logical_id("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    trigger_arn = {"Fn::GetAtt": [function_id(dev, CONFIRM_TRIGGER), "Arn"]}
    permissions = [p["Properties"] for p in dev.resources("AWS::Lambda::Permission").values()]
    trigger = [p for p in permissions if p["FunctionName"] == trigger_arn]
    assert len(trigger) == 2  # PostConfirmation and pre token generation
    for permission in trigger:
        assert permission["Principal"] == "cognito-idp.amazonaws.com"
        assert permission["SourceArn"] == {"Fn::GetAtt": [pool, "Arn"]}
    (reconcile,) = [p for p in permissions if p["FunctionName"] != trigger_arn]
    assert reconcile["Principal"] == "events.amazonaws.com"
    assert reconcile["FunctionName"] == {"Fn::GetAtt": [function_id(dev, RECONCILE), "Arn"]}
    rule = dev.logical_id("AWS::Events::Rule", Name=NAMES.of("reconcile-schedule"))
    assert reconcile["SourceArn"] == {"Fn::GetAtt": [rule, "Arn"]}


# --- least privilege, per function -----------------------------------------------------------


def _own(stack: Synthesized, spec: Any) -> dict[str, Any]:
    """Each action the function may take and on what (a list when on several resources),
    leaving out what every function gets (writing its own log group, X-Ray)."""
    log_group = stack.logical_id(
        "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{NAMES.function(spec)}"
    )
    everyone = {
        ("xray:PutTraceSegments", json.dumps("*")),
        ("xray:PutTelemetryRecords", json.dumps("*")),
        ("logs:CreateLogStream", json.dumps({"Fn::GetAtt": [log_group, "Arn"]})),
        ("logs:PutLogEvents", json.dumps({"Fn::GetAtt": [log_group, "Arn"]})),
    }
    own: dict[str, Any] = {}
    for statement in policy_statements(stack, spec):
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            for action in actions(statement):
                if (action, json.dumps(resource)) in everyone:
                    continue
                if action not in own:
                    own[action] = resource
                elif own[action] != resource:
                    held = own[action] if isinstance(own[action], list) else [own[action]]
                    own[action] = [*held, resource]
    return own


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_each_function_may_make_exactly_the_calls_its_grants_declare(
    dev: Synthesized, spec: Any
) -> None:
    """Beyond logs, X-Ray and reading its own source (queue, stream), a function's role holds
    its declared grants and nothing else; a grant on SES identities keeps its condition."""
    own = _own(dev, spec)
    source = {a for a in own if a.startswith("sqs:") or a in STREAM_READING}
    assert set(own) - source == {a for grant in spec.grants for a in grant.actions}
    for grant in spec.grants:
        if isinstance(grant.on, SesIdentities):
            (statement,) = [s for s in policy_statements(dev, spec) if "Condition" in s]
            assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": WELCOME_SENDER}}


#: What Lambda's stream poller needs of a stream consumer's role (its event source grants it).
STREAM_READING = frozenset(
    {"dynamodb:ListStreams", "dynamodb:DescribeStream", "dynamodb:GetRecords",
     "dynamodb:GetShardIterator"}
)  # fmt: skip


def test_trigger_may_only_put_events_on_the_bus(dev: Synthesized) -> None:
    bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
    assert _own(dev, CONFIRM_TRIGGER) == {"events:PutEvents": {"Fn::GetAtt": [bus, "Arn"]}}


def test_projector_may_only_write_users_read_emails_and_keys_and_consume_its_queue(
    dev: Synthesized,
) -> None:
    table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    keys = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    pool = dev.logical_id("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    queue = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(PROJECTION.queue))
    own = _own(dev, USER_PROJECTOR)
    # Creates users (PutItem) and applies their changes (UpdateItem), on the User table.
    assert own.pop("dynamodb:PutItem") == {"Fn::GetAtt": [table, "Arn"]}
    assert own.pop("dynamodb:UpdateItem") == {"Fn::GetAtt": [table, "Arn"]}
    # The email from Cognito (no event carries it), the key that opens a sealed profile.
    assert own.pop("cognito-idp:AdminGetUser") == {"Fn::GetAtt": [pool, "Arn"]}
    assert own.pop("cognito-idp:ListUsers") == {"Fn::GetAtt": [pool, "Arn"]}  # federated users
    assert own.pop("dynamodb:GetItem") == {"Fn::GetAtt": [keys, "Arn"]}
    assert all(value == {"Fn::GetAtt": [queue, "Arn"]} for value in own.values())
    assert set(own) <= {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }


def test_audit_may_only_append_and_redact_audit_records_and_read_the_stream(
    dev: Synthesized,
) -> None:
    audit = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(AUDIT_TABLE.base_name))
    user = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(AUDIT.on_failure.base_name))
    own = _own(dev, AUDIT_TRAIL)
    assert own.pop("dynamodb:PutItem") == {"Fn::GetAtt": [audit, "Arn"]}
    # A deleted user's records: found by Query, their fingerprints removed by UpdateItem.
    assert own.pop("dynamodb:Query") == {"Fn::GetAtt": [audit, "Arn"]}
    assert own.pop("dynamodb:UpdateItem") == {"Fn::GetAtt": [audit, "Arn"]}
    assert own.pop("dynamodb:ListStreams") == "*"
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert own.pop(action) == {"Fn::GetAtt": [user, "StreamArn"]}
    assert set(own) <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert all(value == {"Fn::GetAtt": [dlq, "Arn"]} for value in own.values())


def test_welcome_notifier_may_send_only_from_its_sender_to_any_recipient(
    dev: Synthesized,
) -> None:
    """SES authorizes the recipients' identities too in the sandbox (aws/aws-sdk-js#3641): the
    grant covers every identity, and the From-address condition is what holds it to one sender."""
    statements = [
        s for s in policy_statements(dev, WELCOME_NOTIFIER) if "ses:SendEmail" in actions(s)
    ]
    (statement,) = statements
    assert actions(statement) == {"ses:SendEmail"}
    assert statement["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ses:", {"Ref": "AWS::Region"},
                          ":", {"Ref": "AWS::AccountId"}, ":identity/*"]]
    }  # fmt: skip
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": WELCOME_SENDER}}


# --- tables -----------------------------------------------------------------------------------


def test_user_table_is_keyed_by_id_with_pitr_stream_and_protection(dev: Synthesized) -> None:
    table = dev.one("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_audit_table_is_keyed_by_user_and_audit_id_with_ttl(dev: Synthesized) -> None:
    table = dev.one("AWS::DynamoDB::Table", TableName=NAMES.of(AUDIT_TABLE.base_name))
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "auditId", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_keys_table_is_keyed_by_the_sub_and_kept_like_the_user_table(dev: Synthesized) -> None:
    """The only copy of every user's data key: losing the table would make every sealed
    profile unreadable, so it is protected and retained exactly as the User table is."""
    table = dev.one("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert "StreamSpecification" not in props and "TimeToLiveSpecification" not in props
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert dev.template["Outputs"]["KeysTableName"]["Value"] == {
        "Ref": dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    }


def test_every_table_recovers_35_days_back_the_bounded_retention_of_erased_data(
    dev: Synthesized,
) -> None:
    """A restore brings back a deleted user's key and values: the window is stated, not left
    to a default (``infra.parts.tables.PITR_RECOVERY_DAYS``)."""
    from infra.parts.tables import PITR_RECOVERY_DAYS

    assert PITR_RECOVERY_DAYS == 35
    tables = dev.resources("AWS::DynamoDB::Table").values()
    assert len(tables) == len(TABLES) == 3
    for table in tables:
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": PITR_RECOVERY_DAYS,
        }


def test_a_deleted_users_tombstone_expires_by_the_user_tables_ttl(dev: Synthesized) -> None:
    table = dev.one("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    assert USER_TABLE.ttl_attribute == USER_TTL_ATTRIBUTE == "_ttl"
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "_ttl",
        "Enabled": True,
    }


def test_an_ephemeral_stage_is_destroyed_whole(ephemeral: Synthesized) -> None:
    for kind in ("AWS::DynamoDB::Table", "AWS::Cognito::UserPool"):
        for resource in ephemeral.resources(kind).values():
            assert resource["DeletionPolicy"] == "Delete"
            assert resource["Properties"].get("DeletionProtectionEnabled", False) is False
            assert resource["Properties"].get("DeletionProtection", "INACTIVE") == "INACTIVE"


def test_context_settings_reach_the_stack(ephemeral: Synthesized) -> None:
    names = ResourceNames("pr-42")
    archive = ephemeral.one("AWS::Events::Archive", ArchiveName=names.of("users-archive"))
    assert archive["Properties"]["RetentionDays"] == 30
    audit = ephemeral.one("AWS::Lambda::Function", FunctionName=names.function(AUDIT_TRAIL))
    assert audit["Properties"]["Environment"]["Variables"]["AUDIT_RETENTION_DAYS"] == "365"
    (subscription,) = ephemeral.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


# --- events -----------------------------------------------------------------------------------


def test_archive_keeps_userpipe_events_forever_by_default(dev: Synthesized) -> None:
    archive = dev.one("AWS::Events::Archive", ArchiveName=NAMES.of("users-archive"))["Properties"]
    assert archive.get("RetentionDays", 0) == 0
    assert archive["EventPattern"] == {"source": USER_CONFIRMED_PATTERN["source"]}


def test_a_kept_stage_retains_the_bus_and_its_archive_an_ephemeral_one_does_not(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    """The archive is the truth the User table is rebuilt from: ``cdk destroy`` of a kept stage
    must not delete it (nor the bus it archives)."""
    for stack, policy in ((dev, "Retain"), (ephemeral, "Delete")):
        (bus,) = stack.resources("AWS::Events::EventBus").values()
        (archive,) = stack.resources("AWS::Events::Archive").values()
        assert bus["DeletionPolicy"] == bus["UpdateReplacePolicy"] == policy
        assert archive["DeletionPolicy"] == archive["UpdateReplacePolicy"] == policy


def test_user_confirmed_schema_is_published_to_a_registry(dev: Synthesized) -> None:
    schema = dev.one("AWS::EventSchemas::Schema", SchemaName="userpipe.identity@UserConfirmed")
    assert schema["Properties"]["Type"] == "JSONSchemaDraft4"
    assert json.loads(schema["Properties"]["Content"]) == eventbridge_schema()


def test_every_dead_letter_queue_has_an_alarm_that_notifies(dev: Synthesized) -> None:
    topic = next(iter(dev.resources("AWS::SNS::Topic")))
    alarms = list(dev.resources("AWS::CloudWatch::Alarm").values())
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms)
    watched_queues = {
        d["Value"]["Fn::GetAtt"][0]
        for a in alarms
        for d in a["Properties"].get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    dlqs = {
        k
        for k, q in dev.resources("AWS::SQS::Queue").items()
        if "RedrivePolicy" not in q["Properties"]
    }
    assert watched_queues == dlqs and len(dlqs) == len(DEAD_LETTERS) == 6
    errors = {
        d["Value"]["Ref"]
        for a in alarms
        if a["Properties"].get("MetricName") == "Errors"
        for d in a["Properties"]["Dimensions"]
    }
    assert errors == {function_id(dev, spec) for spec in SPECS}
    ages = [a for a in alarms if a["Properties"].get("MetricName") == "IteratorAge"]
    assert {d["Value"]["Ref"] for a in ages for d in a["Properties"]["Dimensions"]} == {
        function_id(dev, stream.consumer) for stream in STREAM_CONSUMERS
    }
    assert all(a["Properties"]["Threshold"] == 300_000 for a in ages)


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(dev: Synthesized) -> None:
    (topic,) = dev.resources("AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = dev.template["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_cloudwatch_may_publish_this_stacks_alarms_to_the_topic_and_nobody_else(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    """A topic policy replaces SNS's default one: without an Allow for CloudWatch, no alarm
    notification is ever delivered. The Allow is scoped to this account and to alarms named
    under this stack, and every alarm is named so (with an alarm email too: ``ephemeral``)."""
    for stack in (dev, ephemeral):
        ((topic_id, _),) = stack.resources("AWS::SNS::Topic").items()
        (policy,) = stack.resources("AWS::SNS::TopicPolicy").values()
        assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        allows = [s for s in statements if s["Effect"] == "Allow"]
        (allow,) = allows
        assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert actions(allow) == {"sns:Publish"}
        assert allow["Resource"] == {"Ref": topic_id}
        account = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert allow["Condition"]["StringEquals"] == account
        (source_arn,) = allow["Condition"]["ArnLike"].values()
        *_, pattern = source_arn["Fn::Join"][1]
        prefix = f":alarm:{stack.stack_name}-"
        assert pattern == f"{prefix}*"
        alarms = stack.resources("AWS::CloudWatch::Alarm").values()
        assert alarms
        for alarm in alarms:
            assert alarm["Properties"]["AlarmName"].startswith(prefix.removeprefix(":alarm:"))
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        # Publishing without TLS is still refused to everyone.
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_example_consumer_has_its_own_rule_queue_and_dlq(dev: Synthesized) -> None:
    rules = {
        key: rule
        for key, rule in dev.resources("AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }
    assert len(rules) == len(SUBSCRIPTIONS) == 3
    welcome = dev.one("AWS::Events::Rule", Name=NAMES.of(WELCOME.rule))
    assert welcome["Properties"]["EventPattern"] == USER_CONFIRMED_PATTERN  # sign-ups only
    (mapping,) = mappings_of(dev, WELCOME_NOTIFIER)
    (projector,) = mappings_of(dev, USER_PROJECTOR)
    assert mapping["EventSourceArn"] != projector["EventSourceArn"]
    assert mapping["BatchSize"] == SUBSCRIBER_SOURCE.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def welcome_notifier_parts(stack: Synthesized) -> dict[str, list[str]]:
    """Everything of the example consumer in a template, by kind (logical ids, or names)."""
    function = NAMES.function(WELCOME_NOTIFIER)
    queues = [NAMES.of(WELCOME.queue), NAMES.of(WELCOME.dlq)]
    named = {  # a name may be a token (a dict) elsewhere: lists, not sets
        "function": ("AWS::Lambda::Function", "FunctionName", [function]),
        "log group": ("AWS::Logs::LogGroup", "LogGroupName", [f"/aws/lambda/{function}"]),
        "rule": ("AWS::Events::Rule", "Name", [NAMES.of(WELCOME.rule)]),
        "queues": ("AWS::SQS::Queue", "QueueName", queues),
    }
    found = {
        kind: [key for key, r in stack.resources(type_).items() if r["Properties"].get(p) in names]
        for kind, (type_, p, names) in named.items()
    }
    own = {*found["function"], *found["queues"]}

    def refers_to(value: dict[str, Any] | str) -> str:
        if isinstance(value, str):  # a literal (an index's name), no resource
            return value
        return str(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])

    found["alarms"] = [
        key
        for key, alarm in stack.resources("AWS::CloudWatch::Alarm").items()
        if {refers_to(d["Value"]) for d in alarm["Properties"]["Dimensions"]} & own
    ]
    found["mapping"] = [
        key
        for key, mapping in stack.resources("AWS::Lambda::EventSourceMapping").items()
        if refers_to(mapping["Properties"]["FunctionName"]) in own
    ]
    found["ses grant"] = [
        key
        for key, policy in stack.resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "ses:SendEmail" in actions(statement)
    ]
    found["outputs"] = [name for name in stack.template["Outputs"] if name.startswith(WELCOME.id)]
    return found


def test_a_deploy_without_a_sender_has_no_part_of_the_example_consumer_and_one_with_has_all(
    dev: Synthesized, without_welcome: Synthesized
) -> None:
    """The README's plain ``npx cdk deploy`` (no ``welcomeSender``): no function (nor its log
    group, role, SES grant or mapping), rule, queue, DLQ, alarm or output of the example
    consumer, which could only fail; the rest is as in a stage that has it."""
    assert without_welcome.error is None, without_welcome.error  # cdk-nag: nothing to report
    default = welcome_notifier_parts(dev)
    assert {kind: len(found) for kind, found in default.items()} == {
        "function": 1, "log group": 1, "rule": 1, "queues": 2, "alarms": 2, "mapping": 1,
        "ses grant": 1, "outputs": 3,
    }  # fmt: skip
    assert all(found == [] for found in welcome_notifier_parts(without_welcome).values())
    assert "welcome" not in json.dumps(without_welcome.template).lower()
    # Nothing else differs: what is left out is exactly the WelcomeNotifier scope's resources.
    kept, everything = (set(s.template["Resources"]) for s in (without_welcome, dev))
    assert everything - kept == {key for key in everything if key.startswith(WELCOME.id)}
    assert kept < everything


def test_the_cost_knobs_turn_down_exactly_what_they_name(
    dev: Synthesized, lean: Synthesized
) -> None:
    """``-c announceChanges=off``: the same resources (the change publisher still writes the
    log and erases keys), its function told so, and an output saying it;
    ``-c tracing=off``: no function nor the API is traced, and no role may write traces;
    ``-c logLevel=WARN``: Powertools' level and Lambda's system level say WARN (the
    application filter stays unset: Lambda would take Powertools' ``WARNING`` for INFO)."""
    assert lean.error is None, lean.error  # cdk-nag: nothing to report
    assert set(lean.template["Resources"]) == set(dev.template["Resources"])
    for stack, announced in ((dev, "on"), (lean, "off")):
        publisher = function(stack, CHANGE_PUBLISHER)["Properties"]["Environment"]["Variables"]
        assert publisher["ANNOUNCE_CHANGES"] == announced
        assert stack.template["Outputs"]["AnnounceChanges"]["Value"] == announced
    for spec in SPECS:
        before, after = function(dev, spec)["Properties"], function(lean, spec)["Properties"]
        assert before["TracingConfig"] == {"Mode": "Active"}
        assert "TracingConfig" not in after
        assert not any("xray:PutTraceSegments" in actions(s) for s in policy_statements(lean, spec))
        assert before["LoggingConfig"]["SystemLogLevel"] == "INFO"
        assert after["LoggingConfig"]["SystemLogLevel"] == "WARN"
        assert "ApplicationLogLevel" not in after["LoggingConfig"]
        assert before["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert after["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "WARN"
    (api,) = lean.resources("AWS::AppSync::GraphQLApi").values()
    (traced_api,) = dev.resources("AWS::AppSync::GraphQLApi").values()
    assert traced_api["Properties"]["XrayEnabled"] is True
    assert api["Properties"]["XrayEnabled"] is False


def test_outputs_are_the_declared_ones(dev: Synthesized) -> None:
    from contracts.topology import OUTPUTS

    outputs = dev.template["Outputs"]
    assert {output.name for output in OUTPUTS} | {
        "UserConfirmedSchemaName",
        "AlarmTopicArn",
    } == set(outputs)
    assert {name for name, output in outputs.items() if "Export" in output} == {
        "EventBusArn",
        "UserConfirmedSchemaName",
    }
    assert outputs["EventBusArn"]["Export"] == {"Name": "userpipe-dev-EventBusArn"}
    assert outputs["UserConfirmedSchemaName"]["Export"] == {
        "Name": "userpipe-dev-UserConfirmedSchemaName"
    }


def test_the_stage_is_an_output_so_commands_never_parse_it_from_names(
    ephemeral: Synthesized,
) -> None:
    """A stage with a dash (``pr-42``) cannot be read back from ``userpipe-pr-42-users``."""
    assert ephemeral.template["Outputs"]["Stage"]["Value"] == "pr-42"


@pytest.mark.parametrize("subscription", SUBSCRIPTIONS, ids=lambda s: s.id)
def test_every_declared_subscription_is_wired_as_declared(
    dev: Synthesized, subscription: Any
) -> None:
    rule = dev.one("AWS::Events::Rule", Name=NAMES.of(subscription.rule))["Properties"]
    if subscription.bus == BUS.id:
        bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
        assert rule["EventBusName"] == {"Ref": bus}
    else:  # the account's default bus: referred to by name, never made
        assert rule["EventBusName"] == subscription.bus == "default"
    queue_id = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(subscription.queue))
    dlq_id = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(subscription.dlq))
    assert rule["EventPattern"] == subscription.pattern
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    queue = dev.template["Resources"][queue_id]["Properties"]
    source = subscription.source
    assert queue["VisibilityTimeout"] == source.visibility_timeout_seconds(subscription.consumer)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": source.max_receive_count,
    }
    dlq = dev.template["Resources"][dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == source.dlq_retention_days * 86_400
    (mapping,) = mappings_of(dev, subscription.consumer)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == source.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == source.max_batching_window_seconds
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": source.max_concurrency}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_user_pool_client_has_the_declared_auth_flows(dev: Synthesized) -> None:
    (client,) = dev.resources("AWS::Cognito::UserPoolClient").values()
    assert set(client["Properties"]["ExplicitAuthFlows"]) == set(USER_POOL.auth_flows)
    assert client["Properties"]["ClientName"] == NAMES.of(USER_POOL.client_base_name)


# --- the GraphQL API -------------------------------------------------------------------------


def test_api_uses_cognito_by_default_and_iam_for_operators(dev: Synthesized) -> None:
    api = dev.one("AWS::AppSync::GraphQLApi", Name=NAMES.graphql_api)["Properties"]
    assert api["AuthenticationType"] == "AMAZON_COGNITO_USER_POOLS"
    assert api["AdditionalAuthenticationProviders"] == [{"AuthenticationType": "AWS_IAM"}]
    pool = dev.logical_id("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    assert api["UserPoolConfig"]["UserPoolId"] == {"Ref": pool}
    assert api["UserPoolConfig"]["DefaultAction"] == "ALLOW"
    assert api["XrayEnabled"] is True
    assert api["LogConfig"]["FieldLogLevel"] == "ERROR"
    assert api["LogConfig"]["ExcludeVerboseContent"] is True


def test_api_serves_the_contract_schema(dev: Synthesized) -> None:
    from contracts.appsync import schema_sdl

    (schema,) = dev.resources("AWS::AppSync::GraphQLSchema").values()
    assert schema["Properties"]["Definition"] == schema_sdl()


def test_every_root_field_is_resolved_by_the_contract_code_on_the_python_function(
    dev: Synthesized,
) -> None:
    from contracts.appsync import RESOLVER_CODE_PATH, root_fields

    sources = [r["Properties"] for r in dev.resources("AWS::AppSync::DataSource").values()]
    (source,) = [s for s in sources if s["Type"] == "AWS_LAMBDA"]
    assert source["LambdaConfig"]["LambdaFunctionArn"] == {
        "Fn::GetAtt": [function_id(dev, USER_API), "Arn"]
    }
    resolvers = [
        r["Properties"]
        for r in dev.resources("AWS::AppSync::Resolver").values()
        if r["Properties"]["DataSourceName"] == source["Name"]
    ]
    assert sorted((r["TypeName"], r["FieldName"]) for r in resolvers) == sorted(root_fields())
    assert {"Subscription"} <= {r["TypeName"] for r in resolvers}  # subscribing is authorized
    for resolver in resolvers:
        assert resolver["Kind"] == "UNIT"
        assert resolver["Runtime"] == {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}
        assert resolver_code(dev, resolver) == RESOLVER_CODE_PATH.read_text()


def test_the_pipelines_publish_mutations_are_local_resolvers_the_subscriptions_name(
    dev: Synthesized,
) -> None:
    from contracts.appsync import (
        PUBLISH_CODE_PATH,
        PUBLISH_MUTATIONS,
        load_schema,
        subscribed_mutations,
    )

    sources = [r["Properties"] for r in dev.resources("AWS::AppSync::DataSource").values()]
    (none,) = [s for s in sources if s["Type"] == "NONE"]
    resolvers = [
        r["Properties"]
        for r in dev.resources("AWS::AppSync::Resolver").values()
        if r["Properties"]["DataSourceName"] == none["Name"]
    ]
    assert sorted(r["FieldName"] for r in resolvers) == sorted(PUBLISH_MUTATIONS)
    for resolver in resolvers:
        assert resolver["TypeName"] == "Mutation"
        assert resolver_code(dev, resolver) == PUBLISH_CODE_PATH.read_text()
    # Each subscription hears the API's own mutation and the pipeline's.
    assert subscribed_mutations(load_schema()) == {
        "createUser": ["onCreateUser"],
        "publishUserCreated": ["onCreateUser"],
        "updateUser": ["onUpdateUser"],
        "publishUserUpdated": ["onUpdateUser"],
        "deleteUser": ["onDeleteUser"],
        "publishUserDeleted": ["onDeleteUser"],
    }


def test_the_change_publisher_may_call_only_the_publish_mutations_and_put_on_the_bus(
    dev: Synthesized,
) -> None:
    from contracts.appsync import PUBLISH_MUTATIONS

    api = next(iter(dev.resources("AWS::AppSync::GraphQLApi")))
    bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
    user = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(CHANGES.on_failure.base_name))
    own = _own(dev, CHANGE_PUBLISHER)
    granted = own.pop("appsync:GraphQL")
    assert sorted(json.dumps(arn).rsplit("/fields/", 1)[1].split('"')[0] for arn in granted) == (
        sorted(PUBLISH_MUTATIONS)
    )
    assert all(api in json.dumps(arn) and "/types/Mutation/" in json.dumps(arn) for arn in granted)
    assert own.pop("events:PutEvents") == {"Fn::GetAtt": [bus, "Arn"]}  # UserProfileChanged
    keys = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    # seals under the user's key; destroys a deleted user's once more
    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert own.pop(action) == {"Fn::GetAtt": [keys, "Arn"]}
    # reads a key; and, before making a user's first one, whether the user is erased
    read = own.pop("dynamodb:GetItem")
    assert sorted(map(json.dumps, read)) == sorted(
        json.dumps({"Fn::GetAtt": [table, "Arn"]}) for table in (keys, user)
    )
    assert own.pop("dynamodb:ListStreams") == "*"
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert own.pop(action) == {"Fn::GetAtt": [user, "StreamArn"]}
    assert set(own) <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert all(value == {"Fn::GetAtt": [dlq, "Arn"]} for value in own.values())


def test_the_change_publisher_is_told_the_bus_it_puts_api_edits_on(dev: Synthesized) -> None:
    bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
    variables = function(dev, CHANGE_PUBLISHER)["Properties"]["Environment"]["Variables"]
    assert variables["EVENT_BUS_NAME"] == {"Ref": bus}


def test_the_change_publisher_reads_the_user_stream_with_its_own_on_failure_queue(
    dev: Synthesized,
) -> None:
    (mapping,) = mappings_of(dev, CHANGE_PUBLISHER)
    user = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(CHANGES.on_failure.base_name))
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [user, "StreamArn"]}
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq, "Arn"]}
    graphql_url = function(dev, CHANGE_PUBLISHER)["Properties"]["Environment"]["Variables"]
    assert graphql_url["GRAPHQL_URL"] == {"Fn::GetAtt": [
        next(iter(dev.resources("AWS::AppSync::GraphQLApi"))), "GraphQLUrl"]}  # fmt: skip


def resolver_code(stack: Synthesized, resolver: dict[str, Any]) -> str:
    """The code a resolver runs, read from the assembly (CDK stages it as an S3 asset)."""
    if "Code" in resolver:
        return str(resolver["Code"])
    key = resolver["CodeS3Location"]["Fn::Sub"].rsplit("/", 1)[-1]
    return (stack.outdir / f"asset.{key.removesuffix('.js')}.js").read_text()


def test_only_this_stacks_app_client_may_call_the_api(dev: Synthesized) -> None:
    api = dev.one("AWS::AppSync::GraphQLApi", Name=NAMES.graphql_api)["Properties"]
    (client_id,) = dev.resources("AWS::Cognito::UserPoolClient")
    assert api["UserPoolConfig"]["AppIdClientRegex"] == {
        "Fn::Join": ["", ["^", {"Ref": client_id}, "$"]]
    }


def test_api_resolver_may_only_read_and_edit_users_read_audit_and_its_key(dev: Synthesized) -> None:
    user = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    audit = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(AUDIT_TABLE.base_name))
    secret = dev.logical_id("AWS::SecretsManager::Secret", Name=NAMES.of(PAGE_TOKEN_KEY.base_name))
    assert _own(dev, USER_API) == {
        "dynamodb:GetItem": {"Fn::GetAtt": [user, "Arn"]},
        "dynamodb:Scan": {"Fn::GetAtt": [user, "Arn"]},
        "dynamodb:UpdateItem": {"Fn::GetAtt": [user, "Arn"]},
        # the user table: an owner's listUsers/syncUsers reads their one item by key; its
        # changes index: an Admin's delta sync
        "dynamodb:Query": [
            {"Fn::GetAtt": [user, "Arn"]},
            {"Fn::GetAtt": [audit, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [user, "Arn"]}, "/index/byLastChangedAt"]]},
        ],
        "secretsmanager:GetSecretValue": {"Ref": secret},
        "secretsmanager:DescribeSecret": {"Ref": secret},
    }


def test_api_logs_go_to_a_log_group_with_retention(dev: Synthesized) -> None:
    api = dev.logical_id("AWS::AppSync::GraphQLApi", Name=NAMES.graphql_api)
    groups = [
        g
        for g in dev.resources("AWS::Logs::LogGroup").values()
        if g["Properties"]["LogGroupName"]
        == {"Fn::Join": ["", ["/aws/appsync/apis/", {"Fn::GetAtt": [api, "ApiId"]}]]}
    ]
    (group,) = groups
    assert group["Properties"]["RetentionInDays"] == 30
    assert not [
        r for r in dev.template["Resources"].values() if r["Type"] == "Custom::LogRetention"
    ]
    assert "GraphqlUrl" in dev.template["Outputs"]


# --- reconcile, on a schedule -------------------------------------------------------------------


def test_reconcile_runs_daily_with_a_dlq_for_failed_runs(dev: Synthesized) -> None:
    rule = dev.one("AWS::Events::Rule", Name=NAMES.of("reconcile-schedule"))["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 day)"
    (target,) = rule["Targets"]
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of("reconcile-dlq"))
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    props = function(dev, RECONCILE)["Properties"]
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}
    assert props["Timeout"] == 900


def test_reconcile_may_only_list_users_repair_items_destroy_keys_and_publish(
    dev: Synthesized,
) -> None:
    pool = dev.logical_id("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    keys = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of("reconcile-dlq"))
    assert _own(dev, RECONCILE) == {
        "cognito-idp:ListUsers": {"Fn::GetAtt": [pool, "Arn"]},
        "dynamodb:BatchGetItem": {"Fn::GetAtt": [table, "Arn"]},
        "dynamodb:Scan": {"Fn::GetAtt": [table, "Arn"]},  # items whose user is gone
        "dynamodb:UpdateItem": {"Fn::GetAtt": [table, "Arn"]},  # email change, tombstone
        "dynamodb:DeleteItem": {"Fn::GetAtt": [keys, "Arn"]},  # a deleted user's key
        "events:PutEvents": {"Fn::GetAtt": [bus, "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": [dlq, "Arn"]},  # its own DLQ, for failed runs
    }


@pytest.mark.parametrize(
    ("chosen", "expected"), [("cron(0 3 * * ? *)", "cron(0 3 * * ? *)"), ("off", None)]
)
def test_a_stage_may_change_or_turn_off_the_schedule(
    tmp_path: Any, chosen: str, expected: str | None
) -> None:
    from tests.infra.conftest import synthesize

    stack = synthesize(
        tmp_path, {"stage": "sched", "ephemeral": "true", "reconcileSchedule": chosen}
    )
    assert stack.error is None, stack.error
    schedules = [
        r["Properties"].get("ScheduleExpression")
        for r in stack.resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert schedules == ([expected] if expected else [])


def test_a_bad_schedule_stops_synth_with_a_clear_error() -> None:
    from infra.app import build_app
    from infra.parts.schedule import InvalidScheduleError

    with pytest.raises(InvalidScheduleError, match="reconcileSchedule='every day' is invalid"):
        build_app({"stage": "bad", "reconcileSchedule": "every day"})


def test_reconcile_errors_and_its_dlq_raise_alarms_to_the_alarm_topic(dev: Synthesized) -> None:
    topic = dev.logical_id("AWS::SNS::Topic", TopicName=f"userpipe-{NAMES.stage}-alarms")
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of("reconcile-dlq"))
    alarms = [a["Properties"] for a in dev.resources("AWS::CloudWatch::Alarm").values()]
    on_reconcile = {
        a["MetricName"]
        for a in alarms
        if {"Name": "FunctionName", "Value": {"Ref": function_id(dev, RECONCILE)}}
        in a.get("Dimensions", [])
        or {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
        in a.get("Dimensions", [])
    }
    assert on_reconcile == {"Errors", "ApproximateNumberOfMessagesVisible"}
    assert all(
        a["AlarmActions"] == [{"Ref": topic}] for a in alarms if a["MetricName"] in on_reconcile
    )


# --- a user's whole life: Cognito's calls, through CloudTrail, to user_sync ----------------------


def test_user_sync_may_only_read_the_user_repair_the_item_destroy_the_key_and_publish(
    dev: Synthesized,
) -> None:
    pool = dev.logical_id("AWS::Cognito::UserPool", UserPoolName=NAMES.of(USER_POOL.base_name))
    table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    keys = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(KEYS_TABLE.base_name))
    bus = dev.logical_id("AWS::Events::EventBus", Name=NAMES.of(BUS.base_name))
    queue = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(USER_SYNC_SUBSCRIPTION.queue))
    own = _own(dev, USER_SYNC)
    assert own.pop("cognito-idp:AdminGetUser") == {"Fn::GetAtt": [pool, "Arn"]}
    assert own.pop("cognito-idp:ListUsers") == {"Fn::GetAtt": [pool, "Arn"]}  # federated users
    assert own.pop("dynamodb:GetItem") == {"Fn::GetAtt": [table, "Arn"]}
    assert own.pop("dynamodb:UpdateItem") == {"Fn::GetAtt": [table, "Arn"]}
    assert own.pop("dynamodb:DeleteItem") == {"Fn::GetAtt": [keys, "Arn"]}
    assert own.pop("events:PutEvents") == {"Fn::GetAtt": [bus, "Arn"]}
    assert all(value == {"Fn::GetAtt": [queue, "Arn"]} for value in own.values())
    assert set(own) <= {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }


def test_cognitos_lifecycle_calls_reach_user_sync_from_the_default_bus(dev: Synthesized) -> None:
    rule = dev.one("AWS::Events::Rule", Name=NAMES.of(USER_SYNC_SUBSCRIPTION.rule))["Properties"]
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == USER_SYNC_PATTERN
    # The default bus is only referred to: never made (nor deleted) by the stack.
    assert [b["Properties"]["Name"] for b in dev.resources("AWS::Events::EventBus").values()] == [
        NAMES.of(BUS.base_name)
    ]
    (mapping,) = mappings_of(dev, USER_SYNC)
    queue = dev.logical_id("AWS::SQS::Queue", QueueName=NAMES.of(USER_SYNC_SUBSCRIPTION.queue))
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    # EventBridge may put on the queue only from this rule (the queue's policy).
    policies = [
        p["Properties"]
        for p in dev.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue} in p["Properties"]["Queues"]
    ]
    (policy,) = policies
    rule_id = dev.logical_id("AWS::Events::Rule", Name=NAMES.of(USER_SYNC_SUBSCRIPTION.rule))
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_a_stage_makes_a_trail_of_write_management_events_in_its_region(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    """EventBridge gets "AWS API Call via CloudTrail" events only while a trail logs: the
    stage's own, as small as that needs (``infra.parts.trail`` says why and what it costs)."""
    from contracts.names import USER_LIFECYCLE_CALLS

    # Every call user_sync follows changes state: a write event, not a List/Get/Describe.
    assert not [c for c in USER_LIFECYCLE_CALLS if c.startswith(("List", "Get", "Describe"))]
    for stack in (dev, ephemeral):
        (trail,) = stack.resources("AWS::CloudTrail::Trail").values()
        props = trail["Properties"]
        assert props["IsLogging"] is True
        assert props["IsMultiRegionTrail"] is False
        assert props["IncludeGlobalServiceEvents"] is False
        assert props["EventSelectors"] == [
            {"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}
        ]
        assert props["EnableLogFileValidation"] is True
        (bucket_id,) = stack.resources("AWS::S3::Bucket")
        assert props["S3BucketName"] == {"Ref": bucket_id}


def test_the_trails_bucket_is_private_encrypted_tls_only_expiring_and_outlives_the_stack(
    dev: Synthesized, ephemeral: Synthesized
) -> None:
    from infra.parts.trail import LOG_EXPIRY_DAYS

    for stack in (dev, ephemeral):
        ((bucket_id, bucket),) = stack.resources("AWS::S3::Bucket").items()
        props = bucket["Properties"]
        (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert len(props["PublicAccessBlockConfiguration"]) == 4
        (rule,) = props["LifecycleConfiguration"]["Rules"]
        assert rule["ExpirationInDays"] == LOG_EXPIRY_DAYS == 90
        assert rule["Status"] == "Enabled"
        # CloudFormation deletes only empty buckets, and CloudTrail writes until the end.
        assert bucket["DeletionPolicy"] == "Retain"
        assert "BucketName" not in props  # a redeploy makes a new one beside a kept one
        (policy,) = stack.resources("AWS::S3::BucketPolicy").values()
        assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        allowed = {json.dumps(s["Principal"]) for s in statements if s["Effect"] == "Allow"}
        assert allowed == {json.dumps({"Service": "cloudtrail.amazonaws.com"})}


def test_a_stage_in_an_account_with_a_trail_makes_none(tmp_path: Any) -> None:
    """``-c cloudTrail=existing``: a second trail would be a paid copy of every write call in
    the Region; the subscription on the default bus is there all the same."""
    from tests.infra.conftest import synthesize

    stack = synthesize(tmp_path, {"stage": "trailed", "cloudTrail": "existing"})
    assert stack.error is None, stack.error
    assert stack.resources("AWS::CloudTrail::Trail") == {}
    assert stack.resources("AWS::S3::Bucket") == {}
    names = ResourceNames("trailed")
    rule = stack.one("AWS::Events::Rule", Name=names.of(USER_SYNC_SUBSCRIPTION.rule))
    assert rule["Properties"]["EventBusName"] == "default"


def test_the_one_partition_index_alarms_when_it_throttles_the_tables_writes(
    dev: Synthesized,
) -> None:
    """``byLastChangedAt`` is one partition (bench/COST.md, about 500 user writes a second):
    when its writes are throttled, the table's are too, and the alarm topic hears of it."""
    topic = dev.logical_id("AWS::SNS::Topic", TopicName=f"userpipe-{NAMES.stage}-alarms")
    table = dev.logical_id("AWS::DynamoDB::Table", TableName=NAMES.of(USER_TABLE.base_name))
    (alarm,) = (
        a["Properties"]
        for a in dev.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "WriteThrottleEvents"
    )
    assert alarm["Namespace"] == "AWS/DynamoDB"
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "GlobalSecondaryIndexName", "Value": LAST_CHANGED_INDEX},
        {"Name": "TableName", "Value": {"Ref": table}},
    ]
    assert (alarm["Threshold"], alarm["Statistic"], alarm["AlarmActions"]) == (
        1,
        "Sum",
        [{"Ref": topic}],
    )
