"""``make bench`` (``python -m bench``): every measurement, each against a baseline measured in
the same run, written to bench/results/latest.json and printed: the functions' cold paths with
the bytecode we ship and without (``bench.cold``), bundle sizes (``bench.size``), the pipeline
and rebuild at three sizes with repeats, their linearity and the stack's memory per user
(``bench.pipeline``), and what users feel — sign-up latency, an open loop at offered rates,
the API (``bench.feel``).

``--quick`` is a smoke run (about three minutes): small Ns and few repeats, written to
bench/results/quick.json so it never replaces the real report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import cold, feel, pipeline, size
from bench.report import Goal, Measurement, Report, table

RESULTS = Path(__file__).resolve().parent / "results"
#: The pipeline's and rebuild's sizes and the stacks run at each (bench.pipeline: linearity is
#: fitted over three sizes at least). A run at the largest size takes about 80 s, all nine about
#: 9 minutes (on the 2-core machine of docs/performance.md), so that the whole ``make bench``
#: stays under 15 minutes.
SIZES = (80, 200, 500)
REPEATS = 3
QUICK_SIZES = (10, 25, 50)
QUICK_REPEATS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about three minutes")
    args = parser.parse_args(argv)
    console = Console(width=120)
    started = time.monotonic()
    report = Report(command="make bench" + (" --quick" if args.quick else ""))

    def say(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f} s[/] {message}")

    say("cold paths (fresh interpreters)")
    for measurement in cold.measure(repeats=2 if args.quick else 13):
        report.add(measurement)
    say("bundle sizes (cdk synth)")
    bundles = size.measure()
    report.measurements.extend(bundles)
    report.add(trigger_carries_no_pydantic(bundles))
    sizes, repeats = (QUICK_SIZES, QUICK_REPEATS) if args.quick else (SIZES, REPEATS)
    runs: list[pipeline.Run] = []
    with tempfile.TemporaryDirectory(prefix="userpipe-bench-") as tmp:
        # Sizes interleaved within each repeat, so a slow spell of the machine falls on every
        # size rather than on one.
        for repeat in range(repeats):
            for users in sizes:
                result, extra = pipeline.run(
                    users,
                    Path(tmp) / f"n{users}-{repeat}",
                    repeat=repeat,
                    trigger_calls=(30 if args.quick else 300) if not runs else 0,
                    with_reconcile=repeat == 0 and users == sizes[-1],
                    with_profile=repeat == repeats - 1 and users == sizes[-1],
                    say=say,
                )
                runs.append(result)
                report.measurements.extend(extra)
        say("what users feel (sign-up, open loop, API)")
        report.measurements.extend(feel.measure(Path(tmp) / "feel", say, quick=args.quick))
    report.measurements.extend(pipeline.measurements(runs))
    out = RESULTS / ("quick.json" if args.quick else "latest.json")
    report.write(out)
    console.print(table(report.as_dict()))
    console.print(
        f"report: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}"
    )
    console.print(f"took {time.monotonic() - started:.0f} s")
    for missed in report.missed:
        console.print(f"[yellow]missed[/] {missed.name}: {missed.ratio:.2f}x, goal {missed.goal}")
    return 0


def trigger_carries_no_pydantic(sizes: list[Measurement]) -> Measurement:
    """The share of the trigger's bundle (unzipped) that is pydantic: nothing, as a goal."""
    trigger = next(m for m in sizes if m.name.endswith("confirm-trigger"))
    return Measurement(
        name="trigger bundle: pydantic share",
        unit="MiB",
        value=trigger.notes["pydantic_unzipped_mib"],
        baseline=trigger.notes["unzipped_mib"],
        goal=Goal("<=", 0),
        baseline_name="the trigger's whole bundle, unzipped",
    )


if __name__ == "__main__":
    sys.exit(main())
