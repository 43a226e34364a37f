"""``userpipe attach-triggers``: attach userpipe's confirm trigger to a user pool the stack does
not own (``-c userPoolId``), without changing anything else of the pool; and put a saved
``LambdaConfig`` back (the rollback).

CloudFormation cannot attach it: the pool is not a resource of the stack. Cognito's own API
must, and ``UpdateUserPool`` is a replacement, not a patch: "If you don't provide a value for
an attribute, Amazon Cognito sets it to its default value. [...] This can reset configurations
including your attribute schema, your Lambda triggers, and your email and SMS message
configuration" (Cognito developer guide, "Updating user pool and app client configuration",
https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-updating.html; the
API reference says the same, https://docs.aws.amazon.com/cognito-user-identity-pools/latest/
APIReference/API_UpdateUserPool.html). aws-cli#3302 (tags, password policy and verification
reset by an `update-user-pool --lambda-config`), serverless#6499 and amplify-cli#7666/#7671
are what it did to others. So the request is built from ``DescribeUserPool``: every field the
description returns that ``UpdateUserPool`` takes (read from botocore's service model, so a
field AWS adds is carried over without a change here, and nothing read-only is sent), with
the ``LambdaConfig`` changed and nothing else. Known traps, each handled and tested:

- ``AdminCreateUserConfig.UnusedAccountValidityDays`` is "no longer in use" and "When you set
  TemporaryPasswordValidityDays for a user pool, you can no longer set a value for the legacy
  UnusedAccountValidityDays" (botocore's model): sending the description back fails with
  "Please use TemporaryPasswordValidityDays in PasswordPolicy instead of
  UnusedAccountValidityDays" (aws-sdk-js#3817, hashicorp/terraform#21561). It is left out, its
  value moved to ``TemporaryPasswordValidityDays`` when the policy has none (as serverless's
  custom resource for existing pools does).
- DescribeUserPool says ``Name``, UpdateUserPool ``PoolName``: carried over under its new name.
- ``DeletionProtection``, ``UserPoolTags``, ``EmailConfiguration``, ``SmsConfiguration``,
  ``VerificationMessageTemplate``, ``UserPoolAddOns``, ``AccountRecoverySetting`` and the rest
  are carried over as described: left out, each would reset (deletion protection off, tags
  gone, email back to Cognito's sender).

After the write the pool is described again and compared with the first description, field
by field, ``LambdaConfig`` and the counters aside: any difference fails loudly, naming it, and
the saved file puts the triggers back. The local stack's emulator (moto) resets what it is not
given exactly like this, so the tests prove the carry-over there as well as on fakes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from userpipe.aws.deployment import Deployment
from userpipe.aws.status import (
    POST_CONFIRMATION,
    PRE_TOKEN_GENERATION,
    confirm_trigger_arn,
    pre_token_generation_arn,
    same_function,
)
from userpipe.errors import OperatorError

#: UpdateUserPool's name for a field DescribeUserPool returns under another.
RENAMED: Final = {"PoolName": "Name"}
#: What changes by itself between two descriptions (sign-ups, the write itself), and the
#: triggers, which the write changes: left out of the check that nothing else changed.
CHANGES_BY_ITSELF: Final = frozenset({"LastModifiedDate", "EstimatedNumberOfUsers", "LambdaConfig"})
#: Fixed when a pool is created ("Settings you can't change", Cognito developer guide): AWS
#: keeps them through UpdateUserPool; plain moto 5.2.5 does not (``update_extended_config``
#: starts from its defaults), so an emulator that does not guard them shows them changed.
CREATION_ONLY: Final = frozenset(
    {"UsernameAttributes", "AliasAttributes", "UsernameConfiguration", "SchemaAttributes"}
)
#: Pre token generation as the stack attaches it to a pool it owns (``infra.parts.identity``):
#: V1_0, whose events the function returns unchanged (V2_0 needs a paid feature plan).
PRE_TOKEN_GENERATION_VERSION: Final = "V1_0"  # noqa: S105 - a version, not a secret


class NotAttachedError(OperatorError):
    """The pool does not have the triggers asked for (exit 1)."""

    exit_code = 1


class PoolChangedError(NotAttachedError):
    """The write changed more than the triggers, or not the triggers as sent."""


class SavedConfigError(NotAttachedError):
    """A ``--restore`` file that is not what ``attach-triggers`` saved."""


@cache
def writable_fields() -> frozenset[str]:
    """Every field ``UpdateUserPool`` takes, but the pool's id (botocore's service model)."""
    import boto3

    client = boto3.client("cognito-idp", region_name="us-east-1")
    shape = client.meta.service_model.operation_model("UpdateUserPool").input_shape
    assert shape is not None  # an operation with input
    return frozenset(shape.members) - {"UserPoolId"}


def update_request(
    described: Mapping[str, Any],
    lambda_config: Mapping[str, Any],
    writable: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The ``UpdateUserPool`` request that leaves the pool ``described`` (DescribeUserPool's
    ``UserPool``) as it is, but for its ``LambdaConfig``."""
    fields = frozenset(writable if writable is not None else writable_fields())
    request: dict[str, Any] = {"UserPoolId": described["Id"]}
    for name in sorted(fields):
        source = RENAMED.get(name, name)
        if source in described:
            request[name] = json.loads(json.dumps(described[source], default=str))  # a copy
    _move_the_legacy_validity(request)
    request["LambdaConfig"] = dict(lambda_config)
    return request


