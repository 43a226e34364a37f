from __future__ import annotations

import importlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from contracts.topology import FUNCTIONS

if TYPE_CHECKING:
    from tests.integration.test_amplify_js import NodeClient
    from userpipe.local.client import StackClient
    from userpipe.local.stack import LocalStack

# Never reach real AWS: fake credentials, a fixed region, and the endpoint mode moto routes.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "userpipe-tests",
    }
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

#: Each declared function's Powertools logger (its service name).
SERVICE_LOGGERS = tuple(spec.service for spec in FUNCTIONS)


@dataclass
class FakeLambdaContext:
    function_name: str = "userpipe-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:userpipe-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every JSON line the service loggers write during the test, parsed."""
    for spec in FUNCTIONS:
        importlib.import_module(f"{spec.package}.handler")  # configures its logger

    stream = io.StringIO()
    attached = []
    for name in SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logger.handlers[0].formatter)
        logger.addHandler(handler)
        attached.append((logger, handler, logger.level))
        logger.setLevel(logging.INFO)
    # One record per "\n": splitlines() would also split on \x1c, \x85, \u2028 and friends,
    # which JSON leaves unescaped.
    yield lambda: [json.loads(line) for line in stream.getvalue().split("\n") if line]
    for logger, handler, level in attached:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack for the tests of one module (the emulator is process-wide, so a
    module that uses moto in-process must not use this)."""
    from userpipe.local.stack import LocalStack, LocalStackOptions

    state: Path = tmp_path_factory.mktemp("stack")
    with LocalStack(LocalStackOptions(state_dir=state, stage="test")) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> StackClient:
    from userpipe.local.client import StackClient

    return StackClient(stack.outputs())


@pytest.fixture
def nodes() -> Iterator[list[NodeClient]]:
    """The Node clients a test starts (``NodeClient``): each killed after it, if still running."""
    started: list[NodeClient] = []
    yield started
    for node in started:
        node.kill()
