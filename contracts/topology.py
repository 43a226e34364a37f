"""The one declaration of what userpipe deploys and how it connects — plain, frozen data.

Tables, the bus and its archive, each ``UserConfirmed`` subscription (rule pattern → queue → DLQ
→ consumer, with its delivery settings; an optional one names the stage setting that leaves it
out), the stream consumers, the user pool, secrets, every function with its environment
("variable → which resource attribute"), the AWS calls it may make (its grants) and what its
cold start builds, the per-stage settings with their defaults, and the outputs. The CDK app
(``infra/``) builds from it, the local stack (``userpipe/local``) provisions from it, the
operator commands and the bench read it, and tests hold the synthesized template, the local
stack and each function's code to it.

What only CloudFormation cares about — encryption, removal policies, alarms, cdk-nag — stays in
infra, and so does turning each grant into an IAM statement: this is a declaration of names,
wiring and permissions, not an infrastructure language. What reading a function's own source
needs (its queue, its stream, its log group) follows from the wiring and is not a grant. Item
key names live with the other names consumers match on (``contracts.names``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from contracts.appsync import PUBLISH_MUTATIONS
from contracts.names import (
    AUDIT_KEY,
    AUDIT_TTL_ATTRIBUTE,
    EVENT_SOURCE,
    KEY_OWNER,
    LAST_CHANGED_ATTRIBUTE,
    LAST_CHANGED_INDEX,
    TYPENAME_ATTRIBUTE,
    USER_CHANGES_PATTERN,
    USER_CONFIRMED_PATTERN,
    USER_KEY,
    USER_SYNC_PATTERN,
    USER_TTL_ATTRIBUTE,
)

PROJECT: Final = "userpipe"
ADMIN_GROUP: Final = "Admin"
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


class InvalidStageError(ValueError):
    def __init__(self, stage: str) -> None:
        super().__init__(
            f"stage {stage!r} is invalid: use 1-16 lowercase letters, digits or '-', "
            "starting with a letter"
        )


# --- what a value in a function's environment or an output refers to -------------------------

#: A resource attribute a reference may name. Each builder (infra, the local stack) knows how
#: to produce each one for each kind of resource.
Attribute = Literal[
    "name", "arn", "url", "stream_arn", "id", "client_id", "graphql_url", "api_id", "rule_arn"
]


@dataclass(frozen=True)
class Attr:
    """An attribute of a declared resource, e.g. ``Attr("UserTable", "name")``."""

    resource: str
    attribute: Attribute


#: Every per-stage setting a reference may name (``SETTINGS`` declares each one's defaults).
SettingKey = Literal[
    "auditRetentionDays",
    "welcomeSender",
    "welcomeNotifier",
    "announceChanges",
    "logLevel",
    "cloudTrail",
    "userPoolId",
    "userPoolClientId",
]


@dataclass(frozen=True)
class Setting:
    """A per-stage setting (CDK context in infra, an option of the local stack)."""

    key: SettingKey


@dataclass(frozen=True)
class StageSetting:
    """A per-stage setting and its defaults, declared once: ``deploy`` is a deployment's value
    when its CDK context gives none, ``local`` the local stack's (and the in-process harness's
    and the bench's) when its options give none. ``""`` is unset."""

    key: SettingKey
    doc: str
    deploy: str = ""
    local: str = ""
    #: The values it may take (empty: any); anything else is an error where it is given.
    choices: tuple[str, ...] = ()


#: The values of a setting that switches an optional part (``Subscription.switch``); unset is
#: on when the stage gives what the part needs (``subscribed``).
ON: Final = "on"
OFF: Final = "off"
#: Lambda's application log levels userpipe offers (its advanced logging controls also have TRACE
#: and FATAL: Powertools has no TRACE, and FATAL would hide the failures the functions log at
#: ERROR). Python's logging reads WARN as WARNING.
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARN", "ERROR")


class InvalidSettingError(ValueError):
    def __init__(self, key: str, value: str, choices: Iterable[str]) -> None:
        super().__init__(
            f"setting {key}={value!r} is invalid: expected one of {', '.join(choices)}"
        )


#: Every per-stage setting. ``default_settings`` reads the defaults from here; nothing else
#: holds a copy.
SETTINGS: Final = (
    StageSetting(
        "auditRetentionDays",
        "Days an audit record is kept (its TTL); unset, audit records never expire.",
    ),
    StageSetting(
        "welcomeSender",
        "The address the example consumer sends from. A deployment has none unless given (an "
        "address on a domain SES has verified for you): without one it has no welcome "
        "notifier. The local stack's emulated SES accepts any address.",
        local="no-reply@example.com",
    ),
    StageSetting(
        "welcomeNotifier",
        "on or off: whether the stage has the example consumer. Unset, it has it when it gives "
        "a welcomeSender (``subscribed``).",
    ),
    StageSetting(
        "announceChanges",
        "on or off: whether the change publisher announces to the API's subscribers the changes "
        "the API did not make (a user the pipeline created, an email change, a deletion): one "
        "AppSync mutation each, $4 per million, and a real-time message per listening "
        "subscriber. Off suits a stage whose frontends never subscribe (no DataStore, no "
        "observeQuery, no onCreateUser/onDeleteUser): subscriptions are still accepted and hear "
        "the API's own edits only. The change publisher still puts every change on the bus "
        "(the event log a rebuild replays) and erases a deleted user's key.",
        deploy=ON,
        local=ON,
        choices=(ON, OFF),
    ),
    StageSetting(
        "logLevel",
        "The functions' lowest log level sent to CloudWatch Logs: DEBUG, INFO, WARN or ERROR. "
        "Powertools' level (POWERTOOLS_LOG_LEVEL) and, in a deployment, Lambda's own filter "
        "(advanced logging controls): at WARN or ERROR Lambda also drops its START and REPORT "
        "lines. Failures are logged at ERROR, so nothing a failure says is lost.",
        deploy="INFO",
        local="INFO",
        choices=LOG_LEVELS,
    ),
    StageSetting(
        "cloudTrail",
        "create or existing: how Cognito's calls reach the default bus (user_sync). "
        "EventBridge gets 'AWS API Call via CloudTrail' events only while a trail logs "
        "management events. create: the stack makes a trail of write management events in its "
        "Region; existing: the account has such a trail already (a second would be a paid "
        "copy). The local stack emits the events itself.",
        deploy="create",
    ),
    StageSetting(
        "userPoolId",
        "An existing user pool (<region>_<id>, in the stack's Region) the stage uses instead of "
        "creating one: its users, its app client (userPoolClientId) and its Admin group. The "
        "stack never changes that pool; `userpipe attach-triggers` attaches the triggers "
        "(docs/deploy.md, 'Deploying on an existing user pool'). Unset: the stack creates one.",
    ),
    StageSetting(
        "userPoolClientId",
        "The existing pool's app client the frontends use (with userPoolId only).",
    ),
)


