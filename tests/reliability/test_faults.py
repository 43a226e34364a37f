"""Store faults and crashes inside the projector and the audit trail, through the local stack.

Faults are injected into the functions' own DynamoDB calls (``userpipe.local.faults``): the
stack answers 30% of them with throttling, a 500, or a 504 after the write landed; or kills
the function mid-batch, or lets it hang past its timeout. The outcome must not depend on them:
every user projected once, every change audited once, only poison in a dead-letter queue.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.topology import AUDIT_TRAIL, USER_PROJECTOR, ResourceNames
from contracts.user_model import User
from tests.reliability.conftest import (
    confirmations,
    converged,
    count,
    inserts_by_user,
    publish,
    shuffled,
    sub_of,
)
from userpipe.local.client import StackClient, wait_for
from userpipe.local.faults import FaultPlan
from userpipe.local.stack import LocalStack, LocalStackOptions

STAGE = "faults"
FAULTED = (USER_PROJECTOR, AUDIT_TRAIL)
STORE_CALLS = ("DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem")
OTHER_POOL = "eu-west-1_AnotherPool1"


def plan(**options: object) -> FaultPlan:
    names = ResourceNames(STAGE)
    return FaultPlan(
        functions={names.function(spec) for spec in FAULTED},
        targets=STORE_CALLS,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def faults(request: pytest.FixtureRequest) -> FaultPlan:
    chosen: FaultPlan = request.param
    return chosen


@pytest.fixture
def stack(tmp_path: Path, faults: FaultPlan) -> Iterator[LocalStack]:
    options = LocalStackOptions(state_dir=tmp_path, stage=STAGE, faults=faults)
    with LocalStack(options) as running:
        if "hang" in faults.faults:
            # A hang lasts past the function's timeout; 3 s instead of 30 keeps the test short.
            for spec in FAULTED:
                sandbox = running.sandboxes[spec.id]
                sandbox.spec = dataclasses.replace(sandbox.spec, timeout_seconds=3)
        yield running


STORE_FAULTS = plan(faults=("throttle", "unavailable", "lost-answer"), rate=0.3, seed=11)


@pytest.mark.parametrize("faults", [STORE_FAULTS], indirect=True, ids=["30%-store-faults"])
def test_store_faults_on_30_percent_of_calls_lose_nothing_and_dead_letter_only_poison(
    stack: LocalStack, faults: FaultPlan
) -> None:
    client = StackClient(stack.outputs())
    entries = confirmations(client, 200)
    subs = {sub_of(entry) for entry in entries}
    # Poison: a sub already projected for another pool, and a message that is no event at all.
    squatted = confirmations(client, 1)[0]
    squatter = User(
        id=sub_of(squatted),
        user_pool_id=OTHER_POOL,
        email="squatter@example.com",
        owner=sub_of(squatted),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        version=1,
        last_changed_at=0,
    )
    client.aws.dynamodb.put_item(
        TableName=client.outputs["user_table_name"],
        Item=squatter.to_item(),  # type: ignore[arg-type]
    )
    publish(client, shuffled([*entries, squatted]))
    client.aws.sqs.send_message(QueueUrl=client.outputs["projector_queue_url"], MessageBody="{")

    dlq = client.outputs["projector_dlq_url"]
    converged(
        stack,
        client,
        lambda: count(client, "user_table_name") == len(subs) + 1 and client.depth(dlq) == 2,
        timeout=240,
        what="every user projected and the poison dead-lettered",
    )
    users = client.users()
    assert {users[sub].version for sub in subs} == {1}
    assert users[sub_of(squatted)].user_pool_id == OTHER_POOL  # never overwritten
    assert {sub: n for sub, n in inserts_by_user(client).items() if sub in subs} == dict.fromkeys(
        subs, 1
    )
    assert client.depth(client.outputs["audit_dlq_url"]) == 0

    reasons = rejection_reasons(stack)
    poison = client.aws.sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    assert len(poison) == 2
    for message in poison:
        assert message["MessageId"] in reasons, "each dead letter has its reason in the log"
    assert any("userPoolId" in reason for reason in reasons.values())

    kinds = {(function, fault) for function, fault in faults.injected}
    for spec in FAULTED:
        name = stack.sandboxes[spec.id].function_name
        for fault in faults.faults:
            assert (name, fault) in kinds, f"{fault} never hit {name}: the test would prove nothing"


CRASHES = plan(faults=("crash", "hang"), rate=0.15, seed=5, limit=4)


@pytest.mark.parametrize("faults", [CRASHES], indirect=True, ids=["crash-and-hang-mid-batch"])
def test_a_function_that_dies_mid_batch_converges_to_every_user_once_and_each_change_audited_once(
    stack: LocalStack, faults: FaultPlan
) -> None:
    client = StackClient(stack.outputs())
    entries = confirmations(client, 120)
    subs = {sub_of(entry) for entry in entries}
    publish(client, entries)

    converged(
        stack,
        client,
        lambda: (
            count(client, "user_table_name") == len(subs)
            and count(client, "audit_table_name") == len(subs)
        ),
        timeout=240,
        what="every user projected and audited",
    )
    wait_for(lambda: sum(faults.injected.values()) == faults.limit, what="every planned crash")
    users = client.users()
    assert set(users) == subs
    assert {user.version for user in users.values()} == {1}
    assert inserts_by_user(client) == dict.fromkeys(subs, 1)
    for url in ("projector_dlq_url", "audit_dlq_url"):
        assert client.depth(client.outputs[url]) == 0
    for spec in FAULTED:
        sandbox = stack.sandboxes[spec.id]
        hits = sum(n for (name, _), n in faults.injected.items() if name == sandbox.function_name)
        # Each crash or hang ends the function's process: the next invocation starts cold.
        assert sandbox.cold_starts == 1 + hits


def rejection_reasons(stack: LocalStack) -> dict[str, str]:
    """message id -> reason, from the projector's "message rejected" log lines."""
    reasons = {}
    for line in stack.sandboxes[USER_PROJECTOR.id].log:
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == "message rejected":
                reasons[entry["message_id"]] = entry["reason"]
    return reasons
