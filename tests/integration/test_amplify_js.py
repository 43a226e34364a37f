"""A frontend's Amplify JS v6 code (the published aws-amplify package from npm, pinned in
package-lock.json) runs unchanged against the local stack: signUp, confirmSignUp with the code
from the outbox, signIn with SRP, and generateClient().graphql queries and mutations, with the
configuration file the stack writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "clients" / "amplify_flow.mjs"


def node_env(stack: LocalStack) -> dict[str, str]:
    """How Node trusts the local stack's TLS port: its CA, added to Node's own."""
    return {**os.environ, "NODE_EXTRA_CA_CERTS": stack.outputs()["ca_cert_path"]}


def test_amplify_js_v6_signs_up_confirms_signs_in_and_calls_graphql_unchanged(
    stack: LocalStack,
) -> None:
    node = shutil.which("node")
    assert node, "Node is part of this project's toolchain"
    assert (ROOT / "node_modules" / "aws-amplify").is_dir(), "run `make install` (npm ci)"
    result = subprocess.run(
        [node, str(SCRIPT), str(stack.outputs_path), "amplify.user@example.com",
         "Correct-Horse-9-Battery!"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=node_env(stack),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["signUpStep"] == "CONFIRM_SIGN_UP" and seen["codeSentBy"] == "EMAIL"
    assert seen["wrongCode"] == "CodeMismatchException"
    assert seen["confirmed"] is True and seen["signedIn"] is True
    assert seen["me"] == {"id": seen["sub"], "email": "amplify.user@example.com", "_version": 1}
    assert seen["edited"] == {"id": seen["sub"], "name": "From Amplify", "_version": 2}
    assert seen["stale"]["errorType"] == "ConflictUnhandled"
    assert seen["stale"]["data"]["_version"] == 2
    assert seen["signedOut"] != "answered"  # no token after signOut: nothing to call with
