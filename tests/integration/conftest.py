from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from userpipe.local.clients import Clients
from userpipe.local.pipeline import LocalPipeline, local_pipeline


@pytest.fixture
def pipeline() -> Iterator[LocalPipeline]:
    """The whole pipeline on moto in-process, stage 'test'."""
    with mock_aws(), local_pipeline(Clients(), stage="test") as pipe:
        yield pipe