def _move_the_legacy_validity(settings: dict[str, Any]) -> None:
    """``UnusedAccountValidityDays`` out, its value as ``TemporaryPasswordValidityDays`` when
    the policy has none (the module's docstring): in place, on a request or a description."""
    admin = settings.get("AdminCreateUserConfig")
    if admin and "UnusedAccountValidityDays" in admin:
        legacy = admin.pop("UnusedAccountValidityDays")
        password = settings.setdefault("Policies", {}).setdefault("PasswordPolicy", {})
        if legacy and not password.get("TemporaryPasswordValidityDays"):
            password["TemporaryPasswordValidityDays"] = legacy


@dataclass
class Attachment:
    """What attaching does to a ``LambdaConfig``: the new one, and what to say about it."""

    before: dict[str, Any]
    after: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """Each trigger field that changes: ``(before, after)`` (``None``: not set)."""
        names = sorted(set(self.before) | set(self.after))
        return {
            n: (self.before.get(n), self.after.get(n))
            for n in names
            if self.before.get(n) != self.after.get(n)
        }


def attach(lambda_config: Mapping[str, Any], trigger: str) -> Attachment:
    """``lambda_config`` with ``trigger`` as PostConfirmation and as pre token generation
    (unless another function has that: theirs is kept), every other trigger as it was."""
    before = dict(lambda_config)
    after = dict(lambda_config)
    notes: list[str] = []
    replaced = before.get(POST_CONFIRMATION)
    after[POST_CONFIRMATION] = trigger
    if replaced and not same_function(replaced, trigger):
        notes.append(
            f"PostConfirmation was {replaced}: replaced (a sign-up now runs userpipe's trigger "
            "instead; the saved file puts it back)"
        )
    pre_token = pre_token_generation_arn(before)
    if pre_token is None or same_function(pre_token, trigger):
        after["PreTokenGenerationConfig"] = {
            "LambdaArn": trigger,
            "LambdaVersion": PRE_TOKEN_GENERATION_VERSION,
        }
        if PRE_TOKEN_GENERATION in before:  # the legacy field must equal the config's ARN
            after[PRE_TOKEN_GENERATION] = trigger
    else:
        notes.append(
            f"pre token generation is {pre_token}, not userpipe's: kept (a pool has one such "
            "trigger, and that one may customize tokens). userpipe's trigger is what records "
            "an admin-created user at their first sign-in, so until it is attached such users "
            "get their record from reconcile (daily, or `userpipe reconcile`)"
        )
    return Attachment(before, after, notes)


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields of two descriptions of a pool that differ, triggers and counters aside, and
    the one change the request makes on purpose (the legacy validity moved) too."""
    was, now = _plain(dict(before)), _plain(dict(after))
    _move_the_legacy_validity(was)
    _move_the_legacy_validity(now)
    names = (set(was) | set(now)) - CHANGES_BY_ITSELF
    return sorted(n for n in names if was.get(n) != now.get(n))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


# --- on a deployment ---------------------------------------------------------------------------


@dataclass
class Plan:
    pool_id: str
    trigger: str  # userpipe's confirm trigger's ARN
    attachment: Attachment
    request: dict[str, Any]  # the UpdateUserPool request

    def as_dict(self) -> dict[str, Any]:
        return {
            "userPoolId": self.pool_id,
            "trigger": self.trigger,
            "lambdaConfig": {"before": self.attachment.before, "after": self.attachment.after},
            "changes": {
                k: {"before": b, "after": a} for k, (b, a) in self.attachment.changes.items()
            },
            "notes": self.attachment.notes,
        }


def describe_pool(deployment: Deployment) -> dict[str, Any]:
    pool_id = deployment.output("user_pool_id")
    return dict(deployment.clients.cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"])


def plan(deployment: Deployment, described: Mapping[str, Any] | None = None) -> Plan:
    """What attaching would send, from the pool as it is now."""
    pool = dict(described or describe_pool(deployment))
    trigger = confirm_trigger_arn(str(pool["Arn"]), deployment.stage)
    if not deployment.local:
        _exists(deployment, trigger)
    attachment = attach(pool.get("LambdaConfig") or {}, trigger)
    attachment.notes += email_update_notes(pool)
    return Plan(str(pool["Id"]), trigger, attachment, update_request(pool, attachment.after))


def email_update_notes(pool: Mapping[str, Any]) -> list[str]:
    """What to say when the pool replaces an email before it is verified: Cognito then makes
    the new address the user's at once (``UserAttributeUpdateSettings``, API reference:
    "AttributesRequireVerificationBeforeUpdate ... Amazon Cognito doesn't update the value of
    the attribute until your user verifies it" only for the attributes it lists), and user_sync
    follows Cognito, so the record takes an address nobody verified. Said, never changed: how
    an existing pool handles email changes is its app's decision."""
    settings = pool.get("UserAttributeUpdateSettings") or {}
    if "email" in (settings.get("AttributesRequireVerificationBeforeUpdate") or []):
        return []
    return [
        "this pool replaces a user's email before they verify the new one (its "
        "UserAttributeUpdateSettings do not list email): the record will follow an unverified "
        'address. Keep the verified one until then: in the Cognito console, "keep original '
        'attribute value active when an update is pending" for email (a bare `update-user-pool` '
        "would reset the rest; docs/deploy.md)"
    ]


