"""Who holds a step of a running dry run now: the person it was last transferred to.

A transfer is recorded by the api-server (the plugin's tables, which tasks cannot read: Airflow 3's
tasks reach the database only through the Execution API). So the api-server also writes the holder
in an Airflow Variable, which tasks read through the Task SDK:

    transition.holders/<dag_id>/<run_id>/<task_id>  ->  {"holder": "<actor ID>"}

A step transferred before it is Ready then tells its holder, not its owner, that it is Ready. Only
cutover managers may write ``transition.*`` Variables through Airflow's API (the step guard), and the
run's watch deletes a run's holders with its sent-ledgers when the run ends.
"""

from __future__ import annotations

import json
from typing import Any

from transition.notifications.sent_ledger import bounded_key

PREFIX = "transition.holders/"


def holder_key(dag_id: str, run_id: str, task_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}/{task_id}")


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


def write_holder(session: Any, dag_id: str, run_id: str, task_id: str, actor: str) -> None:
    """On the api-server, in the transfer's own database session."""
    # deferred: Airflow's ORM Variable, on the api-server only
    from airflow.models.variable import Variable

    Variable.set(
        holder_key(dag_id, run_id, task_id),
        json.dumps({"holder": actor}),
        description="transition: whom this step of a running dry run was last transferred to",
        session=session,
    )


def read_holder(dag_id: str, run_id: str, task_id: str) -> str | None:
    """In a running task: the actor ID the step was last transferred to, or None."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    raw = Variable.get(holder_key(dag_id, run_id, task_id), default=None)
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    holder = value.get("holder") if isinstance(value, dict) else None
    return holder if isinstance(holder, str) and holder else None
