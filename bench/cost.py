"""``python -m bench.cost``: what confirmations cost on AWS, line by line, from the committed
report (``bench/results/latest.json``: the Lambda invocations, billed time and log bytes
``make bench`` counted per user) and the list prices below. bench/COST.md shows its output
between its markers, held to it by ``tests/unit/test_bench_report.py``.

Prices: us-east-1, on demand, arm64 Lambda, read 2026-12-04 from stored copies of the pricing
pages (this machine has no internet; /work/shared/notes/step16-research.md has each source,
and which are AWS's own pages and which third-party restatements). Free tiers are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
REPORT: Final = ROOT / "bench" / "results" / "latest.json"

LAMBDA_REQUEST: Final = 0.20 / 1e6  # Lambda pricing
LAMBDA_ARM64_GB_S: Final = 0.0000133334  # Lambda pricing, arm64, first 7.5 billion GB-s
EVENTBRIDGE_EVENT: Final = 1.00 / 1e6  # custom events, each 64 KB chunk of an entry
ARCHIVE_GB: Final = 0.10  # EventBridge archive, per GB archived (storage $0.023 per GB-month)
SQS_REQUEST: Final = 0.40 / 1e6  # standard queue, each 64 KB chunk
DYNAMODB_WRITE_UNIT: Final = 0.625 / 1e6  # on demand, since the cut of 2024-11-01
APPSYNC_OPERATION: Final = 4.00 / 1e6  # queries and mutations
APPSYNC_REALTIME_MESSAGE: Final = 2.00 / 1e6  # real-time updates delivered
LOGS_INGESTED_GB: Final = 0.50  # CloudWatch Logs, standard class
XRAY_TRACE: Final = 5.00 / 1e6  # traces recorded

#: What one confirmation sets off beyond the functions (contracts/topology.py and the code):
#: one UserConfirmed event (archived), one message on the projector's queue, the User item and
#: its entry in the byLastChangedAt index, one audit record, one publishUserCreated mutation.
EVENT_KB: Final = 0.6  # a UserConfirmed entry (ids only), about
WRITE_UNITS: Final = 3  # User item (< 1 KB) + its index entry + the audit record
#: The recipe: its trigger writes the item directly (128 MB, Amplify's default), one write unit.
RECIPE_MEMORY_MB: Final = 128
#: Functions the default stage deploys; the welcome notifier comes only with a sender.
OPTIONAL: Final = frozenset({"WelcomeNotifier"})
#: X-Ray samples, for a Lambda function with active tracing, the first request each second and
#: 5% of the rest (X-Ray's default rule; Lambda's sampling is not configurable): below about
#: one invocation a second per function every invocation is a trace, far above it one in 20.
XRAY_SAMPLED_AT_HIGH_RATES: Final = 0.05


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    dollars: float


def per_million(report: dict[str, Any]) -> tuple[list[Line], list[Line], dict[str, Any]]:
    """userpipe's and the recipe's lines per million confirmations, and the usage read."""
    runs = [m for m in report["measurements"] if m["name"].startswith("end to end, time per user")]
    usage = runs[-1]["notes"]["lambda_per_user"]  # the largest N
    functions = {name: use for name, use in usage.items() if name not in OPTIONAL}
    invocations = sum(use["invocations"] for use in functions.values())
    gb_s = sum(use["gb_s"] for use in functions.values())
    log_bytes = sum(use.get("log_bytes", 0) for use in functions.values())
    projector_batches = functions["UserProjector"]["invocations"]
    sqs = 1 + 2 * projector_batches  # EventBridge's send; a receive and a delete per batch
    million = 1e6
    lines = [
        Line("Lambda requests", f"{invocations:.2f} M", invocations * million * LAMBDA_REQUEST),
        Line("Lambda duration (arm64)", f"{gb_s * million:,.0f} GB-s",
             gb_s * million * LAMBDA_ARM64_GB_S),
        Line("EventBridge custom events (UserConfirmed)", "1 M", million * EVENTBRIDGE_EVENT),
        Line("EventBridge archive", f"{EVENT_KB * million / 1e6:.1f} GB",
             EVENT_KB * million / 1e6 * ARCHIVE_GB),
        Line("SQS (projector queue)", f"{sqs:.2f} M requests", sqs * million * SQS_REQUEST),
        Line("DynamoDB writes (item, index entry, audit record)", f"{WRITE_UNITS} M WRU",
             WRITE_UNITS * million * DYNAMODB_WRITE_UNIT),
        Line("AppSync publishUserCreated (change publisher)", "1 M mutations",
             million * APPSYNC_OPERATION),
        Line("CloudWatch Logs", f"{log_bytes * million / 1e9:.2f} GB",
             log_bytes * million / 1e9 * LOGS_INGESTED_GB),
        Line("X-Ray traces, below ~1 invocation/s per function", f"{invocations:.2f} M",
             invocations * million * XRAY_TRACE),
    ]  # fmt: skip
    trigger = usage["ConfirmTrigger"]
    recipe_gb_s = trigger["billed_ms"] / 1000 * RECIPE_MEMORY_MB / 1024
    recipe = [
        Line("Lambda requests", "1 M", million * LAMBDA_REQUEST),
        Line("Lambda duration (128 MB, the same call time)", f"{recipe_gb_s * million:,.0f} GB-s",
             recipe_gb_s * million * LAMBDA_ARM64_GB_S),
        Line("DynamoDB write", "1 M WRU", million * DYNAMODB_WRITE_UNIT),
    ]  # fmt: skip
    read = {"invocations": invocations, "gb_s": gb_s, "log_bytes": log_bytes, "sqs": sqs}
    return lines, recipe, read


def markdown(report: dict[str, Any]) -> str:
    lines, recipe, read = per_million(report)
    xray = lines[-1].dollars
    total = sum(line.dollars for line in lines)
    without_tracing = total - xray
    busy = without_tracing + xray * XRAY_SAMPLED_AT_HIGH_RATES
    recipe_total = sum(line.dollars for line in recipe)
    rows = ["| per million confirmations | quantity | userpipe |", "|---|---:|---:|"]
    rows += [f"| {line.item} | {line.quantity} | ${line.dollars:.2f} |" for line in lines]
    rows += [
        f"| **total, every invocation traced** (under ~1 confirmation/s) | | **${total:.2f}** |",
        f"| **total, sustained high rates** (5% traced) | | **${busy:.2f}** |",
        f"| total without tracing | | ${without_tracing:.2f} |",
        "",
        "| per million confirmations | quantity | the direct-write recipe |",
        "|---|---:|---:|",
    ]
    rows += [f"| {line.item} | {line.quantity} | ${line.dollars:.2f} |" for line in recipe]
    rows += [f"| **total** | | **${recipe_total:.2f}** |"]
    monthly = [
        "",
        "| a month of | userpipe (traced) | userpipe (untraced) | recipe |",
        "|---|---:|---:|---:|",
        f"| 1,000 confirmations a day (30,000) | ${total * 0.03:.2f} | "
        f"${without_tracing * 0.03:.2f} | ${recipe_total * 0.03:.2f} |",
        f"| 1,000,000 confirmations | ${total:.2f} (${busy:.2f} at high rates) | "
        f"${without_tracing:.2f} | ${recipe_total:.2f} |",
        "",
        f"Counted per confirmation by `make bench` ({report['date'][:10]}, the largest run): "
        f"{read['invocations']:.2f} Lambda invocations, {read['gb_s']:.4f} GB-s, "
        f"{read['log_bytes']:,.0f} bytes of logs. Not included: each listening subscriber's "
        f"real-time message (${APPSYNC_REALTIME_MESSAGE * 1e6:.2f} per million per subscriber), "
        "the welcome notifier (optional), the recipe's logs (its runtime's lines, ~0.3 KB a "
        "call: about $0.15 per million), free tiers.",
    ]
    return "\n".join(rows + monthly)


def main() -> None:
    print(markdown(json.loads(REPORT.read_text())))


if __name__ == "__main__":
    main()
