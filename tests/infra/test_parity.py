"""The local stack and the synthesized CloudFormation template, both built from the one
declaration (``contracts/topology.py``), describe the same stack: names, event patterns, queue
settings and DLQs, event sources (batch sizes, windows, receive counts, retries, on-failure
queues), the user pool, and each function's environment — variable by variable, down to which
resource attribute each one names.

Each side is reduced to the same plain description; the test compares them whole — for the
stage with every part, and for one that switches the optional example consumer off and turns
the settings that change functions' environments (``announceChanges``, ``logLevel``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from contracts.topology import OUTPUTS, ResourceNames, parts_for
from tests.infra.conftest import WELCOME_SENDER, Synthesized, synthesize
from userpipe.local.sandbox import LOCAL_ONLY_VARIABLES, lambda_runtime_environment
from userpipe.local.sources import QueuePoller, StreamPoller
from userpipe.local.stack import DEFAULT_SETTINGS, LocalStack, LocalStackOptions

STAGE = "local"
NAMES = ResourceNames(STAGE)
SQS_DEFAULT_VISIBILITY = 30
SQS_DEFAULT_RETENTION = 4 * 86_400
#: The stages compared, by the settings both sides are given (CDK context, the local stack's
#: settings). One local stack runs at a time: pytest ends a variant's before the next starts.
VARIANTS = {
    "every-part": {"welcomeSender": WELCOME_SENDER},
    # Every setting turned from its default: environments and outputs follow on both sides.
    "knobs-turned": {
        "welcomeSender": WELCOME_SENDER,
        "welcomeNotifier": "off",
        "announceChanges": "off",
        "logLevel": "WARN",
    },
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> dict[str, str]:
    return VARIANTS[request.param]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, variant: dict[str, str]) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("parity"), {"stage": STAGE, **variant})


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, variant: dict[str, str]
) -> Iterator[LocalStack]:
    os.environ["USERPIPE_HOST_ONLY"] = "a host variable no function may see"
    with LocalStack(
        LocalStackOptions(
            stage=STAGE,
            state_dir=tmp_path_factory.mktemp("parity-stack"),
            settings={**DEFAULT_SETTINGS, **variant},
        )
    ) as running:
        yield running
    os.environ.pop("USERPIPE_HOST_ONLY")


# --- the template, described ----------------------------------------------------------------


class TemplateView:
    """Reads a template the way CloudFormation resolves it, as far as these checks need."""

    #: Each resource type's name property and what ``Ref`` returns for it.
    KINDS: ClassVar[dict[str, tuple[str, str]]] = {
        "AWS::DynamoDB::Table": ("TableName", "name"),
        "AWS::SQS::Queue": ("QueueName", "url"),
        "AWS::Events::EventBus": ("Name", "name"),
        "AWS::Events::Rule": ("Name", "arn"),
        "AWS::SecretsManager::Secret": ("Name", "arn"),
        "AWS::Lambda::Function": ("FunctionName", "name"),
        "AWS::Cognito::UserPool": ("UserPoolName", "id"),
        "AWS::AppSync::GraphQLApi": ("Name", "api_id"),
    }
    GET_ATT: ClassVar[dict[str, str]] = {
        "Arn": "arn",
        "StreamArn": "stream_arn",
        "QueueUrl": "url",
        "QueueName": "name",
        "GraphQLUrl": "graphql_url",
    }

    def __init__(self, stack: Synthesized) -> None:
        self.resources: dict[str, dict[str, Any]] = stack.template["Resources"]

    def name_of(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        name_property, _ = self.KINDS[resource["Type"]]
        return str(resource["Properties"][name_property])

    def ref(self, token: Any) -> str:
        """A token as '<physical name>.<attribute>'."""
        if isinstance(token, dict) and "Ref" in token:
            logical_id = token["Ref"]
            _, attribute = self.KINDS[self.resources[logical_id]["Type"]]
            return f"{self.name_of(logical_id)}.{attribute}"
        if isinstance(token, dict) and "Fn::GetAtt" in token:
            logical_id, attribute = token["Fn::GetAtt"]
            return f"{self.name_of(logical_id)}.{self.GET_ATT[attribute]}"
        return str(token)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r["Properties"] for r in self.resources.values() if r["Type"] == kind]


def describe_template(stack: Synthesized) -> dict[str, Any]:
    view = TemplateView(stack)
    queues = {
        props["QueueName"]: {
            "visibility": props.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY),
            "retention": props.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION),
            "redrive": {
                "dlq": view.ref(props["RedrivePolicy"]["deadLetterTargetArn"]),
                "max_receive": props["RedrivePolicy"]["maxReceiveCount"],
            }
            if "RedrivePolicy" in props
            else None,
        }
        for props in view.of_type("AWS::SQS::Queue")
    }
    rules = {}
    for props in view.of_type("AWS::Events::Rule"):
        if "ScheduleExpression" in props:
            continue  # schedules: the local stack runs none (the README says so)
        (target,) = props["Targets"]
        rules[props["Name"]] = {
            "bus": view.ref(props["EventBusName"]),
            "pattern": props["EventPattern"],
            "queue": view.ref(target["Arn"]),
            "dlq": view.ref(target["DeadLetterConfig"]["Arn"]),
            "retry": target["RetryPolicy"],
        }
    sources = {}
    for props in view.of_type("AWS::Lambda::EventSourceMapping"):
        function = view.ref(props["FunctionName"])
        wiring = {
            "from": view.ref(props["EventSourceArn"]),
            "batch_size": props["BatchSize"],
            "window": props["MaximumBatchingWindowInSeconds"],
            "partial_failures": props["FunctionResponseTypes"] == ["ReportBatchItemFailures"],
        }
        if "ScalingConfig" in props:
            wiring["max_concurrency"] = props["ScalingConfig"]["MaximumConcurrency"]
        if "StartingPosition" in props:
            wiring |= {
                "starting_position": props["StartingPosition"],
                "retries": props["MaximumRetryAttempts"],
                "bisect": props["BisectBatchOnFunctionError"],
                "on_failure": view.ref(props["DestinationConfig"]["OnFailure"]["Destination"]),
            }
        sources[function] = wiring
    functions = {
        props["FunctionName"]: {
            "handler": props["Handler"],
            "timeout": props["Timeout"],
            "memory": props["MemorySize"],
            "environment": {
                name: view.ref(value) for name, value in props["Environment"]["Variables"].items()
            },
        }
        for props in view.of_type("AWS::Lambda::Function")
    }
    (pool,) = view.of_type("AWS::Cognito::UserPool")
    (client,) = view.of_type("AWS::Cognito::UserPoolClient")
    (archive,) = view.of_type("AWS::Events::Archive")
    return {
        "tables": {
            props["TableName"]: {
                "keys": [[k["AttributeName"], k["KeyType"]] for k in props["KeySchema"]],
                "stream": props.get("StreamSpecification", {}).get("StreamViewType"),
                "ttl": props.get("TimeToLiveSpecification", {}).get("AttributeName"),
                "indexes": _indexes(props.get("GlobalSecondaryIndexes", []), props),
            }
            for props in view.of_type("AWS::DynamoDB::Table")
        },
        "bus": [props["Name"] for props in view.of_type("AWS::Events::EventBus")],
        "archive": {"name": archive["ArchiveName"], "pattern": archive["EventPattern"]},
        "queues": queues,
        "rules": rules,
        "sources": sources,
        "functions": functions,
        "pool": {
            "name": pool["UserPoolName"],
            "username_attributes": pool["UsernameAttributes"],
            "auto_verified": pool["AutoVerifiedAttributes"],
            "password": _password(pool["Policies"]["PasswordPolicy"]),
            "groups": sorted(p["GroupName"] for p in view.of_type("AWS::Cognito::UserPoolGroup")),
            "client": {
                "name": client["ClientName"],
                "flows": sorted(client["ExplicitAuthFlows"]),
                "reads": sorted(client["ReadAttributes"]),
            },
        },
        "secrets": sorted(p["Name"] for p in view.of_type("AWS::SecretsManager::Secret")),
    }


# --- the local stack, described (through its APIs and its sandboxes) -----------------------------


def describe_local(stack: LocalStack) -> dict[str, Any]:
    assert stack.resources is not None
    clients = stack.clients()
    outputs = stack.outputs()
    known = _local_values(stack)

    def ref(value: str) -> str:
        return known.get(value, value)

    queue_urls = clients.sqs.list_queues(QueueNamePrefix=NAMES.prefix)["QueueUrls"]
    queues = {}
    for url in queue_urls:
        attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
        queues[url.rsplit("/", 1)[-1]] = {
            "visibility": int(attributes["VisibilityTimeout"]),
            "retention": int(attributes["MessageRetentionPeriod"]),
            "redrive": {
                "dlq": ref(redrive["deadLetterTargetArn"]),
                "max_receive": int(redrive["maxReceiveCount"]),
            }
            if redrive
            else None,
        }
    rules = {}
    # Ours, and the account's default bus (where the emulated CloudTrail events arrive).
    for bus in (outputs["event_bus_name"], "default"):
        for rule in clients.events.list_rules(EventBusName=bus, NamePrefix=NAMES.prefix)["Rules"]:
            (target,) = clients.events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)[
                "Targets"
            ]
            rules[rule["Name"]] = {
                "bus": ref(rule["EventBusName"]),
                "pattern": json.loads(rule["EventPattern"]),
                "queue": ref(target["Arn"]),
                "dlq": ref(target["DeadLetterConfig"]["Arn"]),
                "retry": target["RetryPolicy"],
            }
    sources = {}
    for poller in stack.pollers:
        if isinstance(poller, QueuePoller):
            sources[f"{poller.sandbox.function_name}.name"] = {
                "from": ref(poller.queue["arn"]),
                "batch_size": poller.source.batch_size,
                "window": poller.source.max_batching_window_seconds,
                "partial_failures": True,
                "max_concurrency": poller.source.max_concurrency,
            }
        elif isinstance(poller, StreamPoller):
            sources[f"{poller.sandbox.function_name}.name"] = {
                "from": ref(poller.stream_arn),
                "batch_size": poller.source.batch_size,
                "window": poller.source.max_batching_window_seconds,
                "partial_failures": True,
                "starting_position": poller.source.starting_position,
                "retries": poller.source.max_retry_attempts,
                "bisect": poller.source.bisect_batch_on_error,
                "on_failure": ref(poller.on_failure["arn"]),
            }
    functions = {}
    for sandbox in stack.sandboxes.values():
        runtime = lambda_runtime_environment(sandbox.spec, sandbox.function_name, "eu-west-1")
        declared = {
            name: ref(value)
            for name, value in sandbox.environment.items()
            if name not in runtime and name not in LOCAL_ONLY_VARIABLES
        }
        functions[sandbox.function_name] = {
            "handler": sandbox.spec.handler,
            "timeout": sandbox.spec.timeout_seconds,
            "memory": sandbox.spec.memory_mb,
            "environment": declared,
        }
    pool = clients.cognito.describe_user_pool(UserPoolId=outputs["user_pool_id"])["UserPool"]
    client = clients.cognito.describe_user_pool_client(
        UserPoolId=outputs["user_pool_id"], ClientId=outputs["user_pool_client_id"]
    )["UserPoolClient"]
    groups = clients.cognito.list_groups(UserPoolId=outputs["user_pool_id"])["Groups"]
    archive = clients.events.describe_archive(ArchiveName=outputs["archive_name"])
    secrets = clients.secrets.list_secrets()["SecretList"]
    tables = {}
    for name in clients.dynamodb.list_tables()["TableNames"]:
        table = clients.dynamodb.describe_table(TableName=name)["Table"]
        ttl = clients.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tables[name] = {
            "keys": [[k["AttributeName"], k["KeyType"]] for k in table["KeySchema"]],
            "stream": table.get("StreamSpecification", {}).get("StreamViewType"),
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
            "indexes": _indexes(table.get("GlobalSecondaryIndexes", []), table),
        }
    return {
        "tables": tables,
        "bus": [outputs["event_bus_name"]],
        "archive": {"name": archive["ArchiveName"], "pattern": json.loads(archive["EventPattern"])},
        "queues": queues,
        "rules": rules,
        "sources": sources,
        "functions": functions,
        "pool": {
            "name": pool["Name"],
            "username_attributes": pool["UsernameAttributes"],
            "auto_verified": pool["AutoVerifiedAttributes"],
            "password": _password(pool["Policies"]["PasswordPolicy"]),
            "groups": sorted(group["GroupName"] for group in groups),
            "client": {
                "name": client["ClientName"],
                "flows": sorted(client["ExplicitAuthFlows"]),
                "reads": sorted(client["ReadAttributes"]),
            },
        },
        "secrets": sorted(secret["Name"] for secret in secrets),
    }


def _local_values(stack: LocalStack) -> dict[str, str]:
    """Each value the local stack built (ARN, URL, name) as '<physical name>.<attribute>'."""
    assert stack.resources is not None
    known: dict[str, str] = {}
    for resource, attributes in stack.resources._attributes.items():
        name = attributes.get("name") or attributes.get("api_id") or resource
        for attribute, value in attributes.items():
            known[value] = f"{name}.{attribute}"
    for sandbox in stack.sandboxes.values():
        known[sandbox.arn] = f"{sandbox.function_name}.arn"
    return known


def _indexes(indexes: list[dict[str, Any]], table: dict[str, Any]) -> dict[str, Any]:
    """Each global secondary index: its keys (with their types) and projection. CloudFormation
    and DescribeTable spell them alike."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    return {
        index["IndexName"]: {
            "keys": [
                [k["AttributeName"], k["KeyType"], types[k["AttributeName"]]]
                for k in index["KeySchema"]
            ],
            "projection": index["Projection"]["ProjectionType"],
        }
        for index in indexes
    }


