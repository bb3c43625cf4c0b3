"""The escalation ladder's e-mails for a go / no-go gate nobody decides: ``[Transition-DR1] G -
Reminder: decision awaited``.

A gate Ready and undecided climbs the not-started ladder (:mod:`transition.plan.escalation`), from
when it became Ready. The readers are a step's (:func:`.escalation_mail.readers`): rung 1 whoever
holds the gate (its owner and the people it was transferred to in this run), rung 2 copies the
owner's team leader, rung 3 the cutover managers too; one e-mail per language among them. The text
says a decision (Go or No-go) is awaited and, when the gate needs several Go, how many are still
missing and who has already said Go (the gate's answers in its sent-ledger).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, format_moment, ngettext, pgettext, use_language
from transition.notifications.addressing import (
    airflow_base_url,
    step_page_link,
    step_subject,
)
from transition.notifications.alert_mail import notice_message
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.deliver import Announcement, Mail, deliver, task_recorder
from transition.notifications.escalation_mail import Readers, holders, readers
from transition.plan.escalation import Rung
from transition.plan.gates import said_go
from transition.plan.model import Actor, Plan
from transition.runs.sent_ledger import GATE_ANSWERS, SentLedger
from transition.runs.step_holder import read_handed, read_transferees


@dataclass(frozen=True, slots=True)
class GoSoFar:
    """Where a gate's Go stands: ``approvals`` distinct Go needed, ``said_go`` the actor IDs of
    those who gave one, in order."""

    approvals: int
    said_go: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        return max(0, self.approvals - len(self.said_go))


def gate_rung_subject(rung: Rung) -> str:
    """What the subject says after the gate, in the current language."""
    names = {
        1: _("Reminder: decision awaited"),
        2: _("Decision awaited: team leader told"),
        3: _("Decision awaited: cutover managers told"),
    }
    return names[rung.level]


def _names(plan: Plan, ids: Sequence[str]) -> str:
    return ", ".join(plan.actors[a].name if a in plan.actors else a for a in ids)


def gate_reminder_text(
    plan: Plan,
    gate_id: str,
    rung: Rung,
    *,
    since: dt.datetime,
    held_by: Sequence[Actor],
    go: GoSoFar,
) -> tuple[str, list[tuple[str, str]]]:
    """The headline and facts of one rung about an undecided gate, in the current language."""
    local = since.astimezone(zoneinfo.ZoneInfo(plan.timezone))
    headline = _("Gate {gate} has been waiting for a decision (Go or No-go) since {time}.").format(
        gate=gate_id, time=format_moment(local, "short")
    )
    facts = [(pgettext("gate", "Held by"), ", ".join(a.name for a in held_by))]
    if go.approvals > 1:
        headline += " " + ngettext(
            "{count} more Go is needed before it counts ({approvals} different people); "
            "one No-go decides.",
            "{count} more Go are needed before it counts ({approvals} different people); "
            "one No-go decides.",
            go.missing,
        ).format(count=go.missing, approvals=go.approvals)
        facts.append(
            (
                _("Go so far"),
                _("{people} ({count} of {approvals})").format(
                    people=_names(plan, go.said_go) or _("nobody yet"),
                    count=len(go.said_go),
                    approvals=go.approvals,
                ),
            )
        )
    if rung.level == 2:
        headline += " " + _("The owner's team leader is told.")
    elif rung.level >= 3:
        headline += " " + _("The owner's team leader and the cutover managers are told.")
    return headline, facts


def gate_reminder_message(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    rung: Rung,
    group: Readers,
    *,
    since: dt.datetime,
    held_by: Sequence[Actor],
    go: GoSoFar,
    dag_id: str,
    run_id: str,
    base_url: str,
) -> EmailMessage:
    """One rung's e-mail about an undecided gate to one group of readers; ``since``: when the gate
    became Ready."""
    with use_language(group.language):
        headline, facts = gate_reminder_text(
            plan, gate_id, rung, since=since, held_by=held_by, go=go
        )
        return notice_message(
            plan,
            dry_run,
            gate_id,
            what=gate_rung_subject(rung),
            headline=headline,
            to=[a.email for a in group.to],
            cc=[a.email for a in group.cc],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            facts=facts,
        )


def gate_reminder_channel_message(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    rung: Rung,
    *,
    since: dt.datetime,
    held_by: Sequence[Actor],
    go: GoSoFar,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """One rung about an undecided gate for the plan's chat channels, in the plan's language."""
    with use_language(language or plan.language):
        headline, facts = gate_reminder_text(
            plan, gate_id, rung, since=since, held_by=held_by, go=go
        )
        return ChannelMessage(
            kind="reminder",
            title=step_subject(dry_run, gate_id, gate_rung_subject(rung)),
            lines=(f"{gate_id} · {plan.steps[gate_id].label}", headline, *lines_of_facts(facts)),
            link=link,
        )


def announce_gate_reminder(
    plan: Plan, dry_run: str, gate_id: str, context: Any, rung: Rung, since: dt.datetime
) -> None:
    """Send one rung of the ladder about an undecided gate (from the gate's task); a failure is
    recorded, never raised."""
    ti = context["ti"]
    transferees = read_transferees(context)
    held_by = holders(plan, gate_id, transferees)
    answers = SentLedger.of(context).get(GATE_ANSWERS, [])
    go = GoSoFar(plan.steps[gate_id].approvals, tuple(said_go(answers, read_handed(context))))
    base_url = airflow_base_url()
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": base_url}
    mails = [
        Mail(
            partial(
                gate_reminder_message,
                plan,
                dry_run,
                gate_id,
                rung,
                group,
                since=since,
                held_by=held_by,
                go=go,
                **where,
            ),
            to=group.to[0].email,
        )
        for group in readers(plan, gate_id, rung.level, transferees)
    ]
    channel = partial(
        gate_reminder_channel_message,
        plan,
        dry_run,
        gate_id,
        rung,
        since=since,
        held_by=held_by,
        go=go,
        link=step_page_link(base_url, ti.dag_id, ti.run_id, gate_id),
    )
    deliver(
        plan,
        Announcement(kind="reminder", about=gate_id, mails=mails, channel=channel),
        task_recorder(ti),
    )
