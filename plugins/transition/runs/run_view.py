"""Where every step of a dry run stands: the data behind the recap page and its JSON.

A pure function of the plan, the run's facts (:class:`RunFacts`, read from Airflow's database by
:mod:`transition.runs.run_facts`) and the moment: each step's state
(:mod:`transition.runs.states`), people, planned, actual and forecast times, defects, transfers
and decisions; the run's counts, critical paths and the gates ahead.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from typing import Any

from transition.notifications.addressing import required_actions_link, task_log_link
from transition.plan.forecast import Progress, Timeline, planned_origin, reckon
from transition.plan.gates import branch_only, descendants, downstream_of, gate_branches
from transition.plan.model import Plan, ScheduledStep, Step
from transition.runs import step_records
from transition.runs.records import RunRecords
from transition.runs.states import State, StepFacts, due_at, prerequisites_done, step_state
from transition.runs.views import (
    AutomationView,
    DecisionView,
    DefectView,
    ForcedCloseView,
    GateAheadView,
    RunView,
    StepView,
)
from transition.vocabulary import Decision, DefectStatus

XCOM_KEYS = (step_records.READY, step_records.STARTED, step_records.CLOSED)
AUTOMATION_KEY = step_records.AUTOMATION  # an automated step's runs of its action
DECISION_KEY = step_records.DECISION  # a gate's decision (transition.runner.gate_operator)


@dataclass(frozen=True)
class RunFacts:
    """What Airflow and the plugin's records know of one run."""

    task_states: dict[str, str | None]  # task id -> Airflow's state (None: not scheduled yet)
    end_dates: dict[str, dt.datetime | None]  # task id -> when its task ended
    xcoms: dict[tuple[str, str], dict[str, Any]]  # (task id, key in XCOM_KEYS or DECISION_KEY)
    records: RunRecords  # defects, forced closes, transfers


@dataclass(frozen=True)
class _Context:
    """What every step's view of one run needs."""

    plan: Plan
    dag_id: str
    run_id: str
    zone: zoneinfo.ZoneInfo
    now: dt.datetime
    base_url: str
    facts: RunFacts
    defects: dict[str | None, list[dict[str, Any]]]  # None: on the run as a whole
    forced: dict[str, dict[str, Any]]
    transferred: dict[str, list[str]]
    decisions: dict[str, dict[str, Any]]
    skipped_by: dict[str, str]


def _when(value: Any, zone: zoneinfo.ZoneInfo) -> str | None:
    moment = _parse(value)
    return moment.astimezone(zone).isoformat() if moment is not None else None


def run_view(
    plan: Plan, dry_run: str, run_id: str, facts: RunFacts, base_url: str, now: dt.datetime
) -> RunView:
    """Where every step of run ``run_id`` of ``dry_run`` stands at ``now``, from its facts."""
    schedule = plan.schedules[dry_run]
    context = _context(plan, dry_run, run_id, facts, base_url, now)
    steps = [_step_view(context, scheduled) for scheduled in schedule.steps.values()]
    progress = progress_of(steps)
    # Gates not decided yet: the forecast takes Go (the plan goes on); each also says where the run
    # ends on No-go, the "backout now" time.
    open_gates = undecided_gates(steps)
    skipped_on_go = {step for gate in open_gates for step in branch_only(plan, dry_run, gate, "go")}
    forecast = reckon(
        schedule, plan.steps, now, progress_on_go(plan, dry_run, progress, open_gates)
    )
    for s in steps:
        if s["state"] != "Skipped" and s["id"] not in skipped_on_go:
            s["forecast_start"] = _when(forecast.starts.get(s["id"]), context.zone)
            s["forecast_end"] = _when(forecast.ends.get(s["id"]), context.zone)
    gates_ahead = [
        _gate_ahead(context, dry_run, gate, forecast, progress, skipped_on_go)
        for gate in open_gates
    ]
    return _summary(context, dry_run, steps, forecast, gates_ahead)


def _context(
    plan: Plan, dry_run: str, run_id: str, facts: RunFacts, base_url: str, now: dt.datetime
) -> _Context:
    defects: dict[str | None, list[dict[str, Any]]] = {}
    for defect in facts.records.defects:
        defects.setdefault(defect["task_id"], []).append(defect)
    transferred: dict[str, list[str]] = {}
    for transfer in facts.records.transfers:
        transferred.setdefault(transfer["task_id"], []).append(transfer["to_user"])
    decisions = {
        task_id: value
        for (task_id, key), value in facts.xcoms.items()
        if key == DECISION_KEY and value
    }
    return _Context(
        plan=plan,
        dag_id=plan.dag_id(dry_run),
        run_id=run_id,
        zone=zoneinfo.ZoneInfo(plan.timezone),
        now=now,
        base_url=base_url,
        facts=facts,
        defects=defects,
        forced={f["task_id"]: f for f in facts.records.forced_closes},
        transferred=transferred,
        decisions=decisions,
        skipped_by=skipped_by_decisions(plan, dry_run, decisions),
    )


