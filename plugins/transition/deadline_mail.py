"""The dry run's End as an Airflow Deadline Alert: the cutover managers are e-mailed when a run
is still going at the End given in the DryRuns sheet (Airflow 2's "SLA miss", rebuilt on Airflow 3).

The callback runs in the triggerer; Airflow records the deadline in its database, so it fires once
per run, across restarts, and is dropped when the run ends in time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from transition.mail import compose, render, send
from transition.model import Plan

log = logging.getLogger(__name__)


def dry_run_deadline(plan: Plan, dry_run: str) -> DeadlineAlert | None:
    end = plan.dry_runs[dry_run].end
    recipients = [plan.actors[m].email for m in plan.cutover_managers if m in plan.actors]
    if end is None or not recipients:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.FIXED_DATETIME(end),
        interval=dt.timedelta(0),
        callback=AsyncCallback(
            notify_dry_run_late,
            kwargs={"plan": plan.name, "dry_run": dry_run, "end": f"{end:%a %d %b %Y %H:%M} ({plan.timezone})",
                    "recipients": recipients},
        ),
        name=f"{plan.name} {dry_run} end",
    )


async def notify_dry_run_late(plan: str, dry_run: str, end: str, recipients: list[str], context: Any = None, **_: Any) -> None:
    from airflow.sdk import conf

    dag_run = (context or {}).get("dag_run") or {}  # Airflow passes the run as its REST (JSON) form
    run_id, dag_id = str(dag_run.get("dag_run_id", "?")), str(dag_run.get("dag_id", ""))
    base_url = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    link = f"{base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    subject = f"[Transition-{dry_run}] Dry run still running after its end ({end})"
    text, html = render("deadline", subject=subject, plan=plan, dry_run=dry_run, end=end, run_id=run_id, link=link)
    message = compose(subject=subject, to=recipients, text=text, html=html)
    await asyncio.to_thread(send, message)
    log.info("Deadline e-mail sent for %s %s to %s", plan, dry_run, ", ".join(recipients))
