"""``GET /transition/api/dags/{dag_id}/runs/{run_id}/plan-of-record``: the plan the run used.

The record the run's watch wrote when the run started (:mod:`transition.runs.plan_of_record`),
and what changed in the plan since: the current content key, and when it differs the steps added,
removed and the durations changed. ``?plan=true`` adds the compiled plan as it was recorded.
"""

from __future__ import annotations

import zlib
from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException

from transition.i18n import _, use_language
from transition.runs.plan_of_record import (
    loaded,
    plan_changes,
    record_key,
    same_run,
    summary,
    unpack_plan,
)
from transition.web.app import app, dry_run_or_404, plan_or_404, problems, user_language


def stored_record(session: Any, dag_id: str, run_id: str) -> tuple[bool, dict[str, Any] | None]:
    """(the run exists, its plan of record or None): a record left by a deleted run of the same
    id is not this run's."""
    # deferred: Airflow's ORM models, on the api-server only
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable

    run_after = session.scalar(
        sa.select(DagRun.run_after).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    )
    if run_after is None:
        return False, None
    row = session.scalar(sa.select(Variable).where(Variable.key == record_key(dag_id, run_id)))
    record = loaded(row.val) if row is not None else None
    return True, record if record is not None and same_run(record, run_after) else None


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/plan-of-record",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def plan_of_record(
    dag_id: str, run_id: str, session: SessionDep, user: GetUserDep, plan: bool = False
) -> dict[str, Any]:
    with use_language(user_language(user)):
        current = plan_or_404()
        dry_run = dry_run_or_404(current, dag_id)
        found, record = stored_record(session, dag_id, run_id)
        if not found:
            raise HTTPException(404, _("no run '{run}' of '{dag}'").format(run=run_id, dag=dag_id))
    if record is None:
        return {"recorded": False, "record": None, "changes": None}
    answer: dict[str, Any] = {
        "recorded": True,
        "record": summary(record),
        "changes": plan_changes(record, current, dry_run),
    }
    if plan:
        try:
            answer["plan"] = unpack_plan(str(record.get("plan", "")))
        except (ValueError, zlib.error):
            answer["plan"] = None
    return answer