def default_settings(where: Literal["deploy", "local"]) -> dict[str, str]:
    """Every declared setting's default for a deployment or for the local stack."""
    return {s.key: s.deploy if where == "deploy" else s.local for s in SETTINGS}


def check_settings(settings: Mapping[str, str]) -> None:
    """Refuse a value a setting with ``choices`` does not take (unset is its default's)."""
    for declared in SETTINGS:
        value = settings.get(declared.key, "")
        if declared.choices and value and value not in declared.choices:
            raise InvalidSettingError(declared.key, value, declared.choices)


class InvalidSwitchError(ValueError):
    def __init__(self, key: str, value: str) -> None:
        super().__init__(f"setting {key}={value!r} is invalid: expected {ON} or {OFF}")


class MissingSettingError(ValueError):
    def __init__(self, key: str, missing: Sequence[str], needed_by: str) -> None:
        self.missing, self.needed_by = tuple(missing), needed_by
        super().__init__(
            f"setting {key}={ON} needs {' and '.join(missing)}: {needed_by} cannot run without "
            f"it (set it, or leave {key} unset or {OFF})"
        )


@dataclass(frozen=True)
class Fixed:
    value: str


Ref = Attr | Setting | Fixed


# --- what a function may call: its grants ------------------------------------------------------


@dataclass(frozen=True)
class IndexOf:
    """A table's index: DynamoDB authorizes a ``Query`` on an index by the index's own ARN."""

    table: str  # the table's resource id
    index: str


@dataclass(frozen=True)
class ApiFields:
    """Fields of the GraphQL API: ``appsync:GraphQL`` is authorized per type and field."""

    type_name: Literal["Query", "Mutation", "Subscription"]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SesIdentities:
    """Every SES identity of the account and region. SES authorizes every identity a message
    involves, not only the sender's: in the sandbox the recipients are identities too, so a
    grant on the sender's identity alone is refused there (aws/aws-sdk-js#3641). A grant on
    these holds the function to its sender with a ``FromAddress`` condition (SES developer
    guide, "Identity and access management in Amazon SES": "allows users ... to send email ...
    only if they use a specific From address")."""


#: What a grant is on: a declared resource's attribute (its ``arn``), or one of the above.
GrantTarget = Attr | IndexOf | ApiFields | SesIdentities


@dataclass(frozen=True)
class FromAddress:
    """``ses:FromAddress`` must equal this setting's value."""

    sender: Setting


class MixedServicesError(ValueError):
    def __init__(self, actions: Sequence[str]) -> None:
        super().__init__(f"a grant's actions belong to one service: {', '.join(actions)}")


@dataclass(frozen=True)
class Grant:
    """An AWS call a function may make, declared next to the function: ``actions`` (one
    service's) on ``on``, and why it needs them. infra makes each an IAM statement; a grant on
    a wildcard (``SesIdentities``) carries its ``why`` to cdk-nag as the acknowledgement."""

    actions: tuple[str, ...]
    on: GrantTarget
    why: str
    condition: FromAddress | None = None

    def __post_init__(self) -> None:
        if len({action.split(":", 1)[0] for action in self.actions}) != 1:
            raise MixedServicesError(self.actions)

    @property
    def service(self) -> str:
        """The IAM service prefix of its actions (``dynamodb``)."""
        return self.actions[0].split(":", 1)[0]

    @property
    def resource(self) -> str | None:
        """The declared resource it names (``None``: SES identities, not declared here)."""
        if isinstance(self.on, Attr):
            return self.on.resource
        if isinstance(self.on, IndexOf):
            return self.on.table
        if isinstance(self.on, ApiFields):
            return GRAPHQL_API
        return None


#: The boto3 client a function's code builds for the service of a grant, where it is not the
#: IAM prefix: SES through its v2 API; AppSync's GraphQL endpoint over signed HTTPS, no client.
CLIENT_OF: Final[Mapping[str, str | None]] = {"ses": "sesv2", "appsync": None}


@dataclass(frozen=True)
class ColdStart:
    """What a function's first invocation does before it touches the network, beyond the
    runtime's own start (``bench.cold`` times it against ``import boto3`` and the same clients):
    ``builds`` is a no-argument function of its handler module, cached per cold start, that
    builds its settings and clients; with ``clients_inline``, the handler builds the clients
    (``FunctionSpec.clients``) itself after it."""

    builds: str | None
    clients_inline: bool = False


@dataclass(frozen=True)
class Env:
    """One variable of a function's environment. An optional one is left out when its value
    is empty (e.g. no audit retention). ``value_only``: the function uses the resource's value
    as data and calls nothing on it (the API's own pool id, which a recipe-shaped item lacks),
    so no grant goes with it."""

    variable: str
    ref: Ref
    optional: bool = False
    value_only: bool = False


# --- resources ---------------------------------------------------------------------------------


KeyType = Literal["S", "N"]


