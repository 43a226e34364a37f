"""The trigger's cold-import budget: importing its handler module in a fresh interpreter must
cost at most 1.2x ``import boto3; boto3.client("events")`` (best of N each, same run).

Also reports the trigger's whole cold path (import + building its EventBridge client), which
is what a cold invocation really pays. Writes bench/results/trigger_import.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 1.2
SNIPPETS = {
    "baseline": 'import boto3; boto3.client("events")',
    "handler_import": "import services.confirm_trigger.handler",
    "handler_cold_path": ("import services.confirm_trigger.handler as h; h.default_publisher()"),
}


def best_of(snippet: str, runs: int) -> float:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "EVENT_BUS_NAME": "userpipe-bench-users",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, env=env, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    empty = best_of("pass", args.runs)  # interpreter start-up, subtracted from each
    seconds = {name: best_of(code, args.runs) - empty for name, code in SNIPPETS.items()}
    ratios = {
        "import_vs_baseline": seconds["handler_import"] / seconds["baseline"],
        "cold_path_vs_baseline": seconds["handler_cold_path"] / seconds["baseline"],
    }
    report = {
        "runs": args.runs,
        "interpreter_startup_s": round(empty, 4),
        "seconds": {name: round(value, 4) for name, value in seconds.items()},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "budget": BUDGET,
        "within_budget": ratios["import_vs_baseline"] <= BUDGET,
    }
    out = ROOT / "bench" / "results" / "trigger_import.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"interpreter start-up            {empty:.3f} s (subtracted)")
    for name, value in seconds.items():
        print(f"{name:<31} {value:.3f} s")
    print(f"handler import / baseline       {ratios['import_vs_baseline']:.2f}x (budget {BUDGET}x)")
    print(f"handler cold path / baseline    {ratios['cold_path_vs_baseline']:.2f}x")
    print(f"report: {out.relative_to(ROOT)}")
    return 0 if report["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
