"""A function run on a schedule (``contracts.topology.SCHEDULES``): an EventBridge rule on the
default bus invokes it asynchronously. An invocation EventBridge could not deliver goes to the
target's DLQ, one the function failed after Lambda's two retries to the function's own DLQ —
one queue for both, with an alarm, like every DLQ here."""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.topology import ResourceNames, Schedule
from infra.parts.alarms import Alarms

_EXPRESSION = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")


class InvalidScheduleError(ValueError):
    def __init__(self, setting: str, value: str) -> None:
        super().__init__(
            f"context {setting}={value!r} is invalid: expected rate(...), cron(...) or off"
        )


def schedule_expression(declared: Schedule, chosen: str | None) -> str | None:
    """The stage's expression for ``declared``: ``None`` when turned ``off``."""
    value = (chosen or declared.expression).strip()
    if value == "off":
        return None
    if not _EXPRESSION.match(value):
        raise InvalidScheduleError(declared.setting, value)
    return value


class ScheduledFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declared: Schedule,
        names: ResourceNames,
        expression: str,
        function: lambda_.Function,
        dlq: sqs.IQueue,
        alarms: Alarms,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=names.of(f"{declared.function.service.replace('_', '-')}-schedule"),
            schedule=events.Schedule.expression(expression),
            description=f"Runs {declared.function.id} ({expression})",
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=dlq,
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                )
            ],
        )
        alarms.function_errors(self, function)
