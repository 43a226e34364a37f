from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack, LocalStackOptions


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack for the tests of one module (the emulator is process-wide, so a
    module that uses moto in-process must not use this)."""
    state: Path = tmp_path_factory.mktemp("stack")
    with LocalStack(LocalStackOptions(state_dir=state, stage="test")) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> StackClient:
    return StackClient(stack.outputs())