@dataclass(frozen=True)
class Index:
    """A global secondary index projecting every attribute."""

    name: str
    partition_key: str
    partition_type: KeyType
    sort_key: str
    sort_type: KeyType


@dataclass(frozen=True)
class Table:
    id: str
    base_name: str
    partition_key: str  # a string
    sort_key: str | None = None  # a string
    stream: Literal["NEW_AND_OLD_IMAGES"] | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class Queue:
    id: str
    base_name: str
    retention_days: int


@dataclass(frozen=True)
class Bus:
    id: str
    base_name: str


@dataclass(frozen=True)
class Archive:
    id: str
    base_name: str
    pattern: Mapping[str, list[str]]


@dataclass(frozen=True)
class Secret:
    id: str
    base_name: str
    description: str
    length: int  # characters of the generated value (letters and digits)


@dataclass(frozen=True)
class Group:
    name: str
    description: str


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int
    require_lowercase: bool
    require_uppercase: bool
    require_digits: bool
    require_symbols: bool


@dataclass(frozen=True)
class UserPool:
    id: str
    base_name: str
    sign_in_aliases: tuple[Literal["email"], ...]  # usernames are generated; users sign in by these
    auto_verified: tuple[Literal["email"], ...]
    #: Standard attributes sign-up must carry (Cognito's required attributes; a pool's schema
    #: cannot change after it is made).
    required_attributes: tuple[Literal["email"], ...]
    password: PasswordPolicy
    groups: tuple[Group, ...]
    client_base_name: str
    auth_flows: tuple[str, ...]  # the app client's explicit auth flows
    #: What the app client may read (and its ID tokens carry): email and whether it is verified.
    read_attributes: tuple[Literal["email", "email_verified"], ...]
    post_confirmation: FunctionSpec
    #: Invoked before Cognito issues tokens; userpipe's function acts only when an admin-created
    #: user answers NEW_PASSWORD_REQUIRED (their first sign-in) and returns at once otherwise.
    pre_token_generation: FunctionSpec | None = None
    #: Cognito keeps the old value of these active until the new one is verified
    #: (``UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate``).
    verify_before_update: tuple[Literal["email"], ...] = ("email",)


#: The dependency layers (infra.layer builds them): Powertools, pydantic for the functions that
#: import the contracts' models, and cryptography for those that seal or open personal data
#: (``services.shared.sealing``). A function's bundle is its code plus the layers it names.
Layer = Literal["powertools", "models", "crypto"]
#: Every layer there is (infra builds each one).
LAYERS: Final[tuple[Layer, ...]] = ("powertools", "models", "crypto")
#: What a function gets unless it names its own: no function seals without saying so.
DEFAULT_LAYERS: Final[tuple[Layer, ...]] = ("powertools", "models")


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: where its code is, how it runs, what its environment holds, what it
    may call and what its cold start builds. ``tests/unit/test_declaration.py`` holds each one
    to its service folder."""

    id: str
    package: str  # the service package, e.g. services.confirm_trigger
    timeout_seconds: int
    memory_mb: int
    environment: tuple[Env, ...]
    cold_start: ColdStart
    #: Every AWS call its code makes beyond reading its own source (queue, stream) and logs.
    grants: tuple[Grant, ...] = ()
    #: What it imports besides its code and boto3; without "models", its handler must not
    #: import pydantic (a test imports each one in a fresh interpreter to check).
    layers: tuple[Layer, ...] = DEFAULT_LAYERS

    @property
    def handler(self) -> str:
        return f"{self.package}.handler.lambda_handler"

    @property
    def source_dir(self) -> str:
        return self.package.replace(".", "/")

    @property
    def service(self) -> str:
        """Its short name: the Powertools service and the last part of its physical name."""
        return self.package.rsplit(".", 1)[-1]

    @property
    def settings(self) -> tuple[str, ...]:
        """The variables it requires."""
        return tuple(env.variable for env in self.environment if not env.optional)

    @property
    def clients(self) -> tuple[str, ...]:
        """The boto3 clients its code builds: one per service of its grants (``CLIENT_OF``)."""
        clients = (CLIENT_OF.get(grant.service, grant.service) for grant in self.grants)
        return tuple(dict.fromkeys(client for client in clients if client))

    @property
    def needs(self) -> tuple[str, ...]:
        """The stage settings it cannot run without (``Setting`` keys: ``welcomeSender``)."""
        return tuple(
            env.ref.key
            for env in self.environment
            if isinstance(env.ref, Setting) and not env.optional
        )


# --- how functions are invoked -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSource:
    """How Lambda polls a subscription's queue."""

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
    """How Lambda reads a table's stream: bisection, bounded retries, an on-failure queue."""

    batch_size: int
    max_batching_window_seconds: int
    max_retry_attempts: int
    bisect_batch_on_error: bool
    starting_position: Literal["TRIM_HORIZON", "LATEST"]


@dataclass(frozen=True)
class Subscription:
    """EventBridge rule (pattern) → SQS queue (+DLQ) → consumer. Each subscriber has its own,
    so a failing consumer never holds up another. The DLQ catches both what the rule could not
    deliver and what the consumer failed ``max_receive_count`` times."""

    id: str
    rule: str  # base names
    queue: str
    dlq: str
    consumer: FunctionSpec
    source: QueueSource
    pattern: Mapping[str, object] = field(default_factory=lambda: USER_CONFIRMED_PATTERN)
    #: The bus its rule is on: ours (``BUS``), or the account's ``default`` bus, where AWS
    #: services' events arrive (CloudTrail's).
    bus: Literal["Bus", "default"] = "Bus"
    #: An optional subscription: the stage setting that leaves it out (``off``) — its rule,
    #: queues, consumer and outputs, all of it. ``None``: every stage has it.
    switch: Setting | None = None

    @property
    def queue_url(self) -> Output:
        return Output(f"{self.id}QueueUrl", Attr(f"{self.id}Queue", "url"))

    @property
    def dlq_url(self) -> Output:
        return Output(f"{self.id}DlqUrl", Attr(f"{self.id}Dlq", "url"))

    @property
    def rule_arn(self) -> Output:
        return Output(f"{self.id}RuleArn", Attr(f"{self.id}Rule", "arn"))

    @property
    def outputs(self) -> tuple[Output, ...]:
        """Its own outputs: a deployment has all of them or, when left out, none."""
        return (self.queue_url, self.rule_arn, self.dlq_url)


