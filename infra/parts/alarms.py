"""Alarms and the encrypted SNS topic they notify (email subscription optional)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.topology import ResourceNames
from infra.parts.queues import dead_letter_queue


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Deleted with the stack in every stage (after KMS's waiting period): it encrypts
        # notifications in flight, nothing at rest, so a kept one would only be an orphan with
        # a monthly fee after each destroy.
        key = kms.Key(
            self,
            "TopicKey",
            description=f"Encrypts {names.stage} alarm notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to an encrypted topic only if the key lets it (not aws/sns).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"userpipe-{names.stage}-alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one, and enforce_ssl made one holding only the
        # deny-without-TLS statement: CloudWatch must be allowed to publish, or no alarm is ever
        # delivered (aws-facts, "SNS topic policies replace the default policy"). Scoped to this
        # account's alarms of this stack (their generated names start with the stack's name),
        # as the SNS developer guide's example for CloudWatch alarms does ("Amazon SNS access
        # control case examples": aws:SourceArn of the alarm and aws:SourceAccount). Every alarm
        # is named under the stack's name (``_alarm``) so the pattern holds by construction.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=f"{stack.stack_name}-*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        self._action = actions.SnsAction(self.topic)
        if email:
            undeliverable = dead_letter_queue(
                self, "EmailDlq", catches="alarm notifications SNS could not email"
            )
            self.topic.add_subscription(
                subscriptions.EmailSubscription(email, dead_letter_queue=undeliverable)
            )
            self.queue_not_empty(
                undeliverable, undeliverable, "the alarm email's dead-letter queue"
            )

    def queue_not_empty(self, scope: Construct, queue: sqs.Queue, what: str) -> cloudwatch.Alarm:
        metric = queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum"
        )
        return self._alarm(scope, "NotEmptyAlarm", metric, 1, f"{what} holds messages")

    def function_errors(self, scope: Construct, function: lambda_.Function) -> cloudwatch.Alarm:
        metric = function.metric_errors(period=Duration.minutes(5), statistic="Sum")
        return self._alarm(
            scope, "ErrorsAlarm", metric, 1, f"{function.node.id} invocations failed"
        )

    def iterator_age(
        self, scope: Construct, function: lambda_.Function, limit: Duration
    ) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name="IteratorAge",
            dimensions_map={"FunctionName": function.function_name},
            statistic="Maximum",
            period=Duration.minutes(1),
        )
        return self._alarm(
            scope,
            "IteratorAgeAlarm",
            metric,
            limit.to_milliseconds(),
            f"{function.node.id} is more than {limit.to_human_string()} behind its stream",
        )

    def index_write_throttles(
        self, scope: Construct, table: dynamodb.ITable, index: str
    ) -> cloudwatch.Alarm:
        """Writes a global secondary index could not take. An index that cannot keep up
        throttles the table's own writes ("GSI back pressure", DynamoDB developer guide), and
        ``byLastChangedAt``'s key is one partition (``__typename``): about 500 user writes a
        second (bench/COST.md). Its ``WriteThrottleEvents`` count only with both dimensions
        (DynamoDB's metrics: the table's name alone leaves its indexes out)."""
        metric = cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name="WriteThrottleEvents",
            dimensions_map={"TableName": table.table_name, "GlobalSecondaryIndexName": index},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        return self._alarm(
            scope,
            f"{index[0].upper()}{index[1:]}ThrottleAlarm",
            metric,
            1,
            f"writes to {index} were throttled: the table's writes wait on it (bench/COST.md)",
        )

    def _alarm(
        self,
        scope: Construct,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
    ) -> cloudwatch.Alarm:
        stack = Stack.of(scope)
        scopes = scope.node.scopes
        below_stack = [part.node.id for part in scopes[scopes.index(stack) + 1 :]]
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name="-".join([stack.stack_name, *below_stack, construct_id]),
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        return alarm
