"""The dry run's End as an Airflow Deadline Alert: the cutover managers are e-mailed when a run
is still going at the End given in the DryRuns sheet (Airflow 2's "SLA miss", rebuilt on Airflow 3).

The callback runs in the triggerer; Airflow records the deadline in its database, so it fires once
per run, across restarts, and is dropped when the run ends in time. One e-mail per language among
the cutover managers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from transition.i18n import _, format_moment, use_language
from transition.notifications.addressing import airflow_base_url, managers_by_language
from transition.notifications.mail import MailError, compose, failure_reason, render, send
from transition.plan.model import Plan
from transition.vocabulary import subject_prefix

log = logging.getLogger(__name__)


def dry_run_deadline(plan: Plan, dry_run: str) -> DeadlineAlert | None:
    end = plan.dry_runs[dry_run].end
    groups = managers_by_language(plan)
    if end is None or not groups:
        return None
    ends = {}
    for language in groups:
        with use_language(language):
            ends[language] = f"{format_moment(end)} ({plan.timezone})"
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
            },
        ),
        name=f"{plan.name} {dry_run} end",
    )


async def notify_dry_run_late(
    plan: str,
    dry_run: str,
    end: str,
    recipients: list[str],
    context: Any = None,
    languages: dict[str, dict[str, Any]] | None = None,
    **_kwargs: Any,
) -> None:
    # deferred: Airflow's configuration, read when the callback runs

    dag_run = (context or {}).get("dag_run") or {}  # Airflow passes the run as its REST (JSON) form
    run_id, dag_id = str(dag_run.get("dag_run_id", "?")), str(dag_run.get("dag_id", ""))
    base_url = airflow_base_url().rstrip("/")
    link = f"{base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    failures = []
    for language, group in (languages or {"en": {"to": recipients, "end": end}}).items():
        try:  # one language's e-mail failing does not keep the others from going
            with use_language(language):
                subject = subject_prefix(dry_run) + _(
                    "Dry run still running after its end ({end})"
                ).format(end=group["end"])
                text, html = render(
                    "deadline",
                    subject=subject,
                    plan=plan,
                    dry_run=dry_run,
                    end=group["end"],
                    run_id=run_id,
                    link=link,
                )
            message = compose(subject=subject, to=group["to"], text=text, html=html)
            await asyncio.to_thread(send, message)
        except Exception as exc:
            log.warning(
                "The deadline e-mail of %s %s to %s could not be sent: %s",
                plan,
                dry_run,
                ", ".join(group["to"]),
                failure_reason(exc),
            )
            failures.append(failure_reason(exc))
            continue
        log.info("Deadline e-mail sent for %s %s to %s", plan, dry_run, ", ".join(group["to"]))
    if failures:  # Airflow records the callback as failed: not sent is never shown as sent
        raise MailError("; ".join(failures)[:300])