@dataclass(frozen=True)
class StreamConsumer:
    id: str
    table: Table
    consumer: FunctionSpec
    source: StreamSource
    on_failure: Queue

    @property
    def dlq_url(self) -> Output:
        return Output(f"{self.id}DlqUrl", Attr(self.on_failure.id, "url"))

    @property
    def function_name(self) -> Output:
        return Output(f"{self.consumer.id}FunctionName", Attr(self.consumer.id, "name"))


@dataclass(frozen=True)
class Schedule:
    """A function run on a schedule (an EventBridge rule in AWS). A stage may change the
    expression or turn it off (``off``). The local stack runs no schedules: run the command."""

    id: str
    function: FunctionSpec
    expression: str  # rate(...) or cron(...)
    setting: Literal["reconcileSchedule"]  # the stage setting that overrides it
    dlq: Queue  # runs that failed after Lambda's retries, or could not be delivered

    @property
    def dlq_url(self) -> Output:
        return Output(f"{self.function.id}DlqUrl", Attr(self.dlq.id, "url"))


@dataclass(frozen=True)
class Output:
    """A stack output (CloudFormation) and the same value in the local stack's outputs file
    (its snake-case name)."""

    name: str
    ref: Attr | Setting  # a setting's value: what the stage was built with (unset: no output)
    exported: bool = False

    @property
    def local_name(self) -> str:
        return snake_case(self.name)


