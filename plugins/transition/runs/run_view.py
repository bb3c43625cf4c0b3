"""Where every step of a dry run stands: the data behind the recap page and its JSON (api-server side).

Reads Airflow's metadata database (task instances, the steps' XCom ``ready``/``started``/``closed``)
and the plugin's records (defects, transfers); states come from :mod:`transition.runs.states`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from typing import Any

import sqlalchemy as sa
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel

from transition.notifications.addressing import required_actions_link
from transition.plan.forecast import Progress, planned_origin, reckon
from transition.plan.gates import branch_only, descendants, downstream_of, gate_branches
from transition.plan.model import Plan
from transition.runs import records
from transition.runs.states import State, StepFacts, due_at, prerequisites_done, step_state
from transition.runs.views import (
    DecisionView,
    DefectView,
    ForcedCloseView,
    GateAheadView,
    RunView,
    StepView,
)
from transition.vocabulary import Decision, DefectStatus

XCOM_KEYS = ("ready", "started", "closed")
DECISION_KEY = "decision"  # a gate's decision (transition.runner.gate_operator)


def dag_runs(session: Any, dag_id: str, limit: int = 50) -> list[dict[str, Any]]:
    runs = session.scalars(
        sa.select(DagRun)
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.run_after.desc())
        .limit(limit)
    ).all()
    return [
        {
            "run_id": r.run_id,
            "state": str(getattr(r.state, "value", r.state)),
            "start_date": r.start_date.isoformat() if r.start_date else None,
        }
        for r in runs
    ]


def _when(value: Any, zone: zoneinfo.ZoneInfo) -> str | None:
    moment = _parse(value)
    return moment.astimezone(zone).isoformat() if moment is not None else None


def run_steps(
    session: Any,
    plan: Plan,
    dry_run: str,
    run_id: str,
    base_url: str,
    now: dt.datetime | None = None,
) -> RunView:
    dag_id = plan.dag_id(dry_run)
    zone = zoneinfo.ZoneInfo(plan.timezone)
    now = now or dt.datetime.now(dt.UTC)
    schedule = plan.schedules[dry_run]
    instances = {  # the columns read, not whole task instances (a fifth of the time at 500 steps)
        ti.task_id: ti
        for ti in session.execute(
            sa.select(TaskInstance.task_id, TaskInstance.state, TaskInstance.end_date).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        )
    }
    xcoms: dict[tuple[str, str], Any] = {}
    for row in session.execute(
        sa.select(XComModel.task_id, XComModel.key, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.key.in_((*XCOM_KEYS, DECISION_KEY)),
        )
    ):
        value = XComModel.deserialize_value(row)
        xcoms[(row.task_id, row.key)] = (
            value if isinstance(value, dict) else {}
        )  # what the step wrote, or nothing
    task_states = {task_id: _state(ti) for task_id, ti in instances.items()}
    kept = records.records_of_run(session, dag_id, run_id)
    defects: dict[str | None, list[dict]] = {}  # None: on the run as a whole
    for defect in kept.defects:
        defects.setdefault(defect["task_id"], []).append(defect)
    forced = {f["task_id"]: f for f in kept.forced_closes}
    transferred: dict[str, list[str]] = {}
    for transfer in kept.transfers:
        transferred.setdefault(transfer["task_id"], []).append(transfer["to_user"])

    decisions = {
        task_id: value for (task_id, key), value in xcoms.items() if key == DECISION_KEY and value
    }
    skipped_by = skipped_by_decisions(plan, dry_run, decisions)
    steps: list[StepView] = []
    for step_id, scheduled in schedule.steps.items():
        step = plan.steps[step_id]
        owner = plan.actors[step.owner]
        ready, started, closed = (xcoms.get((step_id, key)) or {} for key in XCOM_KEYS)
        facts = StepFacts(
            task_state=task_states.get(step_id),
            prerequisites_done=prerequisites_done(scheduled, task_states),
            ready_at=_parse(ready.get("at")),
            started_at=_parse(started.get("at")),
        )
        duration = None if step.is_gate else step.duration  # a gate is never Late
        state = step_state(scheduled, duration, facts, now, plan.lock_window)
        ti = instances.get(step_id)
        step_defects = defects.get(step_id, [])
        steps.append(
            {
                "id": step_id,
                "label": step.label,
                "phase": step.phase,
                "state": state.value,
                "owner": owner.id,
                "owner_name": owner.name,
                "team": owner.team,
                "responsible": list(
                    dict.fromkeys(plan.responsible_people(step_id) + transferred.get(step_id, []))
                ),
                "transferred_to": transferred.get(step_id, []),
                "planned_start": _when(scheduled.planned_start, zone),
                "planned_end": _when(scheduled.planned_end, zone),
                # when it is (or would be) Late, once it became ready (states.due_at)
                "due": _when(
                    due_at(facts.ready_at or facts.started_at, duration, scheduled.planned_end),
                    zone,
                ),
                "actual_start": _when(started.get("at"), zone),
                "actual_end": _when(
                    closed.get("at")
                    or (ti.end_date if ti is not None and facts.task_state == "success" else None),
                    zone,
                ),
                "forecast_start": None,  # set below, once the forecast is reckoned
                "forecast_end": None,
                "started_by": started.get("by"),
                "closed_by": closed.get("by"),
                "comment": str(closed.get("comment") or ""),
                "forced_close": _forced(forced.get(step_id), zone),
                "defects": [_defect(d) for d in step_defects],
                "open_defects": sum(
                    1 for d in step_defects if d["status"] == DefectStatus.OPEN.value
                ),
                "link": required_actions_link(base_url, dag_id, run_id, step_id),
                "kind": step.kind,
                "decision": _decision(decisions.get(step_id), zone),
                "skipped_by": skipped_by.get(step_id) if state.value == "Skipped" else None,
            }
        )
    progress = progress_of(steps)
    planned = reckon(schedule, plan.steps, planned_origin(schedule))
    end_by = schedule.dry_run.end
    # Gates not decided yet: the forecast takes Go (the plan goes on); each also says where the run
    # ends on No-go, the "backout now" time.
    open_gates = undecided_gates(steps)
    skipped_on_go = {step for gate in open_gates for step in branch_only(plan, dry_run, gate, "go")}
    forecast = reckon(
        schedule, plan.steps, now, progress_on_go(plan, dry_run, progress, open_gates)
    )
    for s in steps:
        if s["state"] != "Skipped" and s["id"] not in skipped_on_go:
            s["forecast_start"] = _when(forecast.starts.get(s["id"]), zone)
            s["forecast_end"] = _when(forecast.ends.get(s["id"]), zone)
    gates_ahead: list[GateAheadView] = []
    for gate in open_gates:
        on_go = forecast
        on_no_go = reckon(
            schedule,
            plan.steps,
            now,
            _as_done(
                progress,
                (skipped_on_go - branch_only(plan, dry_run, gate, "go"))
                | branch_only(plan, dry_run, gate, "no-go"),
            ),
        )
        gates_ahead.append(
            {
                "gate": gate,
                "label": plan.steps[gate].label,
                "planned_start": _when(schedule.steps[gate].planned_start, zone),
                "end_on_go": _when(on_go.end, zone),
                "end_on_no_go": _when(on_no_go.end, zone),
                "late_on_go": bool(end_by and on_go.end and on_go.end > end_by),
                "late_on_no_go": bool(end_by and on_no_go.end and on_no_go.end > end_by),
            }
        )
    by_state = Counter(s["state"] for s in steps)
    by_phase: dict[str, Counter] = {code: Counter() for code in plan.phases}
    for s in steps:
        by_phase[s["phase"]][s["state"]] += 1
    return {
        "plan": plan.name,
        "dry_run": dry_run,
        "dag_id": dag_id,
        "run_id": run_id,
        "timezone": plan.timezone,
        "now": now.astimezone(zone).isoformat(),
        "states": [state.value for state in State],
        "cutover_managers": list(plan.cutover_managers),
        "actors": {a.id: a.name for a in plan.actors.values()},
        "counts": {state.value: by_state.get(state.value, 0) for state in State},
        "planned_end": _when(planned.end, zone),
        "critical_path": planned.critical_path,
        "forecast_end": _when(forecast.end, zone),
        "forecast_critical_path": forecast.critical_path,
        "must_end_by": _when(end_by, zone),
        "forecast_late": bool(end_by and forecast.end and forecast.end > end_by),
        "counts_by_phase": {
            phase: {s.value: c.get(s.value, 0) for s in State}
            for phase, c in by_phase.items()
            if sum(c.values())
        },
        "steps": steps,
        "run_defects": [_defect(d) for d in defects.get(None, [])],
        "gates_ahead": gates_ahead,
    }


def progress_of(steps: list[StepView]) -> dict[str, Progress]:
    """What the forecast knows of each step of a run view: done or not, its actual start and end."""
    return {
        s["id"]: Progress(
            done=s["state"] in ("Terminated", "Skipped"),
            started_at=_parse(s["actual_start"]),
            ended_at=_parse(s["actual_end"]),
        )
        for s in steps
    }


def undecided_gates(steps: list[StepView]) -> list[str]:
    """The gates of a run view not decided yet (and not skipped)."""
    return [
        s["id"]
        for s in steps
        if s["kind"] == "gate" and not s["decision"] and s["state"] != "Skipped"
    ]


def progress_on_go(
    plan: Plan, dry_run: str, progress: dict[str, Progress], gates: list[str]
) -> dict[str, Progress]:
    """``progress`` as the forecast takes it: every gate in ``gates`` says Go (what only No-go
    runs is skipped, counted as done)."""
    skipped = {step for gate in gates for step in branch_only(plan, dry_run, gate, "go")}
    return _as_done(progress, skipped)


def _defect(row: dict[str, Any]) -> DefectView:
    return {
        "id": row["id"],
        "title": row["title"],
        "severity": row["severity"],
        "status": row["status"],
        "created_by": row["created_by"],
        "after_close": bool(row.get("after_close")),
    }


def _as_done(progress: dict[str, Progress], skipped: set[str]) -> dict[str, Progress]:
    """``progress`` with the steps a decision would skip counted as done (they take no time)."""
    return {**progress, **{s: Progress(done=True) for s in skipped if not progress[s].done}}


def skipped_by_decisions(
    plan: Plan, dry_run: str, decisions: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Step -> the gate whose decision skipped it (what follows only the branch it did not take)."""
    dependents = downstream_of(plan.schedules[dry_run])
    branches = gate_branches(plan, dry_run)
    found: dict[str, str] = {}
    for gate, record in decisions.items():
        if gate not in branches:
            continue
        went = record.get("decision") == Decision.GO.value
        taken = branches[gate].forward if went else branches[gate].fallback
        dropped = branches[gate].fallback if went else branches[gate].forward
        for step in descendants(dropped, dependents) - descendants(taken, dependents):
            found.setdefault(step, gate)
    return found


def _decision(record: dict[str, Any] | None, zone: zoneinfo.ZoneInfo) -> DecisionView | None:
    if not record or record.get("decision") not in {d.value for d in Decision}:
        return None
    return {
        "decision": str(record["decision"]),
        "by": record.get("by"),
        "at": _when(record.get("at"), zone),
        "comment": str(record.get("comment") or ""),
        "go": [str(who) for who in record.get("go") or []],
    }


def _forced(row: dict[str, Any] | None, zone: zoneinfo.ZoneInfo) -> ForcedCloseView | None:
    """A cutover manager's forced close of the step: who, when, why it was forced, the reason given."""
    if row is None:
        return None
    return {
        "by": row["forced_by"],
        "at": _when(row["forced_at"], zone),
        "reason": row["reason"],
        "state_before": row["state_before"],
        "why": row["why_forced"],
    }


def _state(ti: Any) -> str | None:
    state = ti.state
    return str(getattr(state, "value", state)) if state is not None else None


def _parse(value: Any) -> dt.datetime | None:
    """A moment a step recorded (ISO text), or None when there is none or it is not one."""
    if isinstance(value, dt.datetime):
        return value
    if not value or not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
