"""Calendar cancellations when a person cancels a dry run (marks its Airflow run "failed").

A listener's ``on_dag_run_failed`` (registered by ``plugins/transition_plugin.py``) that acts on
manual marking only: a run that failed by itself may be cleared and go on. It reads what the run's
watch sent (its sent-ledger), e-mails the cancellations in a thread of its own, and leaves the
ledger, so that a run brought back by clearing its tasks invites everyone again.

How it works: docs/architecture.md, "runner/calendar_listener.py".
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)
MANUAL = "manually set"


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    if MANUAL not in (msg or ""):
        return
    dag_id, run_id = str(dag_run.dag_id), str(dag_run.run_id)
    threading.Thread(
        target=cancel_run_calendar,
        args=(dag_id, run_id),
        name="transition-calendar-cancel",
        daemon=True,
    ).start()


def cancel_run_calendar(dag_id: str, run_id: str) -> int:
    """Send the cancellations of a run (api-server side); never raises; how many e-mails went out."""
    try:
        # Deferred: every Airflow process loads this listener with the plugin; only the api-server
        # ever runs it, so the e-mail and plan modules are imported here, when it does.
        from airflow.models.variable import Variable

        from transition.notifications.calendar_mail import LEDGER_ENTRY, cancel_calendar
        from transition.runner.watch_operator import WATCH_TASK_ID
        from transition.runs.sent_ledger import ledger_key
        from transition.store.plan_store import load_plan

        plan = load_plan().plan
        dry_run = plan.dry_run_of(dag_id) if plan is not None else None
        if plan is None or dry_run is None:
            return 0  # not a dry run of the plan (or no plan): nothing of ours
        key = ledger_key(dag_id, run_id, WATCH_TASK_ID)
        raw = Variable.get(key, default_var=None)
        entries = json.loads(raw) if raw else {}
        if not entries.get(LEDGER_ENTRY):
            log.info("Run %s of %s was cancelled; nobody had a calendar invitation", run_id, dag_id)
            return 0
        sent, kept = cancel_calendar(plan, dry_run, run_id, entries[LEDGER_ENTRY])
        entries[LEDGER_ENTRY] = kept
        Variable.set(
            key,
            json.dumps(entries, sort_keys=True),
            description="transition: what this task of a running dry run has already told people",
        )
        log.info("Run %s of %s was cancelled: %d calendar cancellations sent", run_id, dag_id, sent)
        return sent
    except Exception:
        log.exception("Calendar cancellations of run %s of %s failed", run_id, dag_id)
        return 0
