"""What if a step of a run ended at another time: the answer behind ``GET …/what-if`` and the recap's form.

Reads the run as the recap does (:func:`run_facts.run_steps`), reckons the forecast as it does
(undecided gates taken as Go) and asks :func:`transition.plan.what_if.ask`; records nothing. The
answer: the new forecast end and its margin to the dry run's End, the steps and gates that move, and
the people to warn (owners of the steps that move, and whom those steps were transferred to).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import sqlalchemy as sa
from airflow.models.dagrun import DagRun
from typing_extensions import TypedDict  # pydantic (FastAPI) reads these on Python 3.11

from transition.i18n import _
from transition.plan.model import Plan
from transition.plan.what_if import Hypothesis, Move, WhatIf, WhatIfError, ask
from transition.runs.run_facts import run_steps
from transition.runs.run_view import progress_of, progress_on_go, undecided_gates
from transition.runs.views import StepView


class MovedStepView(TypedDict):
    id: str
    label: str
    kind: str  # "step", "gate", "auto" or "check"
    owner: str
    start_before: str  # ISO 8601, the plan's time zone: the forecast now ...
    start_after: str  # ... and if the step asked about ended at the time asked
    end_before: str
    end_after: str
    shift_minutes: int  # how much later its end is (negative: earlier)
    planned_start: str | None


class PersonToWarnView(TypedDict):
    id: str
    name: str
    email: str
    steps: list[str]  # their steps that move


class WhatIfView(TypedDict):
    dag_id: str
    run_id: str
    now: str
    step: str  # the step asked about
    ends_at: str  # the end asked for it
    step_shift_minutes: int  # from its forecast end
    forecast_end_before: str | None
    forecast_end_after: str | None
    shift_minutes: int | None  # how much later the run ends (negative: earlier)
    must_end_by: str | None  # the dry run's End
    margin_minutes: int | None  # from the new forecast end to the End (negative: past it)
    late_before: bool  # the forecast ends after the End ...
    late_after: bool  # ... and if the step ended at the time asked
    moved: list[MovedStepView]  # by new start
    gates: list[MovedStepView]  # the moved steps that are go / no-go gates
    warn: list[PersonToWarnView]


def what_if(
    session: Any,
    plan: Plan,
    dry_run: str,
    run_id: str,
    hypothesis: Hypothesis,
    base_url: str,
    now: dt.datetime | None = None,
) -> WhatIfView:
    """The answer to ``hypothesis`` on run ``run_id``; :class:`WhatIfError` when it cannot be asked."""
    dag_id = plan.dag_id(dry_run)
    if (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        )
        == 0
    ):
        raise WhatIfError(
            "no-run", _("no run '{run}' of DAG '{dag}'").format(run=run_id, dag=dag_id)
        )
    now = now or dt.datetime.now(dt.UTC)
    view = run_steps(session, plan, dry_run, run_id, base_url, now)
    progress = progress_on_go(
        plan, dry_run, progress_of(view["steps"]), undecided_gates(view["steps"])
    )
    answer = ask(plan.schedules[dry_run], plan.steps, now, progress, hypothesis)
    return as_view(plan, dry_run, run_id, now, answer, {s["id"]: s for s in view["steps"]})


def as_view(
    plan: Plan,
    dry_run: str,
    run_id: str,
    now: dt.datetime,
    answer: WhatIf,
    steps: dict[str, StepView],
) -> WhatIfView:
    zone = zoneinfo.ZoneInfo(plan.timezone)

    def when(moment: dt.datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat() if moment is not None else None

    def moved(move: Move) -> MovedStepView:
        step = plan.steps[move.step]
        return {
            "id": move.step,
            "label": step.label,
            "kind": step.kind,
            "owner": step.owner,
            "start_before": move.start_before.astimezone(zone).isoformat(),
            "start_after": move.start_after.astimezone(zone).isoformat(),
            "end_before": move.end_before.astimezone(zone).isoformat(),
            "end_after": move.end_after.astimezone(zone).isoformat(),
            "shift_minutes": _minutes(move.shift),
            "planned_start": when(plan.schedules[dry_run].steps[move.step].planned_start),
        }

    moves = [moved(m) for m in answer.moved]
    people: dict[str, list[str]] = {}
    for move in moves:
        for person in [move["owner"], *steps[move["id"]]["transferred_to"]]:
            people.setdefault(person, []).append(move["id"])
    end_by, before = answer.must_end_by, answer.before
    return {
        "dag_id": plan.dag_id(dry_run),
        "run_id": run_id,
        "now": now.astimezone(zone).isoformat(),
        "step": answer.step,
        "ends_at": answer.ends_at.astimezone(zone).isoformat(),
        "step_shift_minutes": _minutes(answer.ends_at - before.ends[answer.step]),
        "forecast_end_before": when(before.end),
        "forecast_end_after": when(answer.after.end),
        "shift_minutes": _minutes(answer.shift) if answer.shift is not None else None,
        "must_end_by": when(end_by),
        "margin_minutes": _minutes(answer.margin) if answer.margin is not None else None,
        "late_before": bool(end_by and before.end and before.end > end_by),
        "late_after": answer.late,
        "moved": moves,
        "gates": [m for m in moves if m["kind"] == "gate"],
        "warn": [
            {
                "id": person,
                "name": plan.actors[person].name if person in plan.actors else person,
                "email": plan.actors[person].email if person in plan.actors else "",
                "steps": moved_steps,
            }
            for person, moved_steps in people.items()
        ],
    }


def _minutes(delta: dt.timedelta) -> int:
    """Whole minutes, rounded towards zero (a few seconds do not make a minute)."""
    return int(delta.total_seconds() / 60)
