"""The state of a step in a dry run (the states in docs/cockpit.md), from what Airflow knows.

Planned, Locked or Overdue while prerequisites are not done; then Idle, Ready, Open, Late,
Terminated or Skipped; Failed when Airflow failed the task. A step's **due time** (:func:`due_at`)
is its duration after it became Ready, and never before its planned end; a go / no-go gate is never
Late. The recap, the e-mails, the weekly report and the results workbook all judge by these rules,
on absolute time.

How it works: docs/architecture.md, "runs/states.py".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from transition.i18n import pgettext
from transition.plan.model import ScheduledStep
from transition.vocabulary import State

UTC = dt.UTC
# Each state's colour (background, text), on the recap page and in the results workbook.
STATE_COLOURS = {
    "Planned": ("#d9d9d9", "#1b1b1b"),
    "Locked": ("#b4c7e7", "#1b1b1b"),
    "Overdue": ("#f4b183", "#1b1b1b"),
    "Idle": ("#fff2cc", "#1b1b1b"),
    "Ready": ("#ffd966", "#1b1b1b"),
    "Open": ("#9dc3e6", "#1b1b1b"),
    "Late": ("#ff7c80", "#1b1b1b"),
    "Terminated": ("#a9d18e", "#1b1b1b"),
    "Skipped": ("#ededed", "#555555"),
    "Failed": ("#c00000", "#ffffff"),
}
DONE_STATES = frozenset({"success", "skipped"})


def state_name(state: str) -> str:
    """A state's name in the current language (``Overdue`` -> ``Début dépassé``); the values stay English ids."""
    names = {
        "Planned": pgettext("state", "Planned"),
        "Locked": pgettext("state", "Locked"),
        "Overdue": pgettext("state", "Overdue"),
        "Idle": pgettext("state", "Idle"),
        "Ready": pgettext("state", "Ready"),
        "Open": pgettext("state", "Open"),
        "Late": pgettext("state", "Late"),
        "Terminated": pgettext("state", "Terminated"),
        "Skipped": pgettext("state", "Skipped"),
        "Failed": pgettext("state", "Failed"),
    }
    value = getattr(state, "value", state)
    return names.get(value, value)


@dataclass(frozen=True)
class StepFacts:
    """What Airflow knows of one step in one run."""

    task_state: str | None  # the task instance's state (None: not scheduled yet)
    prerequisites_done: bool  # every upstream task succeeded or was skipped
    ready_at: dt.datetime | None = None  # when the step first asked (XCom "ready")
    started_at: dt.datetime | None = None  # when Start was answered (XCom "started")


def due_at(
    ready_at: dt.datetime | None,
    duration: dt.timedelta | None,
    planned_end: dt.datetime | None,
) -> dt.datetime | None:
    """When a Ready or Open step becomes Late: ``duration`` after it became ready (``ready_at``),
    not before its ``planned_end``; None: it never does (no duration: a gate)."""
    if ready_at is None or duration is None:
        return None
    due = ready_at.astimezone(UTC) + duration  # real hours, whatever the clocks do
    return max(due, planned_end.astimezone(UTC)) if planned_end is not None else due


def step_state(
    scheduled: ScheduledStep,
    duration: dt.timedelta | None,
    facts: StepFacts,
    now: dt.datetime,
    lock_window: dt.timedelta,
) -> State:
    """The step's state at ``now``; ``duration`` None: it is never Late (a gate)."""
    if facts.task_state == "success":
        return State.TERMINATED
    if facts.task_state == "skipped":
        return State.SKIPPED
    if facts.task_state in ("failed", "upstream_failed"):
        return State.FAILED
    now = now.astimezone(UTC)
    due = due_at(facts.ready_at or facts.started_at, duration, scheduled.planned_end)
    late = due is not None and now >= due.astimezone(UTC)
    if facts.started_at is not None:
        return State.LATE if late else State.OPEN
    if not facts.prerequisites_done:
        planned = scheduled.planned_start
        if planned is None:
            return State.PLANNED
        remaining = planned.astimezone(UTC) - now
        if remaining <= dt.timedelta(0):
            return State.OVERDUE
        return State.LOCKED if remaining <= lock_window else State.PLANNED
    if scheduled.not_before is not None and now < scheduled.not_before.astimezone(UTC):
        return State.IDLE
    return State.LATE if late else State.READY  # Late: Ready, and nobody started it in time


def prerequisites_done(scheduled: ScheduledStep, task_states: dict[str, str | None]) -> bool:
    return all(task_states.get(u) in DONE_STATES for u in scheduled.upstream)
