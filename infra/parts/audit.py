"""The Audit table and the stream consumer that appends to it."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from contracts.topology import (
    AUDIT_SOURCE,
    AUDIT_TABLE_KEY,
    AUDIT_TRAIL,
    AUDIT_TTL_ATTRIBUTE,
    ResourceNames,
)
from infra.parts.alarms import Alarms
from infra.parts.functions import FunctionFactory
from infra.parts.queues import dead_letter_queue

ITERATOR_AGE_LIMIT = Duration.minutes(5)


class AuditTrail(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        user_table: dynamodb.Table,
        functions: FunctionFactory,
        alarms: Alarms,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        partition, sort = AUDIT_TABLE_KEY
        self.table = dynamodb.Table(
            self,
            "AuditTable",
            table_name=names.audit_table,
            partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=AUDIT_TTL_ATTRIBUTE,
            deletion_protection=retain,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.dlq = dead_letter_queue(
            self,
            "OnFailureQueue",
            queue_name=names.audit_dlq,
            catches="the stream records the audit trail failed after every retry",
        )
        self.function = functions.make(
            self,
            AUDIT_TRAIL,
            invoked_by="its stream event source; records that keep failing go to the "
            "mapping's on-failure queue.",
        )
        # Append-only: a conditional PutItem; never update or delete.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[self.table.table_arn])
        )
        self.function.add_event_source(
            sources.DynamoEventSource(
                user_table,
                starting_position=lambda_.StartingPosition(AUDIT_SOURCE.starting_position),
                batch_size=AUDIT_SOURCE.batch_size,
                max_batching_window=Duration.seconds(AUDIT_SOURCE.max_batching_window_seconds),
                bisect_batch_on_error=AUDIT_SOURCE.bisect_batch_on_error,
                retry_attempts=AUDIT_SOURCE.max_retry_attempts,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dlq),
            )
        )
        alarms.queue_not_empty(self, self.dlq, "the audit trail's on-failure queue")
        alarms.function_errors(self, self.function)
        alarms.iterator_age(self, self.function, ITERATOR_AGE_LIMIT)
