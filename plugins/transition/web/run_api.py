"""Reading a dry run through the plugin: its runs, where every step stands, its records.

* ``GET /transition/api/dags/{dag_id}/runs``: the dry run's runs, newest first
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/steps``: the run view (:class:`RunView`)
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/defects`` (and ``/transfers``)
"""

from __future__ import annotations

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends

from transition.i18n import use_language
from transition.runs import records
from transition.runs.run_view import dag_runs, run_steps
from transition.runs.views import RunView
from transition.web.app import (
    app,
    as_json,
    base_url,
    dry_run_or_404,
    plan_or_404,
    problems,
    user_language,
)


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/defects",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def list_defects(dag_id: str, run_id: str, session: SessionDep) -> dict:
    rows = records.defects_of_run(session, dag_id, run_id)
    return {"defects": [as_json(r) for r in rows], "total_entries": len(rows)}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/transfers",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def list_transfers(dag_id: str, run_id: str, session: SessionDep) -> dict:
    rows = records.transfers_of_run(session, dag_id, run_id)
    return {"transfers": [as_json(r) for r in rows], "total_entries": len(rows)}


@app.get(
    "/api/dags/{dag_id}/runs",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def list_runs(dag_id: str, session: SessionDep, user: GetUserDep) -> dict:
    with use_language(user_language(user)):
        dry_run_or_404(plan_or_404(), dag_id)
    return {"runs": dag_runs(session, dag_id)}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/steps",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def list_steps(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> RunView:
    with use_language(user_language(user)):
        plan = plan_or_404()
        dry_run = dry_run_or_404(plan, dag_id)
    return run_steps(session, plan, dry_run, run_id, base_url())