def snake_case(name: str) -> str:
    """``GraphqlUrl`` -> ``graphql_url``: a stack output's name in the local outputs file."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: A failed delivery from a rule to its queue is retried this long, then goes to the rule's DLQ.
RULE_TARGET_MAX_EVENT_AGE_HOURS: Final = 24
RULE_TARGET_RETRY_ATTEMPTS: Final = 185


def _powertools(service: str) -> tuple[Env, ...]:
    return (
        Env("POWERTOOLS_SERVICE_NAME", Fixed(service)),
        Env("POWERTOOLS_LOG_LEVEL", Setting("logLevel"), optional=True),  # unset: INFO
    )


# --- the declaration ------------------------------------------------------------------------------

GRAPHQL_API: Final = "Api"  # the AppSync API's resource id (its physical name: "<prefix>-api")
#: Not a resource: the stage itself, which each builder adds as ``Attr(STAGE, "name")`` so that
#: it is an output. Commands read it there: a stage may hold dashes (``pr-42``), so it cannot be
#: parsed back out of a physical name such as ``userpipe-pr-42-users``.
STAGE: Final = "Stage"

USER_TABLE: Final = Table(
    "UserTable",
    "User",
    partition_key=USER_KEY,
    stream="NEW_AND_OLD_IMAGES",
    # An Admin's delta sync queries this instead of scanning the table: it reads (and pays for)
    # the items changed since lastSync, not every item. One partition value ("User") takes
    # every write: DynamoDB allows ~1,000 writes/s per partition, far above sign-ups and edits.
    indexes=(Index(LAST_CHANGED_INDEX, TYPENAME_ATTRIBUTE, "S", LAST_CHANGED_ATTRIBUTE, "N"),),
    ttl_attribute=USER_TTL_ATTRIBUTE,  # a deleted user's tombstone expires
)
AUDIT_TABLE: Final = Table(
    "AuditTable",
    "UserAudit",
    partition_key=AUDIT_KEY[0],
    sort_key=AUDIT_KEY[1],
    ttl_attribute=AUDIT_TTL_ATTRIBUTE,
)
#: Every user's data key (``services.shared.user_keys``): the only place it is kept, so that
#: deleting it makes every sealed copy of the user's profile unreadable (crypto-shredding).
KEYS_TABLE: Final = Table("KeysTable", "UserKeys", partition_key=KEY_OWNER)
BUS: Final = Bus("Bus", "users")
ARCHIVE: Final = Archive("Archive", "users-archive", pattern={"source": [EVENT_SOURCE]})
PAGE_TOKEN_KEY: Final = Secret(
    "PageTokenKey", "page-token-key", "Signs the API's nextToken values", length=64
)

CONFIRM_TRIGGER: Final = FunctionSpec(
    id="ConfirmTrigger",
    package="services.confirm_trigger",
    timeout_seconds=5,  # Cognito waits 5 s at most; the client gives up within 4 s
    memory_mb=256,
    environment=(Env("EVENT_BUS_NAME", Attr("Bus", "name")), *_powertools("confirm_trigger")),
    cold_start=ColdStart("default_publisher"),
    grants=(Grant(("events:PutEvents",), Attr("Bus", "arn"), "Publishes UserConfirmed."),),
    layers=("powertools",),  # sign-up waits on its cold start: no pydantic, no parser
)
USER_PROJECTOR: Final = FunctionSpec(
    id="UserProjector",
    package="services.user_projector",
    timeout_seconds=30,
    memory_mb=256,
    environment=(
        Env("USER_TABLE_NAME", Attr("UserTable", "name")),
        Env("KEYS_TABLE_NAME", Attr("KeysTable", "name")),
        *_powertools("user_projector"),
    ),
    cold_start=ColdStart("default_store"),
    grants=(
        Grant(
            ("dynamodb:PutItem", "dynamodb:UpdateItem"),
            Attr("UserTable", "arn"),
            "Creates a user with a conditional PutItem; applies a change, or removes a "
            "replay's mark, with a conditional UpdateItem.",
        ),
        Grant(
            ("cognito-idp:AdminGetUser", "cognito-idp:ListUsers"),
            Attr("UserPool", "arn"),
            "Reads the user's email from Cognito by sub (no event carries it): AdminGetUser, "
            "or ListUsers filtered on sub for a federated user.",
        ),
        Grant(
            ("dynamodb:GetItem",),
            Attr("KeysTable", "arn"),
            "Reads the user's data key to open a replayed profile change.",
        ),
    ),
    # A new user waits on its cold start: plain-Python reading; cryptography opens profiles.
    layers=("powertools", "crypto"),
)
AUDIT_TRAIL: Final = FunctionSpec(
    id="AuditTrail",
    package="services.audit_trail",
    timeout_seconds=30,
    memory_mb=256,
    environment=(
        Env("AUDIT_TABLE_NAME", Attr("AuditTable", "name")),
        Env("AUDIT_RETENTION_DAYS", Setting("auditRetentionDays"), optional=True),
        *_powertools("audit_trail"),
    ),
    cold_start=ColdStart("default_store"),
    grants=(
        Grant(
            ("dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
            Attr("AuditTable", "arn"),
            "Appends with a conditional PutItem; when a user is deleted, queries their records "
            "and removes the fingerprints of their personal data (the one change it makes).",
        ),
    ),
    layers=("powertools",),  # plain-Python audit records: no pydantic on its cold path
)
USER_API: Final = FunctionSpec(
    id="UserApi",
    package="services.user_api",
    timeout_seconds=10,
    memory_mb=512,  # more memory, more CPU: a shorter cold start for interactive calls
    environment=(
        Env("USER_TABLE_NAME", Attr("UserTable", "name")),
        Env("AUDIT_TABLE_NAME", Attr("AuditTable", "name")),
        Env("PAGE_TOKEN_SECRET_ARN", Attr("PageTokenKey", "arn")),
        Env("ADMIN_GROUP", Fixed(ADMIN_GROUP)),
        # What a recipe-shaped item (no userPoolId) is read as: this API's own pool.
        Env("USER_POOL_ID", Attr("UserPool", "id"), value_only=True),
        *_powertools("user_api"),
    ),
    # Its first call also reads the page-token secret (the network): only its clients count.
    cold_start=ColdStart(None, clients_inline=True),
    grants=(
        Grant(
            ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
            Attr("PageTokenKey", "arn"),
            "Signs and checks nextToken values with the page-token key.",
        ),
        Grant(
            ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem"),
            Attr("UserTable", "arn"),
            "Reads users and edits profiles; an owner's listUsers/syncUsers queries their own "
            "item by its key.",
        ),
        Grant(
            ("dynamodb:Query",),
            IndexOf("UserTable", LAST_CHANGED_INDEX),
            "An Admin's delta sync queries the changes index (USER_TABLE).",
        ),
        Grant(("dynamodb:Query",), Attr("AuditTable", "arn"), "Reads a user's audit trail."),
    ),
)
#: Publishes each User-table change where it is missing (see services/change_publisher): the
#: changes the API did not make to the API's subscribers (a new user reaches onCreateUser), the
#: API's edits to the bus as ``UserProfileChanged`` (so the archive holds every change).
CHANGE_PUBLISHER: Final = FunctionSpec(
    id="ChangePublisher",
    package="services.change_publisher",
    timeout_seconds=30,
    memory_mb=256,
    environment=(
        Env("GRAPHQL_URL", Attr(GRAPHQL_API, "graphql_url")),
        Env("EVENT_BUS_NAME", Attr("Bus", "name")),
        Env("KEYS_TABLE_NAME", Attr("KeysTable", "name")),
        Env("USER_TABLE_NAME", Attr("UserTable", "name")),
        Env("ANNOUNCE_CHANGES", Setting("announceChanges"), optional=True),  # unset: on
        *_powertools("change_publisher"),
    ),
    cold_start=ColdStart("default_publishers"),
    grants=(
        Grant(
            ("appsync:GraphQL",),
            ApiFields("Mutation", PUBLISH_MUTATIONS),
            "The IAM-only publish mutations; no other field, no table.",
        ),
        Grant(
            ("events:PutEvents",),
            Attr("Bus", "arn"),
            "Publishes UserProfileChanged, UserEmailChanged and UserDeleted.",
        ),
        Grant(
            ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"),
            Attr("KeysTable", "arn"),
            "Seals a profile change under the user's data key, creating it on first use; "
            "destroys a deleted user's key once more after their last change was sealed.",
        ),
        Grant(
            ("dynamodb:GetItem",),
            Attr("UserTable", "arn"),
            "Before making a user's first key: is the user erased (item gone or a tombstone)? "
            "An old edit read after the erasure then makes no key nothing would destroy.",
        ),
    ),
    layers=("powertools", "crypto"),  # plain-Python reading: no pydantic
)
#: Publishes UserConfirmed for confirmed users without an item (see services/reconcile).
RECONCILE: Final = FunctionSpec(
    id="Reconcile",
    package="services.reconcile",
    timeout_seconds=900,  # Lambda's maximum: ListUsers is rate-limited, a big pool takes long
    memory_mb=256,
    environment=(
        Env("USER_POOL_ID", Attr("UserPool", "id")),
        Env("USER_TABLE_NAME", Attr("UserTable", "name")),
        Env("KEYS_TABLE_NAME", Attr("KeysTable", "name")),
        Env("EVENT_BUS_NAME", Attr("Bus", "name")),
        *_powertools("reconcile"),
    ),
    cold_start=ColdStart("default_settings", clients_inline=True),
    # Cognito's users against the items: UserConfirmed for the missing, the email changes and
    # tombstones for the others that drifted.
    grants=(
        Grant(("cognito-idp:ListUsers",), Attr("UserPool", "arn"), "Reads the pool's users."),
        Grant(
            ("dynamodb:BatchGetItem", "dynamodb:Scan", "dynamodb:UpdateItem"),
            Attr("UserTable", "arn"),
            "Looks up which users have an item, finds items whose user is gone, and applies an "
            "email change or a tombstone with a conditional UpdateItem.",
        ),
        Grant(
            ("dynamodb:DeleteItem",),
            Attr("KeysTable", "arn"),
            "Destroys a deleted user's data key.",
        ),
        Grant(
            ("events:PutEvents",),
            Attr("Bus", "arn"),
            "Publishes UserConfirmed for the missing users.",
        ),
    ),
    layers=("powertools",),  # plain Python: builds UserConfirmed like the trigger
)
#: The example consumer shipped to show a subscription of one's own.
WELCOME_NOTIFIER: Final = FunctionSpec(
    id="WelcomeNotifier",
    package="services.welcome_notifier",
    timeout_seconds=20,
    memory_mb=256,
    environment=(
        Env("WELCOME_SENDER", Setting("welcomeSender")),
        *_powertools("welcome_notifier"),
    ),
    cold_start=ColdStart("default_sender"),
    grants=(
        Grant(
            ("cognito-idp:AdminGetUser", "cognito-idp:ListUsers"),
            Attr("UserPool", "arn"),
            "Reads the new user's email by sub (UserConfirmed carries none): AdminGetUser, or "
            "ListUsers for a federated user.",
        ),
        Grant(
            ("ses:SendEmail",),
            SesIdentities(),
            "SES authorizes the recipients' identities too (in the sandbox); the "
            "ses:FromAddress condition holds the function to its one sender.",
            condition=FromAddress(Setting("welcomeSender")),
        ),
    ),
    layers=("powertools",),  # plain-Python reading, like the projector: no pydantic
)

#: Brings one user's item in line with Cognito after a lifecycle call CloudTrail reported (see
#: services/user_sync): an email change, a deletion, a confirmed user without an item.
USER_SYNC: Final = FunctionSpec(
    id="UserSync",
    package="services.user_sync",
    timeout_seconds=30,
    memory_mb=256,
    environment=(
        Env("USER_POOL_ID", Attr("UserPool", "id")),
        Env("USER_TABLE_NAME", Attr("UserTable", "name")),
        Env("KEYS_TABLE_NAME", Attr("KeysTable", "name")),
        Env("EVENT_BUS_NAME", Attr("Bus", "name")),
        *_powertools("user_sync"),
    ),
    cold_start=ColdStart("default_sync"),
    grants=(
        Grant(
            ("cognito-idp:AdminGetUser", "cognito-idp:ListUsers"),
            Attr("UserPool", "arn"),
            "Reads the user again by sub (AdminGetUser, or ListUsers for a federated user): it "
            "never trusts what the CloudTrail event says.",
        ),
        Grant(
            ("dynamodb:GetItem", "dynamodb:UpdateItem"),
            Attr("UserTable", "arn"),
            "Reads the item; applies an email change or a tombstone with a conditional UpdateItem.",
        ),
        Grant(
            ("dynamodb:DeleteItem",),
            Attr("KeysTable", "arn"),
            "Destroys a deleted user's data key.",
        ),
        Grant(
            ("events:PutEvents",),
            Attr("Bus", "arn"),
            "Publishes UserConfirmed for a confirmed user without an item.",
        ),
    ),
    layers=("powertools",),
)

PROJECTOR_SOURCE: Final = QueueSource(
    batch_size=10,
    max_batching_window_seconds=1,
    max_receive_count=5,
    max_concurrency=5,
    visibility_timeout_factor=6,
    dlq_retention_days=14,
)
#: Other consumers' queues, unless they ask otherwise.
SUBSCRIBER_SOURCE: Final = QueueSource(
    batch_size=10,
    max_batching_window_seconds=1,
    max_receive_count=5,
    max_concurrency=2,
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

PROJECTION: Final = Subscription(
    id="Projector",
    rule="user-confirmed-to-projector",
    queue="user-projector",
    dlq="user-projector-dlq",
    consumer=USER_PROJECTOR,
    source=PROJECTOR_SOURCE,
    # Every event that changes a User item: the table is their projection. (The rule keeps its
    # first name: renaming it would replace it on the next deploy for no gain.)
    pattern=USER_CHANGES_PATTERN,
)
WELCOME: Final = Subscription(
    id="WelcomeNotifier",
    rule="user-confirmed-to-welcome-notifier",
    queue="welcome-notifier",
    dlq="welcome-notifier-dlq",
    consumer=WELCOME_NOTIFIER,
    source=SUBSCRIBER_SOURCE,
    switch=Setting("welcomeNotifier"),  # an example: a stage may do without it
)
#: Cognito's lifecycle calls, from CloudTrail on the account's default bus, to user_sync.
USER_SYNC_SUBSCRIPTION: Final = Subscription(
    id="UserSync",
    rule="cognito-calls-to-user-sync",
    queue="user-sync",
    dlq="user-sync-dlq",
    consumer=USER_SYNC,
    source=SUBSCRIBER_SOURCE,
    pattern=USER_SYNC_PATTERN,
    bus="default",
)
#: Every subscription; add yours here (docs/architecture.md, "Subscribe your own consumer").
SUBSCRIPTIONS: Final = (PROJECTION, WELCOME, USER_SYNC_SUBSCRIPTION)
#: The settings that leave an optional subscription out (``-c welcomeNotifier=off``).
SWITCHES: Final = tuple(s.switch for s in SUBSCRIPTIONS if s.switch is not None)

#: Subscribers are waiting: small batches, no batching window.
PUBLISH_SOURCE: Final = StreamSource(
    batch_size=10,
    max_batching_window_seconds=0,
    max_retry_attempts=5,
    bisect_batch_on_error=True,
    starting_position="TRIM_HORIZON",
)

AUDIT: Final = StreamConsumer(
    id="Audit",
    table=USER_TABLE,
    consumer=AUDIT_TRAIL,
    source=AUDIT_SOURCE,
    on_failure=Queue("AuditDlq", "audit-trail-dlq", retention_days=14),
)
CHANGES: Final = StreamConsumer(
    id="Changes",
    table=USER_TABLE,
    consumer=CHANGE_PUBLISHER,
    source=PUBLISH_SOURCE,
    on_failure=Queue("ChangePublisherDlq", "change-publisher-dlq", retention_days=14),
)
STREAM_CONSUMERS: Final = (AUDIT, CHANGES)

USER_POOL: Final = UserPool(
    id="UserPool",
    base_name="users",
    sign_in_aliases=("email",),
    auto_verified=("email",),
    required_attributes=("email",),
    password=PasswordPolicy(
        min_length=12,
        require_lowercase=True,
        require_uppercase=True,
        require_digits=True,
        require_symbols=True,
    ),
    groups=(Group(ADMIN_GROUP, "Reads every user through the API"),),
    client_base_name="users-app",
    auth_flows=("ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"),
    read_attributes=("email", "email_verified"),
    post_confirmation=CONFIRM_TRIGGER,
    pre_token_generation=CONFIRM_TRIGGER,
)
TABLES: Final = (USER_TABLE, AUDIT_TABLE, KEYS_TABLE)
SECRETS: Final = (PAGE_TOKEN_KEY,)
SCHEDULES: Final = (
    Schedule(
        "ReconcileSchedule",
        RECONCILE,
        "rate(1 day)",
        setting="reconcileSchedule",
        dlq=Queue("ReconcileDlq", "reconcile-dlq", retention_days=14),
    ),
)
#: Every function, each with its own environment: the trigger, the API's resolver, and the
#: consumers of every subscription, stream and schedule (a consumer declared there is here).
FUNCTIONS: Final = (
    USER_POOL.post_confirmation,
    USER_API,
    *(s.consumer for s in SUBSCRIPTIONS),
    *(s.consumer for s in STREAM_CONSUMERS),
    *(s.function for s in SCHEDULES),
)


@dataclass(frozen=True)
class DeadLetters:
    """A dead-letter queue and what ``userpipe redrive`` does with what it holds.

    - ``events``: ``UserConfirmed`` events a rule could not deliver or a consumer failed
      ``max_receive_count`` times — moved back to the subscription's queue (``back_to``: the
      output holding that queue's URL).
    - ``stream-batches``: a stream consumer's on-failure records — metadata only (shard and
      sequence numbers, never the images). The records are read again from the stream while it
      still has them (24 h) and handed to the consumer (``back_to``: the output holding its
      function name).
    - ``failed-runs``: a scheduled function's failed runs; the job runs again (``back_to``: the
      function's id).
    """

    name: str  # the queue's base name: what ``redrive --queue`` takes
    url: Output
    holds: Literal["events", "stream-batches", "failed-runs"]
    back_to: str
    consumer: FunctionSpec  # whose failures land here (its log says why)
    max_receive_count: int | None = None  # events: receives before SQS moves one here


def _dead_letters(subscriptions: Iterable[Subscription]) -> Iterator[DeadLetters]:
    for subscription in subscriptions:
        yield DeadLetters(
            subscription.dlq,
            subscription.dlq_url,
            "events",
            subscription.queue_url.name,
            subscription.consumer,
            subscription.source.max_receive_count,
        )
    for stream in STREAM_CONSUMERS:
        yield DeadLetters(
            stream.on_failure.base_name,
            stream.dlq_url,
            "stream-batches",
            stream.function_name.name,
            stream.consumer,
        )
    for schedule in SCHEDULES:
        yield DeadLetters(
            schedule.dlq.base_name, schedule.dlq_url, "failed-runs", schedule.id, schedule.function
        )


def _wiring_outputs(
    subscriptions: Iterable[Subscription], dead_letters: Iterable[DeadLetters]
) -> Iterator[Output]:
    for subscription in subscriptions:
        yield subscription.queue_url
        yield subscription.rule_arn  # a replay names the rules it replays to
    for stream in STREAM_CONSUMERS:  # redrive hands dead-lettered records back to it
        yield stream.function_name
    for dead in dead_letters:
        yield dead.url


_STACK_OUTPUTS: Final = (
    Output("Stage", Attr(STAGE, "name")),
    Output("UserPoolId", Attr("UserPool", "id")),
    Output("UserPoolClientId", Attr("UserPool", "client_id")),
    Output("GraphqlUrl", Attr(GRAPHQL_API, "graphql_url")),
    Output("GraphqlApiId", Attr(GRAPHQL_API, "api_id")),
    Output("EventBusName", Attr("Bus", "name")),
    Output("EventBusArn", Attr("Bus", "arn"), exported=True),
    Output("ArchiveName", Attr("Archive", "name")),
    Output("UserTableName", Attr("UserTable", "name")),
    Output("UserTableStreamArn", Attr("UserTable", "stream_arn")),
    Output("AuditTableName", Attr("AuditTable", "name")),
    Output("KeysTableName", Attr("KeysTable", "name")),
    # verify, the console and frontends' operators read whether pipeline-made changes are
    # announced (``-c announceChanges=off``: an onCreateUser subscription hears nothing).
    Output("AnnounceChanges", Setting("announceChanges")),
)


@dataclass(frozen=True)
class Parts:
    """What one deployment has of the declaration: every required subscription and each
    optional one its stage did not switch off, and what follows from them — its functions,
    dead-letter queues and outputs. Infra and the local stack take a stage's parts from its
    settings (``parts_for``), the operator commands a deployment's from its outputs
    (``parts_with``), so a left-out part is left out of all of them alike."""

    subscriptions: tuple[Subscription, ...]

    @property
    def left_out(self) -> tuple[Subscription, ...]:
        kept = {s.id for s in self.subscriptions}
        return tuple(s for s in SUBSCRIPTIONS if s.id not in kept)

    @property
    def functions(self) -> tuple[FunctionSpec, ...]:
        gone = {s.consumer.id for s in self.left_out}
        return tuple(spec for spec in FUNCTIONS if spec.id not in gone)

    @property
    def dead_letters(self) -> tuple[DeadLetters, ...]:
        """Its dead-letter queues, each with the way back for what it holds."""
        return tuple(_dead_letters(self.subscriptions))

    @property
    def outputs(self) -> tuple[Output, ...]:
        """What operators, frontends and the operator commands read (CloudFormation outputs,
        and the local stack's outputs file under snake-case names)."""
        return (*_STACK_OUTPUTS, *_wiring_outputs(self.subscriptions, self.dead_letters))


def subscribed(subscription: Subscription, settings: Mapping[str, str]) -> bool:
    """Whether a stage with ``settings`` has ``subscription``. A required one always; an optional
    one as its switch says (``on``/``off``; any other value is an error, never read as either).
    Left unset, the switch is on only if the stage gives every setting the consumer needs: a
    stage never gets a consumer that cannot work (the welcome notifier without a sender SES has
    verified would fail every message into its DLQ), and asking for it anyway is an error."""
    switch = subscription.switch
    if switch is None:
        return True
    missing = [key for key in subscription.consumer.needs if not settings.get(key)]
    value = settings.get(switch.key)
    if not value:
        return not missing
    if value not in (ON, OFF):
        raise InvalidSwitchError(switch.key, value)
    if value == ON and missing:
        raise MissingSettingError(switch.key, missing, subscription.consumer.id)
    return value == ON


def parts_for(settings: Mapping[str, str]) -> Parts:
    """The parts of a stage with these settings (see ``subscribed``)."""
    return Parts(tuple(s for s in SUBSCRIPTIONS if subscribed(s, settings)))


def parts_with(outputs: Container[str]) -> Parts:
    """The parts of a deployment whose outputs (by local name) are ``outputs``, told by the
    outputs themselves: an optional subscription is there when any output of its own is (a
    stage that switched it off has none). A required one always counts as there, so a missing
    output of it is an error where it is read, never taken for "left out"."""
    return Parts(
        tuple(
            s
            for s in SUBSCRIPTIONS
            if s.switch is None or any(output.local_name in outputs for output in s.outputs)
        )
    )


#: Everything declared, every optional part included (the default stage).
EVERY_PART: Final = Parts(SUBSCRIPTIONS)
#: Every declared dead-letter queue, each with the way back for what it holds.
DEAD_LETTERS: Final = EVERY_PART.dead_letters
#: Every declared output (a stage leaving an optional part out has fewer: ``Parts.outputs``).
OUTPUTS: Final = EVERY_PART.outputs


# --- physical names and resolved environments --------------------------------------------------


@dataclass(frozen=True)
class ResourceNames:
    """Physical names for one stage; infra and the local stack both name things this way."""

    stage: str

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise InvalidStageError(self.stage)

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.stage}"

    def of(self, base_name: str) -> str:
        return f"{self.prefix}-{base_name}"

    def function(self, spec: FunctionSpec) -> str:
        return self.of(spec.service.replace("_", "-"))

    @property
    def graphql_api(self) -> str:
        return self.of("api")


