"""DynamoDB tables as the declaration describes them, with what only AWS needs on top:
on-demand billing, encryption, point-in-time recovery and, in kept stages, deletion protection.

Point-in-time recovery is also how long erased personal data can still be brought back: a
restore to a moment before a user's deletion returns their data key (``UserKeys``: the sealed
copies of their profile become readable again) and their item's email, name and age (``User``).
So ``PITR_RECOVERY_DAYS`` is the bounded retention of a deleted user's data; shorten it here
(DynamoDB takes 1 to 35 days) if erasure must be final sooner. A restored table must have the
users deleted since its restore point erased again (their ``UserDeleted`` events say who)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from contracts.topology import ResourceNames, StageResources, Table

_TYPES = {"S": "STRING", "N": "NUMBER"}
#: DynamoDB's longest (and default) recovery window: 1 to 35 days ("Point-in-time recovery",
#: DynamoDB developer guide). It bounds how long a deleted user's key and values can come back.
PITR_RECOVERY_DAYS = 35


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
            point_in_time_recovery_enabled=True, recovery_period_in_days=PITR_RECOVERY_DAYS
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
