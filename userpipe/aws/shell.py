"""Commands to print for pasting: they must run in the shell that ran userpipe, as they are.

So ``userpipe`` is named as it was reached (``.venv/bin/userpipe`` when the virtualenv is not
active, ``python -m userpipe`` when run that way), the AWS CLI likewise (the virtualenv's, when
none is on ``PATH``), and a local stack's AWS CLI line carries its endpoint, its Region and
its credentials file (the stack refuses any other credentials; the secret itself is never
printed). In the shared layer because ``Deployment.aws_command`` prints these lines and they
name the local stack's credentials profile (``clients.LOCAL_PROFILE``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from userpipe.aws.clients import LOCAL_PROFILE


def userpipe_command(argv0: str | None = None) -> str:
    """How to run userpipe again: ``userpipe`` when that is what ``PATH`` finds, else the path
    it was started by (relative to here when it lies below)."""
    started = argv0 if argv0 is not None else sys.argv[0]
    name = Path(started).name
    if name == "__main__.py":
        return f"{_shown(sys.executable)} -m userpipe"
    if name != "userpipe":
        return "userpipe"  # run from elsewhere (a test, an embedding program)
    found = shutil.which("userpipe")
    if found and _same(found, started):
        return "userpipe"
    return _shown(started)


def aws_cli() -> str:
    """The AWS CLI: ``aws`` when ``PATH`` has one, else the one beside this Python (the
    virtualenv's, installed with the dev extra)."""
    if shutil.which("aws"):
        return "aws"
    beside = Path(sys.executable).parent / "aws"
    return _shown(str(beside)) if beside.exists() else "aws"


def local_aws_cli(outputs: Mapping[str, Any]) -> str:
    """The AWS CLI aimed at a local stack: its credentials file, endpoint and Region on the
    line. ``--profile`` (not ``AWS_PROFILE``) makes the CLI ignore credentials a shell may
    export: botocore leaves out the environment provider for an explicit profile."""
    credentials = shlex.quote(str(outputs["credentials_path"]))
    return (
        f"AWS_SHARED_CREDENTIALS_FILE={credentials} {aws_cli()} --profile {LOCAL_PROFILE} "
        f"--endpoint-url {outputs['endpoint_url']} --region {outputs['region']}"
    )


def outputs_option(path: Path, default: Path) -> str:
    """`` --outputs PATH`` when a stack's outputs are not where commands look by default."""
    if os.path.abspath(path) == os.path.abspath(default):
        return ""
    return f" --outputs {shlex.quote(str(path))}"


def _same(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _shown(path: str) -> str:
    """A path as typed here: relative when below the working folder (it then holds a ``/``, so
    the shell runs it rather than looking it up on ``PATH``)."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        relative = os.path.relpath(absolute, here)
        return shlex.quote(relative if os.sep in relative else f".{os.sep}{relative}")
    return shlex.quote(path if os.path.isabs(path) or os.sep in path else absolute)
