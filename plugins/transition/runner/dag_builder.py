"""The compiled plan -> one Airflow DAG per dry run, one :class:`StepOperator` per step-action."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from airflow.sdk import DAG
from airflow.sdk.execution_time.hitl import HITLUser

from transition import settings
from transition.i18n import _, format_moment, use_language
from transition.notifications.alert_mail import (
    announce_late,
    announce_mail_failures,
    announce_overdue,
)
from transition.notifications.calendar_mail import announce_calendar, update_calendar
from transition.notifications.deadline_mail import dry_run_deadline
from transition.notifications.decision_mail import announce_decision
from transition.notifications.escalation_mail import announce_escalation, announce_heads_up
from transition.notifications.evidence_text import evidence_lines
from transition.notifications.gate_reminder_mail import announce_gate_reminder
from transition.notifications.latest_safe_mail import announce_latest_safe
from transition.notifications.ready_mail import announce_ready
from transition.notifications.request_text import body, subject
from transition.plan.action_arguments import for_dry_run
from transition.plan.gates import gate_branches, join_steps
from transition.plan.heads_up import heads_up_due
from transition.plan.model import Plan
from transition.runner.auto_step_operator import AutoStepOperator
from transition.runner.gate_operator import GateOperator
from transition.runner.latest_safe import read_latest_safe
from transition.runner.step_operator import StepOperator
from transition.runner.watch_operator import RECHECK, WATCH_TASK_ID, RunWatchOperator
from transition.runs.answers import STEP_RETRIES
from transition.runs.plan_of_record import record_run

START_DATE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # runs are triggered by hand
WATCH_RETRY_DELAY = dt.timedelta(seconds=30)
# A failed try waits 2 to 4 s (Airflow's answer race: the step goes on from the answer at once),
# then 8 to 16 s, then 32 to 60 s (each delay times 4, within Airflow's jitter, at most 60 s): a
# try that cannot start while the api-server is down no longer spends every retry in the first 20 s
# of an outage (tests/e2e/test_e2e_faults.py, on a slow machine: docs/limitations.md).
STEP_RETRY = {
    "retries": STEP_RETRIES,
    "retry_delay": dt.timedelta(seconds=2),
    "retry_exponential_backoff": 4.0,
    "max_retry_delay": dt.timedelta(seconds=60),
}


def plan_doc(plan: Plan, dry_run: str) -> str:
    """The DAG's documentation in Airflow's UI, in the plan's language."""
    schedule = plan.schedules[dry_run]
    phases = Counter(plan.steps[s].phase for s in schedule.steps)
    first, last = schedule.planned_window
    end = schedule.dry_run.end
    with use_language(plan.language):
        window = (
            _("{first} → {last}").format(
                first=f"{first:%Y-%m-%d %H:%M}", last=f"{last:%Y-%m-%d %H:%M}"
            )
            if first and last
            else _("no step has a planned start")
        )
        steps = f"{len(schedule.steps)} — " + ", ".join(
            f"{code} {plan.phases[code]}: {phases[code]}" for code in plan.phases if phases[code]
        )
        workbook = _("`{name}` (version `{version}`, compiled {time} UTC)").format(
            name=Path(plan.source.workbook).name,
            version=plan.source.workbook_sha256[:12],
            time=f"{plan.source.compiled_at:%Y-%m-%d %H:%M}",
        )
        lines = [
            "## " + _("{plan} — dry run {dry_run}").format(plan=plan.name, dry_run=dry_run),
            "",
            "* **" + _("D-day") + "**: " + format_moment(schedule.dry_run.d_day, "long_date"),
            "* **" + _("Planned window") + "**: " + window,
            "* **" + _("Must end by") + "**: " + (f"{end:%Y-%m-%d %H:%M}" if end else _("not set")),
            "* **" + _("Steps") + "**: " + steps,
            "* **" + _("Workbook") + "**: " + workbook,
            "* "
            + _(
                "**Times** are in {timezone}; planned times come from the workbook's D-day, not from the run's "
                "logical date."
            ).format(timezone=plan.timezone),
            "",
            _(
                "Trigger this DAG to start the dry run. Each task is a step-action: it waits for its prerequisites, "
                "then for its planned start, then asks its owner to **Start** and **Close** it (Required Actions)."
            ),
        ]
    return "\n".join(lines)


