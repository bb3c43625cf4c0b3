"""Overdue and Late e-mails (Airflow 2's "SLA miss", per step).

* **Overdue**: a step's planned start has come and its prerequisites are not closed. To its owner
  and the owners of the open prerequisites holding it back, copied to the cutover managers.
* **Late**: a step is still open its duration after it became ready. To its owner, copied to the
  owner's team leader and department head and to the cutover managers.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from email.message import EmailMessage
from typing import Any

from transition.cell_values import format_duration
from transition.mail import MailError, compose, render, send
from transition.model import Plan, ScheduledStep
from transition.ready_mail import record_mail_failure, required_actions_link

log = logging.getLogger(__name__)


def _managers(plan: Plan) -> list[str]:
    return [plan.actors[m].email for m in plan.cutover_managers if m in plan.actors]


def notice_message(
    plan: Plan, dry_run: str, step_id: str, *, what: str, headline: str, to: list[str], cc: list[str],
    dag_id: str, run_id: str, base_url: str, facts: list[tuple[str, str]] = (), holding: list[str] = (),
) -> EmailMessage:
    """A short e-mail about one step: ``[Transition-DR1] CO-120 - <what>``."""
    step = plan.steps[step_id]
    scheduled = plan.schedules[dry_run].steps[step_id]
    all_facts = [("Phase", f"{step.phase} — {plan.phases.get(step.phase, '')}")]
    if scheduled.not_before:
        all_facts.append(("Planned start", f"{scheduled.not_before:%a %d %b %Y %H:%M}"))
    all_facts += list(facts)
    subject = f"[Transition-{dry_run}] {step.id} - {what}"
    text, html = render(
        "alert", subject=subject, headline=headline, step=step, owner=plan.actors[step.owner], dry_run=dry_run,
        facts=all_facts, holding=list(holding), link=required_actions_link(base_url, dag_id, run_id, step.id),
        timezone=plan.timezone,
    )
    return compose(subject=subject, to=to, cc=cc, text=text, html=html, headers={"X-Transition-Step": f"{dag_id}/{step.id}"})


def alert_message(
    plan: Plan, dry_run: str, scheduled: ScheduledStep, *, kind: str, dag_id: str, run_id: str, base_url: str,
    holding: list[str] = (), late_at: dt.datetime | None = None,
) -> EmailMessage:
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    if kind == "overdue":
        headline = (f"Step {step.id} should have started at {scheduled.not_before:%a %d %b %H:%M} but is still "
                    f"waiting for {len(holding)} prerequisite{'s' if len(holding) != 1 else ''}.")
        to = [owner.email] + [plan.actors[plan.steps[h].owner].email for h in holding]
        cc = _managers(plan)
    else:
        local = late_at.astimezone(zoneinfo.ZoneInfo(plan.timezone)) if late_at else None
        when = f"{local:%a %d %b %H:%M}" if local else "its planned end"
        headline = (f"Step {step.id} was due to be closed by {when} "
                    f"(duration {format_duration(step.duration)}) and is still open.")
        to = [owner.email]
        cc = [plan.actors[a].email for a in (owner.team_leader, owner.department_head) if a in plan.actors]
        cc += _managers(plan)
    holding_lines = [f"{h} · {plan.steps[h].label} ({plan.actors[plan.steps[h].owner].name})" for h in holding]
    return notice_message(
        plan, dry_run, step.id, what="Overdue" if kind == "overdue" else "Late", headline=headline, to=to, cc=cc,
        dag_id=dag_id, run_id=run_id, base_url=base_url, holding=holding_lines,
    )


def _send_alert(message: EmailMessage, ti: Any, step_id: str, kind: str) -> None:
    try:
        send(message)
    except MailError as exc:
        log.warning("The %s e-mail of %s could not be sent (%s); the step goes on", kind, step_id, exc)
        record_mail_failure(ti, kind, message["To"], str(exc))
        return
    log.info("%s e-mail sent: %s to %s (cc %s)", kind, message["Subject"], message["To"], message.get("Cc", "nobody"))


def announce_late(plan: Plan, dry_run: str, scheduled: ScheduledStep, context: Any) -> None:
    from airflow.sdk import conf

    ti = context["ti"]
    ready = ti.xcom_pull(task_ids=ti.task_id, key="ready") or {}
    late_at = dt.datetime.fromisoformat(ready["at"]) + plan.steps[scheduled.step_id].duration if ready.get("at") else None
    message = alert_message(plan, dry_run, scheduled, kind="late", dag_id=ti.dag_id, run_id=ti.run_id,
                            base_url=conf.get("api", "base_url", fallback="http://localhost:8080"), late_at=late_at)
    _send_alert(message, ti, scheduled.step_id, "late")


def announce_overdue(plan: Plan, dry_run: str, context: Any, step_id: str, holding: list[str]) -> None:
    from airflow.sdk import conf

    ti = context["ti"]
    scheduled = plan.schedules[dry_run].steps[step_id]
    message = alert_message(plan, dry_run, scheduled, kind="overdue", dag_id=ti.dag_id, run_id=ti.run_id,
                            base_url=conf.get("api", "base_url", fallback="http://localhost:8080"), holding=holding)
    _send_alert(message, ti, step_id, "overdue")


def announce_mail_failures(plan: Plan, dry_run: str, context: Any, failures: list[dict]) -> bool:
    """Tell the cutover managers which e-mails could not be sent; True once that e-mail went out."""
    recipients = _managers(plan)
    if not recipients:
        return True  # nobody to tell: the failures stay in the steps' XCom and logs
    subject = f"[Transition-{dry_run}] {len(failures)} e-mail{'s' if len(failures) != 1 else ''} could not be sent"
    text, html = render("mail_failures", subject=subject, plan=plan.name, dry_run=dry_run, failures=failures)
    try:
        send(compose(subject=subject, to=recipients, text=text, html=html))
    except MailError as exc:
        log.info("E-mail still does not work (%s); the %d failures will be reported later", exc, len(failures))
        return False
    return True
