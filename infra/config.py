"""What a deployment may choose, read from CDK context (``-c key=value`` or cdk.json). The
settings the declaration's references name take their defaults from ``contracts.topology
.SETTINGS``; the rest are infra's own and default here."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Final

from contracts.topology import (
    OFF,
    ON,
    SETTINGS,
    SUBSCRIPTIONS,
    SWITCHES,
    InvalidSwitchError,
    MissingSettingError,
    ResourceNames,
    default_settings,
    subscribed,
)

#: Domains SES can never verify: reserved for documentation and testing (RFC 2606 sections 2
#: and 3, RFC 6761 section 6). A sender there would fail every welcome email.
RESERVED_DOMAINS: Final = ("example.com", "example.net", "example.org")
RESERVED_TLDS: Final = ("example", "test", "invalid", "localhost")
SWITCHES_KEYS: Final = frozenset(switch.key for switch in SWITCHES)
#: A deployment's default for each declared setting (``""``: unset).
DEPLOY_DEFAULTS: Final = default_settings("deploy")
#: How a stage gets Cognito's API calls onto the default bus (user_sync's subscription):
#: EventBridge receives "AWS API Call via CloudTrail" events only while a trail logs management
#: events in the account and Region (EventBridge user guide, "Events from AWS services").
#: ``create``: the stack makes a trail of write management events (``infra.parts.trail``);
#: ``existing``: the account has one already (a second trail would be a paid copy).
CLOUD_TRAIL_CHOICES: Final = ("create", "existing")
CLOUD_TRAIL_KEY: Final = "cloudTrail"
#: X-Ray for the functions: ``active`` (Lambda's active tracing) or ``off``. Lambda samples the
#: first request each second and 5% of the rest, and "this sampling rate cannot be configured
#: for Lambda functions" (Lambda developer guide, "Visualize Lambda function invocations using
#: AWS X-Ray"): the one knob is on or off. bench/COST.md: tracing every invocation costs about
#: as much again as the rest of a confirmation below ~1 confirmation a second.
TRACING_CHOICES: Final = ("active", "off")
TRACING_KEY: Final = "tracing"
#: An existing user pool the stage uses instead of creating one, and its app client.
USER_POOL_ID_KEY: Final = "userPoolId"
USER_POOL_CLIENT_ID_KEY: Final = "userPoolClientId"
#: Cognito's user pool id, ``<region>_<id>`` (the API's ``UserPoolIdType`` pattern,
#: ``[\w-]+_[0-9a-zA-Z]+``, with the Region spelled out: it must be the stack's).
_USER_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(-[a-z]+)+-\d+)_[0-9a-zA-Z]+")
#: An app client id (the API's ``ClientIdType``: ``[\w+]+``, 1 to 128 characters).
_CLIENT_ID = re.compile(r"[\w+]{1,128}")
_ADDRESS = re.compile(r"[^@\s<>]+@(?P<domain>[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)")


class InvalidContextError(ValueError):
    def __init__(self, key: str, value: Any, expected: str) -> None:
        super().__init__(f"context {key}={value!r} is invalid: expected {expected}")


@dataclass(frozen=True)
class StageConfig:
    stage: str = "dev"
    #: Ephemeral stages (tests, previews) are destroyed whole; every other stage retains the
    #: user pool with its groups, both tables and the functions' log groups on delete, and
    #: protects the pool and tables from deletion.
    ephemeral: bool = False
    #: The template ``cdk import`` takes a kept stage's retained resources back with after
    #: ``cdk destroy`` (``infra.adopt``): the pool without its trigger, which does not exist yet.
    adopt: bool = False
    archive_retention_days: int = 0  # 0: keep archived events forever
    audit_retention_days: int = int(DEPLOY_DEFAULTS["auditRetentionDays"] or 0)  # 0: forever
    log_retention_days: int = 30
    alarm_email: str | None = None
    #: The example consumer's SES sender; without one, the stage has no welcome notifier.
    welcome_sender: str | None = DEPLOY_DEFAULTS["welcomeSender"] or None
    reconcile_schedule: str | None = None  # None: the declared default; "off": no schedule
    tracing: str = TRACING_CHOICES[0]
    cloud_trail: str = DEPLOY_DEFAULTS.get(CLOUD_TRAIL_KEY) or CLOUD_TRAIL_CHOICES[0]
    #: ``-c userPoolId=...``: the stage uses this pool, its app client and its Admin group and
    #: creates none of them (``infra.parts.identity.ExistingPool``); ``None``: it creates them.
    existing_pool: ExistingPool | None = None
    #: The optional parts this stage leaves out, by their switch's key (``welcomeNotifier``).
    switched_off: frozenset[str] = frozenset()
    #: Every declared setting as the context gives it, else its deploy default; the ones
    #: above are checked and take precedence. A setting a new function declares reaches it
    #: with no code here.
    declared: tuple[tuple[str, str], ...] = tuple(DEPLOY_DEFAULTS.items())

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.stage)

    def settings(self) -> dict[str, str]:
        """The values the declaration's ``Setting`` references name (``""``: unset)."""
        return {
            **dict(self.declared),
            "auditRetentionDays": str(self.audit_retention_days or ""),
            "welcomeSender": self.welcome_sender or "",
            CLOUD_TRAIL_KEY: self.cloud_trail,
            USER_POOL_ID_KEY: self.existing_pool.user_pool_id if self.existing_pool else "",
            USER_POOL_CLIENT_ID_KEY: self.existing_pool.client_id if self.existing_pool else "",
            **{s.key: OFF if s.key in self.switched_off else ON for s in SWITCHES},
        }

    @classmethod
    def from_context(cls, get: Any) -> StageConfig:
        """Build from ``node.try_get_context``; every value is checked, none silently ignored."""
        defaults = cls()
        config = cls(
            stage=str(get("stage") or defaults.stage),
            ephemeral=_bool(get, "ephemeral", defaults.ephemeral),
            adopt=_bool(get, "adopt", defaults.adopt),
            archive_retention_days=_days(
                get, "archiveRetentionDays", defaults.archive_retention_days
            ),
            audit_retention_days=_days(get, "auditRetentionDays", defaults.audit_retention_days),
            log_retention_days=_days(get, "logRetentionDays", defaults.log_retention_days),
            alarm_email=get("alarmEmail") or None,
            welcome_sender=_sender(get),
            reconcile_schedule=str(get("reconcileSchedule")) if get("reconcileSchedule") else None,
            cloud_trail=_choice(get, CLOUD_TRAIL_KEY, CLOUD_TRAIL_CHOICES, defaults.cloud_trail),
            tracing=_choice(get, TRACING_KEY, TRACING_CHOICES, defaults.tracing),
            existing_pool=_existing_pool(get),
            declared=_declared(get),
        )
        config = replace(config, switched_off=_switched_off(get, config))
        config.names  # noqa: B018 - validates the stage name
        if config.adopt and config.ephemeral:
            raise InvalidContextError(
                "adopt", config.adopt, "false in an ephemeral stage (it keeps nothing to adopt)"
            )
        if config.adopt and config.existing_pool:
            raise InvalidContextError(
                "adopt", config.adopt, f"false with {USER_POOL_ID_KEY} (the stack owns no pool)"
            )
        return config


