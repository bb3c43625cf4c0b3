"""The "Ready" e-mail: sent by a step's task when it first asks its owner to start it.

To the owner, copied to the owner's team leader and department head. Subject
``[Transition-DR1] CO-120 - Execution``; text and HTML; a link to the step's Required Actions page.
When the e-mail cannot be sent the step still moves on: the failure is logged on the step and kept
in its XCom ``mail_failures``.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from transition.cell_values import format_duration
from transition.mail import MailError, compose, markdown_html, render, send
from transition.model import Actor, Plan, ScheduledStep
from transition.sent_ledger import SentLedger
from transition.step_text import when

log = logging.getLogger(__name__)


def required_actions_link(base_url: str, dag_id: str, run_id: str, task_id: str) -> str:
    return (
        f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        f"/tasks/{quote(task_id, safe='')}/required_actions?map_index=-1"
    )


def ready_subject(dry_run: str, step_id: str) -> str:
    return f"[Transition-{dry_run}] {step_id} - Execution"


def _person(actor: Actor | None) -> str:
    return f"{actor.name} <{actor.email}>" if actor else "—"


def ready_message(
    plan: Plan, dry_run: str, scheduled: ScheduledStep, *, dag_id: str, run_id: str, base_url: str,
    closed: list[str],
) -> EmailMessage:
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    leader = plan.actors.get(owner.team_leader or "")
    head = plan.actors.get(owner.department_head or "")
    environment = plan.environments.get(step.environment or "")
    facts = [
        ("Step", f"{step.id} · {step.label}"),
        ("Dry run", f"{dry_run} (D-day {plan.dry_runs[dry_run].d_day:%a %d %b %Y})"),
        ("Phase", f"{step.phase} — {plan.phases.get(step.phase, '')}"),
        ("Environment", f"{environment.code} — {environment.name}" if environment else (step.environment or "—")),
        ("Planned start", when(scheduled.planned_start)),
        ("Planned end", f"{when(scheduled.planned_end)} (duration {format_duration(step.duration)})"
         if scheduled.planned_end else f"{format_duration(step.duration)} after it starts"),
        ("Owner", _person(owner)),
        ("Team leader", _person(leader)),
        ("Department head", _person(head)),
    ] + list(step.extra.items())
    subject = ready_subject(dry_run, step.id)
    values = {
        "subject": subject, "step": step, "owner": owner, "dry_run": dry_run, "scheduled": scheduled,
        "facts": facts, "closed": closed, "timezone": plan.timezone,
        "link": required_actions_link(base_url, dag_id, run_id, step.id),
        "description_html": markdown_html(step.description or "_No instructions in the plan._"),
    }
    text, html = render("ready", **values)
    cc = [a.email for a in (leader, head) if a is not None and a.id != owner.id]
    return compose(subject=subject, to=[owner.email], cc=cc, text=text, html=html,
                   headers={"X-Transition-Step": f"{dag_id}/{step.id}"})


def closed_prerequisites(plan: Plan, scheduled: ScheduledStep, ti: Any) -> list[str]:
    """"CO-100 · Label, closed by Alice at 22:41" for each upstream step (from their XCom)."""
    lines = []
    for upstream in scheduled.upstream:
        record = ti.xcom_pull(task_ids=upstream, key="closed") or {}
        who = plan.actors.get(record.get("by") or "")
        label = f"{upstream} · {plan.steps[upstream].label}"
        if record:
            by = who.name if who else (record.get("by") or "someone")
            at = record.get("at")
            lines.append(f"{label}, closed by {by}" + (f" at {_short_time(at, plan)}" if at else ""))
        else:
            lines.append(f"{label}, marked done in Airflow")
    return lines


def _short_time(value: str, plan: Plan) -> str:
    try:
        moment = dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(plan.timezone))
    except (TypeError, ValueError):
        return str(value)
    return f"{moment:%a %d %b %H:%M}"


def record_mail_failure(ti: Any, mail: str, to: str, error: str) -> None:
    """Keep a failed e-mail on the task that tried (XCom ``mail_failures``), for the run's watch.

    Also in the task's sent-ledger: a new try clears the XCom and puts them back from there.
    """
    ledger = SentLedger(ti.dag_id, ti.run_id, ti.task_id)
    failures = ledger.get("mail_failures", [])
    failures.append({"mail": mail, "to": to, "error": error, "at": dt.datetime.now(dt.timezone.utc).isoformat()})
    ledger.mark("mail_failures", failures)
    ti.xcom_push(key="mail_failures", value=failures)


def announce_ready(plan: Plan, dry_run: str, scheduled: ScheduledStep, context: Any) -> None:
    """Build and send the Ready e-mail from a running task; never raises."""
    from airflow.sdk import conf

    ti = context["ti"]
    try:
        message = ready_message(
            plan, dry_run, scheduled, dag_id=ti.dag_id, run_id=ti.run_id,
            base_url=conf.get("api", "base_url", fallback="http://localhost:8080"),
            closed=closed_prerequisites(plan, scheduled, ti),
        )
        send(message)
    except MailError as exc:
        log.warning("The Ready e-mail of %s could not be sent (%s); the step goes on without it", scheduled.step_id, exc)
        record_mail_failure(ti, "ready", plan.actors[plan.steps[scheduled.step_id].owner].email, str(exc))
        return
    log.info("Ready e-mail sent: %s to %s (cc %s)", message["Subject"], message["To"], message.get("Cc", "nobody"))
