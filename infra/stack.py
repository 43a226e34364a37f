"""userpipe as one stack, built from the declaration in ``contracts.topology``: the bus and its
archive, the tables, the user pool and its triggers (or an existing pool it does not own: ``-c
userPoolId=...``), every subscription the stage has (an optional one may be switched off) on our
bus or the account's default one, the CloudTrail trail that puts Cognito's calls on the default
bus (unless the account has one: ``-c cloudTrail=existing``), every consumer of a table's
stream, the GraphQL API, alarms, and the outputs of what it built.

What the declaration does not say — encryption, removal policies and alarms — is decided here,
per concern; each function's permissions are its declared grants (``infra.parts.grants``)."""

from __future__ import annotations

from typing import Literal

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from constructs import Construct

from contracts.topology import (
    BUS,
    CONFIRM_TRIGGER,
    SCHEDULES,
    STAGE,
    STREAM_CONSUMERS,
    TABLES,
    StageResources,
)
from infra.config import StageConfig
from infra.parts.alarms import Alarms
from infra.parts.api import UserGraphqlApi
from infra.parts.events import UserEvents
from infra.parts.functions import FunctionFactory, log_retention
from infra.parts.identity import Identity
from infra.parts.queues import dead_letter_queue
from infra.parts.schedule import ScheduledFunction, schedule_expression
from infra.parts.stream import STREAM_INVOKED, StreamConsumption
from infra.parts.subscription import SQS_INVOKED, EventSubscription
from infra.parts.tables import make_table
from infra.parts.trail import CognitoCallsTrail


class UserpipeStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        names, retain = config.names, not config.ephemeral
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.resources = StageResources(config.settings())
        self.resources.add(STAGE, name=config.stage)

        self.alarms = Alarms(self, "Alarms", names=names, email=config.alarm_email)
        self.functions = FunctionFactory(
            self,
            "Functions",
            names=names,
            resources=self.resources,
            log_retention_days=config.log_retention_days,
            removal_policy=removal,
            traced=config.tracing == "active",
        )
        self.events = UserEvents(
            self,
            "Events",
            names=names,
            archive_retention_days=config.archive_retention_days,
            retain=retain,
            resources=self.resources,
        )
        tables_scope = Construct(self, "Tables")
        self.tables: dict[str, dynamodb.Table] = {
            declared.id: make_table(
                tables_scope, declared, names=names, retain=retain, resources=self.resources
            )
            for declared in TABLES
        }
        for declared in TABLES:
            for index in declared.indexes:
                self.alarms.index_write_throttles(
                    tables_scope, self.tables[declared.id], index.name
                )

        trigger_scope = Construct(self, CONFIRM_TRIGGER.id)
        trigger = self.functions.make(
            trigger_scope,
            CONFIRM_TRIGGER,
            invoked_by="Cognito calls it synchronously and shows its errors to the client; "
            "reconcile repairs users whose event was not published.",
        )
        self.alarms.function_errors(trigger_scope, trigger)
        self.identity = Identity(
            self,
            "Identity",
            names=names,
            trigger=None if config.adopt else trigger,
            retain=retain,
            resources=self.resources,
            existing=config.existing_pool,
        )

        # Before the stream consumers: the change publisher's environment names its URL.
        self.api = UserGraphqlApi(
            self,
            "Api",
            names=names,
            user_pool=self.identity.user_pool,
            app_client=self.identity.client,
            functions=self.functions,
            alarms=self.alarms,
            log_retention=log_retention(config.log_retention_days),
            removal_policy=removal,
            resources=self.resources,
        )
        self._schedules(config)
        for subscription in self.resources.parts.subscriptions:
            scope = Construct(self, subscription.id)
            consumer = self.functions.make(scope, subscription.consumer, invoked_by=SQS_INVOKED)
            EventSubscription(
                scope,
                "Subscription",
                declared=subscription,
                names=names,
                bus=self._bus(subscription.bus),
                consumer=consumer,
                alarms=self.alarms,
                resources=self.resources,
            )
        for stream in STREAM_CONSUMERS:
            scope = Construct(self, stream.id)
            consumer = self.functions.make(scope, stream.consumer, invoked_by=STREAM_INVOKED)
            StreamConsumption(
                scope,
                "Stream",
                declared=stream,
                names=names,
                table=self.tables[stream.table.id],
                consumer=consumer,
                alarms=self.alarms,
                resources=self.resources,
            )

        self.trail = (
            CognitoCallsTrail(self, "CognitoCalls", names=names)
            if config.cloud_trail == "create"
            and any(s.bus == "default" for s in self.resources.parts.subscriptions)
            else None
        )

        self.functions.grant_declared()
        self._outputs()

    def _bus(self, declared: Literal["Bus", "default"]) -> events.IEventBus:
        """A subscription's bus: ours, or the account's default bus (where AWS services' events,
        CloudTrail's among them, arrive). The default bus always exists: it is referred to,
        never created or deleted."""
        if declared == BUS.id:
            return self.events.bus
        found = self.node.try_find_child("DefaultBus")
        if found is None:
            return events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        return found  # type: ignore[return-value]

    def _schedules(self, config: StageConfig) -> None:
        for declared in SCHEDULES:
            scope = Construct(self, declared.function.id)
            dlq = dead_letter_queue(
                scope,
                "Dlq",
                queue_name=config.names.of(declared.dlq.base_name),
                retention_days=declared.dlq.retention_days,
                catches=f"{declared.function.id} runs that failed after Lambda's retries, or "
                "that EventBridge could not deliver",
            )
            self.resources.add(
                declared.dlq.id, name=dlq.queue_name, url=dlq.queue_url, arn=dlq.queue_arn
            )
            self.alarms.queue_not_empty(scope, dlq, f"{declared.function.id}'s dead-letter queue")
            function = self.functions.make(
                scope,
                declared.function,
                invoked_by="its schedule (asynchronously); failures go to its DLQ.",
                async_dlq=dlq,
            )
            chosen = {"reconcileSchedule": config.reconcile_schedule}[declared.setting]
            expression = schedule_expression(declared, chosen)
            if expression:
                ScheduledFunction(
                    scope,
                    "Schedule",
                    declared=declared,
                    names=config.names,
                    expression=expression,
                    function=function,
                    dlq=dlq,
                    alarms=self.alarms,
                )
            else:
                self.alarms.function_errors(scope, function)

    def _outputs(self) -> None:
        for output in self.resources.parts.outputs:
            value = self.resources.output_value(output)
            if value is None:  # a setting left unset
                continue
            CfnOutput(
                self,
                output.name,
                value=value,
                # Exported so other stacks (and, shared by ARN, other accounts) can subscribe.
                export_name=f"{self.stack_name}-{output.name}" if output.exported else None,
            )
        CfnOutput(
            self,
            "UserConfirmedSchemaName",
            value=self.events.schema.attr_schema_name,
            export_name=f"{self.stack_name}-UserConfirmedSchemaName",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
