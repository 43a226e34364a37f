"""The AppSync resolver code, read out of the synthesized template, run in Node against the
Python resolver's answer contract (contracts/appsync.py), and held to AWS's own rules for the
APPSYNC_JS runtime (@aws-appsync/eslint-plugin, the line of `make lint` that runs eslint)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts.appsync import RESOLVER_CODE_PATH, data_answer, error_answer
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import resolver_code
from tests.support import load_event

HARNESS = """
import { request, response } from './resolver.mjs';
const run = (fn, ctx) => {
  globalThis.filterSet = undefined;
  try {
    const returned = fn(ctx) ?? null;
    return globalThis.filterSet ? { returned, filterSet: globalThis.filterSet } : { returned };
  } catch (e) { return { raised: e }; }
};
const cases = JSON.parse(process.argv[2]);
const outcomes = cases.map(([which, ctx]) => run(which === 'request' ? request : response, ctx));
console.log(JSON.stringify(outcomes));
"""
UTIL_STUB = (
    "const util = { error(message, type, data) { throw { message, type, data: data ?? null }; },"
    " transform: { toSubscriptionFilter(filter) { return { converted: filter }; } } };"
    " const extensions = { setSubscriptionFilter(filter) { globalThis.filterSet = filter; } };"
)
IMPORT = "import { extensions, util } from '@aws-appsync/utils';"
ROOT = Path(__file__).resolve().parents[2]
#: Code APPSYNC_JS cannot run: try/catch (a syntax rule) and String.padStart, a built-in it
#: lacks, which the plugin finds only with type information (contracts/tsconfig.json).
REFUSED = """
export function guarded(ctx) {
  try {
    return String(ctx.args.id).padStart(36, '0');
  } catch (e) {
    return null;
  }
}
"""


@pytest.fixture(scope="module")
def run_resolver(dev: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Any:
    node = shutil.which("node")
    assert node, "Node is part of this project's toolchain (CDK CLI)"
    resolvers = [r["Properties"] for r in dev.resources("AWS::AppSync::Resolver").values()]
    (resolver, *_) = [r for r in resolvers if r["FieldName"] == "getUser"]
    code = resolver_code(dev, resolver)
    assert IMPORT in code
    folder: Path = tmp_path_factory.mktemp("resolver")
    (folder / "resolver.mjs").write_text(code.replace(IMPORT, UTIL_STUB))
    (folder / "harness.mjs").write_text(HARNESS)

    def run(*cases: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        result = subprocess.run(
            [node, "harness.mjs", json.dumps(cases)],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        outcome: list[dict[str, Any]] = json.loads(result.stdout)
        return outcome

    return run


def test_the_request_invokes_the_function_with_a_direct_resolver_event(run_resolver: Any) -> None:
    event = load_event("appsync_get_user")
    (outcome,) = run_resolver(("request", {**event, "args": event["arguments"]}))
    request = outcome["returned"]
    assert request["operation"] == "Invoke"
    assert request["payload"] == {
        key: event[key]
        for key in ("arguments", "identity", "source", "request", "info", "prev", "stash")
    }


def test_a_data_answer_becomes_the_field_value(run_resolver: Any) -> None:
    user = {"id": "u1", "name": "Ada", "_version": 3}
    outcomes = run_resolver(
        ("response", {"result": data_answer(user)}), ("response", {"result": data_answer(None)})
    )
    assert outcomes == [{"returned": user}, {"returned": None}]


def test_an_error_answer_becomes_a_graphql_error_with_its_type_and_data(run_resolver: Any) -> None:
    current = {"id": "u1", "_version": 4}
    (conflict, refused) = run_resolver(
        ("response", {"result": error_answer("ConflictUnhandled", "Conflict", current)}),
        ("response", {"result": error_answer("Unauthorized", "Not Authorized")}),
    )
    assert conflict == {
        "raised": {"message": "Conflict", "type": "ConflictUnhandled", "data": current}
    }
    assert refused == {
        "raised": {"message": "Not Authorized", "type": "Unauthorized", "data": None}
    }


def test_a_failed_invocation_keeps_lambdas_own_error(run_resolver: Any) -> None:
    (outcome,) = run_resolver(
        ("response", {"error": {"message": "Task timed out", "type": "Lambda:Unhandled"}})
    )
    assert outcome == {
        "raised": {"message": "Task timed out", "type": "Lambda:Unhandled", "data": None}
    }


def test_a_subscription_filter_answer_becomes_the_subscriptions_enhanced_filter(
    run_resolver: Any,
) -> None:
    wanted = {"and": [{"id": {"eq": "u1"}}, {"age": {"gt": 30}}]}
    (filtered, plain) = run_resolver(
        ("response", {"result": data_answer(None, wanted)}),
        ("response", {"result": data_answer(None)}),
    )
    assert filtered == {"returned": None, "filterSet": {"converted": wanted}}
    assert plain == {"returned": None}


def appsync_lint(stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The line of `make lint` that runs eslint, from the project root, its findings as JSON
    (``npx --no-install``: no network). With ``stdin``, that text is linted as if it were
    ``contracts/resolver.js``."""
    recipe = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    (line,) = [line.strip() for line in recipe.splitlines() if " eslint " in line]
    command = [*shlex.split(line), "--format", "json"]
    if stdin is not None:
        command += ["--stdin", "--stdin-filename", str(RESOLVER_CODE_PATH)]
    return subprocess.run(
        command,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_resolvers_code_passes_the_appsync_js_rules(dev: Synthesized) -> None:
    result = appsync_lint()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    linted = {Path(file["filePath"]).read_text() for file in json.loads(result.stdout)}
    resolvers = [r["Properties"] for r in dev.resources("AWS::AppSync::Resolver").values()]
    deployed = {resolver_code(dev, resolver) for resolver in resolvers}
    assert deployed <= linted, "a resolver runs code that `make lint` does not check"


def test_the_appsync_js_rules_refuse_what_the_runtime_cannot_run() -> None:
    """The lint has teeth: the resolver's code with a try/catch and a missing built-in fails it."""
    result = appsync_lint(stdin=RESOLVER_CODE_PATH.read_text() + REFUSED)
    assert result.returncode == 1, result.stderr[-3000:]
    (file,) = json.loads(result.stdout)
    assert {message["ruleId"] for message in file["messages"]} == {
        "@aws-appsync/no-try",
        "@aws-appsync/no-disallowed-methods",
    }