def _step_view(context: _Context, scheduled: ScheduledStep) -> StepView:
    plan, zone, step_id = context.plan, context.zone, scheduled.step_id
    step = plan.steps[step_id]
    owner = plan.actors[step.owner]
    ready, started, closed = (context.facts.xcoms.get((step_id, key)) or {} for key in XCOM_KEYS)
    facts = StepFacts(
        task_state=context.facts.task_states.get(step_id),
        prerequisites_done=prerequisites_done(scheduled, context.facts.task_states),
        ready_at=_parse(ready.get("at")),
        started_at=_parse(started.get("at")),
    )
    duration = None if step.is_gate else step.duration  # a gate is never Late
    state = step_state(scheduled, duration, facts, context.now, plan.lock_window)
    step_defects = context.defects.get(step_id, [])
    transferred = context.transferred.get(step_id, [])
    ended = context.facts.end_dates.get(step_id) if facts.task_state == "success" else None
    return {
        "id": step_id,
        "label": step.label,
        "phase": step.phase,
        "state": state.value,
        "owner": owner.id,
        "owner_name": owner.name,
        "team": owner.team,
        "responsible": list(dict.fromkeys(plan.responsible_people(step_id) + transferred)),
        "transferred_to": transferred,
        "planned_start": _when(scheduled.planned_start, zone),
        "planned_end": _when(scheduled.planned_end, zone),
        # when it is (or would be) Late, once it became ready (states.due_at)
        "due": _when(
            due_at(facts.ready_at or facts.started_at, duration, scheduled.planned_end), zone
        ),
        "actual_start": _when(started.get("at"), zone),
        "actual_end": _when(closed.get("at") or ended, zone),
        "forecast_start": None,  # set by run_view, once the forecast is reckoned
        "forecast_end": None,
        "started_by": started.get("by"),
        "closed_by": closed.get("by"),
        "comment": str(closed.get("comment") or ""),
        "forced_close": _forced(context.forced.get(step_id), zone),
        "defects": [_defect(d) for d in step_defects],
        "open_defects": sum(1 for d in step_defects if d["status"] == DefectStatus.OPEN.value),
        "link": required_actions_link(context.base_url, context.dag_id, context.run_id, step_id),
        "kind": step.kind,
        "decision": _decision(context.decisions.get(step_id), zone),
        "skipped_by": context.skipped_by.get(step_id) if state.value == "Skipped" else None,
        "automation": _automation(
            step,
            context.facts.xcoms.get((step_id, AUTOMATION_KEY)) or {},
            closed,
            task_log_link(context.base_url, context.dag_id, context.run_id, step_id),
        ),
    }


def _automation(
    step: Step, runs: dict[str, Any], closed: dict[str, Any], log: str
) -> AutomationView | None:
    """What an automated step's action did (its ``automation`` record), and how it closed."""
    listed = [r for r in runs.get("runs") or [] if isinstance(r, dict)]
    if step.action is None or not listed:
        return None
    last = listed[-1]
    value = closed.get("value", last.get("value"))
    passed = last.get("passed")
    taken = closed.get("taken_over")
    return {
        "runs": len(listed),
        "ok": last.get("ok") if "ended" in last else None,
        "said": str(last.get("said") or ""),
        "value": value if isinstance(value, int | float) else None,
        "expect": step.action.expect_text,
        "verdict": None if passed is None else "passed" if passed else "failed",
        "taken_over": taken if isinstance(taken, str) else None,
        "taken_over_by": closed.get("by") if taken else None,
        "log": log,
    }


def _gate_ahead(
    context: _Context,
    dry_run: str,
    gate: str,
    on_go: Timeline,
    progress: dict[str, Progress],
    skipped_on_go: set[str],
) -> GateAheadView:
    """Where the run ends if the undecided ``gate`` says Go, and if it says No-go."""
    plan, zone = context.plan, context.zone
    schedule = plan.schedules[dry_run]
    end_by = schedule.dry_run.end
    on_no_go = reckon(
        schedule,
        plan.steps,
        context.now,
        _as_done(
            progress,
            (skipped_on_go - branch_only(plan, dry_run, gate, "go"))
            | branch_only(plan, dry_run, gate, "no-go"),
        ),
    )
    return {
        "gate": gate,
        "label": plan.steps[gate].label,
        "planned_start": _when(schedule.steps[gate].planned_start, zone),
        "end_on_go": _when(on_go.end, zone),
        "end_on_no_go": _when(on_no_go.end, zone),
        "late_on_go": bool(end_by and on_go.end and on_go.end > end_by),
        "late_on_no_go": bool(end_by and on_no_go.end and on_no_go.end > end_by),
    }


def _summary(
    context: _Context,
    dry_run: str,
    steps: list[StepView],
    forecast: Timeline,
    gates_ahead: list[GateAheadView],
) -> RunView:
    plan, zone = context.plan, context.zone
    schedule = plan.schedules[dry_run]
    planned = reckon(schedule, plan.steps, planned_origin(schedule, zone))
    end_by = schedule.dry_run.end
    by_state = Counter(s["state"] for s in steps)
    by_phase: dict[str, Counter] = {code: Counter() for code in plan.phases}
    for s in steps:
        by_phase[s["phase"]][s["state"]] += 1
    return {
        "plan": plan.name,
        "dry_run": dry_run,
        "dag_id": context.dag_id,
        "run_id": context.run_id,
        "timezone": plan.timezone,
        "now": context.now.astimezone(zone).isoformat(),
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
        "run_defects": [_defect(d) for d in context.defects.get(None, [])],
        "gates_ahead": gates_ahead,
        "confidence": None,  # the draws: transition.runs.run_confidence, added where it is read
        "plan_of_record": None,  # transition.runs.plan_of_record, added where it is read
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
