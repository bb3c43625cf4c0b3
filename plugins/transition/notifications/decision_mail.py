"""The e-mail of a gate's decision: ``[Transition-LIVE] CO-240 - No-go: fallback starts``.

To the cutover managers and to the owners of every step the decision starts or skips, one e-mail
per language among them (each reads it in their own). Sent once per gate and run: the gate's ledger
remembers it across retries.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, use_language
from transition.notifications.addressing import (
    airflow_base_url,
    by_language,
    step_page_link,
    step_subject,
)
from transition.notifications.alert_mail import notice_message
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.deliver import Announcement, Mail, Once, deliver, task_recorder
from transition.plan.gates import descendants, downstream_of
from transition.plan.model import Actor, Plan
from transition.runs.sent_ledger import SentLedger
from transition.vocabulary import Decision

log = logging.getLogger(__name__)


def affected_steps(
    plan: Plan, dry_run: str, followed: tuple[str, ...], skipped: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The steps a decision starts and those it skips, in plan order (the steps after both
    branches run either way: in neither list)."""
    dependents = downstream_of(plan.schedules[dry_run])
    runs, goes = descendants(followed, dependents), descendants(skipped, dependents)
    order = list(plan.schedules[dry_run].steps)
    return [s for s in order if s in runs - goes], [s for s in order if s in goes - runs]


def _decision_text(
    plan: Plan, gate_id: str, record: dict[str, Any], starts: list[str], skips: list[str]
) -> tuple[str, str, list[tuple[str, str]]]:
    """What the decision is, its headline and its facts, in the current language."""
    who = plan.actors.get(record.get("by") or "")
    if record["decision"] == Decision.GO.value:
        what = _("Go: the plan goes on")
        headline = _("Gate {gate} was decided Go by {who}.")
    else:
        what = _("No-go: fallback starts")
        headline = _("Gate {gate} was decided No-go by {who}: the fallback starts.")
    headline = headline.format(gate=gate_id, who=who.name if who else record.get("by"))
    listed = [
        (_("Comment"), record.get("comment") or "—"),
        (_("Steps it starts"), ", ".join(starts) or _("none")),
        (_("Steps it skips"), ", ".join(skips) or _("none")),
    ]
    if len(record.get("go", [])) > 1:
        listed.append((_("Go from"), ", ".join(record["go"])))
    return what, headline, listed


def decision_channel_message(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    record: dict[str, Any],
    *,
    followed: tuple[str, ...],
    skipped: tuple[str, ...],
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """The decision's message for the plan's chat channels, in the plan's language."""
    starts, skips = affected_steps(plan, dry_run, followed, skipped)
    with use_language(language or plan.language):
        what, headline, listed = _decision_text(plan, gate_id, record, starts, skips)
        return ChannelMessage(
            kind="decision",
            title=step_subject(dry_run, gate_id, what),
            lines=(headline, *lines_of_facts(listed)),
            link=link,
        )


def decision_mails(
    plan: Plan,
    dry_run: str,
    gate_id: str,
    record: dict[str, Any],
    *,
    followed: tuple[str, ...],
    skipped: tuple[str, ...],
    dag_id: str,
    run_id: str,
    base_url: str,
) -> list[Mail]:
    """One e-mail per language among the cutover managers and the owners of the steps the
    decision starts or skips."""
    starts, skips = affected_steps(plan, dry_run, followed, skipped)
    people: list[Actor | None] = [*plan.manager_actors()]
    people += [plan.actors.get(plan.steps[s].owner) for s in (*starts, *skips)]

    def build(readers: list[Actor]) -> EmailMessage:  # in the readers' language (the Mail's)
        what, headline, listed = _decision_text(plan, gate_id, record, starts, skips)
        return notice_message(
            plan,
            dry_run,
            gate_id,
            what=what,
            headline=headline,
            to=[a.email for a in readers],
            cc=[],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            facts=listed,
        )

    return [
        Mail(partial(build, readers), to=readers[0].email, language=language)
        for language, readers in by_language(people).items()
    ]


def announce_decision(
    plan: Plan,
    dry_run: str,
    context: Any,
    record: dict[str, Any],
    followed: tuple[str, ...],
    skipped: tuple[str, ...],
) -> None:
    """Send the decision's e-mails once (the gate's ledger); a failure is recorded for the watch."""
    ti = context["ti"]
    where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "base_url": airflow_base_url()}
    channel = partial(
        decision_channel_message,
        plan,
        dry_run,
        ti.task_id,
        record,
        followed=followed,
        skipped=skipped,
        link=step_page_link(where["base_url"], ti.dag_id, ti.run_id, ti.task_id),
    )
    deliver(
        plan,
        Announcement(
            kind="decision",
            about=ti.task_id,
            mails=decision_mails(
                plan, dry_run, ti.task_id, record, followed=followed, skipped=skipped, **where
            ),
            channel=channel,
            once=Once(SentLedger.of(context), "decision_mail", record["decision"]),
        ),
        task_recorder(ti),
    )
