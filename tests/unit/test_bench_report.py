"""The benchmark report computes its ratios, and docs/performance.md shows the committed report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.report import Goal, Measurement, markdown, percentile

ROOT = Path(__file__).resolve().parents[2]


def test_a_ratio_is_computed_from_value_and_baseline_and_decides_the_goal() -> None:
    slow = Measurement("cold", "s", value=0.36, baseline=0.30, goal=Goal("<=", 1.2))
    assert slow.ratio == pytest.approx(1.2)
    assert slow.met is True
    assert Measurement("cold", "s", 0.37, 0.30, Goal("<=", 1.2)).met is False
    assert Measurement("rate", "1/s", 20, 10, Goal(">=", 2)).met is True
    assert Measurement("size", "MiB", 1.0, None).as_dict()["ratio"] is None


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 201)]
    assert percentile(samples, 0.5) == 100.0
    assert percentile(samples, 0.99) == 198.0
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_the_performance_docs_table_is_the_committed_report() -> None:
    """Run ``make bench`` and paste ``python -m bench.report --markdown`` between the markers."""
    page = (ROOT / "docs" / "performance.md").read_text()
    shown = page.split("<!-- bench:table -->\n", 1)[1].split("<!-- /bench:table -->", 1)[0]
    report = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    assert shown.strip() == markdown(report).strip()


def test_every_declared_function_has_a_cold_path_to_measure() -> None:
    from bench.cold import COLD_PATHS, phase_snippets, snippets
    from contracts.topology import FUNCTIONS

    assert sorted(COLD_PATHS) == sorted(spec.id for spec in FUNCTIONS)
    for spec in FUNCTIONS:
        compile(snippets(spec).handler, spec.id, "exec")
        compile(snippets(spec).baseline, spec.id, "exec")
        for phase in phase_snippets(spec):
            compile(phase, spec.id, "exec")


def test_the_committed_report_measures_every_declared_function_and_layer() -> None:
    """A function or layer added to the declaration without a row in the report (``make bench``
    not run since) fails here: the README's numbers must cover what is deployed."""
    from contracts.topology import FUNCTIONS, LAYERS

    report = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    names = [measurement["name"] for measurement in report["measurements"]]
    cold = sorted(
        name.removeprefix("cold path: ") for name in names if name.startswith("cold path: ")
    )
    assert cold == sorted(spec.id for spec in FUNCTIONS)
    assert len([name for name in names if name.startswith("bundle size: ")]) == len(FUNCTIONS)
    assert len([name for name in names if name.startswith("layer size: ")]) == len(LAYERS)


def test_the_cost_page_shows_what_bench_cost_computes_from_the_committed_report() -> None:
    """Run ``python -m bench.cost`` and paste its output between COST.md's markers."""
    from bench.cost import markdown as cost_markdown

    page = (ROOT / "bench" / "COST.md").read_text()
    shown = page.split("<!-- cost:table -->\n", 1)[1].split("<!-- /cost:table -->", 1)[0]
    report = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    assert shown.strip() == cost_markdown(report).strip()