def _exists(deployment: Deployment, trigger: str) -> None:
    """Refuse to attach a function that is not there (Cognito would fail every sign-up). The
    local stack runs its functions itself, outside the emulator's Lambda: nothing to ask."""
    lambda_ = deployment.clients.lambda_
    try:
        lambda_.get_function_configuration(FunctionName=trigger)
    except lambda_.exceptions.ResourceNotFoundException:
        raise NotAttachedError(
            f"{trigger} does not exist: deploy the stack first (`npx cdk deploy -c "
            f"stage={deployment.stage} -c userPoolId=... -c userPoolClientId=...`)"
        ) from None


def saved_path(pool_id: str, now: datetime | None = None) -> Path:
    """Where the pool's triggers are saved before a write: named by pool and time, so that a
    second run never overwrites the first one's (the state before userpipe)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"lambda-config-{pool_id}-{moment}.json")


def save(path: Path, pool_id: str, lambda_config: Mapping[str, Any]) -> None:
    path.write_text(
        json.dumps({"userPoolId": pool_id, "LambdaConfig": dict(lambda_config)}, indent=2) + "\n"
    )


def write(
    deployment: Deployment, lambda_config: Mapping[str, Any], before: Mapping[str, Any]
) -> dict[str, Any]:
    """Send ``before`` back with ``lambda_config``; describe again and fail loudly if anything
    but the triggers changed. The new description."""
    cognito = deployment.clients.cognito
    cognito.update_user_pool(**update_request(before, lambda_config))
    after = describe_pool(deployment)
    changed = differences(before, after)
    if changed:
        emulator = (
            " (the local stack's emulator forgets these on UpdateUserPool; AWS keeps them)"
            if deployment.local and set(changed) <= CREATION_ONLY
            else ""
        )
        raise PoolChangedError(
            f"UpdateUserPool changed more than the triggers of {before['Id']}: "
            f"{', '.join(changed)}{emulator}. Compare `aws cognito-idp describe-user-pool` with "
            "what it was and set those back by hand; the saved file puts the triggers back "
            "(`userpipe attach-triggers --restore FILE`)"
        )
    if not written(lambda_config, after.get("LambdaConfig") or {}):
        raise PoolChangedError(
            f"the pool's triggers are not what was written: "
            f"{json.dumps(after.get('LambdaConfig'))} (sent {json.dumps(dict(lambda_config))})"
        )
    return after


def written(sent: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Does the pool hold the triggers ``sent``? Each as sent; one more only where Cognito
    mirrors: the legacy ``PreTokenGeneration`` beside ``PreTokenGenerationConfig``, equal to
    its ARN (the API requires them equal)."""
    if any(_plain(found.get(name)) != _plain(value) for name, value in sent.items()):
        return False
    extra = set(found) - set(sent)
    mirrored = found.get(PRE_TOKEN_GENERATION) == pre_token_generation_arn(dict(sent))
    return extra <= {PRE_TOKEN_GENERATION} and (not extra or mirrored)


def read_saved(path: Path, pool_id: str) -> dict[str, Any]:
    """The ``LambdaConfig`` a file ``attach-triggers`` wrote holds, for this pool only."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SavedConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("LambdaConfig"), dict):
        raise SavedConfigError(f"{path} is not a file attach-triggers saved (no LambdaConfig)")
    if saved.get("userPoolId") != pool_id:
        raise SavedConfigError(
            f"{path} holds the triggers of {saved.get('userPoolId')!r}, not of {pool_id}"
        )
    config: dict[str, Any] = saved["LambdaConfig"]
    return config
