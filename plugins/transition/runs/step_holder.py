"""Who holds a step of a running dry run now: the person it was last transferred to.

The api-server writes the holder in an Airflow Variable, which tasks read through the Task SDK:
``transition.holders/<dag_id>/<run_id>/<task_id>`` (holder, transferees, every transfer), and one
per run, ``transition.holders/<dag_id>/<run_id>/@steps``, mapping every transferred step to its
holder for the run's watch. Both are written in the transfer's own database session; the run's
watch deletes them with its sent-ledgers when the run ends.

How it works: docs/architecture.md, "runs/step_holder.py".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from transition.runs.variable_keys import bounded_key
from transition.runs.variable_rows import locked_value

PREFIX = "transition.holders/"
RUN_MAP = "@steps"  # not a task ID (``[\w.-]+``): the run's map, under the run's prefix
DESCRIPTION = "transition: whom this step of a running dry run was last transferred to"
RUN_DESCRIPTION = "transition: whom each transferred step of a running dry run is held by now"


def holder_key(dag_id: str, run_id: str, task_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}/{task_id}")


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


def run_holders_key(dag_id: str, run_id: str) -> str:
    """The run's map of holders (step -> actor ID)."""
    return bounded_key(f"{run_prefix(dag_id, run_id)}{RUN_MAP}")


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
    session: Any,
    dag_id: str,
    run_id: str,
    task_id: str,
    actor: str,
    transferees: list[str],
    handed: Sequence[tuple[str, str]] = (),
) -> None:
    """On the api-server, in the transfer's own database session: ``actor`` holds the step now,
    ``transferees`` are everyone it was transferred to in this run, ``handed`` who to whom."""
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
            {
                "holder": actor,
                "transferees": transferees,
                "handed": [list(pair) for pair in handed],
                "run_after": run_instant(run_after),
            }
        ),
        description=DESCRIPTION,
        session=session,
    )
    key = run_holders_key(dag_id, run_id)
    steps = holders_of(locked_value(session, key, RUN_DESCRIPTION), run_after)
    steps[task_id] = actor
    Variable.set(
        key,
        json.dumps({"run_after": run_instant(run_after), "steps": steps}, sort_keys=True),
        description=RUN_DESCRIPTION,
        session=session,
    )


def holders_of(raw: str | None, run_after: Any) -> dict[str, str]:
    """The run's map (its Variable's value) for the run instance of ``run_after``: step -> holder."""
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return {}
    if not isinstance(value, dict) or not same_run(value.get("run_after"), run_after):
        return {}  # none yet, or another run instance's (deleted, triggered again under the same id)
    steps = value.get("steps")
    if not isinstance(steps, dict):
        return {}
    return {s: a for s, a in steps.items() if isinstance(s, str) and isinstance(a, str) and a}


def read_run_holders(context: Any) -> dict[str, str]:
    """In a running task (the run's watch): every transferred step of its run, and who holds it."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    ti, dag_run = context["ti"], context["dag_run"]
    return holders_of(
        Variable.get(run_holders_key(ti.dag_id, ti.run_id), default=None), dag_run.run_after
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


def read_handed(context: Any) -> list[tuple[str, str]]:
    """In a running task: who handed its step to whom in this run, ``(from, to)``, in order."""
    pairs = _read(context).get("handed")
    if not isinstance(pairs, list):
        return []
    return [
        (p[0], p[1])
        for p in pairs
        if isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
    ]
