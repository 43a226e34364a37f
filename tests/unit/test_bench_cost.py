"""bench/cost.py: each knob a stage has (docs/deploy.md) takes off exactly what it names."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.cost import (
    KNOB_ROWS,
    LAMBDA_REQUEST,
    XRAY_TRACE,
    Knobs,
    per_million,
    system_log_bytes,
    total,
    traced_share,
)

REPORT = json.loads((Path(__file__).parents[2] / "bench" / "results" / "latest.json").read_text())


def lines(knobs: Knobs) -> dict[str, float]:
    return {line.item: line.dollars for line in per_million(REPORT, knobs)[0]}


def test_tracing_off_takes_off_the_traces_and_the_trace_ids_in_lambdas_lines() -> None:
    on, off = lines(Knobs()), lines(Knobs(tracing=False))
    assert on["X-Ray traces"] > 0 and off["X-Ray traces"] == 0
    assert system_log_bytes(traced=True) > system_log_bytes(traced=False) > 0
    changed = {item for item in on if on[item] != off[item]}
    assert changed == {"X-Ray traces", "CloudWatch Logs (the functions' and Lambda's lines)"}


def test_announcements_off_take_off_the_mutation_and_nothing_else() -> None:
    """The change publisher stays (the log and erasures are its too): only its mutation goes."""
    on, off = lines(Knobs()), lines(Knobs(announce=False))
    assert on["AppSync publishUserCreated (change publisher)"] == 4.0
    assert off["AppSync publishUserCreated (change publisher)"] == 0
    assert {item for item in on if on[item] != off[item]} == {
        "AppSync publishUserCreated (change publisher)"
    }


@pytest.mark.parametrize("level", ["WARN", "ERROR"])
def test_warn_and_above_log_nothing_of_a_healthy_confirmation(level: str) -> None:
    assert lines(Knobs(log_level=level))["CloudWatch Logs (the functions' and Lambda's lines)"] == 0
    assert lines(Knobs(log_level="DEBUG")) == lines(Knobs())


def test_sustained_rates_batch_and_sample_and_every_knob_lowers_the_bill() -> None:
    low, high = lines(Knobs()), lines(Knobs(rate="high"))
    assert high["Lambda requests"] < low["Lambda requests"]
    # Each function's first invocation each second is traced, then 5%: between the two.
    share = high["X-Ray traces"] / (high["Lambda requests"] / LAMBDA_REQUEST * XRAY_TRACE)
    assert 0.05 < share < 1
    totals = [total(per_million(REPORT, knobs)[0]) for knobs in KNOB_ROWS]
    assert totals[0] == max(totals) and totals[-1] == min(totals)
    for knobs in KNOB_ROWS:
        assert total(per_million(REPORT, replace(knobs, rate="high"))[0]) <= total(
            per_million(REPORT, knobs)[0]
        )


def test_xray_traces_the_first_invocation_each_second_and_five_percent_of_the_rest() -> None:
    assert traced_share(0.5) == traced_share(1) == 1
    assert traced_share(21) == pytest.approx(2 / 21)
    assert traced_share(1e6) == pytest.approx(0.05, rel=1e-4)
