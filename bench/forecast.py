"""The Monte Carlo forecast (``transition forecast``): 10,000 draws of a synthetic plan's largest dry
run, against the same walk in a plain Python loop, in one run.

For synthetic plans (``transition sample``), the dry run with the most steps:

* **ours**: ``transition.results.confidence.confidence`` with 10,000 draws (the laws, the draws,
  the walk for every gate Go and for every gate No-go, the criticality);
* **loop**: the same draws walked one by one by ``transition.plan.forecast.reckon`` (today's
  forecast, plain Python), for both decisions; timed on ``LOOP_DRAWS`` draws and scaled to 10,000
  (it takes a minute per thousand draws at 5,000 steps).

Each cell is the median of its rounds. Usage::

    PYTHONPATH=plugins .venv/bin/python bench/forecast.py [--sizes 500,5000] [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import bench_main, measured_on, sample_plan

DRAWS = 10_000
LOOP_DRAWS = 100


def loop_seconds(plan: Any, dry_run: str, draws: int) -> float:
    """The plain loop: ``draws`` draws of every step's duration, each walked by ``reckon`` for both
    decisions (the gates' other branch as done at once, holding nobody back)."""
    import numpy as np

    from transition.plan.duration_models import draw
    from transition.plan.forecast import Progress, planned_origin, reckon
    from transition.plan.simulation import scenario_skips
    from transition.results.confidence import step_models

    schedule = plan.schedules[dry_run]
    origin = planned_origin(schedule, zoneinfo.ZoneInfo(plan.timezone))
    began = time.perf_counter()
    drawn = draw(step_models(plan, dry_run), draws, np.random.default_rng(1))
    for decision in ("go", "no-go"):
        skipped = {
            s: Progress(done=True, ended_at=origin) for s in scenario_skips(plan, dry_run, decision)
        }
        for n in range(draws):
            steps = {
                s: dataclasses.replace(
                    plan.steps[s], duration=dt.timedelta(seconds=float(drawn[s][n]))
                )
                for s in schedule.steps
            }
            reckon(schedule, steps, origin, skipped)
    return time.perf_counter() - began


def measure(sizes: list[int], rounds: int) -> list[dict]:
    from transition.results.confidence import confidence

    results = []
    for size in sizes:
        plan, dry_run = sample_plan(size)
        ours, loop = [], []
        for _ in range(rounds):
            began = time.perf_counter()
            confidence(plan, dry_run, draws=DRAWS, seed=1)
            ours.append(time.perf_counter() - began)
            loop.append(loop_seconds(plan, dry_run, LOOP_DRAWS) * DRAWS / LOOP_DRAWS)
        row = {
            "size": size,
            "dry_run": dry_run,
            "steps": len(plan.schedules[dry_run].steps),
            "ours_s": statistics.median(ours),
            "loop_s": statistics.median(loop),
        }
        row["ratio"] = row["loop_s"] / row["ours_s"]
        results.append(row)
        print(row, flush=True)
    return results


def table(results: list[dict], rounds: int) -> str:
    lines = [
        f"{measured_on()} (the machine is shared). Rounds per cell: {rounds} (median). {DRAWS:,} "
        f"draws, every gate Go and every gate No-go; the loop timed on {LOOP_DRAWS} draws and "
        f"scaled. Command: `PYTHONPATH=plugins .venv/bin/python bench/forecast.py --rounds {rounds} "
        "--write BENCHMARKS.md`",
        "",
        "| sample plan | dry run (steps) | ours, numpy (s) | plain loop (s) | loop / ours |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['dry_run']} ({r['steps']:,}) | {r['ours_s']:.2f} "
            f"| {r['loop_s']:.0f} | {r['ratio']:.0f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    bench_main(__doc__, "forecast", "500,5000", measure, table)


if __name__ == "__main__":
    main()
