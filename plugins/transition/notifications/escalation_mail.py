"""The escalation ladder's e-mails (:mod:`transition.plan.escalation`): a step nobody starts, or
one still open past its due time; and the heads-up before a step becomes Ready
(:mod:`transition.plan.heads_up`), to its owner, in the owner's language.

Rung 1 goes to whoever holds the step (its owner and the people it was transferred to in this
run); rung 2 copies the owner's team leader; rung 3 the cutover managers too. Each reader gets it
in their language: one e-mail per language among them, to the holders of that language (copied to
the others), or to the others alone when no holder reads that language.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, format_moment, use_language
from transition.notifications.addressing import (
    airflow_base_url,
    by_language,
    step_page_link,
    step_subject,
)
from transition.notifications.alert_mail import notice_message
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.deliver import Announcement, Mail, deliver, task_recorder
from transition.plan.escalation import NOT_STARTED, Rung
from transition.plan.heads_up import HeadsUp
from transition.plan.model import Actor, Plan
from transition.runs.step_holder import read_transferees


@dataclass(frozen=True)
class Readers:
    """One e-mail's readers, all of one language."""

    language: str
    to: tuple[Actor, ...]
    cc: tuple[Actor, ...]


def holders(plan: Plan, step_id: str, transferees: Sequence[str]) -> list[Actor]:
    """Whoever holds the step now: its owner, then the people it was transferred to."""
    ids = dict.fromkeys([plan.steps[step_id].owner, *transferees])
    return [plan.actors[a] for a in ids if a in plan.actors]


def readers(plan: Plan, step_id: str, level: int, transferees: Sequence[str]) -> list[Readers]:
    """Who a rung of ``level`` goes to, one group per language."""
    held_by = holders(plan, step_id, transferees)
    owner = plan.actors[plan.steps[step_id].owner]
    copied: list[Actor] = []
    if level >= 2 and owner.team_leader in plan.actors:
        copied.append(plan.actors[owner.team_leader])
    if level >= 3:
        copied += plan.manager_actors()
    holder_ids = {a.id for a in held_by}
    groups = by_language([*held_by, *(a for a in copied if a.id not in holder_ids)])
    result = []
    for language, people in groups.items():
        to = tuple(a for a in people if a.id in holder_ids) or tuple(people)
        result.append(Readers(language, to, tuple(a for a in people if a not in to)))
    return result


def rung_subject(rung: Rung) -> str:
    """What the subject says after the step, in the current language."""
    if rung.ladder == NOT_STARTED:
        names = {
            1: _("Reminder: not started"),
            2: _("Not started: team leader told"),
            3: _("Not started: cutover managers told"),
        }
    else:
        names = {
            1: _("Reminder: still open"),
            2: _("Still open: team leader told"),
            3: _("Still open: cutover managers told"),
        }
    return names[rung.level]


def rung_headline(plan: Plan, step_id: str, rung: Rung, since: dt.datetime) -> str:
    """What a rung says, in the current language: since when the step waits, who is told now."""
    local = since.astimezone(zoneinfo.ZoneInfo(plan.timezone))
    if rung.ladder == NOT_STARTED:
        headline = _("Step {step} has been ready since {time} and nobody has started it.")
    else:
        headline = _("Step {step} was due to be closed by {time} and is still open.")
    headline = headline.format(step=step_id, time=format_moment(local, "short"))
    if rung.level == 2:
        headline += " " + _("The owner's team leader is told.")
    elif rung.level >= 3:
        headline += " " + _("The owner's team leader and the cutover managers are told.")
    return headline


def escalation_message(
    plan: Plan,
    dry_run: str,
    step_id: str,
    rung: Rung,
    group: Readers,
    *,
    since: dt.datetime,
    held_by: Sequence[Actor],
    dag_id: str,
    run_id: str,
    base_url: str,
) -> EmailMessage:
    """One rung's e-mail to one group of readers; ``since``: when the step became Ready (not
    started) or was due (still open)."""
    with use_language(group.language):
        return notice_message(
            plan,
            dry_run,
            step_id,
            what=rung_subject(rung),
            headline=rung_headline(plan, step_id, rung, since),
            to=[a.email for a in group.to],
            cc=[a.email for a in group.cc],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            facts=[(_("Held by"), ", ".join(a.name for a in held_by))],
        )