@dataclass(frozen=True)
class ExistingPool:
    """A user pool the stack uses and does not own (``-c userPoolId=... -c
    userPoolClientId=...``)."""

    user_pool_id: str
    client_id: str

    @property
    def region(self) -> str:
        """The Region the id names: a pool's id starts with its Region's code."""
        return self.user_pool_id.split("_", 1)[0]


def _declared(get: Any) -> tuple[tuple[str, str], ...]:
    """Every declared setting as the context gives it, else its deploy default; a setting that
    takes only some values (``logLevel``) is checked here, so a wrong one stops the synth."""
    declared = {
        key: str(get(key)) if get(key) not in (None, "") else default
        for key, default in DEPLOY_DEFAULTS.items()
    }
    for setting in SETTINGS:
        if setting.choices and declared[setting.key] not in setting.choices:
            raise InvalidContextError(
                setting.key, get(setting.key), f"one of {', '.join(setting.choices)}"
            )
    return tuple(declared.items())


def _existing_pool(get: Any) -> ExistingPool | None:
    """Both or neither: the pool without the client its frontends use would leave the API
    and the outputs with none; a client without its pool means nothing."""
    pool, client = get(USER_POOL_ID_KEY) or None, get(USER_POOL_CLIENT_ID_KEY) or None
    if pool is None and client is None:
        return None
    if pool is None:
        raise InvalidContextError(
            USER_POOL_CLIENT_ID_KEY, client, f"given only with -c {USER_POOL_ID_KEY}=..."
        )
    if not _USER_POOL_ID.fullmatch(str(pool)):
        raise InvalidContextError(
            USER_POOL_ID_KEY, pool, "a user pool id, <region>_<id> (as eu-west-1_AbC123)"
        )
    if client is None:
        raise InvalidContextError(
            USER_POOL_CLIENT_ID_KEY,
            client,
            f"the app client id of {pool} your frontends use (`aws cognito-idp "
            f"list-user-pool-clients --user-pool-id {pool}`)",
        )
    if not _CLIENT_ID.fullmatch(str(client)):
        raise InvalidContextError(
            USER_POOL_CLIENT_ID_KEY, client, "an app client id (letters, digits, _ or +)"
        )
    return ExistingPool(str(pool), str(client))


