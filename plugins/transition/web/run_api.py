"""Reading a dry run through the plugin: its runs, where every step stands, its records.

* ``GET /transition/api/dags/{dag_id}/runs``: the dry run's runs, newest first
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/steps``: the run view (:class:`RunView`)
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/defects`` (and ``/transfers``)
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/what-if?step=…&ends_at=…`` (or ``&slip=`` minutes):
  the forecast if that step ended then (:class:`WhatIfView`); changes nothing
* ``GET /transition/api/dags/{dag_id}/runs/{run_id}/timeline.svg``: the run view on a time axis
  (:mod:`timeline_svg`), with the recap table's filters as query parameters

The run view holds the run's plan of record (:mod:`plan_record_api`): what the recap and the
results say of the plan the run started with, and what changed since.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zoneinfo
from typing import Annotated, Any

import anyio.to_thread
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from transition.i18n import _, languages, normalise, use_language
from transition.plan.model import Plan
from transition.plan.what_if import Hypothesis, WhatIfError
from transition.runs import records
from transition.runs.run_facts import dag_runs, run_steps
from transition.runs.timeline_svg import ZOOM_LIMITS, StepFilter, timeline_svg
from transition.runs.views import RunView
from transition.runs.what_if_view import WhatIfView, what_if
from transition.web.app import (
    app,
    as_json,
    base_url,
    dry_run_or_404,
    plan_or_404,
    problems,
    user_language,
)
from transition.web.guard_facts import actor_id
from transition.web.plan_record_api import run_plan_of_record
from transition.web.read_once import read_once, read_once_async
from transition.web.run_forecast import with_confidence

SVG_TYPE = "image/svg+xml"
# The picture is the server's text, escaped: a browser opening it alone runs nothing, loads nothing.
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# What FastAPI would check and write the JSON answer with.
RUN_VIEW: TypeAdapter[RunView] = TypeAdapter(RunView)
GZIP_LEVEL, GZIP_MINIMUM = 5, 1024  # as Airflow's api-server compresses (its GZipMiddleware)


def written(body: bytes) -> tuple[bytes, bytes]:
    """An answer's body, and the same compressed once for all who read it (the api-server's gzip
    passes an answer that says its encoding)."""
    small = len(body) < GZIP_MINIMUM  # sent as it is, as the api-server would
    return body, body if small else gzip.compress(body, GZIP_LEVEL, mtime=0)


def answer(
    request: Request,
    bodies: tuple[bytes, bytes],
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The compressed body to a client that accepts gzip (as the api-server would send it), else the body."""
    if bodies[1] is not bodies[0] and "gzip" in request.headers.get("accept-encoding", ""):
        packed = {**(headers or {}), "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(bodies[1], media_type=media_type, headers=packed)
    return Response(bodies[0], media_type=media_type, headers=headers)


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


def read_view(plan: Plan, dry_run: str, run_id: str, url: str) -> RunView:
    """The run view now, read on a database session of its own: the readers waiting for it hold
    none (Airflow's ``SessionDep`` would give each its own, and make each of them one of the few
    requests :mod:`session_slots` lets in at once)."""
    from airflow.utils.session import create_session  # deferred: the api-server's database

    now = dt.datetime.now(dt.UTC)
    with create_session(scoped=False) as session:
        view = run_steps(session, plan, dry_run, run_id, url, now)
        view["plan_of_record"] = run_plan_of_record(session, plan, dry_run, run_id)
        return with_confidence(session, plan, view, url, now)


def current_view(plan: Plan, dry_run: str, run_id: str, url: str) -> RunView:
    """The run view now, shared with whoever reads it at the same moment (:mod:`read_once`): never
    changed by its readers."""
    key = ("view", plan.source.key, dry_run, run_id, url)
    return read_once(key, lambda: read_view(plan, dry_run, run_id, url))


def plan_and_dry_run(dag_id: str, user: Any) -> tuple[Plan, str]:
    """The plan and the dry run of ``dag_id`` (404 in the user's words); run in a worker thread,
    as the plan may be re-read from its store."""
    with use_language(user_language(user)):
        plan = plan_or_404()
        return plan, dry_run_or_404(plan, dag_id)


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/steps",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_model=RunView,
    responses=problems(400, 401, 403, 404),
)
async def list_steps(dag_id: str, run_id: str, user: GetUserDep, request: Request) -> Response:
    """Where every step of the run stands: the recap's data (:class:`RunView`)."""
    # Checked and written once for the readers of the moment, as FastAPI would; they wait for it in
    # the event loop (read_once_async), holding no worker thread and no database connection.
    plan, dry_run = await anyio.to_thread.run_sync(plan_and_dry_run, dag_id, user)
    url = base_url()
    bodies = await read_once_async(
        ("view.json", plan.source.key, dry_run, run_id, url),
        lambda: written(
            RUN_VIEW.dump_json(RUN_VIEW.validate_python(current_view(plan, dry_run, run_id, url)))
        ),
    )
    return answer(request, bodies, "application/json")


