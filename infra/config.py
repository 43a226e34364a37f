"""What a deployment may choose, read from CDK context (``-c key=value`` or cdk.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.topology import (
    OFF,
    ON,
    SWITCHES,
    InvalidSwitchError,
    ResourceNames,
    Setting,
    switched_on,
)


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
    audit_retention_days: int = 0  # 0: audit records never expire
    log_retention_days: int = 30
    alarm_email: str | None = None
    welcome_sender: str = "no-reply@example.com"
    reconcile_schedule: str | None = None  # None: the declared default; "off": no schedule
    #: The optional parts this stage leaves out, by their switch's key (``welcomeNotifier``).
    switched_off: frozenset[str] = frozenset()

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.stage)

    def settings(self) -> dict[str, str]:
        """The values the declaration's ``Setting`` references name (``""``: unset)."""
        return {
            "auditRetentionDays": str(self.audit_retention_days or ""),
            "welcomeSender": self.welcome_sender,
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
            welcome_sender=str(get("welcomeSender") or defaults.welcome_sender),
            reconcile_schedule=str(get("reconcileSchedule")) if get("reconcileSchedule") else None,
            switched_off=frozenset(s.key for s in SWITCHES if not _switch(get, s)),
        )
        config.names  # noqa: B018 - validates the stage name
        if config.adopt and config.ephemeral:
            raise InvalidContextError(
                "adopt", config.adopt, "false in an ephemeral stage (it keeps nothing to adopt)"
            )
        return config


def _bool(get: Any, key: str, default: bool) -> bool:
    value = get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in {"true", "false"}:
        return str(value).lower() == "true"
    raise InvalidContextError(key, value, "true or false")


def _switch(get: Any, switch: Setting) -> bool:
    """On or off, as the declaration reads a switch (unset: on)."""
    value = get(switch.key)
    try:
        return switched_on(switch, {} if value is None else {switch.key: str(value)})
    except InvalidSwitchError:
        raise InvalidContextError(switch.key, value, f"{ON} or {OFF}") from None


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