def _bool(get: Any, key: str, default: bool) -> bool:
    value = get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in {"true", "false"}:
        return str(value).lower() == "true"
    raise InvalidContextError(key, value, "true or false")


def _switched_off(get: Any, config: StageConfig) -> frozenset[str]:
    """The switches whose part this stage leaves out, as the declaration reads them
    (``subscribed``): an unset switch is on only when the stage gives what its part needs."""
    given = {key: value for key, value in config.settings().items() if key not in SWITCHES_KEYS}
    off: set[str] = set()
    for subscription in SUBSCRIPTIONS:
        if subscription.switch is None:
            continue
        key = subscription.switch.key
        value = get(key)
        settings = {**given, key: "" if value is None else str(value)}
        try:
            if not subscribed(subscription, settings):
                off.add(key)
        except InvalidSwitchError:
            raise InvalidContextError(key, value, f"{ON} or {OFF}") from None
        except MissingSettingError as error:
            needs = " and ".join(f"-c {needed}=..." for needed in error.missing)
            raise InvalidContextError(
                key, value, f"{OFF}, or {ON} with {needs} ({error.needed_by} cannot run without it)"
            ) from None
    return frozenset(off)


def _sender(get: Any) -> str | None:
    """The welcome sender: a plain address (``name@domain``) on a domain SES can verify."""
    value = get("welcomeSender")
    if value is None or value == "":
        return StageConfig.welcome_sender
    sender = str(value)
    match = _ADDRESS.fullmatch(sender)
    if match is None:
        raise InvalidContextError("welcomeSender", value, "an email address, e.g. hello@yours.com")
    domain = match["domain"].lower()
    if domain in RESERVED_DOMAINS or domain.endswith(tuple(f".{d}" for d in RESERVED_DOMAINS)):
        raise InvalidContextError(
            "welcomeSender", value, "an address on a domain you own: SES cannot verify " + domain
        )
    if domain.rsplit(".", 1)[-1] in RESERVED_TLDS:
        raise InvalidContextError(
            "welcomeSender", value, "an address on a domain you own: SES cannot verify " + domain
        )
    return sender


def _choice(get: Any, key: str, choices: tuple[str, ...], default: str) -> str:
    value = get(key)
    if value is None or value == "":
        return default
    if str(value) not in choices:
        raise InvalidContextError(key, value, " or ".join(choices))
    return str(value)


def _days(get: Any, key: str, default: int) -> int:
    value = get(key)
    if value is None:
        return default
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise InvalidContextError(key, value, "a whole number of days") from None
    if days < 0:
        raise InvalidContextError(key, value, "0 or more days")
    return days