def _password(policy: dict[str, Any]) -> dict[str, Any]:
    """A password policy: CloudFormation and the Cognito API use the same keys."""
    keys = ("MinimumLength", "RequireLowercase", "RequireUppercase", "RequireNumbers")
    return {key: policy[key] for key in (*keys, "RequireSymbols")}


# --- the checks ---------------------------------------------------------------------------------


def test_the_local_stack_and_the_template_describe_the_same_stack(
    template: Synthesized, stack: LocalStack
) -> None:
    assert template.error is None, template.error
    deployed, local = describe_template(template), describe_local(stack)
    for part in deployed:
        assert local[part] == deployed[part], part


def test_both_have_the_outputs_of_what_they_built(
    template: Synthesized, stack: LocalStack, variant: dict[str, str]
) -> None:
    assert stack.resources is not None
    declared = stack.resources.parts.outputs
    cloudformation_only = {"UserConfirmedSchemaName", "AlarmTopicArn"}
    assert set(template.template["Outputs"]) - cloudformation_only == {o.name for o in declared}
    outputs = stack.outputs()
    for output in declared:
        assert outputs[output.local_name], output.local_name
    # A setting's output is the value the stage was built with, alike on both sides.
    built_with = variant.get("announceChanges", "on")
    assert template.template["Outputs"]["AnnounceChanges"]["Value"] == built_with
    assert outputs["announce_changes"] == built_with
    assert {o.local_name for o in OUTPUTS if o not in declared}.isdisjoint(outputs)


