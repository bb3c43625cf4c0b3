"""The review after a run as a page of the api-server (what the recap of an ended run links to):

* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/review.html``: the page ``transition review``
  writes (:mod:`transition.results.review`), built from Airflow's database: the run view, the run's
  records, the latest run of the plan's other dry runs and its finished runs (the forecast).

Self-contained, no script: served with a policy that lets it load nothing (its charts are inline).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.dagrun import DagRun
from fastapi import Depends, HTTPException, Query
from fastapi.responses import HTMLResponse

from transition.i18n import _, languages, normalise, use_language
from transition.plan.model import Plan
from transition.results.data import (
    DryRunComparison,
    RunResults,
    phase_results,
    run_results_from_json,
)
from transition.runs import records
from transition.runs.run_facts import dag_runs, run_steps
from transition.web.app import app, as_json, base_url, dry_run_or_404, plan_or_404, problems
from transition.web.run_forecast import finished_results, finished_runs

# Nothing to run, nothing to load: the styles and the SVGs are in the page.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "state": str(getattr(run.state, "value", run.state) or ""),
        "start_date": run.start_date.isoformat() if run.start_date else None,
        "end_date": run.end_date.isoformat() if run.end_date else None,
    }


def _results(session: Any, plan: Plan, dry_run: str, run: dict[str, Any], url: str) -> RunResults:
    view = run_steps(session, plan, dry_run, run["run_id"], url)
    return run_results_from_json(view, run)


def _others(
    session: Any, plan: Plan, current: RunResults, url: str
) -> tuple[list[DryRunComparison], list[RunResults]]:
    """The comparison (this run, the latest run of each other dry run, in D-day order) and the
    plan's finished runs that the forecast measures (as the recap's: web/run_forecast.py)."""
    compared = [phase_results(current)]
    for dry_run in plan.schedules:
        runs = dag_runs(session, plan.dag_id(dry_run), 1)
        if runs and plan.dag_id(dry_run) != current.dag_id:
            compared.append(phase_results(_results(session, plan, dry_run, runs[0], url)))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    compared.sort(key=lambda c: (c.first_planned_start or far, c.dry_run))
    return compared, finished_results(session, plan, url, finished_runs(session, plan))


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/review.html",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_class=HTMLResponse,
    responses={
        200: {"description": "the review after the run (HTML, no script)"},
        **problems(400, 401, 403, 404),
    },
)
def review_html(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    user: GetUserDep,
    lang: str | None = Query(None, max_length=10, description="default: the plan's language"),
) -> HTMLResponse:
    """The review after the run, as ``transition review`` writes it."""
    # deferred: numpy and the page's templates, for this page only
    from transition.results.confidence import DRAWS, confidence
    from transition.results.review import SEED, review_page

    plan = plan_or_404()
    dry_run = dry_run_or_404(plan, dag_id)
    language = normalise(lang if lang in languages() else plan.language)
    run = session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        with use_language(language):
            raise HTTPException(
                404, _("no run '{run}' of DAG '{dag}'").format(run=run_id, dag=dag_id)
            )
    url = base_url()
    view = run_steps(session, plan, dry_run, run_id, url)
    defects = [as_json(r) or {} for r in records.defects_of_run(session, dag_id, run_id)]
    transfers = [as_json(r) or {} for r in records.transfers_of_run(session, dag_id, run_id)]
    results = run_results_from_json(view, _run_json(run), defects, transfers)
    comparison, finished = _others(session, plan, results, url)
    found = confidence(plan, dry_run, finished, DRAWS, SEED)
    page = review_page(plan, view, results, comparison, found, dt.datetime.now(dt.UTC), language)
    return HTMLResponse(page, headers=PAGE_HEADERS)
