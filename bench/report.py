"""One benchmark report: measurements against baselines taken in the same run.

A ``Measurement`` holds a value and the baseline it is compared with; its ratio is computed from
them, never typed, and whether it meets its goal follows from the ratio. ``write`` saves the
report as JSON (the machine and date included); ``table`` renders it for the terminal and
docs/performance.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from rich.table import Table


@dataclass(frozen=True)
class Goal:
    """The ratio to stay under (``<=``) or over (``>=``)."""

    direction: Literal["<=", ">="]
    ratio: float

    def met_by(self, ratio: float) -> bool:
        return ratio <= self.ratio if self.direction == "<=" else ratio >= self.ratio

    def __str__(self) -> str:
        return f"{self.direction} {self.ratio:g}x"


@dataclass(frozen=True)
class Measurement:
    name: str
    unit: str
    value: float
    baseline: float | None  # None: reported only (nothing to compare with)
    goal: Goal | None = None
    baseline_name: str = ""  # what the baseline is, in words
    notes: Mapping[str, Any] = field(default_factory=dict)  # samples, percentiles, profile

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.goal.met_by(self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "value": _round(self.value),
            "baseline": None if self.baseline is None else _round(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "goal": None
            if self.goal is None
            else {"direction": self.goal.direction, "ratio": self.goal.ratio},
            "met": self.met,
            "notes": dict(self.notes),
        }


def _round(value: float) -> float:
    return round(value, 6) if abs(value) < 10 else round(value, 2)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "moto": _version("moto"),
        "boto3": _version("boto3"),
        "memory_gib": round(_memory_bytes() / 2**30, 1),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass
class Report:
    command: str
    measurements: list[Measurement] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.started.isoformat(timespec="seconds"),
            "command": self.command,
            "machine": machine(),
            "measurements": [m.as_dict() for m in self.measurements],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        partial.replace(path)

    @property
    def missed(self) -> list[Measurement]:
        return [m for m in self.measurements if m.met is False]


COLUMNS = ("measurement", "value", "baseline", "ratio", "goal", "met")


def rows(report: Mapping[str, Any], *, missed: str = "NO") -> list[list[str]]:
    """Each measurement of the report (as written to JSON) as the cells of one row."""
    out = []
    for m in report["measurements"]:
        goal = m["goal"]
        out.append(
            [
                m["name"],
                f"{_shown(m['value'])} {m['unit']}",
                "" if m["baseline"] is None else f"{_shown(m['baseline'])} {m['unit']}",
                "" if m["ratio"] is None else f"{m['ratio']:.2f}x",
                "" if goal is None else f"{goal['direction']} {goal['ratio']:g}x",
                {True: "yes", False: missed, None: ""}[m["met"]],
            ]
        )
    return out


def table(report: Mapping[str, Any]) -> Table:
    """The report as a terminal table."""
    shown = Table(title="userpipe benchmarks", title_justify="left")
    for column in COLUMNS:
        shown.add_column(column, justify="left" if column == "measurement" else "right")
    for cells in rows(report):
        shown.add_row(*cells)
    return shown


def markdown(report: Mapping[str, Any]) -> str:
    """The report as a Markdown table (docs/performance.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---:|---:|---:|---:|:-:|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(report, missed="**no**")]
    return "\n".join(lines)


def _shown(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


if __name__ == "__main__":  # print the latest report: python -m bench.report [--markdown]
    data = json.loads((Path(__file__).parent / "results" / "latest.json").read_text())
    if "--markdown" in sys.argv:
        print(markdown(data))
    else:
        from rich.console import Console

        Console().print(table(data))
