"""What Airflow's database knows of one dry run's run (api-server side): the facts the run view is
made of (:mod:`transition.runs.run_view`, which reads no database), and the runs of a DAG.

Read: the task instances' states and end dates, the steps' XComs (``ready``, ``started``,
``closed``, a gate's ``decision``) and the plugin's records (defects, forced closes, transfers).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel

from transition.plan.model import Plan
from transition.runs import records
from transition.runs.run_view import AUTOMATION_KEY, DECISION_KEY, XCOM_KEYS, RunFacts, run_view
from transition.runs.views import RunView


def dag_runs(session: Any, dag_id: str, limit: int = 50) -> list[dict[str, Any]]:
    runs = session.scalars(
        sa.select(DagRun)
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.run_after.desc())
        .limit(limit)
    ).all()
    return [
        {
            "run_id": r.run_id,
            "state": str(getattr(r.state, "value", r.state)),
            "start_date": r.start_date.isoformat() if r.start_date else None,
        }
        for r in runs
    ]


def finished_run_ids(
    session: Any, dag_ids: dict[str, str], per_dag: int
) -> tuple[tuple[str, str], ...]:
    """(name, run ID) of the latest ``per_dag`` finished runs of each DAG (``dag_ids``: DAG ID ->
    its name), in one query."""
    rows = session.execute(
        sa.select(DagRun.dag_id, DagRun.run_id)
        .where(DagRun.dag_id.in_(list(dag_ids)), DagRun.state.in_(("success", "failed")))
        .order_by(DagRun.run_after.desc())
        .limit(per_dag * len(dag_ids) * 4)
    ).all()
    taken: dict[str, list[str]] = {}
    for row in rows:
        runs = taken.setdefault(row.dag_id, [])
        if len(runs) < per_dag:
            runs.append(row.run_id)
    return tuple((dag_ids[d], run) for d in dag_ids for run in taken.get(d, []))


def read_run_facts(session: Any, dag_id: str, run_id: str) -> RunFacts:
    """The facts of run ``run_id`` of ``dag_id``: three queries and the records' four."""
    task_states: dict[str, str | None] = {}
    end_dates: dict[str, dt.datetime | None] = {}
    # the columns read, not whole task instances (a fifth of the time at 500 steps)
    for ti in session.execute(
        sa.select(TaskInstance.task_id, TaskInstance.state, TaskInstance.end_date).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
        )
    ):
        state = ti.state
        task_states[ti.task_id] = str(getattr(state, "value", state)) if state is not None else None
        end_dates[ti.task_id] = ti.end_date
    xcoms: dict[tuple[str, str], dict[str, Any]] = {}
    for row in session.execute(
        sa.select(XComModel.task_id, XComModel.key, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.key.in_((*XCOM_KEYS, DECISION_KEY, AUTOMATION_KEY)),
        )
    ):
        value = XComModel.deserialize_value(row)
        xcoms[(row.task_id, row.key)] = value if isinstance(value, dict) else {}  # or nothing
    return RunFacts(task_states, end_dates, xcoms, records.records_of_run(session, dag_id, run_id))


def run_steps(
    session: Any,
    plan: Plan,
    dry_run: str,
    run_id: str,
    base_url: str,
    now: dt.datetime | None = None,
) -> RunView:
    """Where every step of the run stands (:func:`run_view` of the run's facts)."""
    facts = read_run_facts(session, plan.dag_id(dry_run), run_id)
    return run_view(plan, dry_run, run_id, facts, base_url, now or dt.datetime.now(dt.UTC))
