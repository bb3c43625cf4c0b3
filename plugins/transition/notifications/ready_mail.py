"""The "Ready" e-mail: sent by a step's task when it first asks its owner to start it.

To the owner (or to the person the step was transferred to, even before it was Ready: then the
owner is copied), copied to the owner's team leader and department head, in the reader's language. Subject
``[Transition-DR1] CO-120 - Execution`` (``Exécution`` in French); text and HTML; a link to the
step's page (``?do=start``: Start to confirm) and to its Required Actions page.
When the e-mail cannot be sent the step still moves on: the failure is logged on the step and kept
in its XCom ``mail_failures``.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, format_moment, use_language
from transition.notifications.addressing import (
    airflow_base_url,
    required_actions_link,
    step_page_link,
    step_subject,
)
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.deliver import Announcement, Mail, deliver, task_recorder
from transition.notifications.evidence_text import evidence_lines
from transition.notifications.mail import compose, markdown_html, render
from transition.notifications.request_text import action_failure, d_day, planned_end, when
from transition.plan.model import Actor, Plan, ScheduledStep
from transition.runs import step_records
from transition.runs.step_holder import read_holder
from transition.vocabulary import Option

START = Option.START.value  # the answer the Ready e-mail's link opens to confirm

log = logging.getLogger(__name__)


def ready_subject(dry_run: str, step_id: str) -> str:
    """``[Transition-DR1] CO-120 - Execution`` in the current language."""
    return step_subject(dry_run, step_id, _("Execution"))


def _person(actor: Actor | None) -> str:
    return f"{actor.name} <{actor.email}>" if actor else "—"


def _opens(step: Any, failure: object) -> str | None:
    """The answer the Ready e-mail's link opens to confirm: Start, unless a gate or a take-over."""
    return None if failure or step.is_gate else START


def ready_message(
    plan: Plan,
    dry_run: str,
    scheduled: ScheduledStep,
    *,
    dag_id: str,
    run_id: str,
    base_url: str,
    closed: list[str],
    holder: str | None = None,
    failure: step_records.ActionRun | None = None,
    evidence: list[str] | None = None,
) -> EmailMessage:
    """To whoever holds the step (``holder``: the person it was transferred to, else its owner),
    copied to the owner (when it was transferred), team leader and department head, in the
    reader's language. ``failure``: an automated step's action's run that went wrong, the holder
    takes over;
    ``evidence``: a gate's checks, one line each (written in the reader's language)."""
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    reader = plan.actors.get(holder or "") or owner
    leader = plan.actors.get(owner.team_leader or "")
    head = plan.actors.get(owner.department_head or "")
    environment = plan.environments.get(step.environment or "")
    with use_language(reader.language):  # ``closed`` comes written in it too (announce_ready)
        facts = [
            (_("Step"), f"{step.id} · {step.label}"),
            (_("Dry run"), d_day(plan, dry_run)),
            (_("Phase"), f"{step.phase} — {plan.phases.get(step.phase, '')}"),
            (
                _("Environment"),
                f"{environment.code} — {environment.name}"
                if environment
                else (step.environment or "—"),
            ),
            (_("Planned start"), when(scheduled.planned_start, reader.timezone)),
            (_("Planned end"), planned_end(scheduled, step.duration, reader.timezone)),
            (_("Owner"), _person(owner)),
            (_("Team leader"), _person(leader)),
            (_("Department head"), _person(head)),
        ] + list(step.extra.items())
        subject = (
            step_subject(dry_run, step.id, _("Take over"))
            if failure
            else ready_subject(dry_run, step.id)
        )
        values = {
            "failure": action_failure(step.action.name, failure) if failure and step.action else "",
            "failure_lines": failure.get("tail", []) if failure else [],
            "evidence": evidence or [],
            "subject": subject,
            "step": step,
            "owner": owner,
            "dry_run": dry_run,
            "scheduled": scheduled,
            "facts": facts,
            "closed": closed,
            "timezone": plan.timezone,
            # The step's page (a phone's), Start to confirm; Airflow's Required Actions beside it.
            "link": step_page_link(base_url, dag_id, run_id, step.id, action=_opens(step, failure)),
            "airflow_link": required_actions_link(base_url, dag_id, run_id, step.id),
            "description_html": markdown_html(
                step.description or _("_No instructions in the plan._")
            ),
        }
        text, html = render("ready", **values)
    cc = [a.email for a in (owner, leader, head) if a is not None and a.id != reader.id]
    return compose(
        subject=subject,
        to=[reader.email],
        cc=cc,
        text=text,
        html=html,
        # Which step of which run it is about, for mail filters (and the tests' "once" checks).
        headers={
            "X-Transition-Step": f"{dag_id}/{step.id}",
            "X-Transition-Run": f"{dag_id}/{run_id}",
        },
    )


