"""``EventSubscription``: how any function consumes events, as declared in
``contracts.topology.SUBSCRIPTIONS`` — userpipe's own from its bus (``UserConfirmed``, the
projector's user changes), or AWS's from the account's default bus (Cognito's calls, reported by
CloudTrail, to user_sync).

Each subscriber gets its own rule, queue and dead-letter queue, its own alarms and only the
permission to consume its own queue — so one failing consumer never holds up another. The
projector is simply the first subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Names
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.topology import (
    RULE_TARGET_MAX_EVENT_AGE_HOURS,
    RULE_TARGET_RETRY_ATTEMPTS,
    ResourceNames,
    StageResources,
    Subscription,
)
from infra.parts.alarms import Alarms
from infra.parts.nag import acknowledge
from infra.parts.queues import dead_letter_queue, encrypted_queue

SQS_INVOKED = (
    "its SQS event source; messages that keep failing move to the queue's dead-letter queue."
)


class EventSubscription(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declared: Subscription,
        names: ResourceNames,
        bus: events.IEventBus,
        consumer: lambda_.Function,
        alarms: Alarms,
        resources: StageResources,
    ) -> None:
        super().__init__(scope, construct_id)
        source = declared.source
        # One DLQ for both ways a message can fail here: EventBridge could not deliver it to
        # the queue, or the consumer failed it max_receive_count times. Both hold the same
        # EventBridge event, so both redrive into the queue alike.
        self.dlq = dead_letter_queue(
            self,
            "Dlq",
            queue_name=names.of(declared.dlq),
            retention_days=source.dlq_retention_days,
            catches=f"events {consumer.node.id} could not receive or process",
        )
        self.queue = encrypted_queue(
            self,
            "Queue",
            queue_name=names.of(declared.queue),
            visibility_timeout=Duration.seconds(
                source.visibility_timeout_seconds(declared.consumer)
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=source.max_receive_count, queue=self.dlq
            ),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=names.of(declared.rule),
            event_bus=bus,
            event_pattern=event_pattern(declared.pattern),
            description=f"{_described(declared.pattern)} -> {declared.consumer.id}'s queue",
            targets=[
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dlq,
                    retry_attempts=RULE_TARGET_RETRY_ATTEMPTS,
                    max_event_age=Duration.hours(RULE_TARGET_MAX_EVENT_AGE_HOURS),
                )
            ],
        )
        consumer.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=source.batch_size,
                max_batching_window=Duration.seconds(source.max_batching_window_seconds),
                report_batch_item_failures=True,
                max_concurrency=source.max_concurrency,
            )
        )
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
        for suffix, queue in (("Queue", self.queue), ("Dlq", self.dlq)):
            resources.add(
                f"{declared.id}{suffix}",
                name=queue.queue_name,
                url=queue.queue_url,
                arn=queue.queue_arn,
            )
        resources.add(f"{declared.id}Rule", name=self.rule.rule_name, arn=self.rule.rule_arn)


def event_pattern(declared: Mapping[str, object]) -> events.EventPattern:
    """The declared pattern (EventBridge's JSON form) as CDK takes it, field for field."""
    fields = {"source": "source", "detail-type": "detail_type", "detail": "detail"}
    unknown = set(declared) - set(fields)
    if unknown:
        raise ValueError(f"pattern fields {sorted(unknown)} are not mapped to CDK's EventPattern")
    given: dict[str, Any] = {fields[key]: value for key, value in declared.items()}
    return events.EventPattern(**given)


def _described(pattern: Mapping[str, object]) -> str:
    detail_types = pattern.get("detail-type")
    return ", ".join(detail_types) if isinstance(detail_types, list) else "events"
