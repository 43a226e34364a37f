"""DynamoDB tables as the declaration describes them, with what only AWS needs on top:
on-demand billing, encryption, point-in-time recovery and, in kept stages, deletion protection."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from contracts.topology import ResourceNames, StageResources, Table

_TYPES = {"S": "STRING", "N": "NUMBER"}


def make_table(
    scope: Construct,
    declared: Table,
    *,
    names: ResourceNames,
    retain: bool,
    resources: StageResources,
) -> dynamodb.Table:
    def key(name: str | None) -> dynamodb.Attribute | None:
        return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING) if name else None

    table = dynamodb.Table(
        scope,
        declared.id,
        table_name=names.of(declared.base_name),
        partition_key=key(declared.partition_key),
        sort_key=key(declared.sort_key),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        stream=dynamodb.StreamViewType(declared.stream) if declared.stream else None,
        time_to_live_attribute=declared.ttl_attribute,
        deletion_protection=retain,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
    )
    for index in declared.indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=dynamodb.Attribute(
                name=index.partition_key, type=dynamodb.AttributeType(_TYPES[index.partition_type])
            ),
            sort_key=dynamodb.Attribute(
                name=index.sort_key, type=dynamodb.AttributeType(_TYPES[index.sort_type])
            ),
            projection_type=dynamodb.ProjectionType.ALL,
        )
    resources.add(declared.id, name=table.table_name, arn=table.table_arn)
    if declared.stream:
        resources.add(declared.id, stream_arn=table.table_stream_arn)  # type: ignore[arg-type]
    return table
