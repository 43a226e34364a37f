"""Create a stage's resources on the emulator from ``contracts.topology`` — the declaration the
CDK app builds from, with the optional parts the stage's settings switch off left out — and
record what each reference resolves to (a ``StageResources``)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from contracts.topology import (
    ARCHIVE,
    BUS,
    RULE_TARGET_MAX_EVENT_AGE_HOURS,
    RULE_TARGET_RETRY_ATTEMPTS,
    SCHEDULES,
    SECRETS,
    STAGE,
    STREAM_CONSUMERS,
    TABLES,
    USER_POOL,
    ResourceNames,
    StageResources,
    Table,
)
from userpipe.aws.clients import REGION, Clients
from userpipe.local.sandbox import function_arn

SECONDS_PER_DAY = 86_400
#: The pre token generation event version ``infra/parts/identity.py`` attaches the trigger with:
#: V1_0, whose events the function returns unchanged (V2_0 and V3_0 need a paid feature plan).
PRE_TOKEN_GENERATION_VERSION = "V1_0"  # noqa: S105 - an event version


def provision(
    clients: Clients, names: ResourceNames, settings: Mapping[str, str]
) -> StageResources:
    resources = StageResources(settings)
    resources.add(STAGE, name=names.stage)
    bus = clients.events.create_event_bus(Name=names.of(BUS.base_name))
    resources.add(BUS.id, name=names.of(BUS.base_name), arn=bus["EventBusArn"])
    archive = clients.events.create_archive(
        ArchiveName=names.of(ARCHIVE.base_name),
        EventSourceArn=bus["EventBusArn"],
        EventPattern=json.dumps(ARCHIVE.pattern),
    )
    resources.add(ARCHIVE.id, name=names.of(ARCHIVE.base_name), arn=archive["ArchiveArn"])

    for table in TABLES:
        _table(clients, names, table, resources)

    for secret in SECRETS:
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(secret.length))
        arn = clients.secrets.create_secret(
            Name=names.of(secret.base_name), Description=secret.description, SecretString=value
        )["ARN"]
        resources.add(secret.id, arn=arn, name=names.of(secret.base_name))

    for subscription in resources.parts.subscriptions:
        source = subscription.source
        dlq = _queue(
            clients,
            names.of(subscription.dlq),
            {"MessageRetentionPeriod": str(source.dlq_retention_days * SECONDS_PER_DAY)},
        )
        queue = _queue(
            clients,
            names.of(subscription.queue),
            {
                "VisibilityTimeout": str(source.visibility_timeout_seconds(subscription.consumer)),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": source.max_receive_count}
                ),
            },
        )
        resources.add(f"{subscription.id}Dlq", **dlq)
        resources.add(f"{subscription.id}Queue", **queue)
        rule_name = names.of(subscription.rule)
        # Ours, or the account's default bus, where AWS services' events arrive (CloudTrail's).
        bus_name = names.of(BUS.base_name) if subscription.bus == BUS.id else "default"
        rule_arn = clients.events.put_rule(
            Name=rule_name,
            EventBusName=bus_name,
            EventPattern=json.dumps(subscription.pattern),
            Description=f"{subscription.id}: events -> {subscription.consumer.id}'s queue",
        )["RuleArn"]
        clients.events.put_targets(
            Rule=rule_name,
            EventBusName=bus_name,
            Targets=[
                {
                    "Id": "queue",
                    "Arn": queue["arn"],
                    "DeadLetterConfig": {"Arn": dlq["arn"]},
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RULE_TARGET_RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": RULE_TARGET_MAX_EVENT_AGE_HOURS * 3600,
                    },
                }
            ],
        )
        resources.add(f"{subscription.id}Rule", name=rule_name, arn=rule_arn)

    # Dead-letter queues of their own: the stream's on-failure queue, each schedule's DLQ (the
    # local stack runs no schedules; their DLQ exists all the same, as in AWS).
    for dead in [stream.on_failure for stream in STREAM_CONSUMERS] + [s.dlq for s in SCHEDULES]:
        retention = {"MessageRetentionPeriod": str(dead.retention_days * SECONDS_PER_DAY)}
        resources.add(dead.id, **_queue(clients, names.of(dead.base_name), retention))

    _user_pool(clients, names, resources)
    return resources


def _table(clients: Clients, names: ResourceNames, table: Table, resources: StageResources) -> None:
    description = create_table(clients, names, table)
    resources.add(table.id, name=names.of(table.base_name), arn=description["TableArn"])
    if table.stream:
        resources.add(table.id, stream_arn=description["LatestStreamArn"])


def create_table(clients: Clients, names: ResourceNames, table: Table) -> dict[str, Any]:
    """``table`` as declared (keys, stream, TTL, indexes); its description."""
    keys = [(table.partition_key, "HASH")] + ([(table.sort_key, "RANGE")] if table.sort_key else [])
    request: dict[str, Any] = {
        "TableName": names.of(table.base_name),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
    }
    if table.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream}
    if table.indexes:
        defined = {name for name, _ in keys}
        for index in table.indexes:
            for name, kind in (
                (index.partition_key, index.partition_type),
                (index.sort_key, index.sort_type),
            ):
                if name not in defined:
                    defined.add(name)
                    request["AttributeDefinitions"].append(
                        {"AttributeName": name, "AttributeType": kind}
                    )
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    description = clients.dynamodb.create_table(**request)["TableDescription"]
    if table.ttl_attribute:
        clients.dynamodb.update_time_to_live(
            TableName=names.of(table.base_name),
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
    result: Any = description
    return dict(result)


def _queue(clients: Clients, name: str, attributes: dict[str, str]) -> dict[str, str]:
    url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return {"name": name, "url": url, "arn": arn["Attributes"]["QueueArn"]}


def lambda_config(names: ResourceNames) -> dict[str, Any]:
    """The pool's triggers as ``infra/parts/identity.py`` attaches them: ``PostConfirmation``,
    and pre token generation in ``PreTokenGenerationConfig`` (``LambdaArn`` and
    ``LambdaVersion``), not in the legacy ``PreTokenGeneration`` field (the CDK's
    ``PRE_TOKEN_GENERATION_CONFIG`` operation; ``tests/infra/test_stack.py`` holds the
    template to it). Each names its function by the ARN the local stack gives it, so the local
    Cognito runs whatever the pool names, as Cognito does (``userpipe.local.cognito``)."""
    config: dict[str, Any] = {
        "PostConfirmation": function_arn(REGION, names.function(USER_POOL.post_confirmation))
    }
    if USER_POOL.pre_token_generation is not None:
        config["PreTokenGenerationConfig"] = {
            "LambdaArn": function_arn(REGION, names.function(USER_POOL.pre_token_generation)),
            "LambdaVersion": PRE_TOKEN_GENERATION_VERSION,
        }
    return config


def _user_pool(clients: Clients, names: ResourceNames, resources: StageResources) -> None:
    pool = clients.cognito.create_user_pool(
        PoolName=names.of(USER_POOL.base_name),
        UsernameAttributes=list(USER_POOL.sign_in_aliases),
        AutoVerifiedAttributes=list(USER_POOL.auto_verified),
        Schema=[
            {"Name": name, "AttributeDataType": "String", "Required": True, "Mutable": True}
            for name in USER_POOL.required_attributes
        ],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": USER_POOL.password.min_length,
                "RequireUppercase": USER_POOL.password.require_uppercase,
                "RequireLowercase": USER_POOL.password.require_lowercase,
                "RequireNumbers": USER_POOL.password.require_digits,
                "RequireSymbols": USER_POOL.password.require_symbols,
            }
        },
        AccountRecoverySetting={"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
        LambdaConfig=lambda_config(names),  # type: ignore[arg-type]
    )["UserPool"]
    for group in USER_POOL.groups:
        clients.cognito.create_group(
            GroupName=group.name, UserPoolId=pool["Id"], Description=group.description
        )
    client = clients.cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=names.of(USER_POOL.client_base_name),
        GenerateSecret=False,
        ExplicitAuthFlows=list(USER_POOL.auth_flows),  # type: ignore[arg-type]
        PreventUserExistenceErrors="ENABLED",
        # Also what makes moto put the user's email in an SRP sign-in's ID token: without
        # readable attributes it writes the username (the sub, in this pool) as `email`
        # (moto 5.2.5 CognitoIdpUserPool.create_jwt).
        ReadAttributes=list(USER_POOL.read_attributes),
    )["UserPoolClient"]
    resources.add(
        USER_POOL.id,
        id=pool["Id"],
        arn=pool["Arn"],
        name=names.of(USER_POOL.base_name),
        client_id=client["ClientId"],
    )
