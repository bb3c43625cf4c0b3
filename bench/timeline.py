"""The recap's timeline (``transition.runs.timeline_svg``): time to draw it and its size, in one run.

For synthetic plans (``transition sample``), the dry run with the most steps is put in motion
without Airflow: ``now`` is 40 % into its planned span, steps planned to end before then are
closed (15 minutes late), the ones planned around it are open, the rest not started; the forecast
and the critical paths are reckoned as the run view does. Each round draws the whole run (no
filter) at zoom 1 and 4; the table shows medians and the SVG's bytes (raw and gzip, as a browser
gets it: Airflow's api-server compresses answers). Usage::

    PYTHONPATH=plugins .venv/bin/python bench/timeline.py [--sizes 500,2000] [--rounds 5] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import datetime as dt
import gzip
import statistics
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import bench_main, measured_on, sample_plan

ZOOMS = (1.0, 4.0)
LATE = dt.timedelta(minutes=15)


def run_in_motion(plan: Any, dry_run: str) -> Any:
    """A run view of ``dry_run`` 40 % into its planned span (the fields the timeline reads)."""
    from transition.plan.forecast import Progress, planned_origin, reckon

    schedule = plan.schedules[dry_run]
    zone = zoneinfo.ZoneInfo(plan.timezone)
    first, last = schedule.planned_window
    now = first + (last - first) * 0.4
    progress: dict[str, Progress] = {}
    states: dict[str, str] = {}
    for step_id, scheduled in schedule.steps.items():
        start, end = scheduled.planned_start, scheduled.planned_end
        if start and end and end + LATE <= now:
            progress[step_id] = Progress(True, start + LATE, end + LATE)
            states[step_id] = "Terminated"
        elif start and start <= now:
            progress[step_id] = Progress(started_at=start)
            states[step_id] = "Open"
        else:
            states[step_id] = "Planned"
    planned = reckon(schedule, plan.steps, planned_origin(schedule))
    forecast = reckon(schedule, plan.steps, now, progress)

    def local(moment: dt.datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat() if moment else None

    steps = []
    for step_id, scheduled in schedule.steps.items():
        step, known = plan.steps[step_id], progress.get(step_id, Progress())
        owner = plan.actors[step.owner]
        steps.append(
            {
                "id": step_id,
                "label": step.label,
                "phase": step.phase,
                "state": states[step_id],
                "owner": owner.id,
                "team": owner.team,
                "responsible": [owner.id],
                "kind": step.kind,
                "planned_start": local(scheduled.planned_start),
                "planned_end": local(scheduled.planned_end),
                "actual_start": local(known.started_at),
                "actual_end": local(known.ended_at),
                "forecast_start": local(forecast.starts[step_id]),
                "forecast_end": local(forecast.ends[step_id]),
            }
        )
    return {
        "timezone": plan.timezone,
        "now": local(now),
        "critical_path": planned.critical_path,
        "forecast_critical_path": forecast.critical_path,
        "must_end_by": local(schedule.dry_run.end),
        "steps": steps,
    }


def measure(sizes: list[int], rounds: int) -> list[dict]:
    from transition.runs.timeline_svg import timeline_svg

    results = []
    for size in sizes:
        plan, dry_run = sample_plan(size)
        view = run_in_motion(plan, dry_run)
        for zoom in ZOOMS:
            seconds = []
            for _ in range(rounds):
                began = time.perf_counter()
                svg = timeline_svg(view, zoom=zoom)
                seconds.append(time.perf_counter() - began)
            data = svg.encode()
            row = {
                "size": size,
                "dry_run": dry_run,
                "steps": len(view["steps"]),
                "zoom": zoom,
                "ms": statistics.median(seconds) * 1000,
                "kib": len(data) / 1024,
                "gzip_kib": len(gzip.compress(data)) / 1024,
            }
            results.append(row)
            print(row, flush=True)
    return results


def table(results: list[dict], rounds: int) -> str:
    lines = [
        f"{measured_on()} (the machine is shared). Rounds per cell: {rounds} (median). "
        f"Command: `PYTHONPATH=plugins .venv/bin/python bench/timeline.py --rounds {rounds} "
        "--write BENCHMARKS.md`",
        "",
        "| sample plan | dry run (steps) | zoom | draw (ms) | SVG (KiB) | gzip (KiB) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['dry_run']} ({r['steps']:,}) | {r['zoom']:g} | {r['ms']:.0f} "
            f"| {r['kib']:.0f} | {r['gzip_kib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    bench_main(__doc__, "timeline", "500,2000", measure, table)


if __name__ == "__main__":
    main()
