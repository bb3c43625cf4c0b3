"""The pages made for a phone (issue 30): one step, and "My night" (a person's steps in a run).

* ``GET /transition/steps/{dag_id}/{run_id}/{step_id}`` (``?do=start`` opens Start to confirm)
* ``GET /transition/my-night/{dag_id}/{run_id}``

Served with the user's Airflow login, in their language; they change nothing. The page's buttons
send Airflow's own answer to the step's request (``PATCH /api/v2/.../hitlDetails``: the guard and
Airflow's checks apply) and the plugin's defect and transfer POSTs, from the browser with its login.
How it works: docs/phone.md.
"""

from __future__ import annotations

import json
import secrets
from functools import partial
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.dagrun import DagRun
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from transition.i18n import _, languages, use_language
from transition.notifications.addressing import (
    my_night_link,
    required_actions_link,
    step_page_link,
)
from transition.notifications.mail import markdown_html, template_environment
from transition.runs.states import STATE_COLOURS, state_name
from transition.runs.step_page import my_night, page_moment, step_page, viewer_zone
from transition.vocabulary import SEVERITY_NAMES, Option
from transition.web.app import (
    airflow_root,
    app,
    base_url,
    problems,
    step_or_404,
    user_language,
)
from transition.web.guard_facts import actor_id, is_manager
from transition.web.run_api import current_view, plan_and_dry_run
from transition.web.step_checks import task_instance


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def headers(nonce: str) -> dict[str, str]:
    """No resource but the page's own: its inline style, its one script (by nonce), its fetches."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'self'"
        ),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def offered_options(ti: Any) -> list[str] | None:
    """The options of the step's request, while it waits for an answer; else None."""
    detail = ti.hitl_detail
    if detail is None or detail.response_received:
        return None
    return [str(o) for o in detail.options or []]


def texts() -> dict[str, Any]:
    """The pages' words for their script, in the current language."""
    return {
        "refused": _("Refused: {reason}"),
        "sent": _("Sent: {option}. The page refreshes when the step has moved on."),
        "recorded": _("Recorded."),
        "comment_required": _("A comment is required for {option}."),
        "login": _("Your Airflow login has expired: log in again, then come back to this page."),
        "network": _("Not sent: no answer from the server ({reason}). Try again."),
    }


def option_names() -> dict[str, str]:
    """The request's options as the buttons say them, in the current language."""
    return {
        Option.START.value: _("Start"),
        Option.CLOSE.value: _("Close"),
        Option.GO.value: _("Go"),
        Option.NO_GO.value: _("No-go"),
        Option.RETRY.value: _("Retry"),
        Option.BY_HAND.value: _("Done by hand"),
        Option.ACCEPT.value: _("Accept"),
    }


def render(template: str, response_headers: dict[str, str], **values: Any) -> HTMLResponse:
    page = template_environment().get_template(template).render(**values)
    return HTMLResponse(page, headers=response_headers)


@app.get(
    "/steps/{dag_id}/{run_id}/{step_id}",
    response_class=HTMLResponse,
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def step_page_route(
    dag_id: str,
    run_id: str,
    step_id: str,
    request: Request,
    user: GetUserDep,
    session: SessionDep,
    do: str | None = None,
    lang: str | None = None,
) -> HTMLResponse:
    """One step, made for a phone: what it is, its state and times, what it waits for, and the
    buttons this person may use now. ``?do=start`` opens Start to confirm; it sends nothing."""
    plan, dry_run = plan_and_dry_run(dag_id, user)
    with use_language(lang if lang in languages() else user_language(user, plan)) as language:
        step_or_404(dag_id, step_id)
        offered = offered_options(task_instance(session, dag_id, run_id, step_id))
        session.rollback()  # read only: nothing held while the view is read
        view = current_view(plan, dry_run, run_id, base_url())
        login = actor_id(user)
        zone = viewer_zone(plan, login)
        data = step_page(
            plan,
            dry_run,
            view,
            step_id,
            login=login,
            manager=is_manager(user, plan),
            offered=offered,
            do=do,
        )
        root, nonce = airflow_root(request), secrets.token_urlsafe(16)
        run_api = (
            f"{root}/transition/api/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        )
        config = {
            "answer": f"{root}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/"
            f"{quote(run_id, safe='')}/taskInstances/{quote(step_id, safe='')}/-1/hitlDetails",
            "defect": f"{run_api}/steps/{quote(step_id, safe='')}/defects",
            "transfer": f"{run_api}/steps/{quote(step_id, safe='')}/transfer",
            "preselected": data["preselected"],
            "pending": data["pending"],
            "texts": texts(),
        }
        return render(
            "step_page.html.j2",
            headers(nonce),
            nonce=nonce,
            lang=language,
            plan=plan.name,
            dry_run=dry_run,
            run_id=run_id,
            page=data,
            state=state_name(data["step"]["state"]),
            state_name=state_name,
            colours=STATE_COLOURS,
            moment=partial(page_moment, zone=zone),
            their_zone=zone,
            description_html=markdown_html(
                data["description"] or _("_No instructions in the plan._")
            ),
            severities=[(k, _(v)) for k, v in SEVERITY_NAMES.items()],
            people=sorted(
                ((a.id, a.name) for a in plan.actors.values() if a.id != login),
                key=lambda p: p[1],
            ),
            timezone=plan.timezone,
            config_json=_js(config),
            links={
                w["id"]: step_page_link(root, dag_id, run_id, w["id"]) for w in data["waits_for"]
            },
            option_names=option_names(),
            my_night=my_night_link(root, dag_id, run_id),  # on the origin the browser reached
            airflow_link=required_actions_link(root, dag_id, run_id, step_id),
        )


@app.get(
    "/my-night/{dag_id}/{run_id}",
    response_class=HTMLResponse,
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def my_night_route(
    dag_id: str,
    run_id: str,
    request: Request,
    user: GetUserDep,
    session: SessionDep,
    lang: str | None = None,
) -> HTMLResponse:
    """The logged-in person's steps in the run, in plan order: their state, the next one and when
    (the live forecast), what each waits for; each links to its step page."""
    plan, dry_run = plan_and_dry_run(dag_id, user)
    with use_language(lang if lang in languages() else user_language(user, plan)) as language:
        found = session.scalar(
            sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        )
        session.rollback()
        if found is None:
            raise HTTPException(
                404, _("no run '{run}' of DAG '{dag}'").format(run=run_id, dag=dag_id)
            )
        view = current_view(plan, dry_run, run_id, base_url())
        root = airflow_root(request)
        login = actor_id(user)
        zone = viewer_zone(plan, login)
        nonce = secrets.token_urlsafe(16)
        return render(
            "my_night.html.j2",
            headers(nonce),
            nonce=nonce,
            lang=language,
            plan=plan.name,
            dry_run=dry_run,
            run_id=run_id,
            login=login,
            name=plan.actors[login].name if login in plan.actors else login,
            items=my_night(plan, dry_run, view, login),
            links={s["id"]: step_page_link(root, dag_id, run_id, s["id"]) for s in view["steps"]},
            state_name=state_name,
            colours=STATE_COLOURS,
            moment=partial(page_moment, zone=zone),
            timezone=plan.timezone,
            their_zone=zone,
            forecast_end=page_moment(view["forecast_end"], zone),
        )
