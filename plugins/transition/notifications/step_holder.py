"""Who holds a step of a running dry run now: the person it was last transferred to.

A transfer is recorded by the api-server (the plugin's tables, which tasks cannot read: Airflow 3's
tasks reach the database only through the Execution API). So the api-server also writes the holder
in an Airflow Variable, which tasks read through the Task SDK:

    transition.holders/<dag_id>/<run_id>/<task_id>
        ->  {"holder": "<actor ID>", "transferees": ["<actor ID>", ...], "run_after": "..."}

``run_after`` (the run's, set when it was triggered) tells the run instance: a run deleted and
triggered again under the same id does not inherit the old holder.

A step transferred before it is Ready then tells its holder, not its owner, that it is Ready; the
escalation ladder reminds everyone it was transferred to (``transferees``, in order). Only
cutover managers may write ``transition.*`` Variables through Airflow's API (the step guard), and the
run's watch deletes a run's holders with its sent-ledgers when the run ends.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from transition.notifications.sent_ledger import bounded_key

PREFIX = "transition.holders/"


def holder_key(dag_id: str, run_id: str, task_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}/{task_id}")


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


def run_instant(value: Any) -> str:
    """A run's ``run_after`` as kept in a Variable."""
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def same_run(stored: Any, run_after: Any) -> bool:
    """Whether a Variable's ``run_after`` is this run instance's (not a run deleted and triggered
    again under the same id)."""
    try:
        return isinstance(stored, str) and dt.datetime.fromisoformat(stored) == run_after
    except (TypeError, ValueError):  # not a time, or naive against aware
        return False


def write_holder(
    session: Any, dag_id: str, run_id: str, task_id: str, actor: str, transferees: list[str]
) -> None:
    """On the api-server, in the transfer's own database session: ``actor`` holds the step now,
    ``transferees`` are everyone it was transferred to in this run."""
    # deferred: Airflow's ORM models, on the api-server only
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable

    run_after = session.scalar(
        sa.select(DagRun.run_after).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    )
    Variable.set(
        holder_key(dag_id, run_id, task_id),
        json.dumps(
            {"holder": actor, "transferees": transferees, "run_after": run_instant(run_after)}
        ),
        description="transition: whom this step of a running dry run was last transferred to",
        session=session,
    )


def _read(context: Any) -> dict[str, Any]:
    """The step's entry for this run instance (empty: never transferred)."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    ti, dag_run = context["ti"], context["dag_run"]
    raw = Variable.get(holder_key(ti.dag_id, ti.run_id, ti.task_id), default=None)
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return {}
    if not isinstance(value, dict) or not same_run(value.get("run_after"), dag_run.run_after):
        return {}  # another run instance's (deleted, triggered again under the same id)
    return value


def read_holder(context: Any) -> str | None:
    """In a running task: the actor ID its step was last transferred to in this run, or None."""
    holder = _read(context).get("holder")
    return holder if isinstance(holder, str) and holder else None


def read_transferees(context: Any) -> list[str]:
    """In a running task: everyone its step was transferred to in this run, in order."""
    people = _read(context).get("transferees")
    return [p for p in people if isinstance(p, str)] if isinstance(people, list) else []