WHAT_IF_RANGE = dt.timedelta(days=366)  # how far from now an end may be asked
WHAT_IF_STATUS = {"no-step": 404, "no-run": 404, "done": 409, "bad-time": 400}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/what-if",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 409),
)
def ask_what_if(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    user: GetUserDep,
    step: Annotated[str, Query(max_length=200, description="the step asked about")],
    ends_at: Annotated[
        str | None,
        Query(
            max_length=64,
            description="when it would end: ISO 8601 (without an offset: the plan's time zone)",
        ),
    ] = None,
    slip: Annotated[
        str | None,
        Query(
            max_length=16,
            description="or how many minutes after its forecast end (negative: before)",
        ),
    ] = None,
) -> WhatIfView:
    """If step ``step`` ended at ``ends_at`` (or ``slip`` minutes after its forecast end): the new
    forecast end, the steps and gates that move and whom to warn. Changes nothing."""
    with use_language(user_language(user)):
        plan = plan_or_404()
        dry_run = dry_run_or_404(plan, dag_id)
        now = dt.datetime.now(dt.UTC)
        hypothesis = Hypothesis(step, *end_or_slip(ends_at, slip, plan.timezone, now))
        try:
            return what_if(session, plan, dry_run, run_id, hypothesis, base_url(), now)
        except WhatIfError as refused:
            raise HTTPException(WHAT_IF_STATUS[refused.reason], _safe(refused.message)) from None


def end_or_slip(
    ends_at: str | None, slip: str | None, timezone: str, now: dt.datetime
) -> tuple[dt.datetime | None, dt.timedelta | None]:
    """The query's end (aware; the plan's zone when it has no offset) or slip; 400 in words otherwise."""
    if (ends_at is None) == (slip is None):
        raise HTTPException(
            400,
            _("give the step's end (ends_at, ISO 8601) or its slip in minutes (slip), not both"),
        )
    if slip is not None:
        if not re.fullmatch(r"[+-]?[0-9]{1,6}", slip.strip()):
            raise HTTPException(
                400,
                _("slip: '{value}' is not a whole number of minutes (like 30 or -15)").format(
                    value=_safe(slip)
                ),
            )
        delta = dt.timedelta(minutes=int(slip))
        if abs(delta) > WHAT_IF_RANGE:
            raise HTTPException(
                400, _("slip: {value} minutes is more than a year").format(value=int(slip))
            )
        return None, delta
    assert ends_at is not None  # one of the two, checked above
    try:
        moment = dt.datetime.fromisoformat(ends_at.strip())
    except ValueError:
        moment = None
    if moment is None or not ends_at.isascii():
        raise HTTPException(
            400,
            _("ends_at: '{value}' is not a date and time (like 2027-01-16T14:30)").format(
                value=_safe(ends_at)
            ),
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    if abs(moment - now) > WHAT_IF_RANGE:
        raise HTTPException(
            400,
            _("ends_at: {value} is more than a year from now").format(value=_safe(ends_at)),
        )
    return moment, None


def _safe(text: str) -> str:
    """``text`` fit to answer in JSON: what is not Unicode (a lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/timeline.svg",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_class=Response,
    responses={
        200: {
            "description": "the run's steps on a time axis (SVG)",
            "content": {SVG_TYPE: {"schema": {"type": "string"}}},
        },
        **problems(400, 401, 403, 404),
    },
)
async def run_timeline(
    dag_id: str,
    run_id: str,
    user: GetUserDep,
    request: Request,
    zoom: float = Query(1.0, ge=ZOOM_LIMITS[0], le=ZOOM_LIMITS[1], description="1: 1100 px wide"),
    state: str = Query("", max_length=40, description="the recap's filters (empty: all)"),
    phase: str = Query("", max_length=200),
    team: str = Query("", max_length=200),
    owner: str = Query("", max_length=200),
    mine: bool = Query(False, description="only the user's steps"),
    lang: str | None = Query(None, max_length=10),
) -> Response:
    """The recap's timeline: one row per step the filters keep, planned beside actual / forecast."""
    plan, dry_run = await anyio.to_thread.run_sync(plan_and_dry_run, dag_id, user)
    url = base_url()
    only = StepFilter(state, phase, team, owner, actor_id(user) if mine else "")
    language = normalise(lang if lang in languages() else user_language(user, plan))

    def draw() -> tuple[bytes, bytes]:
        with use_language(language):
            view = current_view(plan, dry_run, run_id, url)
            return written(timeline_svg(view, zoom=zoom, only=only).encode())

    bodies = await read_once_async(
        ("timeline", plan.source.key, dry_run, run_id, url, only, zoom, language), draw
    )
    return answer(request, bodies, SVG_TYPE, SVG_HEADERS)
