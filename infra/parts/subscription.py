"""``UserConfirmedSubscription``: how any function consumes ``UserConfirmed``.

Each subscriber gets its own rule, queue and dead-letter queue, its own alarms and only the
permission to consume its own queue — so one failing consumer never holds up another. The
projector is simply the first subscriber.
"""

from __future__ import annotations

from aws_cdk import Duration, Names
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.names import USER_CONFIRMED_PATTERN
from contracts.topology import (
    RULE_TARGET_MAX_EVENT_AGE_HOURS,
    RULE_TARGET_RETRY_ATTEMPTS,
    SUBSCRIBER_SOURCE,
    QueueSource,
)
from infra.parts.alarms import Alarms
from infra.parts.nag import acknowledge
from infra.parts.queues import dead_letter_queue, encrypted_queue

SQS_INVOKED = (
    "its SQS event source; messages that keep failing move to the queue's dead-letter queue."
)


def user_confirmed_pattern() -> events.EventPattern:
    """The contract's pattern as CDK wants it (a test holds the template to the contract)."""
    return events.EventPattern(
        source=USER_CONFIRMED_PATTERN["source"],
        detail_type=USER_CONFIRMED_PATTERN["detail-type"],
    )


class UserConfirmedSubscription(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        consumer: lambda_.Function,
        alarms: Alarms,
        source: QueueSource = SUBSCRIBER_SOURCE,
        queue_name: str | None = None,
        dlq_name: str | None = None,
        rule_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout = consumer.timeout or Duration.seconds(3)
        # One DLQ for both ways a message can fail here: EventBridge could not deliver it to
        # the queue, or the consumer failed it max_receive_count times. Both hold the same
        # EventBridge event, so both redrive into the queue alike.
        self.dlq = dead_letter_queue(
            self,
            "Dlq",
            queue_name=dlq_name,
            retention_days=source.dlq_retention_days,
            catches=f"UserConfirmed events {consumer.node.id} could not receive or process",
        )
        self.queue = encrypted_queue(
            self,
            "Queue",
            queue_name=queue_name,
            visibility_timeout=Duration.seconds(
                source.visibility_timeout_factor * int(timeout.to_seconds())
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=source.max_receive_count, queue=self.dlq
            ),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=rule_name,
            event_bus=bus,
            event_pattern=user_confirmed_pattern(),
            description="UserConfirmed -> this subscriber's queue",
            targets=[
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dlq,
                    retry_attempts=RULE_TARGET_RETRY_ATTEMPTS,
                    max_event_age=Duration.hours(RULE_TARGET_MAX_EVENT_AGE_HOURS),
                )
            ],
        )
        event_source = sources.SqsEventSource(
            self.queue,
            batch_size=source.batch_size,
            max_batching_window=Duration.seconds(source.max_batching_window_seconds),
            report_batch_item_failures=True,
            max_concurrency=source.max_concurrency,
        )
        consumer.add_event_source(event_source)
        mapping = consumer.node.find_child(
            f"SqsEventSource:{Names.node_unique_id(self.queue.node)}"
        )
        acknowledge(
            mapping.node.default_child,  # type: ignore[arg-type]
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS mappings take no on-failure destination: the queue's redrive policy moves "
            "failing messages to the dead-letter queue.",
        )
        alarms.queue_not_empty(self, self.dlq, f"{consumer.node.id}'s dead-letter queue")
        alarms.function_errors(self, consumer)
