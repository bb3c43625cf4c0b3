"""Overdue and Late e-mails (Airflow 2's "SLA miss", per step).

* **Overdue**: a step's planned start (its Start, or its prerequisites' planned end: the recap's)
  has come and its prerequisites are not closed. To its owner and the owners of the open
  prerequisites holding it back, copied to the cutover managers.
* **Late**: a step is not closed by its due time (:func:`transition.runs.states.due_at`). To its owner, copied to the
  owner's team leader and department head and to the cutover managers.

Each is written in the language of the step's owner (the recipient in To); e-mails to the cutover
managers alone go out once per language among them (:func:`transition.notifications.addressing.by_language`).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, format_moment, ngettext, pgettext, use_language, with_their_time
from transition.notifications.addressing import (
    airflow_base_url,
    manager_emails,
    managers_by_language,
    required_actions_link,
    step_page_link,
    step_subject,
)
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.deliver import Announcement, Mail, deliver, task_recorder
from transition.notifications.mail import compose, render
from transition.notifications.overdue_digest import OverdueStep, digest_message, digest_recipients
from transition.plan.model import Plan, ScheduledStep
from transition.runs import step_records
from transition.runs.states import due_at
from transition.vocabulary import WATCH_LABEL, subject_prefix
from transition.workbook.cells import format_duration

log = logging.getLogger(__name__)


def mail_kind(kind: str) -> str:
    """What a kind of e-mail is called in the cutover managers' summary of failed e-mails."""
    names = {
        "ready": pgettext("e-mail", "ready"),
        "late": pgettext("e-mail", "late"),
        "overdue": pgettext("e-mail", "overdue"),
        "calendar": pgettext("e-mail", "calendar"),
        "decision": pgettext("e-mail", "decision"),
        "reminder": pgettext("e-mail", "reminder"),
        "heads-up": pgettext("e-mail", "heads-up"),
        "transfer": pgettext("e-mail", "transfer"),
        "defect": pgettext("e-mail", "blocking defect"),
        "substitution": pgettext("e-mail", "substitution"),
    }
    return names.get(kind, kind)


def notice_message(
    plan: Plan,
    dry_run: str,
    step_id: str,
    *,
    what: str,
    headline: str,
    to: list[str],
    cc: list[str],
    dag_id: str,
    run_id: str,
    base_url: str,
    facts: Sequence[tuple[str, str]] = (),
    holding: Sequence[str] = (),
) -> EmailMessage:
    """A short e-mail about one step: ``[Transition-DR1] CO-120 - <what>``, in the current language."""
    step = plan.steps[step_id]
    scheduled = plan.schedules[dry_run].steps[step_id]
    all_facts = [(_("Phase"), f"{step.phase} — {plan.phases.get(step.phase, '')}")]
    if scheduled.planned_start:  # the reader's (the first in To) time beside the plan's
        zone = next((a.timezone for a in plan.actors.values() if to and a.email == to[0]), None)
        all_facts.append((_("Planned start"), with_their_time(scheduled.planned_start, zone)))
    all_facts += list(facts)
    subject = step_subject(dry_run, step.id, what)
    text, html = render(
        "alert",
        subject=subject,
        headline=headline,
        step=step,
        owner=plan.actors[step.owner],
        dry_run=dry_run,
        facts=all_facts,
        holding=list(holding),
        # The step's page (a phone's), where its people answer; Airflow's Required Actions beside it.
        link=step_page_link(base_url, dag_id, run_id, step.id),
        airflow_link=required_actions_link(base_url, dag_id, run_id, step.id),
        timezone=plan.timezone,
    )
    return compose(
        subject=subject,
        to=to,
        cc=cc,
        text=text,
        html=html,
        headers={
            "X-Transition-Step": f"{dag_id}/{step.id}",
            "X-Transition-Run": f"{dag_id}/{run_id}",
        },
    )


