"""What an operator command (and the local console) sees of a stack: its outputs and the
clients to reach it.

Filled from the local stack's outputs file (``--local``) or from a CloudFormation stack's
outputs (``--stack NAME``); a command never asks which, except where AWS and the emulator truly
differ, through ``Deployment.local`` (each such place says why).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from contracts.topology import Output, Parts, parts_with, snake_case
from userpipe.aws.clients import Clients, CredentialsNotFoundError, local_clients
from userpipe.aws.shell import aws_cli, local_aws_cli
from userpipe.errors import OperatorError
from userpipe.liveness import why_stopped

DEFAULT_OUTPUTS: Final = Path(".userpipe/outputs.json")


class DeploymentNotFoundError(OperatorError):
    """Nothing to operate on: the message says what was looked for."""


class LocalStackStoppedError(DeploymentNotFoundError):
    def __init__(self, path: Path, endpoint: str, reason: str) -> None:
        choose = "" if path == DEFAULT_OUTPUTS else f" --outputs {path}"
        super().__init__(
            f"the local stack at {endpoint} is not running ({reason}); start one with "
            f"`userpipe local up{choose}` (a new stack starts empty)"
        )


class MissingOutputError(OperatorError):
    def __init__(self, deployment: str, name: str) -> None:
        super().__init__(
            f"{deployment} has no output {name!r}: deploy the current version of the stack "
            "(outputs are declared in contracts/topology.py)"
        )


@dataclass(frozen=True)
class Deployment:
    name: str  # for messages: "stack userpipe-prod" or "the local stack at http://..."
    outputs: Mapping[str, str]  # snake-case names, as the local outputs file has them
    clients: Clients
    local: bool

    def output(self, name: str) -> str:
        """The output named ``name`` in the outputs file (snake case: ``user_table_name``)."""
        try:
            return str(self.outputs[name])
        except KeyError:
            raise MissingOutputError(self.name, name) from None

    def declared(self, output: Output) -> str:
        """The value of an output the declaration derives from a part (a subscription's
        ``queue_url``, say): the same lookup as ``output``, by the name the part gives it."""
        return self.output(output.local_name)

    @property
    def parts(self) -> Parts:
        """What it has of the declaration, told by its outputs: a stage that switched an
        optional subscription off (``-c welcomeNotifier=off``) has none of its outputs. A
        required part's missing output stays a ``MissingOutputError`` where it is read."""
        return parts_with(self.outputs)

    @property
    def stage(self) -> str:
        """The ``Stage`` output. Never parsed from a physical name: ``userpipe-pr-42-users``
        does not say where the stage ends."""
        return self.output("stage")

    def aws_command(self, arguments: str) -> str:
        """An AWS CLI command on this deployment, to print: it runs as pasted (the local
        stack's endpoint, Region and placeholder credentials; a stack's Region and profile)."""
        if self.local:
            return f"{local_aws_cli(self.outputs)} {arguments}"
        command = f"{aws_cli()} {arguments}"
        if self.outputs.get("region"):
            command += f" --region {self.outputs['region']}"
        profile = getattr(self.clients, "profile", None)
        return command + (f" --profile {profile}" if profile else "")

    # Where AWS and the local stack truly differ in timing (each command reads these instead
    # of asking which it runs against):

    @property
    def archive_lag(self) -> timedelta:
        """How old the newest event of a replay window must be. EventBridge: "There may be a
        delay between an event being received on an event bus and the event arriving in the
        archive. We recommend you delay replaying archived events for 10 minutes" (user guide,
        "Archiving and replaying events"). The local stack archives inside ``PutEvents``."""
        return timedelta(0) if self.local else timedelta(minutes=10)

    @property
    def settle_seconds(self) -> float:
        """How long a queue must read empty before it counts as drained. SQS: the approximate
        counts "may not achieve consistency until at least 1 minute after the producers stop
        sending messages" (API reference, ``GetQueueAttributes``). The emulator's are exact."""
        return 1.0 if self.local else 60.0

    @property
    def poll_seconds(self) -> float:
        """Between two reads of something that changes (a replay's state, a queue's depth)."""
        return 0.2 if self.local else 5.0


def from_local(
    path: Path | None = None, *, stopped: Callable[[Mapping[str, Any]], str | None] = why_stopped
) -> Deployment:
    """The local stack: ``path``, else ``$USERPIPE_OUTPUTS``, else ``.userpipe/outputs.json``;
    refused with the reason when the stack that wrote it no longer runs (``stopped``)."""
    chosen = path or Path(os.environ.get("USERPIPE_OUTPUTS") or DEFAULT_OUTPUTS)
    try:
        outputs: dict[str, Any] = json.loads(chosen.read_text())
    except FileNotFoundError:
        raise DeploymentNotFoundError(
            f"no local stack outputs at {chosen} (start one with `userpipe local up`, or name "
            "the file with --outputs or USERPIPE_OUTPUTS)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeploymentNotFoundError(
            f"{chosen} is not a local stack's outputs file: {exc}"
        ) from None
    if not isinstance(outputs, dict) or "endpoint_url" not in outputs:
        raise DeploymentNotFoundError(f"{chosen} is not a local stack's outputs file")
    reason = stopped(outputs)
    if reason is not None:
        raise LocalStackStoppedError(chosen, str(outputs["endpoint_url"]), reason)
    return for_local_stack(outputs)


def for_local_stack(outputs: Mapping[str, Any]) -> Deployment:
    """A local stack from its outputs as they are (a running stack passes its own)."""
    endpoint = str(outputs["endpoint_url"])
    if not outputs.get("credentials_path"):
        raise DeploymentNotFoundError(
            f"the local stack at {endpoint} names no credentials file (an older userpipe wrote "
            "its outputs): restart it with `userpipe local up`"
        )
    try:
        clients = local_clients(outputs)
    except CredentialsNotFoundError as exc:
        raise DeploymentNotFoundError(str(exc)) from None
    return Deployment(
        name=f"the local stack at {endpoint}",
        outputs={key: str(value) for key, value in outputs.items()},
        clients=clients,
        local=True,
    )


def from_stack(
    stack: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    clients: Callable[..., Clients] = Clients,
) -> Deployment:
    """A deployed stack, read from CloudFormation's ``DescribeStacks``."""
    connection = clients(region=region, profile=profile)
    if not connection.region:
        raise DeploymentNotFoundError(
            f"no AWS Region for stack {stack}: pass --region (e.g. --region eu-west-1), or "
            "configure one (AWS_REGION, `aws configure`)"
        )
    cloudformation = connection.cloudformation
    try:
        (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise DeploymentNotFoundError(
            f"no CloudFormation stack {stack!r} in region {connection.region or '(default)'}"
            f"{f' with profile {profile}' if profile else ''}: "
            f"{exc.response.get('Error', {}).get('Message', exc)}"
        ) from None
    outputs = {snake_case(o["OutputKey"]): o["OutputValue"] for o in described.get("Outputs", [])}
    if "event_bus_name" not in outputs:
        raise DeploymentNotFoundError(f"stack {stack!r} has no userpipe outputs (EventBusName)")
    outputs.setdefault("region", str(connection.region))
    return Deployment(name=f"stack {stack}", outputs=outputs, clients=connection, local=False)