def assigned_users(plan: Plan, step_id: str) -> list[HITLUser]:
    """Owner, team leader, department head and the cutover managers (Airflow user = actor ID)."""
    people = plan.responsible_people(step_id) + list(plan.cutover_managers)
    return [
        {"id": a, "name": plan.actors[a].name} for a in dict.fromkeys(people) if a in plan.actors
    ]


def _watch(plan: Plan, dry_run: str) -> RunWatchOperator:
    """The run's watch (in the DAG being built): Overdue steps, failed e-mails, calendars, heads-ups."""
    schedule = plan.schedules[dry_run]
    return RunWatchOperator(
        starts={  # the recap's rule: Overdue once the planned start has come
            s.step_id: s.planned_start
            for s in schedule.steps.values()
            if s.planned_start is not None and s.upstream
        },
        upstream={s.step_id: s.upstream for s in schedule.steps.values()},
        on_overdue=partial(announce_overdue, plan, dry_run),
        on_failures=partial(announce_mail_failures, plan, dry_run),
        on_start=partial(announce_calendar, plan, dry_run),
        on_wake=partial(update_calendar, plan, dry_run),
        recheck=dt.timedelta(
            seconds=settings.positive(settings.WATCH_RECHECK, RECHECK.total_seconds())
        ),
        heads_up_due=partial(heads_up_due, plan, dry_run, plan.escalation.heads_up)
        if plan.escalation.heads_up is not None
        else None,
        on_heads_up=partial(announce_heads_up, plan, dry_run),
        on_record=partial(record_run, plan=plan, dry_run=dry_run),
        owner="transition",
        # A try that cannot start (Airflow's api-server down or restarting) is tried again after
        # the outage, not within it: at the steps' 2 s, all three retries were gone in 20 s. 30 s
        # each time, not the steps' backoff: after an outage the watch looks again within 30 s.
        retry_delay=WATCH_RETRY_DELAY,
        retry_exponential_backoff=0,
    )


def _automated(plan: Plan, dry_run: str, step_id: str, common: dict[str, Any]) -> StepOperator:
    """An automated step or check: it runs its action (arguments for the dry run's D-day, in the
    plan's folder); its holder is told when it fails (the Ready e-mail, with the failure), not when
    it becomes ready."""
    step, scheduled = plan.steps[step_id], plan.schedules[dry_run].steps[step_id]
    assert step.action is not None
    action = plan.actions[step.action.name]
    arguments = for_dry_run(step.action.arguments, action, plan.dry_runs[dry_run].d_day)
    return AutoStepOperator(
        action=action,
        arguments=arguments,
        folder=str(Path(plan.source.config or plan.source.workbook).parent),
        check=step.action if step.kind == "check" else None,
        confirm_first=step.action.confirm_first,
        on_fallback=partial(announce_ready, plan, dry_run, scheduled),
        late_after=step.duration,
        planned_end=scheduled.planned_end,
        on_late=partial(announce_late, plan, dry_run, scheduled),
        escalation=plan.escalation,
        on_escalation=partial(announce_escalation, plan, dry_run, step_id),
        # Told when it becomes ready only when its holder answers Start first (Approvals before).
        **{**common, "on_ready": common["on_ready"] if step.action.confirm_first else None},
    )


