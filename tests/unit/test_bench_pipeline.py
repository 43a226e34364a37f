"""The benchmark's linearity verdict (``bench.pipeline.linearity``) can fail: a linear cost meets
it, a quadratic one misses it, noise widens its bound; and counts read at the server are
differenced per action."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from bench.pipeline import LINEAR_GOAL, fit, linearity, linearity_measurement, requests_between

SIZES = (200, 700, 2000)


def series(
    cost: Callable[[int], float], *, repeats: int = 3, noise: float = 0.0, seed: int = 1
) -> dict[int, list[float]]:
    """``cost(n)`` seconds at each size, each repeat off by up to ``noise`` (a fraction)."""
    rng = random.Random(seed)
    return {n: [cost(n) * (1 + rng.uniform(-noise, noise)) for _ in range(repeats)] for n in SIZES}


def test_the_fit_recovers_the_fixed_cost_and_the_slope_of_a_line() -> None:
    line = fit([(200, 2.0 + 0.03 * 200), (700, 2.0 + 0.03 * 700), (2000, 2.0 + 0.03 * 2000)])
    assert line.fixed == pytest.approx(2.0)
    assert line.slope == pytest.approx(0.03)
    with pytest.raises(ValueError, match="two sizes"):
        fit([(200, 1.0), (200, 1.1)])


def test_a_linear_cost_with_a_large_fixed_part_meets_linearity() -> None:
    found = linearity(series(lambda n: 2.3 + 0.03 * n, noise=0.02))
    assert found.ratio == pytest.approx(1.0, abs=0.1)
    assert found.ratio_bound <= LINEAR_GOAL.ratio
    assert found.met
    low, high = found.slope_interval
    assert low <= 0.03 <= high
    assert found.overall.fixed == pytest.approx(2.3, abs=0.6)


def test_a_quadratic_cost_misses_linearity_however_exact_the_samples() -> None:
    found = linearity(series(lambda n: 1.0 + 0.03 * n + 0.00002 * n * n))
    # slope over 200..700 is 0.03 + 0.00002 * 900, over 700..2000 0.03 + 0.00002 * 2700
    assert found.ratio == pytest.approx((0.03 + 0.054) / (0.03 + 0.018), rel=0.01)
    assert not found.met


def test_noise_widens_the_bound_until_a_linear_cost_cannot_be_told_linear() -> None:
    quiet = linearity(series(lambda n: 2.0 + 0.03 * n, noise=0.01))
    noisy = linearity(series(lambda n: 2.0 + 0.03 * n, noise=0.3, seed=7))
    quiet_width = quiet.slope_interval[1] - quiet.slope_interval[0]
    noisy_width = noisy.slope_interval[1] - noisy.slope_interval[0]
    assert noisy_width > 5 * quiet_width
    assert noisy.ratio_bound > quiet.ratio_bound
    assert quiet.met
    assert not noisy.met


def test_a_flat_or_falling_cost_over_the_smaller_sizes_is_not_linear() -> None:
    found = linearity({200: [5.0, 5.0], 700: [5.0, 5.0], 2000: [30.0, 30.0]})
    assert not found.met
    row = linearity_measurement("flat", {200: [5.0, 5.0], 700: [5.0, 5.0], 2000: [30.0, 30.0]})
    assert row.met is False
    assert row.value == 999.0  # infinity, written as JSON can hold it


def test_the_verdict_row_is_the_upper_bound_against_a_linear_cost() -> None:
    samples = series(lambda n: 2.3 + 0.03 * n, noise=0.02)
    row = linearity_measurement("rebuild", samples)
    assert row.baseline == 1.0
    assert row.goal == LINEAR_GOAL
    assert row.value == pytest.approx(linearity(samples).ratio_bound)
    assert row.met is True
    assert row.notes["slope_ms_per_user"] == pytest.approx(30.0, rel=0.1)


def test_linearity_needs_three_sizes() -> None:
    with pytest.raises(ValueError, match="three sizes"):
        linearity({200: [1.0], 2000: [10.0]})


def test_requests_are_counted_per_action_between_two_snapshots_every_caller_summed() -> None:
    before = {"operator": {"AmazonSQS.ReceiveMessage": 3}, "projector": {"X.PutItem": 1}}
    after = {
        "operator": {"AmazonSQS.ReceiveMessage": 5, "X.PutItem": 2},
        "projector": {"X.PutItem": 4},
        "audit": {"X.Scan": 1},
    }
    assert requests_between(before, after) == {
        "AmazonSQS.ReceiveMessage": 2,
        "X.PutItem": 5,
        "X.Scan": 1,
    }


def test_a_missed_rebuild_linearity_says_why_with_the_calls_per_user_at_each_size() -> None:
    from types import SimpleNamespace

    from bench.pipeline import _why_rebuild, linearity_measurement

    curved = {80: [2.0, 2.1, 2.0], 200: [5.0, 5.2, 5.1], 500: [20.0, 21.0, 20.5]}
    straight = {80: [2.0, 2.1, 2.0], 200: [5.0, 5.2, 5.1], 500: [12.5, 12.8, 12.6]}
    runs = [
        SimpleNamespace(users=n, rebuild=SimpleNamespace(requests={"PutItem": n, "Scan": 7}))
        for n in (80, 200, 500)
    ]
    missed = _why_rebuild(
        linearity_measurement("rebuild", curved),
        linearity_measurement("raw", curved),
        runs,  # type: ignore[arg-type]
    )
    met = _why_rebuild(
        linearity_measurement("rebuild", straight),
        linearity_measurement("raw", straight),
        runs,  # type: ignore[arg-type]
    )
    assert missed.met is False and "emulator's cost per call" in missed.notes["why"]
    assert missed.notes["requests_per_user_at_the_server"] == {
        "80": 1.09, "200": 1.03, "500": 1.01
    }  # fmt: skip
    assert met.met is True and "why" not in met.notes
