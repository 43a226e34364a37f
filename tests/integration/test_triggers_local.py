"""On the local stack: ``userpipe status`` tells when the pool's triggers are not userpipe's and
names the command that attaches them; ``userpipe attach-triggers --local`` attaches them and
``--restore`` takes them off again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from userpipe.aws.deployment import for_local_stack
from userpipe.cli import main
from userpipe.local.stack import LocalStack, LocalStackOptions
from userpipe.ops import triggers


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(LocalStackOptions(state_dir=tmp_path / "state", stage="pool")) as running:
        yield running


def userpipe(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*args, "--outputs", str(stack.outputs_path)])
    return code, capsys.readouterr().out


def trigger_problems(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> list[str]:
    found = json.loads(userpipe(stack, capsys, "status", "--local", "--json")[1])
    return [p for p in found["problems"] if "trigger" in p]


def test_status_tells_when_the_triggers_are_not_attached_and_attach_triggers_attaches_them(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = for_local_stack(stack.outputs())
    cognito = deployment.clients.cognito
    pool = triggers.describe_pool(deployment)
    # A pool without them (as an existing pool is before the cutover), taken off with the
    # request that keeps the rest.
    cognito.update_user_pool(**triggers.update_request(pool, {}))

    problems = trigger_problems(stack, capsys)
    assert problems == [
        "the pool's PostConfirmation trigger is not set, not userpipe's confirm trigger: "
        "sign-ups get no record until `userpipe attach-triggers --local` attaches it",
        "the pool has no pre token generation trigger: admin-created users get a record only "
        "from reconcile until `userpipe attach-triggers --local` attaches it",
    ]

    saved = tmp_path / "saved.json"
    code, out = userpipe(stack, capsys, "attach-triggers", "--local", "--save-to", str(saved))
    assert code == 0, out
    assert trigger_problems(stack, capsys) == []
    found = json.loads(userpipe(stack, capsys, "status", "--local", "--json")[1])
    ours = stack.sandboxes["ConfirmTrigger"].arn
    assert found["triggers"] == {
        "PostConfirmation": {"attached": ours, "ours": True},
        "PreTokenGeneration": {"attached": ours, "ours": True},
    }

    restore = ["--restore", str(saved), "--save-to", str(tmp_path / "undo.json")]
    assert userpipe(stack, capsys, "attach-triggers", "--local", *restore)[0] == 0
    assert len(trigger_problems(stack, capsys)) == 2