class UnresolvedSettingError(KeyError):
    def __init__(self, spec: FunctionSpec, missing: list[str]) -> None:
        super().__init__(f"{spec.id} requires {', '.join(missing)} and no value was given")


def function_environment(
    spec: FunctionSpec, resolve: Callable[[Ref], str | None]
) -> dict[str, str]:
    """The environment ``spec`` runs with, every reference resolved by ``resolve`` (infra
    resolves to CloudFormation tokens, the local stack to its own names and URLs). An optional
    variable resolving to nothing is left out; a required one is an error."""
    values = {env.variable: resolve(env.ref) or "" for env in spec.environment}
    missing = [
        env.variable for env in spec.environment if not env.optional and not values[env.variable]
    ]
    if missing:
        raise UnresolvedSettingError(spec, missing)
    return {variable: value for variable, value in values.items() if value}


def resolve_fixed_or_setting(ref: Ref, settings: Mapping[str, str]) -> str | None:
    """What every builder does alike for a ``Fixed`` or a ``Setting``; ``None`` for ``Attr``."""
    if isinstance(ref, Fixed):
        return ref.value
    if isinstance(ref, Setting):
        return settings.get(ref.key) or None
    return None


class UnknownResourceError(KeyError):
    def __init__(self, attr: Attr) -> None:
        super().__init__(f"{attr.resource}.{attr.attribute} is not built (yet)")


