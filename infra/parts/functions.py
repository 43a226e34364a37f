"""The one helper that makes userpipe's functions: Python on arm64, the dependency layer, JSON
logs into an explicit log group with retention (at the stage's ``logLevel``), X-Ray tracing
unless the stage turns it off (``-c tracing=off``), and a role of its own with no
managed policies: its source's wiring adds what reading the source needs, and ``grant_declared``
what the function's declaration grants it, once everything it names exists."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from contracts.topology import FunctionSpec, Layer, ResourceNames, Setting, StageResources
from infra.bundling import function_code
from infra.layer import CONTENTS, built_layer
from infra.parts.grants import grant_declared
from infra.parts.nag import acknowledge

#: Why a stage's functions and API may go untraced.
TRACING_OFF = "The stage turned X-Ray off (-c tracing=off), a cost choice: docs/deploy.md"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # keep equal to infra.layer.PYTHON_VERSION
ARCHITECTURE = lambda_.Architecture.ARM_64  # keep equal to infra.layer.PLATFORM


class FunctionFactory(Construct):
    """Owns the dependency layers, each made once the first function naming it is (a layer no
    function of the stage names is not deployed); ``make`` builds a function under the caller's
    construct."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        resources: StageResources,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        traced: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        #: Whether the stage traces with X-Ray (its functions, and the API: ``UserGraphqlApi``).
        self.traced = traced
        self._tracing = lambda_.Tracing.ACTIVE if traced else lambda_.Tracing.DISABLED
        self._system_log_level = system_log_level(resources(Setting("logLevel")) or "INFO")
        self._names = names
        self._resources = resources
        self._retention = log_retention(log_retention_days)
        self._removal_policy = removal_policy
        self._made: list[tuple[FunctionSpec, lambda_.Function]] = []
        self.layers: dict[Layer, lambda_.LayerVersion] = {}

    def layer(self, layer: Layer) -> lambda_.LayerVersion:
        if layer not in self.layers:
            self.layers[layer] = lambda_.LayerVersion(
                self,
                f"{layer.capitalize()}Layer",
                code=lambda_.Code.from_asset(str(built_layer(layer))),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=f"userpipe {layer} layer for arm64: "
                + ", ".join(sorted(CONTENTS[layer])),
            )
        return self.layers[layer]

    def make(
        self,
        scope: Construct,
        spec: FunctionSpec,
        *,
        invoked_by: str,
        async_dlq: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        """``invoked_by`` says who calls the function and where its failures go. A function
        invoked asynchronously (a schedule) gets ``async_dlq`` for the events it failed after
        Lambda's retries; for one only ever called synchronously, ``invoked_by`` is the reason
        it needs none. Its environment is the declared one, each reference resolved to what
        is built already."""
        name = self._names.function(spec)
        log_group = logs.LogGroup(
            scope,
            f"{spec.id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=self._retention,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            scope,
            f"{spec.id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: least privilege, written per function",
        )
        function = lambda_.Function(
            scope,
            spec.id,
            function_name=name,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=lambda_.Code.from_asset(str(function_code(spec))),
            layers=[self.layer(layer) for layer in spec.layers],
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            environment=self._resources.environment(spec),
            dead_letter_queue=async_dlq,
            tracing=self._tracing,
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=self._system_log_level,
            log_group=log_group,
            role=role,
        )
        log_group.grant_write(role)
        self._resources.add(spec.id, name=function.function_name, arn=function.function_arn)
        self._made.append((spec, function))
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Only actions with no resource-level form use '*': X-Ray PutTraceSegments and "
            "PutTelemetryRecords and, for a function reading a table's stream, "
            "dynamodb:ListStreams.",
        )
        if not self.traced:
            acknowledge(
                function.node.default_child,  # type: ignore[arg-type]
                "Serverless-LambdaTracing",
                TRACING_OFF,
            )
        if async_dlq is None:
            acknowledge(
                function.node.default_child,  # type: ignore[arg-type]
                "Serverless-LambdaDLQ",
                f"Never invoked asynchronously: {invoked_by}",
            )
        return function

    def grant_declared(self) -> None:
        """Give every function made its declared grants (``contracts.topology.Grant``); call
        it once every resource they name exists."""
        for spec, function in self._made:
            grant_declared(function, spec, self._resources)


def system_log_level(log_level: str) -> lambda_.SystemLogLevel:
    """Lambda's own lines (START, END, REPORT) at the stage's ``logLevel``: INFO sends them;
    WARN, which ERROR maps to (the system levels are DEBUG, INFO and WARN), drops them.

    The application's level is Powertools' alone (``POWERTOOLS_LOG_LEVEL``): it emits nothing
    below it. Lambda's application filter is left unset on purpose: it reads each JSON line's
    ``level`` and takes a value it does not know for INFO (Lambda developer guide, "Log-level
    filtering"), and Powertools writes Python's names, ``WARNING`` and ``CRITICAL``, which are
    not among Lambda's (TRACE, DEBUG, INFO, WARN, ERROR, FATAL): at WARN it would drop the
    warnings. Setting it would also set ``AWS_LAMBDA_LOG_LEVEL``, which overrides Powertools'
    level (powertools-lambda-python docs, "AWS Lambda Advanced Logging Controls")."""
    return {
        "DEBUG": lambda_.SystemLogLevel.DEBUG,
        "INFO": lambda_.SystemLogLevel.INFO,
    }.get(log_level, lambda_.SystemLogLevel.WARN)


_RETENTIONS = {
    0: logs.RetentionDays.INFINITE,
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTIONS:
        supported = ", ".join(str(d) for d in sorted(_RETENTIONS))
        raise ValueError(f"logRetentionDays={days} is not supported; use one of {supported}")
    return _RETENTIONS[days]
