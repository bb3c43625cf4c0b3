"""``GET /transition/api/dags/{dag_id}/runs/{run_id}/journal``: the run's journal, as written.

The entries of the run instance that has this run id now (:mod:`transition.runs.journal`), each the
line that was hashed, in order; ``signed`` says whether this api-server signs them (it has the
deployment's key), so that a journal whose entries lost their MACs does not pass for an unsigned one.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException

from transition.i18n import _, use_language
from transition.runs import journal
from transition.runs.records import run_key
from transition.web.app import app, problems, user_language


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/journal",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def run_journal(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    key = run_key(session, dag_id, run_id)
    if key is None:
        with use_language(user_language(user)):
            raise HTTPException(404, _("no run '{run}' of '{dag}'").format(run=run_id, dag=dag_id))
    lines = journal.lines_of_run(session, key)
    return {
        "run_key": key,
        "signed": journal.current_key() is not None,
        "entries": lines,
        "total_entries": len(lines),
    }
