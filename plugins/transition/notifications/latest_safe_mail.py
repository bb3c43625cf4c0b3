"""The warning that a gate's latest safe decision comes: ``[Transition-DR1] G - Latest safe
decision: Sat 16 Jan 02:10``, a configurable time before it (``escalation.gate_warning``).

The latest safe decision is the dry run's End less what runs after a No-go there in 95% of the
draws (:mod:`transition.runs.run_confidence`, as the recap shows it). It goes to whoever holds
the gate and to the cutover managers (one e-mail per language among them, the holders first) and
to the channels that take ``latest_safe``; once per gate and run (the gate's sent-ledger).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
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
from transition.notifications.escalation_mail import Readers, holders
from transition.plan.model import Plan
from transition.runs.step_holder import read_transferees

KIND = "latest_safe"


def latest_safe_subject(latest_safe: dt.datetime, plan: Plan) -> str:
    local = latest_safe.astimezone(zoneinfo.ZoneInfo(plan.timezone))
    return _("Latest safe decision: {time}").format(time=format_moment(local, "short"))


def latest_safe_text(
    plan: Plan, gate_id: str, safety: Mapping[str, Any], now: dt.datetime
) -> tuple[str, list[tuple[str, str]]]:
    """The headline and facts, in the current language."""
    zone = zoneinfo.ZoneInfo(plan.timezone)
    latest = dt.datetime.fromisoformat(str(safety["latest_safe"])).astimezone(zone)
    minutes = int(safety["fallback_p95_minutes"])
    fallback = _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)
    if latest > now:
        headline = _(
            "Gate {gate} is not decided yet. A No-go after {time} may end the dry run after its "
            "End: its fallback takes up to {duration} in 95% of the draws."
        )
    else:
        headline = _(
            "Gate {gate} is not decided yet and its latest safe decision ({time}) has passed: a "
            "No-go now may end the dry run after its End (its fallback takes up to {duration} in "
            "95% of the draws)."
        )
    headline = headline.format(gate=gate_id, time=format_moment(latest, "short"), duration=fallback)
    facts = [
        (_("Latest safe decision"), format_moment(latest, "short")),
        (_("The fallback takes (P95)"), fallback),
    ]
    return headline, facts


def latest_safe_message(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    group: Readers,
    *,
    safety: Mapping[str, Any],
    now: dt.datetime,
    dag_id: str,
    run_id: str,
    base_url: str,
) -> EmailMessage:
    with use_language(group.language):
        headline, facts = latest_safe_text(plan, gate_id, safety, now)
        latest = dt.datetime.fromisoformat(str(safety["latest_safe"]))
        return notice_message(
            plan,
            dry_run,
            gate_id,
            what=latest_safe_subject(latest, plan),
            headline=headline,
            to=[a.email for a in group.to],
            cc=[a.email for a in group.cc],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            facts=facts,
        )


def latest_safe_channel_message(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    *,
    safety: Mapping[str, Any],
    now: dt.datetime,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    with use_language(language or plan.language):
        headline, facts = latest_safe_text(plan, gate_id, safety, now)
        latest = dt.datetime.fromisoformat(str(safety["latest_safe"]))
        return ChannelMessage(
            kind=KIND,
            title=step_subject(dry_run, gate_id, latest_safe_subject(latest, plan)),
            lines=(f"{gate_id} · {plan.steps[gate_id].label}", headline, *lines_of_facts(facts)),
            link=link,
        )


def warned_readers(plan: Plan, gate_id: str, transferees: Sequence[str]) -> list[Readers]:
    """Whoever holds the gate, and the cutover managers: one group per language, the holders of
    that language first (the others copied), or the managers alone."""
    held = holders(plan, gate_id, transferees)
    ids = {a.id for a in held}
    people = [*held, *(m for m in plan.manager_actors() if m.id not in ids)]
    groups = []
    for language, group in by_language(people).items():
        to = tuple(a for a in group if a.id in ids) or tuple(group)
        groups.append(Readers(language, to, tuple(a for a in group if a not in to)))
    return groups


def announce_latest_safe(
    plan: Plan, dry_run: str, gate_id: str, context: Any, safety: Mapping[str, Any]
) -> None:
    """Tell the gate's holders and the cutover managers (from the gate's task); a failure is
    recorded, never raised."""
    ti = context["ti"]
    now = dt.datetime.now(dt.UTC)
    base_url = airflow_base_url()
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": base_url}
    mails = [
        Mail(
            partial(
                latest_safe_message, plan, dry_run, gate_id, group, safety=safety, now=now, **where
            ),
            to=group.to[0].email,
        )
        for group in warned_readers(plan, gate_id, read_transferees(context))
    ]
    channel = partial(
        latest_safe_channel_message,
        plan,
        dry_run,
        gate_id,
        safety=safety,
        now=now,
        link=step_page_link(base_url, ti.dag_id, ti.run_id, gate_id),
    )
    deliver(
        plan,
        Announcement(kind=KIND, about=gate_id, mails=mails, channel=channel),
        task_recorder(ti),
    )