def escalation_channel_message(
    plan: Plan,
    dry_run: str,
    step_id: str,
    rung: Rung,
    *,
    since: dt.datetime,
    held_by: Sequence[Actor],
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """One rung for the plan's chat channels, in the plan's language: which rung of how many, who
    holds the step and who is told from this rung on."""
    step = plan.steps[step_id]
    owner = plan.actors[step.owner]
    delays = plan.escalation.not_started if rung.ladder == NOT_STARTED else plan.escalation.overrun
    leader = plan.actors.get(owner.team_leader or "") if rung.level >= 2 else None
    managers = plan.manager_actors() if rung.level >= 3 else []
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="reminder",
            title=step_subject(dry_run, step_id, rung_subject(rung)),
            lines=(
                f"{step_id} · {step.label}",
                rung_headline(plan, step_id, rung, since),
                *lines_of_facts(
                    [
                        (
                            _("Reminder"),
                            _("{level} of {count}").format(
                                level=rung.level, count=max(len(delays), rung.level)
                            ),
                        ),
                        (_("Held by"), ", ".join(a.name for a in held_by)),
                        (_("Team leader told"), leader.name if leader else ""),
                        (_("Cutover managers told"), ", ".join(a.name for a in managers)),
                    ]
                ),
            ),
            link=link,
        )


def announce_escalation(
    plan: Plan, dry_run: str, step_id: str, context: Any, rung: Rung, since: dt.datetime
) -> None:
    """Send one rung of the ladder (from the step's task); a failure is recorded, never raised."""
    ti = context["ti"]
    transferees = read_transferees(context)
    held_by = holders(plan, step_id, transferees)
    base_url = airflow_base_url()
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": base_url}
    mails = [
        Mail(
            partial(
                escalation_message,
                plan,
                dry_run,
                step_id,
                rung,
                group,
                since=since,
                held_by=held_by,
                **where,
            ),
            to=group.to[0].email,
        )
        for group in readers(plan, step_id, rung.level, transferees)
    ]
    channel = partial(
        escalation_channel_message,
        plan,
        dry_run,
        step_id,
        rung,
        since=since,
        held_by=held_by,
        link=step_page_link(base_url, ti.dag_id, ti.run_id, step_id),
    )
    deliver(
        plan,
        Announcement(kind="reminder", about=step_id, mails=mails, channel=channel),
        task_recorder(ti),
    )


def heads_up_message(
    plan: Plan, dry_run: str, heads_up: HeadsUp, *, dag_id: str, run_id: str, base_url: str
) -> EmailMessage:
    """ "You're next": to the step's owner, in their language, with what it still waits for."""
    step = plan.steps[heads_up.step_id]
    owner = plan.actors[step.owner]
    local = heads_up.ready_at.astimezone(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(owner.language):
        headline = _(
            "Step {step} should be ready around {time}, from the forecast of the run so far."
        ).format(step=step.id, time=format_moment(local, "short"))
        return notice_message(
            plan,
            dry_run,
            step.id,
            what=_("You're next"),
            headline=headline,
            to=[owner.email],
            cc=[],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            holding=[
                f"{p} · {plan.steps[p].label} ({plan.actors[plan.steps[p].owner].name})"
                for p in heads_up.waiting_for
            ],
        )


def heads_up_channel_message(
    plan: Plan,
    dry_run: str,
    heads_up: HeadsUp,
    *,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """ "You're next" for the plan's chat channels, in the plan's language: whose step, when the
    forecast says it becomes Ready, what it still waits for."""
    step = plan.steps[heads_up.step_id]
    local = heads_up.ready_at.astimezone(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="heads_up",
            title=step_subject(dry_run, step.id, _("You're next")),
            lines=(
                f"{step.id} · {step.label}",
                _(
                    "Step {step} should be ready around {time}, from the forecast of the run so far."
                ).format(step=step.id, time=format_moment(local, "short")),
                *lines_of_facts([(_("Owner"), plan.actors[step.owner].name)]),
                *(
                    f"- {p} · {plan.steps[p].label} ({plan.actors[plan.steps[p].owner].name})"
                    for p in heads_up.waiting_for
                ),
            ),
            link=link,
        )


def announce_heads_up(plan: Plan, dry_run: str, context: Any, due: list[HeadsUp]) -> None:
    """Send the heads-ups one check of the run's watch found; a failure is recorded, never raised."""
    ti = context["ti"]
    base_url = airflow_base_url()
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": base_url}
    for heads_up in due:
        owner = plan.actors[plan.steps[heads_up.step_id].owner]
        channel = partial(
            heads_up_channel_message,
            plan,
            dry_run,
            heads_up,
            link=step_page_link(base_url, ti.dag_id, ti.run_id, heads_up.step_id),
        )
        deliver(
            plan,
            Announcement(
                kind="heads-up",
                about=heads_up.step_id,
                mails=[
                    Mail(partial(heads_up_message, plan, dry_run, heads_up, **where), owner.email)
                ],
                channel=channel,
                channel_kind="heads_up",
            ),
            task_recorder(ti),
        )