def build_dag(plan: Plan, dry_run: str, only_task_id: str | None = None) -> DAG:
    """The dry run's DAG. With ``only_task_id`` (a worker about to run that task), a DAG holding
    just that task, with no documentation: all the task runner reads of it. Building the other
    tasks and the edges would cost every Start and Close a good part of a second on a big plan
    (bench/handover.py). What a task needs of its neighbours comes from the plan, not the DAG."""
    schedule = plan.schedules[dry_run]
    dag = DAG(
        dag_id=plan.dag_id(dry_run),
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=max(16, len(schedule.steps)),
        tags=["transition", plan.name, dry_run],
        doc_md=plan_doc(plan, dry_run) if only_task_id is None else None,
        description=f"Transition plan {plan.name}, dry run {dry_run} (D-day {schedule.dry_run.d_day})",
        # A failed try starts again and goes on from what was answered (step_operator, accepted).
        default_args=STEP_RETRY,
        # The scheduler reads the deadline from the serialized DAG; a worker has no use for it
        # (formatting its time in each language loads the locale data: a fifth of a step's start).
        deadline=dry_run_deadline(plan, dry_run) if only_task_id is None else None,
    )
    if only_task_id in plan.steps and plan.steps[only_task_id].is_gate:
        only_task_id = None  # a gate skips its dependents: it needs them in its DAG
    steps = {s: x for s, x in schedule.steps.items() if only_task_id in (None, s)}
    gates = gate_branches(plan, dry_run)
    joins = join_steps(plan, dry_run) if only_task_id is None else set()
    tasks: dict[str, StepOperator] = {}
    with dag:
        for step_id, scheduled in steps.items():
            step = plan.steps[step_id]
            common: dict[str, Any] = {
                "task_id": step_id,
                "subject": subject(plan, step_id),
                "body": partial(body, plan, dry_run, scheduled),
                "planned_start": scheduled.not_before,
                "assigned_users": assigned_users(plan, step_id),
                "on_ready": partial(announce_ready, plan, dry_run, scheduled),
                "language": plan.actors[step.owner].language,
                "owner": step.owner,
            }
            if step_id in joins:  # where a gate's branches meet: after either of them
                common["trigger_rule"] = "none_failed_min_one_success"
            if step_id in gates:
                tasks[step_id] = GateOperator(
                    forward=gates[step_id].forward,
                    fallback=gates[step_id].fallback,
                    approvals=step.approvals,
                    on_decision=partial(announce_decision, plan, dry_run),
                    escalation=plan.escalation,  # undecided: the not-started ladder, from Ready
                    on_escalation=partial(announce_gate_reminder, plan, dry_run, step_id),
                    evidence=partial(evidence_lines, plan, dry_run, step_id),
                    latest_safe=partial(read_latest_safe, step_id),
                    on_latest_safe=partial(announce_latest_safe, plan, dry_run, step_id),
                    warn_before=plan.escalation.gate_warning,
                    **common,
                )
                continue
            if step.action is not None and step.kind in ("auto", "check"):
                tasks[step_id] = _automated(plan, dry_run, step_id, common)
                continue
            tasks[step_id] = StepOperator(
                late_after=step.duration,
                planned_end=scheduled.planned_end,
                on_late=partial(announce_late, plan, dry_run, scheduled),
                escalation=plan.escalation,
                on_escalation=partial(announce_escalation, plan, dry_run, step_id),
                **common,
            )
        if only_task_id is None:
            for step_id, scheduled in steps.items():
                if scheduled.upstream:
                    tasks[step_id].set_upstream([tasks[u] for u in scheduled.upstream])
        if only_task_id is None or only_task_id == WATCH_TASK_ID:
            _watch(plan, dry_run)
    return dag


def build_dags(
    plan: Plan, only_dag_id: str | None = None, only_task_id: str | None = None
) -> dict[str, DAG]:
    """Every dry run's DAG, or only ``only_dag_id`` (a worker running one task needs one DAG, and of
    it, ``only_task_id``)."""
    dags: dict[str, DAG] = {}
    for dry_run in plan.schedules:
        dag_id = plan.dag_id(dry_run)
        if only_dag_id is None or only_dag_id == dag_id:
            dags[dag_id] = build_dag(plan, dry_run, only_task_id if only_dag_id else None)
    return dags
