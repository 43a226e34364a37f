"""A table's stream consumed by a function, as declared in ``contracts.topology``: batches
with bisection on error, bounded retries, partial failures and an on-failure queue, plus alarms
on errors, on the on-failure queue and on the iterator age."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from contracts.topology import ResourceNames, StageResources, StreamConsumer
from infra.parts.alarms import Alarms
from infra.parts.queues import dead_letter_queue

STREAM_INVOKED = (
    "its stream event source; records that keep failing go to the mapping's on-failure queue."
)
ITERATOR_AGE_LIMIT = Duration.minutes(5)


class StreamConsumption(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declared: StreamConsumer,
        names: ResourceNames,
        table: dynamodb.Table,
        consumer: lambda_.Function,
        alarms: Alarms,
        resources: StageResources,
    ) -> None:
        super().__init__(scope, construct_id)
        source = declared.source
        self.dlq = dead_letter_queue(
            self,
            "OnFailureQueue",
            queue_name=names.of(declared.on_failure.base_name),
            retention_days=declared.on_failure.retention_days,
            catches=f"the stream records {consumer.node.id} failed after every retry",
        )
        consumer.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition(source.starting_position),
                batch_size=source.batch_size,
                max_batching_window=Duration.seconds(source.max_batching_window_seconds),
                bisect_batch_on_error=source.bisect_batch_on_error,
                retry_attempts=source.max_retry_attempts,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dlq),
            )
        )
        alarms.queue_not_empty(self, self.dlq, f"{consumer.node.id}'s on-failure queue")
        alarms.function_errors(self, consumer)
        alarms.iterator_age(self, consumer, ITERATOR_AGE_LIMIT)
        resources.add(
            declared.on_failure.id,
            name=self.dlq.queue_name,
            url=self.dlq.queue_url,
            arn=self.dlq.queue_arn,
        )
