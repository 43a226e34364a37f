"""bench.feel's arithmetic: the open loop's schedule, latencies and throughput, the ABBA order,
and the verdicts its measurements carry."""

from __future__ import annotations

import pytest

from bench.feel import (
    API_GOAL,
    ITEM_P99_BUDGET_MS,
    ITEM_P99_GOAL,
    SIGN_UP_GOAL,
    compared,
    interleaved,
    latencies,
    offsets,
    summary_ms,
    sustained_throughput,
    why_late,
)
from bench.report import Measurement


def test_the_schedule_sends_rate_per_second_at_fixed_offsets() -> None:
    assert offsets(5, 1) == [0.0, 0.2, 0.4, 0.6, 0.8]
    schedule = offsets(40, 12)
    assert len(schedule) == 480
    assert schedule[1] - schedule[0] == pytest.approx(0.025)
    assert schedule[-1] < 12
    with pytest.raises(ValueError, match="positive"):
        offsets(0, 10)


def test_latencies_pair_each_arrival_with_its_send_and_skip_what_never_arrived() -> None:
    sent = {"a": 10.0, "b": 10.5, "c": 11.0}
    arrived = {"a": 10.4, "c": 12.0, "stranger": 1.0}
    assert latencies(sent, arrived) == pytest.approx([0.4, 1.0])


def test_throughput_counts_arrivals_from_the_first_send_to_the_last_arrival() -> None:
    sent = {str(i): i * 0.1 for i in range(10)}  # 10/s for 1 s
    arrived = {str(i): i * 0.1 + 0.5 for i in range(10)}  # each 0.5 s later
    assert sustained_throughput(sent, arrived) == pytest.approx(10 / 1.4)
    assert sustained_throughput(sent, {}) == 0.0
    assert sustained_throughput({"a": 1.0}, {"a": 1.0}) == 1.0


def test_a_summary_names_its_sample_count_and_percentiles_in_ms() -> None:
    samples = [n / 1000 for n in range(1, 201)]
    assert summary_ms(samples) == {"n": 200, "p50_ms": 100.0, "p99_ms": 198.0, "max_ms": 200.0}
    assert summary_ms([]) == {"n": 0}


def test_samples_are_taken_in_abba_order() -> None:
    order: list[str] = []

    def a() -> float:
        order.append("A")
        return 1.0

    def b() -> float:
        order.append("B")
        return 2.0

    first, second = interleaved(3, a, b)
    assert "".join(order) == "ABBAAB"
    assert (first, second) == ([1.0] * 3, [2.0] * 3)


def _sign_up(value_ms: float, baseline_ms: float) -> Measurement:
    return compared(
        "sign-up",
        ([value_ms / 1000] * 10, [baseline_ms / 1000] * 10),
        0.5,
        goal=SIGN_UP_GOAL,
        baseline_name="raw",
        notes={},
    )


def test_verdicts_follow_the_goals_of_issue_24() -> None:
    assert _sign_up(45, 30).met is True  # exactly 1.5x
    assert _sign_up(46, 30).met is False
    assert _sign_up(46, 30).ratio == pytest.approx(46 / 30)
    api = compared("me", ([0.006], [0.003]), 0.5, goal=API_GOAL, baseline_name="", notes={})
    assert api.met is True and api.value == pytest.approx(6.0)
    item = Measurement("item p99", "ms", 1001, ITEM_P99_BUDGET_MS, ITEM_P99_GOAL)
    assert item.met is False
    assert Measurement("item p99", "ms", 999, ITEM_P99_BUDGET_MS, ITEM_P99_GOAL).met is True


def test_the_percentile_compared_is_the_one_asked_for() -> None:
    value = [n / 1000 for n in range(1, 201)]
    baseline = [n / 2000 for n in range(1, 201)]
    p99 = compared("x", (value, baseline), 0.99, goal=None, baseline_name="", notes={"n": 200})
    assert (p99.value, p99.baseline) == pytest.approx((198.0, 99.0))
    assert p99.met is None and p99.notes == {"n": 200}


def test_a_late_run_names_the_functions_that_were_its_bottleneck() -> None:
    why = why_late(
        {"UserProjector": 0.81, "ConfirmTrigger": 0.75, "AuditTrail": 0.4},
        {"server": 0.8, "sandboxes": 0.17, "load_generator": 0.03},
        2,
    )
    assert "ConfirmTrigger, UserProjector" in why and "AuditTrail" not in why
    assert "1.00 of 2 cores" in why
    assert "batching window" in why
    assert "one sandbox each" not in why_late({"UserProjector": 0.2}, {"server": 0.3}, 2)
    assert "waited for CPU" in why_late({}, {"server": 0.3}, 2, load_average=6.4)
    assert "waited for CPU" not in why_late({}, {"server": 0.3}, 2, load_average=1.2)
