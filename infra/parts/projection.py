"""The User table and the projector that fills it from its ``UserConfirmed`` subscription."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from contracts.topology import PROJECTOR_SOURCE, USER_PROJECTOR, USER_TABLE_KEY, ResourceNames
from infra.parts.alarms import Alarms
from infra.parts.functions import FunctionFactory
from infra.parts.subscription import SQS_INVOKED, UserConfirmedSubscription


class UserProjection(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        bus: events.IEventBus,
        functions: FunctionFactory,
        alarms: Alarms,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "UserTable",
            table_name=names.user_table,
            partition_key=dynamodb.Attribute(
                name=USER_TABLE_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=retain,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.function = functions.make(self, USER_PROJECTOR, invoked_by=SQS_INVOKED)
        # Create-if-absent is a conditional PutItem; the projector needs nothing else here.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[self.table.table_arn])
        )
        self.subscription = UserConfirmedSubscription(
            self,
            "Subscription",
            bus=bus,
            consumer=self.function,
            alarms=alarms,
            source=PROJECTOR_SOURCE,
            queue_name=names.projector_queue,
            dlq_name=names.projector_dlq,
            rule_name=names.projector_rule,
        )
