"""The heads-up: "you're next", to a step's owner shortly before the live forecast says the step
becomes Ready (``escalation.heads_up`` in ``config.yaml``).

The run's watch (:mod:`transition.runner.watch_operator`) asks at each check which steps are due
one: the forecast is reckoned from now (:func:`transition.plan.forecast.reckon`) with what Airflow
knows (steps closed or skipped, steps started and when); a gate not decided yet is taken as Go, so
what only its No-go runs gets no heads-up. A step gets one when its task has not asked yet and its
forecast start is within the window; not when its prerequisites are all closed and nothing but
them held it (it becomes Ready at once: the Ready e-mail says so). Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Set
from dataclasses import dataclass

from transition.plan.forecast import Progress, reckon
from transition.plan.gates import branch_only, gate_branches
from transition.plan.model import Plan

DONE = frozenset({"success", "skipped"})
# A step's task that has not asked yet: not scheduled, waiting its turn, or Idle (deferred until
# its Start).
NOT_ASKED = frozenset({"scheduled", "queued", "deferred", "none"})


@dataclass(frozen=True, slots=True)
class HeadsUp:
    step_id: str
    ready_at: dt.datetime  # the forecast moment it becomes Ready
    waiting_for: tuple[str, ...] = ()  # its prerequisites not closed yet


def heads_up_due(
    plan: Plan,
    dry_run: str,
    window: dt.timedelta,
    *,
    states: Mapping[str, str | None],
    started: Mapping[str, dt.datetime],
    told: Set[str],
    now: dt.datetime,
) -> tuple[list[HeadsUp], dt.datetime | None]:
    """The steps due a heads-up at ``now`` (not ``told`` yet), and the next moment one could be
    (None: none ahead as things stand; the forecast moves as steps close)."""
    schedule = plan.schedules[dry_run]
    open_gates = [g for g in gate_branches(plan, dry_run) if states.get(g) not in DONE]
    only_on_no_go = {s for g in open_gates for s in branch_only(plan, dry_run, g, "go")}
    progress = {
        s: Progress(done=True)
        if states.get(s) in DONE or s in only_on_no_go
        else Progress(started_at=started.get(s))
        for s in schedule.steps
    }
    forecast = reckon(schedule, plan.steps, now, progress)
    due: list[HeadsUp] = []
    ahead: list[dt.datetime] = []
    for step_id, scheduled in schedule.steps.items():
        state = states.get(step_id)
        if step_id in told or step_id in only_on_no_go or (state and state not in NOT_ASKED):
            continue
        start = forecast.starts[step_id]
        if all(states.get(u) in DONE for u in scheduled.upstream) and not (
            scheduled.not_before is not None and scheduled.not_before > now
        ):
            continue  # Ready at once
        if start <= now + window:
            waiting = tuple(u for u in scheduled.upstream if states.get(u) not in DONE)
            due.append(HeadsUp(step_id, start, waiting))
        else:
            ahead.append(start - window)
    return due, min(ahead, default=None)