def ready_channel_message(
    plan: Plan,
    dry_run: str,
    scheduled: ScheduledStep,
    *,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """The Ready message for the plan's chat channels, in the plan's language."""
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="ready",
            title=ready_subject(dry_run, step.id),
            lines=(
                f"{step.id} · {step.label}",
                *lines_of_facts(
                    [
                        (_("Owner"), owner.name),
                        (_("Planned start"), when(scheduled.planned_start)),
                    ]
                ),
            ),
            link=link,
        )


def closed_prerequisites(plan: Plan, scheduled: ScheduledStep, ti: Any) -> list[str]:
    """ "CO-100 · Label, closed by Alice at Sat 16 Jan 22:41" for each upstream step (from their
    XCom), in the current language."""
    lines = []
    for upstream in scheduled.upstream:
        record = ti.xcom_pull(task_ids=upstream, key=step_records.CLOSED) or {}
        who = plan.actors.get(record.get("by") or "")
        label = f"{upstream} · {plan.steps[upstream].label}"
        if record:
            by = who.name if who else (record.get("by") or _("someone"))
            at = record.get("at")
            if at:
                lines.append(
                    _("{step}, closed by {person} at {time}").format(
                        step=label, person=by, time=_short_time(at, plan)
                    )
                )
            else:
                lines.append(_("{step}, closed by {person}").format(step=label, person=by))
        else:
            lines.append(_("{step}, marked done in Airflow").format(step=label))
    return lines


def _short_time(value: str, plan: Plan) -> str:
    try:
        moment = dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(plan.timezone))
    except (TypeError, ValueError):
        return str(value)
    return format_moment(moment, "short")


def announce_ready(
    plan: Plan,
    dry_run: str,
    scheduled: ScheduledStep,
    context: Any,
    failure: step_records.ActionRun | None = None,
) -> None:
    """The Ready e-mail to whoever holds the step, and the plan's channels, from a running task;
    never raises. ``failure``: an automated step's action's run that went wrong (the e-mail asks to
    take over)."""
    ti = context["ti"]
    try:
        holder = read_holder(context)
    except Exception:  # Airflow's Variables unreachable: the owner is told, as before transfers
        log.warning("Whom %s was handed to could not be read; telling its owner", ti.task_id)
        holder = None
    owner = plan.actors[plan.steps[scheduled.step_id].owner]
    reader = plan.actors.get(holder or "") or owner
    base_url = airflow_base_url()
    gate = plan.steps[scheduled.step_id].is_gate

    def build() -> EmailMessage:  # in the reader's language (the Mail's), ``closed`` too
        closed = closed_prerequisites(plan, scheduled, ti)
        checks = evidence_lines(plan, dry_run, scheduled.step_id, ti) if gate else []
        return ready_message(
            plan,
            dry_run,
            scheduled,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            base_url=base_url,
            closed=closed,
            holder=holder,
            failure=failure,
            evidence=checks,
        )

    deliver(
        plan,
        Announcement(
            kind="ready",
            about=scheduled.step_id,
            mails=[Mail(build, to=reader.email, language=reader.language)],
            channel=partial(
                ready_channel_message,
                plan,
                dry_run,
                scheduled,
                link=step_page_link(base_url, ti.dag_id, ti.run_id, scheduled.step_id),
            ),
        ),
        task_recorder(ti),
    )
