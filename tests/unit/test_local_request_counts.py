"""What the local stack tells a benchmark: the AWS API requests it served per caller and action
(counts only), and when it has settled — both on loopback only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkzeug.test import Client

from userpipe.local.console import ConsoleApp
from userpipe.local.guard import LOCAL_ONLY_PREFIXES
from userpipe.local.server import RequestCounts, action


def test_requests_are_counted_per_caller_and_action() -> None:
    counts = RequestCounts()
    counts.add("operator", "AmazonSQS.ReceiveMessage")
    counts.add("operator", "AmazonSQS.ReceiveMessage")
    counts.add("userpipe-local-user-projector", "DynamoDB_20120810.PutItem")
    assert counts.snapshot() == {
        "operator": {"AmazonSQS.ReceiveMessage": 2},
        "userpipe-local-user-projector": {"DynamoDB_20120810.PutItem": 1},
    }


def test_an_action_is_the_target_the_query_action_or_the_method_and_first_path_segment() -> None:
    assert action({"HTTP_X_AMZ_TARGET": "AWSEvents.PutEvents"}) == "AWSEvents.PutEvents"
    assert action({"QUERY_STRING": "Action=GetCallerIdentity&Version=2011-06-15"}) == (
        "GetCallerIdentity"
    )
    invoke = {"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/f/invocations"}
    assert action(invoke) == "POST /2015-03-31"
    assert action({"REQUEST_METHOD": "GET", "PATH_INFO": "/bucket/key"}) == "GET /bucket"


def _console(tmp_path: Path, settle: Any) -> Client:
    outputs = {"outbox_path": str(tmp_path / "outbox.jsonl")}
    return Client(
        ConsoleApp(
            lambda: outputs,
            lambda: {},
            tls_port=4748,
            requests=lambda: {"operator": {"AWSEvents.PutEvents": 3}},
            settle=settle,
        )
    )


def test_the_console_serves_the_counts_and_waits_until_settled(tmp_path: Path) -> None:
    waited: list[float] = []
    console = _console(tmp_path, waited.append)
    counts = console.get("/console/requests", base_url="http://127.0.0.1:4747")
    assert counts.json == {"operator": {"AWSEvents.PutEvents": 3}}
    settled = console.get("/console/settled?timeout=5", base_url="http://127.0.0.1:4747")
    assert settled.status_code == 200
    assert settled.json["settled"] is True
    assert waited == [5.0]


def test_a_stack_that_does_not_settle_answers_504_with_the_reason(tmp_path: Path) -> None:
    def never(timeout: float) -> None:
        raise TimeoutError("poller:user-projector: polling")

    answer = _console(tmp_path, never).get("/console/settled", base_url="http://127.0.0.1:4747")
    assert answer.status_code == 504
    assert answer.json == {"settled": False, "why": "poller:user-projector: polling"}


def test_the_counts_and_the_settle_answer_loopback_clients_only() -> None:
    for path in ("/console/requests", "/console/settled"):
        assert path.startswith(LOCAL_ONLY_PREFIXES)


def test_made_up_paths_cannot_grow_the_counts_without_end() -> None:
    counts = RequestCounts()
    for i in range(RequestCounts.KEYS_KEPT + 50):
        counts.add("unsigned", f"GET /junk-{i}")
    counts.add("operator", "AmazonSQS.ReceiveMessage")  # a new pair past the bound
    found = counts.snapshot()
    assert sum(len(actions) for actions in found.values()) == RequestCounts.KEYS_KEPT + 1
    assert found["other"] == {"other": 51}


def test_a_settle_timeout_that_could_never_end_is_refused(tmp_path: Path) -> None:
    waited: list[float] = []
    console = _console(tmp_path, waited.append)
    for timeout in ("nan", "inf", "1e308", "-5", "601", "soon"):
        answer = console.get(
            f"/console/settled?timeout={timeout}", base_url="http://127.0.0.1:4747"
        )
        assert answer.status_code == 400, timeout
    assert waited == []
