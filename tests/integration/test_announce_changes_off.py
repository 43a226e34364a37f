"""A stage built with ``-c announceChanges=off`` (here the local stack's ``--announce-changes
off``): the change publisher announces nothing the API did not make — and still puts every
change on the bus and erases a deleted user's key, so the event log stays whole: a rebuild
reproduces an edited user, ``userpipe verify`` passes without a subscription."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import STACK_PASSWORD, run_userpipe, user_item
from userpipe.local.client import StackClient
from userpipe.local.stack import DEFAULT_SETTINGS, LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration

EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name _version }
}"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("quiet")
    settings = {**DEFAULT_SETTINGS, "announceChanges": "off"}
    with LocalStack(LocalStackOptions(state_dir=state, stage="quiet", settings=settings)) as up:
        yield up


def test_the_outputs_say_nothing_is_announced(stack: LocalStack) -> None:
    assert stack.outputs()["announce_changes"] == "off"


def test_an_edit_is_still_logged_and_a_rebuild_reproduces_it(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    sub, tokens = client.confirmed_user(f"quiet-{uuid.uuid4().hex[:8]}@example.com", STACK_PASSWORD)
    edited = client.graphql(EDIT, {"input": {"id": sub, "name": "Ada"}}, token=tokens.id)
    assert edited.data["updateUser"]["_version"] == 2, edited.errors
    stack.settle(timeout=60)
    keys = client.aws.dynamodb.get_item(
        TableName=client.outputs["keys_table_name"], Key={"id": {"S": sub}}
    )
    assert "Item" in keys  # the edit was sealed and put on the bus: the log has it
    before = user_item(client, sub)

    run_userpipe(stack, capsys, "local", "empty-user-table")
    run_userpipe(stack, capsys, "rebuild", "--local", "--force")
    stack.settle(timeout=60)

    assert user_item(client, sub) == before
    assert before is not None and before["name"] == {"S": "Ada"}


def test_verify_passes_without_a_subscription(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_userpipe(stack, capsys, "verify", "--local")
    assert "onCreateUser" not in out
    assert "key deleted from the keys table" in out