class StageResources:
    """A stage's resources as the declaration refers to them: each resource's attributes once it
    exists (CloudFormation tokens in infra, names and URLs in the local stack), the stage's
    settings and its parts. Both builders fill one, and resolve the declaration's references
    with it."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings = dict(settings)
        self._attributes: dict[str, dict[str, str]] = {}
        check_settings(settings)
        #: What the stage builds: its settings may switch optional parts off.
        self.parts = parts_for(settings)

    def add(self, resource: str, **attributes: str) -> None:
        self._attributes.setdefault(resource, {}).update(attributes)

    def __call__(self, ref: Ref) -> str | None:
        """Resolve a reference (``function_environment`` takes this as its resolver)."""
        if isinstance(ref, Attr):
            return self.attribute(ref)
        return resolve_fixed_or_setting(ref, self._settings)

    def attribute(self, attr: Attr) -> str:
        try:
            return self._attributes[attr.resource][attr.attribute]
        except KeyError:
            raise UnknownResourceError(attr) from None

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        return function_environment(spec, self)

    def output_value(self, output: Output) -> str | None:
        """An output's value: a resource's attribute, or a setting's (``None`` when unset)."""
        if isinstance(output.ref, Attr):
            return self.attribute(output.ref)
        return resolve_fixed_or_setting(output.ref, self._settings)

    def outputs(self) -> dict[str, str]:
        """Every output of the parts built, by its CloudFormation name (a setting left unset
        gives none)."""
        values = {output.name: self.output_value(output) for output in self.parts.outputs}
        return {name: value for name, value in values.items() if value is not None}
