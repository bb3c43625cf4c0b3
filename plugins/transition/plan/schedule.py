"""Planned times of each step in each dry run, in the plan's time zone, DST-correct."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

from transition.i18n import _
from transition.plan.graph import topological_order
from transition.plan.model import DryRun, ScheduledStep, Step

UTC = dt.UTC


class NonExistentLocalTime(ValueError):
    """A wall-clock time skipped by a DST change."""


def localize(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, bool]:
    """Attach the zone to a wall-clock time; returns (aware, ambiguous).

    Raises :class:`NonExistentLocalTime` for a time the clocks skip. An ambiguous time (clocks go
    back) takes its first occurrence.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise NonExistentLocalTime(
            _("{time} does not exist in {zone} (clocks go forward)").format(
                time=f"{naive:%Y-%m-%d %H:%M}", zone=zone.key
            )
        )
    ambiguous = aware.utcoffset() != naive.replace(tzinfo=zone, fold=1).utcoffset()
    return aware, ambiguous


def add_elapsed(moment: dt.datetime, delta: dt.timedelta, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``moment + delta`` in elapsed time (aware arithmetic in one zone is wall-clock arithmetic)."""
    return (moment.astimezone(UTC) + delta).astimezone(zone)


def schedule_dry_run(
    dry_run: DryRun,
    steps: Mapping[str, Step],
    upstream: Mapping[str, tuple[str, ...]],
    zone: zoneinfo.ZoneInfo,
) -> dict[str, ScheduledStep]:
    """Planned start and end of every step of a dry run (``upstream`` already projected).

    Planned start = the latest of the step's not-before time and its upstream steps' planned ends;
    None when neither exists (the step starts as soon as the run does). Start times must already be
    known to exist (the validator checks DST first).
    """
    ends: dict[str, dt.datetime | None] = {}
    scheduled: dict[str, ScheduledStep] = {}
    for step_id in topological_order(upstream):
        step = steps[step_id]
        not_before = (
            localize(step.start.local_datetime(dry_run.d_day), zone)[0] if step.start else None
        )
        candidates = [t for t in (ends[u] for u in upstream[step_id]) if t is not None]
        if not_before is not None:
            candidates.append(not_before)
        planned_start = max(candidates) if candidates else None
        planned_end = add_elapsed(planned_start, step.duration, zone) if planned_start else None
        ends[step_id] = planned_end
        scheduled[step_id] = ScheduledStep(
            step_id, upstream[step_id], not_before, planned_start, planned_end
        )
    return {step_id: scheduled[step_id] for step_id in upstream}  # back to plan order
