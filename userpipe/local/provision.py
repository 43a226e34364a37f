"""Create the pipeline's resources on the emulator from ``contracts.topology`` — the same
declaration the CDK app builds from."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from contracts.topology import (
    ADMIN_GROUP,
    AUDIT_TABLE_KEY,
    PROJECTOR_PATTERN,
    PROJECTOR_SOURCE,
    USER_PROJECTOR,
    USER_TABLE_KEY,
    ResourceNames,
)
from userpipe.local.clients import Clients


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str


@dataclass(frozen=True)
class LocalResources:
    names: ResourceNames
    bus_arn: str
    archive_name: str
    projector_queue: Queue
    projector_dlq: Queue
    audit_dlq: Queue
    user_stream_arn: str
    user_pool_id: str
    app_client_id: str
    page_token_secret_arn: str


def provision(clients: Clients, names: ResourceNames) -> LocalResources:
    bus_arn = clients.events.create_event_bus(Name=names.event_bus)["EventBusArn"]
    clients.events.create_archive(ArchiveName=names.archive, EventSourceArn=bus_arn)

    projector_dlq = _queue(clients, names.projector_dlq, {})
    projector_queue = _queue(
        clients,
        names.projector_queue,
        {
            "VisibilityTimeout": str(PROJECTOR_SOURCE.visibility_timeout_seconds(USER_PROJECTOR)),
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": projector_dlq.arn,
                    "maxReceiveCount": PROJECTOR_SOURCE.max_receive_count,
                }
            ),
        },
    )
    clients.events.put_rule(
        Name=names.projector_rule,
        EventBusName=names.event_bus,
        EventPattern=json.dumps(PROJECTOR_PATTERN),
    )
    clients.events.put_targets(
        Rule=names.projector_rule,
        EventBusName=names.event_bus,
        Targets=[{"Id": "projector-queue", "Arn": projector_queue.arn}],
    )

    user_table = clients.dynamodb.create_table(
        TableName=names.user_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": USER_TABLE_KEY, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": USER_TABLE_KEY, "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    partition, sort = AUDIT_TABLE_KEY
    clients.dynamodb.create_table(
        TableName=names.audit_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": partition, "AttributeType": "S"},
            {"AttributeName": sort, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": sort, "KeyType": "RANGE"},
        ],
    )
    audit_dlq = _queue(clients, names.audit_dlq, {})

    pool_id = clients.cognito.create_user_pool(
        PoolName=names.user_pool,
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    clients.cognito.create_group(GroupName=ADMIN_GROUP, UserPoolId=pool_id)
    app_client_id = clients.cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{names.user_pool}-app",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]

    secret_arn = clients.secrets.create_secret(
        Name=names.page_token_secret, SecretString=secrets.token_urlsafe(48)
    )["ARN"]

    return LocalResources(
        names=names,
        bus_arn=bus_arn,
        archive_name=names.archive,
        projector_queue=projector_queue,
        projector_dlq=projector_dlq,
        audit_dlq=audit_dlq,
        user_stream_arn=user_table["TableDescription"]["LatestStreamArn"],
        user_pool_id=pool_id,
        app_client_id=app_client_id,
        page_token_secret_arn=secret_arn,
    )


def _queue(clients: Clients, name: str, attributes: dict[str, str]) -> Queue:
    url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return Queue(url=url, arn=arn["Attributes"]["QueueArn"])
