"""The one way userpipe makes SQS queues: SSE-SQS encrypted, TLS only. Dead-letter queues say
what they catch, which is also the reason their cdk-nag 'no DLQ of its own' findings are
acknowledged."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.parts.nag import acknowledge

DLQ_RETENTION_DAYS = 14


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    *,
    queue_name: str | None = None,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
    retention: Duration | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
        retention_period=retention,
    )


def dead_letter_queue(
    scope: Construct,
    construct_id: str,
    *,
    catches: str,
    queue_name: str | None = None,
    retention_days: int = DLQ_RETENTION_DAYS,
) -> sqs.Queue:
    """A queue that holds what failed elsewhere (``catches`` says what) for inspection and
    redrive; it has no dead-letter queue of its own."""
    queue = encrypted_queue(
        scope, construct_id, queue_name=queue_name, retention=Duration.days(retention_days)
    )
    for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
        acknowledge(queue, rule, f"This queue is itself a dead-letter queue: it holds {catches}.")
    return queue
