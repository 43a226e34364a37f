"""At-least-once, three times over: every event delivered three times, in shuffled order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    confirmations,
    converged,
    count,
    inserts_by_user,
    publish,
    shuffled,
    sub_of,
)
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack, LocalStackOptions

USERS = 500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("duplicates")
    with LocalStack(LocalStackOptions(state_dir=state, stage="dup")) as running:
        yield running


def test_each_event_three_times_in_any_order_makes_one_item_and_one_insert_per_user(
    stack: LocalStack,
) -> None:
    client = StackClient(stack.outputs())
    entries = confirmations(client, USERS)
    subs = {sub_of(entry) for entry in entries}
    publish(client, shuffled(entries * 3))

    converged(
        stack,
        client,
        lambda: (
            count(client, "user_table_name") == USERS and count(client, "audit_table_name") == USERS
        ),
        timeout=240,
        what=f"{USERS} items",
    )
    users = client.users()
    assert set(users) == subs
    assert {user.version for user in users.values()} == {1}
    assert inserts_by_user(client) == dict.fromkeys(subs, 1)
    assert [record for record in client.audit_records() if record.event_name != "INSERT"] == []
    assert client.depth(client.outputs["projector_dlq_url"]) == 0