def test_a_part_switched_off_is_in_neither(
    template: Synthesized, stack: LocalStack, variant: dict[str, str]
) -> None:
    left_out = parts_for(variant).left_out
    switched_off = variant.get("welcomeNotifier") == "off"
    assert [s.id for s in left_out] == (["WelcomeNotifier"] if switched_off else [])
    for described in (describe_template(template), describe_local(stack)):
        for subscription in left_out:
            assert NAMES.of(subscription.queue) not in described["queues"]
            assert NAMES.of(subscription.dlq) not in described["queues"]
            assert NAMES.of(subscription.rule) not in described["rules"]
            assert NAMES.function(subscription.consumer) not in described["functions"]


def test_each_function_process_has_exactly_its_own_environment(stack: LocalStack) -> None:
    """Read from the running processes themselves (/proc): no other function's variable and
    nothing of the host's."""
    for sandbox in stack.sandboxes.values():
        sandbox.invoke({"Records": []} if sandbox.spec.id != "ConfirmTrigger" else {})
        assert sandbox._process is not None
        raw = Path(f"/proc/{sandbox._process.pid}/environ").read_bytes()
        seen = dict(entry.split("=", 1) for entry in raw.decode().split("\0") if entry)
        assert seen.pop("USERPIPE_ANSWER_FD")  # the worker's answer pipe, not the function's
        assert seen == sandbox.environment
        assert "USERPIPE_HOST_ONLY" not in seen
        others = {
            variable.variable
            for other in stack.sandboxes.values()
            if other is not sandbox
            for variable in other.spec.environment
        } - {variable.variable for variable in sandbox.spec.environment}
        assert not others & set(seen), sandbox.function_name
