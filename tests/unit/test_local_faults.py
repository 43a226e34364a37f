"""The reliability tests' fault plan: who it hits, how often, and how many times at most."""

from __future__ import annotations

from userpipe.local.faults import FaultPlan, caller

PUT = "DynamoDB_20120810.PutItem"


def plan(**options: object) -> FaultPlan:
    return FaultPlan(functions={"projector"}, targets={PUT}, **options)  # type: ignore[arg-type]


def test_only_the_named_functions_and_operations_are_hit() -> None:
    faults = plan(faults=("throttle",), rate=1.0)
    assert faults.decide("audit", PUT) is None
    assert faults.decide("projector", "DynamoDB_20120810.Query") is None
    assert faults.decide("projector", PUT) == "throttle"
    assert dict(faults.injected) == {("projector", "throttle"): 1}


def test_the_rate_is_the_share_of_calls_hit_and_the_choice_is_reproducible() -> None:
    first, second = (plan(faults=("throttle", "crash"), rate=0.3, seed=3) for _ in range(2))
    decisions = [first.decide("projector", PUT) for _ in range(2000)]
    assert decisions == [second.decide("projector", PUT) for _ in range(2000)]
    hit = sum(decision is not None for decision in decisions) / len(decisions)
    assert 0.26 < hit < 0.34
    assert {d for d in decisions if d} == {"throttle", "crash"}


def test_a_limit_caps_the_faults_in_all() -> None:
    faults = plan(faults=("crash",), rate=1.0, limit=3)
    assert [faults.decide("projector", PUT) for _ in range(5)] == ["crash"] * 3 + [None] * 2


def test_the_caller_is_the_access_key_a_signed_request_names() -> None:
    signed = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=userpipe-x-user-projector/20261128/"
        "eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"
    }
    assert caller(signed) == "userpipe-x-user-projector"
    assert caller({}) is None
