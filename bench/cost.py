"""``python -m bench.cost``: what confirmations cost on AWS, line by line, from the committed
report (``bench/results/latest.json``: the Lambda invocations, billed time and log bytes
``make bench`` counted per user) and the list prices below. bench/COST.md shows its output
between its markers, held to it by ``tests/unit/test_bench_report.py``.

Prices: us-east-1, on demand, arm64 Lambda, read 2026-12-04 from stored copies of the pricing
pages (this machine has no internet; bench/COST.md's price table names each source, and
which are AWS's own pages and which third-party restatements). Free tiers are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
#: 5% of the rest, and "this sampling rate cannot be configured for Lambda functions" (Lambda
#: developer guide, "Visualize Lambda function invocations using AWS X-Ray"): below about one
#: invocation a second per function every invocation is a trace, far above it one in 20.
XRAY_SAMPLED_AT_HIGH_RATES: Final = 0.05
#: Lambda's own lines per invocation in JSON log format at the INFO system level: a
#: ``platform.start`` and a ``platform.report`` record ("Log-level filtering": at INFO "Lambda
#: automatically sends start and report log messages"; their fields from the Telemetry API's
#: ``PlatformStart`` and ``PlatformReport`` schemas). Dropped at the WARN system level. Sizes
#: computed from records of that shape, not typed; a traced invocation's carry its trace id too.
_TIME = "2026-12-04T12:00:00.000Z"
_REQUEST = "6f7f0961-f834-4211-8a7a-f6fe80b88d56"
_TRACING = {"type": "X-Amzn-Trace-Id", "value": "Root=1-6751a2b3-0123456789abcdef01234567;"
            "Parent=0123456789abcdef;Sampled=1"}  # fmt: skip
_START = {"time": _TIME, "type": "platform.start",
          "record": {"requestId": _REQUEST, "version": "$LATEST"}}  # fmt: skip
_REPORT = {"time": _TIME, "type": "platform.report", "record": {
    "requestId": _REQUEST, "metrics": {"durationMs": 21.875, "billedDurationMs": 22,
    "memorySizeMB": 256, "maxMemoryUsedMB": 88}, "status": "success"}}  # fmt: skip


def system_log_bytes(traced: bool) -> int:
    """Bytes of Lambda's START and REPORT records for one invocation (one line each)."""
    records: list[dict[str, Any]] = [_START, _REPORT]
    if traced:
        records = [{**r, "record": {**r["record"], "tracing": _TRACING}} for r in records]
    return sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records)


@dataclass(frozen=True)
class Knobs:
    """A stage's cost settings (CDK context, docs/deploy.md) and the rate it runs at."""

    tracing: bool = True  # -c tracing=active|off
    announce: bool = True  # -c announceChanges=on|off
    log_level: str = "INFO"  # -c logLevel=DEBUG|INFO|WARN|ERROR
    #: ``low``: under ~1 confirmation a second — every function runs once per confirmation
    #: (batches of one) and X-Ray traces every invocation; ``high``: the sustained rate
    #: ``make bench`` ran at, with the batches it counted, each function's invocations traced
    #: as X-Ray's default rule does (the first each second, 5% of the rest).
    rate: str = "low"

    def context(self) -> str:
        given = [
            "-c tracing=off" if not self.tracing else "",
            "-c announceChanges=off" if not self.announce else "",
            f"-c logLevel={self.log_level}" if self.log_level != "INFO" else "",
        ]
        return " ".join(g for g in given if g) or "(the defaults)"


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    dollars: float


def largest_run(report: dict[str, Any]) -> dict[str, Any]:
    """The pipeline run with the most users that counted each function's use."""
    runs = [m for m in report["measurements"] if "lambda_per_user" in m.get("notes", {})]
    return max(runs, key=lambda m: m["notes"].get("users", 0) or _users_in(m["name"]))


