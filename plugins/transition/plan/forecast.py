"""Critical path and forecast end of a dry run, from durations, prerequisites and Start times.

Both walk the run's graph once in topological order, giving each step an earliest start (the
latest of: the moment the run is reckoned from, its Start, its prerequisites' ends) and an end
(start + duration). The critical path is the chain that decides the last end: from the step that
ends last, back through the prerequisite whose end set its start, until a step's own Start (or the
run's beginning) set it.

* planned: reckoned from the run's first Start (or D-day midnight), nothing done yet;
* forecast: reckoned from *now*, with what Airflow knows: closed steps at their actual end, open
  steps at their actual start (and not before now), the rest as early as possible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from transition.plan.graph import topological_order
from transition.plan.model import DryRunPlan, Step

UTC = dt.UTC


@dataclass(frozen=True)
class Progress:
    """What happened to a step so far (all optional)."""

    done: bool = False  # closed or skipped
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None


@dataclass(frozen=True)
class Timeline:
    starts: dict[str, dt.datetime]
    ends: dict[str, dt.datetime]
    end: dt.datetime | None
    critical_path: list[str]


def reckon(
    schedule: DryRunPlan,
    steps: Mapping[str, Step],
    origin: dt.datetime,
    progress: Mapping[str, Progress] | None = None,
) -> Timeline:
    progress = progress or {}
    origin = origin.astimezone(UTC)
    upstream = {s.step_id: s.upstream for s in schedule.steps.values()}
    starts: dict[str, dt.datetime] = {}
    ends: dict[str, dt.datetime] = {}
    binding: dict[str, str | None] = {}  # the prerequisite whose end set the start, if any
    for step_id in topological_order(upstream):
        scheduled = schedule.steps[step_id]
        duration = steps[step_id].duration
        known = progress.get(step_id, Progress())
        if known.done:
            end = (known.ended_at or origin).astimezone(UTC)
            starts[step_id] = (known.started_at or end).astimezone(UTC)
            ends[step_id], binding[step_id] = end, None
            continue
        if known.started_at is not None:
            start = known.started_at.astimezone(UTC)
            starts[step_id], ends[step_id], binding[step_id] = (
                start,
                max(start + duration, origin),
                None,
            )
            continue
        start, cause = origin, None
        if scheduled.not_before is not None and scheduled.not_before.astimezone(UTC) > start:
            start, cause = scheduled.not_before.astimezone(UTC), None
        for up in scheduled.upstream:
            if ends[up] > start:
                start, cause = ends[up], up
        starts[step_id], ends[step_id], binding[step_id] = start, start + duration, cause
    if not ends:
        return Timeline(starts, ends, None, [])
    last = max(ends, key=lambda s: (ends[s], s))
    path = [last]
    while binding.get(path[-1]):
        path.append(binding[path[-1]])  # type: ignore[arg-type]  # the path holds no None
    path.reverse()
    return Timeline(starts, ends, ends[last], path)


def planned_origin(schedule: DryRunPlan, zone: dt.tzinfo | None = None) -> dt.datetime:
    """Where a plan is reckoned from: its earliest Start, or D-day midnight in the plan's ``zone``
    (a dry run with no Start at all, such as the sample's DEMO, has no planned time to take it
    from)."""
    starts = [s.not_before for s in schedule.steps.values() if s.not_before is not None]
    if starts:
        return min(starts)
    if zone is None:
        zone = next(
            (s.planned_start.tzinfo for s in schedule.steps.values() if s.planned_start), UTC
        )
    return dt.datetime.combine(schedule.dry_run.d_day, dt.time(), tzinfo=zone)