def _alert_text(
    plan: Plan,
    scheduled: ScheduledStep,
    kind: str,
    holding: Sequence[str],
    late_at: dt.datetime | None,
) -> tuple[str, str, list[str]]:
    """What the alert is (``Overdue``, ``Late``), its headline and the steps holding it, in the
    current language."""
    step = plan.steps[scheduled.step_id]
    if kind == "overdue":
        headline = ngettext(
            "Step {step} should have started at {start} but is still waiting for {count} prerequisite.",
            "Step {step} should have started at {start} but is still waiting for {count} prerequisites.",
            len(holding),
        ).format(
            step=step.id,
            start=format_moment(scheduled.planned_start, "short")
            if scheduled.planned_start
            else "—",
            count=len(holding),
        )
    else:
        local = late_at.astimezone(zoneinfo.ZoneInfo(plan.timezone)) if late_at else None
        when = format_moment(local, "short") if local else _("its planned end")
        headline = _(
            "Step {step} was due to be closed by {time} (duration {duration}) and is still open."
        ).format(step=step.id, time=when, duration=format_duration(step.duration))
    holding_lines = [
        f"{h} · {plan.steps[h].label} ({plan.actors[plan.steps[h].owner].name})" for h in holding
    ]
    return (_("Overdue") if kind == "overdue" else _("Late")), headline, holding_lines


def alert_message(
    plan: Plan,
    dry_run: str,
    scheduled: ScheduledStep,
    *,
    kind: str,
    dag_id: str,
    run_id: str,
    base_url: str,
    holding: Sequence[str] = (),
    late_at: dt.datetime | None = None,
) -> EmailMessage:
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    with use_language(owner.language):
        if kind == "overdue":
            to = [owner.email] + [plan.actors[plan.steps[h].owner].email for h in holding]
            cc = manager_emails(plan)
        else:
            to = [owner.email]
            cc = [
                plan.actors[a].email
                for a in (owner.team_leader, owner.department_head)
                if a in plan.actors
            ]
            cc += manager_emails(plan)
        what, headline, holding_lines = _alert_text(plan, scheduled, kind, holding, late_at)
        return notice_message(
            plan,
            dry_run,
            step.id,
            what=what,
            headline=headline,
            to=to,
            cc=cc,
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            holding=holding_lines,
        )


def alert_channel_message(
    plan: Plan,
    dry_run: str,
    scheduled: ScheduledStep,
    *,
    kind: str,
    link: str,
    holding: Sequence[str] = (),
    late_at: dt.datetime | None = None,
    language: str | None = None,
) -> ChannelMessage:
    """The Late or Overdue message of one step for the plan's chat channels, in the plan's language."""
    step = plan.steps[scheduled.step_id]
    with use_language(language or plan.language):
        what, headline, holding_lines = _alert_text(plan, scheduled, kind, holding, late_at)
        return ChannelMessage(
            kind=kind,
            title=step_subject(dry_run, step.id, what),
            lines=(
                f"{step.id} · {step.label}",
                headline,
                *lines_of_facts([(_("Owner"), plan.actors[step.owner].name)]),
                *(f"- {line}" for line in holding_lines),
            ),
            link=link,
        )


def announce_late(plan: Plan, dry_run: str, scheduled: ScheduledStep, context: Any) -> None:
    """The step's Late e-mail and channel message, from its task; never raises."""
    ti = context["ti"]
    ready = ti.xcom_pull(task_ids=ti.task_id, key=step_records.READY) or {}
    late_at = due_at(
        dt.datetime.fromisoformat(ready["at"]) if ready.get("at") else None,
        plan.steps[scheduled.step_id].duration,
        scheduled.planned_end,
    )
    build = partial(
        alert_message,
        plan,
        dry_run,
        scheduled,
        kind="late",
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        base_url=airflow_base_url(),
        late_at=late_at,
    )
    deliver(
        plan,
        Announcement(
            kind="late",
            about=scheduled.step_id,
            mails=[Mail(build, to=_owner_email(plan, scheduled.step_id))],
            channel=partial(
                alert_channel_message,
                plan,
                dry_run,
                scheduled,
                kind="late",
                link=step_page_link(airflow_base_url(), ti.dag_id, ti.run_id, scheduled.step_id),
                late_at=late_at,
            ),
        ),
        task_recorder(ti),
    )