def usage_per_user(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each function's invocations, billed ms, GB-s and log bytes per confirmation, as
    ``make bench`` counted them in its largest run."""
    usage: dict[str, dict[str, float]] = largest_run(report)["notes"]["lambda_per_user"]
    return usage


def bench_rate(report: dict[str, Any]) -> float:
    """Users a second the largest run sustained: the rate its batches were counted at."""
    return float(largest_run(report)["notes"]["throughput_users_per_s"])


def traced_share(invocations_per_s: float) -> float:
    """The share of a function's invocations X-Ray's default rule traces at this rate: the
    first each second and 5% of the rest."""
    if invocations_per_s <= 1:
        return 1.0
    traced = 1 + XRAY_SAMPLED_AT_HIGH_RATES * (invocations_per_s - 1)
    return traced / invocations_per_s


def _users_in(name: str) -> int:
    digits = "".join(c for c in name.rpartition("N=")[2] if c.isdigit())
    return int(digits or 0)


def per_million(
    report: dict[str, Any], knobs: Knobs = Knobs()
) -> tuple[list[Line], dict[str, Any]]:
    """userpipe's lines per million confirmations for a stage with ``knobs``, and what was
    read from the report."""
    functions = {name: use for name, use in usage_per_user(report).items() if name not in OPTIONAL}
    if knobs.rate == "low":  # batches of one: every function once per confirmation
        invocations = {name: 1.0 for name in functions}
    else:
        invocations = {name: use["invocations"] for name, use in functions.items()}
    total_invocations = sum(invocations.values())
    # The billed time each confirmation's records took, as counted (``gb_s`` per user). In a
    # batch of one, each invocation's fixed part (a few ms) is billed per record: not counted.
    gb_s = sum(use["gb_s"] for use in functions.values())
    application_bytes = (
        sum(use.get("log_bytes", 0) for use in functions.values())
        if knobs.log_level in ("DEBUG", "INFO")
        else 0  # a healthy run logs nothing at WARN or above
    )
    system_bytes = (
        total_invocations * system_log_bytes(knobs.tracing)
        if knobs.log_level in ("DEBUG", "INFO")
        else 0
    )
    log_gb = (application_bytes + system_bytes) * 1e6 / 1e9
    projector_batches = invocations["UserProjector"]
    sqs = 1 + 2 * projector_batches  # EventBridge's send; a receive and a delete per batch
    rate = bench_rate(report)
    traced = sum(
        count * (1.0 if knobs.rate == "low" else traced_share(count * rate))
        for count in invocations.values()
    )
    million = 1e6
    lines = [
        Line("Lambda requests", f"{total_invocations:.2f} M",
             total_invocations * million * LAMBDA_REQUEST),
        Line("Lambda duration (arm64)", f"{gb_s * million:,.0f} GB-s",
             gb_s * million * LAMBDA_ARM64_GB_S),
        Line("EventBridge custom events (UserConfirmed)", "1 M", million * EVENTBRIDGE_EVENT),
        Line("EventBridge archive", f"{EVENT_KB * million / 1e6:.1f} GB",
             EVENT_KB * million / 1e6 * ARCHIVE_GB),
        Line("SQS (projector queue)", f"{sqs:.2f} M requests", sqs * million * SQS_REQUEST),
        Line("DynamoDB writes (item, index entry, audit record)", f"{WRITE_UNITS} M WRU",
             WRITE_UNITS * million * DYNAMODB_WRITE_UNIT),
        Line("AppSync publishUserCreated (change publisher)",
             "1 M mutations" if knobs.announce else "off",
             million * APPSYNC_OPERATION if knobs.announce else 0.0),
        Line("CloudWatch Logs (the functions' and Lambda's lines)", f"{log_gb:.2f} GB",
             log_gb * LOGS_INGESTED_GB),
        Line("X-Ray traces", f"{traced:.2f} M" if knobs.tracing else "off",
             traced * million * XRAY_TRACE if knobs.tracing else 0.0),
    ]  # fmt: skip
    read = {
        "invocations": total_invocations,
        "gb_s": gb_s,
        "application_log_bytes": application_bytes,
        "system_log_bytes": system_bytes,
        "sqs": sqs,
    }
    return lines, read


def recipe_per_million(report: dict[str, Any]) -> list[Line]:
    """The direct-write recipe: one trigger invocation (the trigger's measured time, 128 MB) and
    one write unit per confirmation."""
    trigger = usage_per_user(report)["ConfirmTrigger"]
    gb_s = trigger["billed_ms"] / 1000 * RECIPE_MEMORY_MB / 1024
    logs_gb = system_log_bytes(traced=False) * 1e6 / 1e9  # untraced, its own lines not counted
    million = 1e6
    return [
        Line("Lambda requests", "1 M", million * LAMBDA_REQUEST),
        Line("Lambda duration (128 MB, the same call time)", f"{gb_s * million:,.0f} GB-s",
             gb_s * million * LAMBDA_ARM64_GB_S),
        Line("DynamoDB write", "1 M WRU", million * DYNAMODB_WRITE_UNIT),
        Line("CloudWatch Logs (Lambda's START and REPORT lines only)", f"{logs_gb:.2f} GB",
             logs_gb * LOGS_INGESTED_GB),
    ]  # fmt: skip


def total(lines: list[Line]) -> float:
    return sum(line.dollars for line in lines)


#: The stages the knobs table compares, from the default down to the leanest.
KNOB_ROWS: Final = (
    Knobs(),
    Knobs(tracing=False),
    Knobs(tracing=False, log_level="WARN"),
    Knobs(tracing=False, announce=False),
    Knobs(tracing=False, announce=False, log_level="WARN"),
)


def markdown(report: dict[str, Any]) -> str:
    default, read = per_million(report)
    recipe = recipe_per_million(report)
    rows = ["| per million confirmations, the default stage under ~1/s | quantity | userpipe |",
            "|---|---:|---:|"]  # fmt: skip
    rows += [f"| {line.item} | {line.quantity} | ${line.dollars:.2f} |" for line in default]
    rows += [f"| **total** | | **${total(default):.2f}** |", ""]
    rows += ["| per million confirmations | quantity | the direct-write recipe |",
             "|---|---:|---:|"]  # fmt: skip
    rows += [f"| {line.item} | {line.quantity} | ${line.dollars:.2f} |" for line in recipe]
    rows += [f"| **total** | | **${total(recipe):.2f}** |", ""]
    rows += [
        "| stage (CDK context) | per million, under ~1/s | per million, sustained "
        f"({bench_rate(report):.0f}/s) | a month at 1,000 a day | vs the recipe |",
        "|---|---:|---:|---:|---:|",
    ]
    for knobs in KNOB_ROWS:
        low = total(per_million(report, knobs)[0])
        high = total(per_million(report, replace(knobs, rate="high"))[0])
        rows.append(
            f"| `{knobs.context()}` | ${low:.2f} | ${high:.2f} | ${low * 0.03:.2f} | "
            f"{low / total(recipe):.0f}x |"
        )
    rows.append(
        f"| the recipe | ${total(recipe):.2f} | ${total(recipe):.2f} | "
        f"${total(recipe) * 0.03:.2f} | 1x |"
    )
    rows += [
        "",
        f"Counted per confirmation by `make bench` ({report['date'][:10]}, its largest run), "
        f"read for the default stage under ~1/s: every function once "
        f"({read['invocations']:.0f} invocations; {read['gb_s']:.4f} GB-s, the time its "
        f"records took), {read['application_log_bytes']:,.0f} bytes of the "
        f"functions' logs and {read['system_log_bytes']:,.0f} of Lambda's START and REPORT "
        f"records. Not included: each listening subscriber's real-time message "
        f"(${APPSYNC_REALTIME_MESSAGE * 1e6:.2f} per million per subscriber), the welcome "
        "notifier (optional), the recipe function's own log lines, free tiers.",
    ]
    return "\n".join(rows)


def main() -> None:
    print(markdown(json.loads(REPORT.read_text())))


if __name__ == "__main__":
    main()
