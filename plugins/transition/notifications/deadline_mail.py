"""The dry run's End as an Airflow Deadline Alert: the cutover managers are e-mailed when a run
is still going at the End given in the DryRuns sheet (Airflow 2's "SLA miss", rebuilt on Airflow 3).

The callback runs in the triggerer; Airflow records the deadline in its database, so it fires once
per run, across restarts, and is dropped when the run ends in time. One e-mail per language among
the cutover managers; the plan's chat channels that list ``end`` get one short message in the plan's
language (the triggerer reads their Airflow connections as a task does, through its supervisor).
The callback has no plan: what it needs (addresses, languages, channels) is written in its
arguments when the DAG is built. An e-mail or channel that fails makes the callback fail (Airflow
records it so), after the others were tried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from email.message import EmailMessage
from functools import partial
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from transition.i18n import _, format_moment, use_language
from transition.notifications.addressing import airflow_base_url, managers_by_language, run_link
from transition.notifications.channels import (
    ChannelError,
    ChannelMessage,
    lines_of_facts,
    post_to_channels,
)
from transition.notifications.deliver import Mail, send_one
from transition.notifications.mail import MailError, compose, render
from transition.plan.model import Plan
from transition.vocabulary import subject_prefix

log = logging.getLogger(__name__)


def dry_run_deadline(plan: Plan, dry_run: str) -> DeadlineAlert | None:
    end = plan.dry_runs[dry_run].end
    groups = managers_by_language(plan)
    connections = [c.connection for c in plan.channels_for("end")]
    if end is None or not (groups or connections):
        return None
    ends = {}
    for language in [*groups, plan.language]:
        with use_language(language):
            ends[language] = f"{format_moment(end)} ({plan.timezone})"
    channels = {"connections": connections, "language": plan.language, "end": ends[plan.language]}
    return DeadlineAlert(
        reference=DeadlineReference.FIXED_DATETIME(end),
        interval=dt.timedelta(0),
        callback=AsyncCallback(
            notify_dry_run_late,
            kwargs={
                "plan": plan.name,
                "dry_run": dry_run,
                "end": next(iter(ends.values())),
                "recipients": [e for emails in groups.values() for e in emails],
                "languages": {
                    language: {"to": emails, "end": ends[language]}
                    for language, emails in groups.items()
                },
                **({"channels": channels} if connections else {}),
            },
        ),
        name=f"{plan.name} {dry_run} end",
    )


def end_subject(dry_run: str, end: str) -> str:
    """``[Transition-DR1] Dry run still running after its end (...)``, in the current language."""
    return subject_prefix(dry_run) + _("Dry run still running after its end ({end})").format(
        end=end
    )


def end_channel_message(
    plan: str, dry_run: str, end: str, run_id: str, link: str
) -> ChannelMessage:
    """The End alert for the plan's chat channels, in the current language (the plan's)."""
    return ChannelMessage(
        kind="end",
        title=end_subject(dry_run, end),
        lines=(
            _(
                "Dry run {dry_run} of plan {plan} was due to end by {end} and is still running."
            ).format(dry_run=dry_run, plan=plan, end=end),
            *lines_of_facts([(_("Run"), run_id)]),
        ),
        link=link,
    )


def _end_mail(
    plan: str, dry_run: str, to: list[str], end: str, run_id: str, link: str
) -> EmailMessage:
    """The End alert's e-mail, in the current language."""
    subject = end_subject(dry_run, end)
    text, html = render(
        "deadline", subject=subject, plan=plan, dry_run=dry_run, end=end, run_id=run_id, link=link
    )
    return compose(subject=subject, to=to, text=text, html=html)


async def notify_dry_run_late(
    plan: str,
    dry_run: str,
    end: str,
    recipients: list[str],
    context: Any = None,
    languages: dict[str, dict[str, Any]] | None = None,
    channels: dict[str, Any] | None = None,
    **_kwargs: Any,
) -> None:
    """Airflow's callback: e-mail the cutover managers (``languages``: their addresses and the End
    per language) and post to the ``channels`` (their connections, the plan's language, its End)."""
    # deferred: Airflow's configuration, read when the callback runs

    dag_run = (context or {}).get("dag_run") or {}  # Airflow passes the run as its REST (JSON) form
    run_id, dag_id = str(dag_run.get("dag_run_id", "?")), str(dag_run.get("dag_id", ""))
    link = run_link(airflow_base_url(), dag_id, run_id)
    failures = []
    if languages is None:  # a callback written before languages were passed
        languages = {"en": {"to": recipients, "end": end}} if recipients else {}
    for language, group in languages.items():  # one language failing does not stop the others
        mail = Mail(
            partial(_end_mail, plan, dry_run, group["to"], group["end"], run_id, link),
            to=", ".join(group["to"]),
            language=language,
        )
        reason = await asyncio.to_thread(send_one, mail, "deadline", f"{plan} {dry_run}", None)
        if reason is not None:
            failures.append(reason)
    mail_failed = bool(failures)
    if channels and channels.get("connections"):
        language = str(channels.get("language") or "en")

        def build() -> ChannelMessage:
            with use_language(language):
                return end_channel_message(
                    plan, dry_run, str(channels.get("end") or end), run_id, link
                )

        # posting blocks (HTTP): in a thread, as the e-mails, not on the triggerer's event loop
        for connection, reason in await asyncio.to_thread(
            post_to_channels, list(channels["connections"]), "end", build
        ):
            failures.append(f"{connection}: {reason}")
    if failures:  # Airflow records the callback as failed: not sent is never shown as sent
        raise (MailError if mail_failed else ChannelError)("; ".join(failures)[:300])