def announce_overdue(
    plan: Plan, dry_run: str, context: Any, found: list[tuple[str, list[str]]]
) -> None:
    """The steps one check of the run's watch found Overdue (step, the prerequisites holding it):
    one alone gets its own e-mail; several, one e-mail per person (:mod:`.overdue_digest`). The
    plan's chat channels get one message per step."""
    ti = context["ti"]
    record = task_recorder(ti)
    deliver(
        plan,
        Announcement(
            kind="overdue",
            about=", ".join(step_id for step_id, _holding in found),
            mails=_overdue_mails(plan, dry_run, ti, found),
        ),
        record,
    )
    base_url = airflow_base_url()
    for step_id, holding in found:
        channel = partial(
            alert_channel_message,
            plan,
            dry_run,
            plan.schedules[dry_run].steps[step_id],
            kind="overdue",
            link=step_page_link(base_url, ti.dag_id, ti.run_id, step_id),
            holding=holding,
        )
        # An SMS (``to: people``) to whom a step's own Overdue e-mail goes: its owner, the owners
        # of what holds it, the cutover managers.
        people = [_owner_email(plan, s) for s in (step_id, *holding)] + manager_emails(plan)
        deliver(
            plan,
            Announcement(kind="overdue", about=step_id, channel=channel, people=people),
            record,
        )


def _overdue_mails(
    plan: Plan, dry_run: str, ti: Any, found: list[tuple[str, list[str]]]
) -> list[Mail]:
    base_url = airflow_base_url()
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": base_url}
    if len(found) == 1:
        step_id, holding = found[0]
        scheduled = plan.schedules[dry_run].steps[step_id]
        build = partial(
            alert_message, plan, dry_run, scheduled, kind="overdue", holding=holding, **where
        )
        return [Mail(build, to=_owner_email(plan, step_id))]
    items = [OverdueStep(step_id, tuple(holding)) for step_id, holding in found]
    return [
        Mail(partial(digest_message, plan, dry_run, group, **where), to=group.to[0])
        for group in digest_recipients(plan, items)
    ]


def _owner_email(plan: Plan, step_id: str) -> str:
    step = plan.steps.get(step_id)
    owner = plan.actors.get(step.owner) if step else None
    return owner.email if owner else "?"


def announce_mail_failures(plan: Plan, dry_run: str, context: Any, failures: list[dict]) -> bool:
    """Tell the cutover managers which e-mails could not be sent (one e-mail per language among
    them); True once that went out."""

    groups = managers_by_language(plan)
    if not groups:
        return True  # nobody to tell: the failures stay in the steps' XCom and logs
    messages = []
    for language, recipients in groups.items():
        with use_language(language):
            subject = subject_prefix(dry_run) + ngettext(
                "{count} e-mail could not be sent",
                "{count} e-mails could not be sent",
                len(failures),
            ).format(count=len(failures))
            shown = [
                {
                    **f,
                    "mail": mail_kind(f.get("mail", "")),
                    "step": _("(run watch: Overdue alert or calendar)")
                    if f.get("step") == WATCH_LABEL
                    else f.get("step"),
                }
                for f in failures
            ]
            text, html = render(
                "mail_failures", subject=subject, plan=plan.name, dry_run=dry_run, failures=shown
            )
            messages.append(compose(subject=subject, to=recipients, text=text, html=html))
    delivered = deliver(
        plan,
        Announcement(
            kind="failures",
            about=dry_run,
            mails=[Mail.built(message) for message in messages],
        ),
        None,  # the report of the failures: one that fails is tried again later, not recorded
    )
    if delivered.failed:
        log.info(
            "E-mail still does not work (%s); the %d failures will be reported later",
            delivered.error,
            len(failures),
        )
        return False
    return True
