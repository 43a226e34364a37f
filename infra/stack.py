"""userpipe as one stack: identity, events, projection, audit, alarms, one example consumer."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts.topology import CONFIRM_TRIGGER, WELCOME_NOTIFIER
from infra.config import StageConfig
from infra.parts.alarms import Alarms
from infra.parts.api import UserGraphqlApi
from infra.parts.audit import AuditTrail
from infra.parts.events import UserEvents
from infra.parts.functions import FunctionFactory, log_retention
from infra.parts.identity import Identity
from infra.parts.projection import UserProjection
from infra.parts.subscription import SQS_INVOKED, UserConfirmedSubscription


class UserpipeStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        names, retain = config.names, not config.ephemeral
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self.alarms = Alarms(
            self, "Alarms", names=names, email=config.alarm_email, removal_policy=removal
        )
        self.functions = FunctionFactory(
            self,
            "Functions",
            names=names,
            configured={
                "AUDIT_RETENTION_DAYS": str(config.audit_retention_days or ""),
                "WELCOME_SENDER": config.welcome_sender,
            },
            log_retention_days=config.log_retention_days,
            removal_policy=removal,
        )
        self.events = UserEvents(
            self, "Events", names=names, archive_retention_days=config.archive_retention_days
        )

        trigger_scope = Construct(self, "ConfirmTrigger")
        trigger = self.functions.make(
            trigger_scope,
            CONFIRM_TRIGGER,
            invoked_by="Cognito calls it synchronously and shows its errors to the client; "
            "reconcile repairs users whose event was not published.",
        )
        self.events.bus.grant_put_events_to(trigger)  # events:PutEvents on this bus, nothing else
        self.alarms.function_errors(trigger_scope, trigger)
        self.identity = Identity(self, "Identity", names=names, trigger=trigger, retain=retain)

        self.projection = UserProjection(
            self,
            "Projection",
            names=names,
            bus=self.events.bus,
            functions=self.functions,
            alarms=self.alarms,
            retain=retain,
        )
        self.audit = AuditTrail(
            self,
            "Audit",
            names=names,
            user_table=self.projection.table,
            functions=self.functions,
            alarms=self.alarms,
            retain=retain,
        )
        self.api = UserGraphqlApi(
            self,
            "Api",
            names=names,
            user_pool=self.identity.user_pool,
            user_table=self.projection.table,
            audit_table=self.audit.table,
            functions=self.functions,
            alarms=self.alarms,
            log_retention=log_retention(config.log_retention_days),
            removal_policy=removal,
        )
        self.welcome = self._welcome_notifier(config)
        self._outputs(config)

    def _welcome_notifier(self, config: StageConfig) -> lambda_.Function:
        """The example consumer: a function plus ``UserConfirmedSubscription``, nothing else."""
        scope = Construct(self, "WelcomeNotifier")
        function = self.functions.make(scope, WELCOME_NOTIFIER, invoked_by=SQS_INVOKED)
        sender_domain = config.welcome_sender.split("@", 1)[-1]
        function.add_to_role_policy(_ses_send_policy(self, config.welcome_sender, sender_domain))
        UserConfirmedSubscription(
            scope, "Subscription", bus=self.events.bus, consumer=function, alarms=self.alarms
        )
        return function

    def _outputs(self, config: StageConfig) -> None:
        prefix = f"userpipe-{config.stage}"
        outputs = {
            "UserPoolId": self.identity.user_pool.user_pool_id,
            "AppClientId": self.identity.client.user_pool_client_id,
            "EventBusName": self.events.bus.event_bus_name,
            "ArchiveName": self.events.archive.archive_name,
            "UserTableName": self.projection.table.table_name,
            "AuditTableName": self.audit.table.table_name,
            "ProjectorDlqUrl": self.projection.subscription.dlq.queue_url,
            "AuditDlqUrl": self.audit.dlq.queue_url,
            "AlarmTopicArn": self.alarms.topic.topic_arn,
            "GraphqlUrl": self.api.api.graphql_url,
            "GraphqlApiId": self.api.api.api_id,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        # Exported so other stacks (and, shared by ARN, other accounts) can subscribe.
        CfnOutput(
            self,
            "EventBusArn",
            value=self.events.bus.event_bus_arn,
            export_name=f"{prefix}-EventBusArn",
        )
        CfnOutput(
            self,
            "UserConfirmedSchemaName",
            value=self.events.schema.attr_schema_name,
            export_name=f"{prefix}-UserConfirmedSchemaName",
        )


def _ses_send_policy(scope: Construct, sender: str, domain: str) -> iam.PolicyStatement:
    stack = Stack.of(scope)
    identities = [
        stack.format_arn(service="ses", resource="identity", resource_name=sender),
        stack.format_arn(service="ses", resource="identity", resource_name=domain),
    ]
    return iam.PolicyStatement(
        actions=["ses:SendEmail"],
        resources=identities,
        conditions={"StringEquals": {"ses:FromAddress": sender}},
    )
