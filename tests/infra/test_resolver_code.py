"""The AppSync resolver code, read out of the synthesized template, run in Node against the
Python resolver's answer contract (contracts/appsync.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts.appsync import data_answer, error_answer
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
