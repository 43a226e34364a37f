"""The one declaration of userpipe's names and wiring, read by infra and by the local stack.

Resource names, the event pattern, batch sizes, receive counts and timeouts are declared here
once. The CDK app builds from it, the local stack runs from it, and a test holds the
synthesized template against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from contracts.names import USER_CONFIRMED_PATTERN

PROJECT: Final = "userpipe"
ADMIN_GROUP: Final = "Admin"
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


class InvalidStageError(ValueError):
    def __init__(self, stage: str) -> None:
        super().__init__(
            f"stage {stage!r} is invalid: use 1-16 lowercase letters, digits or '-', "
            "starting with a letter"
        )


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: where its code is and how it runs."""

    id: str
    package: str  # the service package, e.g. services.confirm_trigger
    timeout_seconds: int
    memory_mb: int
    settings: tuple[str, ...]  # environment variables the function requires
    optional_settings: tuple[str, ...] = ()

    @property
    def handler(self) -> str:
        return f"{self.package}.handler.lambda_handler"

    @property
    def source_dir(self) -> str:
        return self.package.replace(".", "/")


@dataclass(frozen=True)
class QueueSource:
    """EventBridge rule -> SQS queue (+DLQ) -> Lambda."""

    batch_size: int
    max_batching_window_seconds: int
    max_receive_count: int  # deliveries before a message moves to the DLQ
    max_concurrency: int
    visibility_timeout_factor: int  # x the consumer's timeout (AWS advises at least 6)
    dlq_retention_days: int

    def visibility_timeout_seconds(self, consumer: FunctionSpec) -> int:
        return self.visibility_timeout_factor * consumer.timeout_seconds


@dataclass(frozen=True)
class StreamSource:
    """DynamoDB stream -> Lambda, with bisection, bounded retries and an on-failure DLQ."""

    batch_size: int
    max_batching_window_seconds: int
    max_retry_attempts: int
    bisect_batch_on_error: bool
    starting_position: str


CONFIRM_TRIGGER: Final = FunctionSpec(
    id="ConfirmTrigger",
    package="services.confirm_trigger",
    timeout_seconds=5,  # Cognito waits 5 s at most; the client gives up within 4 s
    memory_mb=256,
    settings=("EVENT_BUS_NAME",),
)
USER_PROJECTOR: Final = FunctionSpec(
    id="UserProjector",
    package="services.user_projector",
    timeout_seconds=30,
    memory_mb=256,
    settings=("USER_TABLE_NAME",),
)
AUDIT_TRAIL: Final = FunctionSpec(
    id="AuditTrail",
    package="services.audit_trail",
    timeout_seconds=30,
    memory_mb=256,
    settings=("AUDIT_TABLE_NAME",),
    optional_settings=("AUDIT_RETENTION_DAYS",),
)
USER_API: Final = FunctionSpec(
    id="UserApi",
    package="services.user_api",
    timeout_seconds=10,
    memory_mb=512,  # more memory, more CPU: a shorter cold start for interactive calls
    settings=("USER_TABLE_NAME", "AUDIT_TABLE_NAME", "PAGE_TOKEN_SECRET_ARN", "ADMIN_GROUP"),
)
#: The example consumer shipped to show ``UserConfirmedSubscription``.
WELCOME_NOTIFIER: Final = FunctionSpec(
    id="WelcomeNotifier",
    package="services.welcome_notifier",
    timeout_seconds=20,
    memory_mb=256,
    settings=("WELCOME_SENDER",),
)
#: The pipeline's own functions (what the local stack runs).
FUNCTIONS: Final = (CONFIRM_TRIGGER, USER_PROJECTOR, AUDIT_TRAIL, USER_API)

PROJECTOR_SOURCE: Final = QueueSource(
    batch_size=10,
    max_batching_window_seconds=1,
    max_receive_count=5,
    max_concurrency=5,
    visibility_timeout_factor=6,
    dlq_retention_days=14,
)
AUDIT_SOURCE: Final = StreamSource(
    batch_size=100,
    max_batching_window_seconds=1,
    max_retry_attempts=5,
    bisect_batch_on_error=True,
    starting_position="TRIM_HORIZON",
)

#: What the projector's rule matches; every other consumer subscribes with the same pattern.
PROJECTOR_PATTERN: Final = USER_CONFIRMED_PATTERN
#: Extra consumers' queues, unless they ask otherwise.
SUBSCRIBER_SOURCE: Final = QueueSource(
    batch_size=10,
    max_batching_window_seconds=1,
    max_receive_count=5,
    max_concurrency=2,
    visibility_timeout_factor=6,
    dlq_retention_days=14,
)
#: A failed delivery from a rule to its queue is retried this long, then goes to the rule's DLQ.
RULE_TARGET_MAX_EVENT_AGE_HOURS: Final = 24
RULE_TARGET_RETRY_ATTEMPTS: Final = 185

USER_TABLE_KEY: Final = "id"
AUDIT_TABLE_KEY: Final = ("userId", "auditId")
AUDIT_TTL_ATTRIBUTE: Final = "expiresAt"


@dataclass(frozen=True)
class ResourceNames:
    """Physical names for one stage; infra and the local stack both name things this way."""

    stage: str

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise InvalidStageError(self.stage)

    def _name(self, base: str) -> str:
        return f"{PROJECT}-{self.stage}-{base}"

    @property
    def event_bus(self) -> str:
        return self._name("users")

    @property
    def archive(self) -> str:
        return self._name("users-archive")

    @property
    def projector_rule(self) -> str:
        return self._name("user-confirmed-to-projector")

    @property
    def projector_queue(self) -> str:
        return self._name("user-projector")

    @property
    def projector_dlq(self) -> str:
        return self._name("user-projector-dlq")

    @property
    def audit_dlq(self) -> str:
        return self._name("audit-trail-dlq")

    @property
    def user_table(self) -> str:
        return self._name("User")

    @property
    def audit_table(self) -> str:
        return self._name("UserAudit")

    @property
    def user_pool(self) -> str:
        return self._name("users")

    @property
    def graphql_api(self) -> str:
        return self._name("api")

    @property
    def page_token_secret(self) -> str:
        return self._name("page-token-key")

    def function(self, spec: FunctionSpec) -> str:
        return self._name(spec.package.rsplit(".", 1)[-1].replace("_", "-"))


class UnknownSettingError(KeyError):
    def __init__(self, spec: FunctionSpec, missing: list[str]) -> None:
        super().__init__(f"{spec.id} requires {', '.join(missing)} and no value was given")


def function_environment(
    spec: FunctionSpec, names: ResourceNames, configured: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a function runs with, in AWS and in the local stack alike: names from
    ``names``, other settings (retention, sender address, ...) from ``configured``."""
    values = {
        "EVENT_BUS_NAME": names.event_bus,
        "USER_TABLE_NAME": names.user_table,
        "AUDIT_TABLE_NAME": names.audit_table,
        "ADMIN_GROUP": ADMIN_GROUP,
        **(configured or {}),
    }
    missing = [setting for setting in spec.settings if not values.get(setting)]
    if missing:
        raise UnknownSettingError(spec, missing)
    wanted = spec.settings + spec.optional_settings
    return {setting: values[setting] for setting in wanted if values.get(setting)}
