"""The plugin's FastAPI app, served by Airflow's api-server under ``/transition`` (Airflow login).

Owns what every endpoint shares: the app and its error answers (a 4xx with a message for hostile
input, never a 500 with internals), the user's language, and looking up the plan, its dry runs
and steps (404 in words). The routes are in :mod:`step_actions` (transfer, defects),
:mod:`run_api` (runs, steps, records) and :mod:`recap` (the page); :mod:`step_api` assembles them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from transition.i18n import _, normalise
from transition.vocabulary import DEFAULT_BASE_URL
from transition.web import permissions
from transition.web.guard_facts import actor_id
from transition.web.permissions import StepRef, find_step
from transition.web.same_site import from_another_site

log = logging.getLogger(__name__)

# Hostile input (issue 14; found by tests/security/test_api_fuzz.py) gets a 4xx with a message, never a 500:
# an identifier in the path with a control character (PostgreSQL refuses a NUL in a query), a defect
# number beyond the database's integer, text that is not Unicode (a lone surrogate, echoed by the 422).
CONTROL = "".join(map(chr, range(0x20))) + "\x7f"
DEFECT_ID_MAX = 2**31 - 1  # the ``id`` column is a 32-bit INTEGER on PostgreSQL


class ProblemBody(BaseModel):
    detail: str = Field(description="what was refused, in the user's language")


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route gives, in its OpenAPI: always JSON ``{"detail": "..."}``, also beside HTML."""
    meanings = {
        400: "refused input",
        401: "not logged in to Airflow",
        403: "not allowed (or a token Airflow refuses)",
        404: "no such plan DAG, run, step or defect",
        409: "not in this state",
        415: "not sent as JSON (every change is: a cross-site form cannot send it)",
    }
    return {
        code: {
            "description": meanings[code],
            "content": {"application/json": {"schema": ProblemBody.model_json_schema()}},
        }
        for code in codes
    }


def _no_control_in_path(request: Request) -> None:
    """Identifiers in the path (DAG, run, step) never hold control characters: refuse them at once."""
    for value in request.path_params.values():
        bad = next((c for c in value if c in CONTROL), None) if isinstance(value, str) else None
        if bad is not None:
            raise HTTPException(
                400,
                _(
                    "the address holds a control character (U+{code:04X}): no DAG, run or step of "
                    "the plan has one"
                ).format(code=ord(bad)),
            )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _no_cross_site(request: Request) -> None:
    """No ambient authority: a change is made only by a request another site cannot forge with the
    user's cookie. A form posted from elsewhere can send no JSON body (its content type), and a
    browser says where a request comes from (:mod:`transition.web.same_site`): every changing route
    takes JSON (``Content-Type: application/json``, ``{}`` when it has nothing to say), from
    Airflow's own pages (its origin, or ``[api] base_url``'s) or from no browser."""
    if request.method.upper() in SAFE_METHODS:
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(
            415, _("send the change as JSON (Content-Type: application/json), {} when empty")
        )
    if from_another_site(request.headers, (str(request.base_url), base_url())):
        raise HTTPException(
            403, _("a change to the transition plan is made from its own pages, not another site")
        )


app = FastAPI(
    title="Transition plan",
    description="Transfers and defects of transition-plan steps.",
    dependencies=[Depends(_no_control_in_path), Depends(_no_cross_site)],
)


class _AsciiJSONResponse(JSONResponse):
    """JSON as ASCII: a lone surrogate echoed back from the request is escaped, not an encoding error."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


@app.exception_handler(RequestValidationError)
async def _invalid(request: Any, exc: RequestValidationError) -> Any:
    """FastAPI's 422 (``{"detail": [errors]}``), also when the refused input is not valid Unicode."""
    return _AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


@app.exception_handler(Exception)
async def _unexpected(request: Any, exc: Exception) -> Any:
    incident = uuid.uuid4().hex[:12]
    log.exception("Unexpected error %s in %s %s", incident, request.method, request.url.path)
    # The exception's text stays in the api-server's log: it may show internals to a caller.
    return JSONResponse(
        {"detail": f"internal error (incident {incident}, in the api-server log)"}, status_code=500
    )


def user_language(user: Any, plan: Any = None) -> str:
    """The user's language: their actor's, else the plan's default."""
    if plan is None:
        plan = permissions.current_plan()
    if plan is None:
        return normalise(None)
    actor = plan.actors.get(actor_id(user))
    return actor.language if actor is not None else plan.language


def step_or_404(dag_id: str, step_id: str) -> StepRef:
    ref = find_step(dag_id, step_id)
    if ref is None:
        raise HTTPException(
            404,
            _("no step '{step}' in DAG '{dag}' of the transition plan").format(
                step=step_id, dag=dag_id
            ),
        )
    return ref


def plan_or_404() -> Any:
    plan = permissions.current_plan()
    if plan is None:
        raise HTTPException(404, _("the transition plan has no valid version yet"))
    return plan


def dry_run_or_404(plan: Any, dag_id: str) -> str:
    dry_run = plan.dry_run_of(dag_id)
    if dry_run is not None:
        return dry_run
    raise HTTPException(
        404, _("'{dag}' is not a dry run of plan {plan}").format(dag=dag_id, plan=plan.name)
    )


def airflow_root(request: Any) -> str:
    """Airflow's own path prefix (``/airflow`` behind a proxy; empty at the root), from the
    plugin's mount point."""
    mounted = str(request.scope.get("root_path", ""))
    return mounted[: -len("/transition")] if mounted.endswith("/transition") else ""


def base_url() -> str:
    from airflow.configuration import conf  # deferred: Airflow's configuration, api-server side

    return conf.get("api", "base_url", fallback=DEFAULT_BASE_URL)


def as_json(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}
