"""The plugin's REST endpoints, served by Airflow's api-server under ``/transition`` (Airflow login).

* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/transfer``  ``{"to", "message"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects``   ``{"title", "severity", "description"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve``
* ``GET  /transition/api/dags/{dag_id}/runs/{run_id}/defects``   (and ``/transfers``)

Only the people allowed on a step may transfer it or record a defect on it (403 otherwise). A
transfer adds the new person to the step's human-in-the-loop request (so Airflow lets them answer),
is written in the task's note, and e-mails them. A blocking defect e-mails the cutover managers and
keeps the step from being closed until it is resolved (see :mod:`transition.web.step_guard`).

Answers are in the user's language (their actor's, else the plan's); the e-mails in their
recipients' (the new person's; each cutover manager's), notes in the plan's.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zoneinfo
from typing import Any

import sqlalchemy as sa
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

from transition.i18n import N_, _, languages, normalise, use_language
from transition.notifications.alert_mail import by_language, notice_message
from transition.notifications.mail import MailError, send, template_environment
from transition.runs import records
from transition.runs.run_view import dag_runs, run_steps
from transition.runs.states import STATE_COLOURS, state_name
from transition.runs.views import RunView
from transition.vocabulary import DEFAULT_BASE_URL, SEVERITY_NAMES, STATUS_NAMES, Severity
from transition.web import permissions
from transition.web.guard_facts import actor_id, is_admin
from transition.web.permissions import StepRef, allowed_people, find_step, refusal

log = logging.getLogger(__name__)
NOTE_LIMIT = 1000  # Airflow's task-instance note length
ACTIONABLE = {"scheduled", "queued", "running", "deferred", "awaiting_input", "up_for_retry"}

# Hostile input (issue 14; found by tests/security/test_api_fuzz.py) gets a 4xx with a message, never a 500:
# an identifier in the path with a control character (PostgreSQL refuses a NUL in a query), a defect
# number beyond the database's integer, text that is not Unicode (a lone surrogate, echoed by the 422).
CONTROL = "".join(map(chr, range(0x20))) + "\x7f"
DEFECT_ID_MAX = 2**31 - 1  # the ``id`` column is a 32-bit INTEGER on PostgreSQL


class ProblemBody(BaseModel):
    detail: str = Field(description="what was refused, in the user's language")


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route gives, in its OpenAPI: always JSON ``{"detail": "..."}``, also beside HTML."""
    meanings = {
        400: "refused input",
        401: "not logged in to Airflow",
        403: "not allowed (or a token Airflow refuses)",
        404: "no such plan DAG, run, step or defect",
        409: "not in this state",
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


app = FastAPI(
    title="Transition plan",
    description="Transfers and defects of transition-plan steps.",
    dependencies=[Depends(_no_control_in_path)],
)


class _AsciiJSONResponse(JSONResponse):
    """JSON as ASCII: a lone surrogate echoed back from the request is escaped, not an encoding error."""

    def render(self, content: Any) -> bytes:
        import json

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


def _storable(value: str) -> str:
    """Free text is kept in the database (PostgreSQL refuses NUL) and sent in e-mails: no control
    characters but tab and line breaks."""
    bad = next((c for c in value if c in CONTROL and c not in "\t\n\r"), None)
    if bad is not None:
        raise ValueError(
            _("contains the control character U+{code:04X}; remove it").format(code=ord(bad))
        )
    return value


class TransferBody(BaseModel):
    to: str = Field(
        min_length=1,
        max_length=250,
        description="the actor ID of the person who takes the step over",
    )
    message: str = Field(default="", max_length=2000)

    _text = field_validator("to", "message")(_storable)


class DefectBody(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    description: str = Field(default="", max_length=10_000)

    _text = field_validator("title", "description")(_storable)


def _language(user: Any, plan: Any = None) -> str:
    """The user's language: their actor's, else the plan's default."""
    if plan is None:
        plan = permissions.current_plan()
    if plan is None:
        return normalise(None)
    actor = plan.actors.get(actor_id(user))
    return actor.language if actor is not None else plan.language


def _step(dag_id: str, step_id: str) -> StepRef:
    ref = find_step(dag_id, step_id)
    if ref is None:
        raise HTTPException(
            404,
            _("no step '{step}' in DAG '{dag}' of the transition plan").format(
                step=step_id, dag=dag_id
            ),
        )
    return ref


def _task_instance(session: Any, dag_id: str, run_id: str, step_id: str) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy.orm import joinedload

    ti = session.scalar(
        sa.select(TaskInstance)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == step_id,
            TaskInstance.map_index == -1,
        )
        .options(joinedload(TaskInstance.hitl_detail), joinedload(TaskInstance.task_instance_note))
    )
    if ti is None:
        raise HTTPException(
            404,
            _("no run '{run}' of step '{step}' in DAG '{dag}'").format(
                run=run_id, step=step_id, dag=dag_id
            ),
        )
    return ti


def _actionable(
    session: Any, dag_id: str, run_id: str, step_id: str, user: Any, action: str
) -> tuple[StepRef, Any, str]:
    """The step, its task instance and the user's id, if the user may act on a Ready or Open step."""
    ref = _step(dag_id, step_id)
    ti = _task_instance(session, dag_id, run_id, step_id)
    _require_allowed(session, ref, dag_id, run_id, user)
    _require_ready_or_open(ti, ref, action)
    return ref, ti, actor_id(user)


def _require_allowed(session: Any, ref: StepRef, dag_id: str, run_id: str, user: Any) -> list[str]:
    people = allowed_people(ref, records.transferees(session, dag_id, run_id, ref.step_id))
    if actor_id(user) not in people:
        raise HTTPException(403, refusal(ref))
    return people


def _require_ready_or_open(ti: Any, ref: StepRef, action: str) -> None:
    state = (
        str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        if ti.state
        else _("not started")
    )
    if state not in ACTIONABLE or ti.hitl_detail is None:
        raise HTTPException(409, _(action).format(step=ref.step_id, state=state))


def _append_note(ti: Any, line: str, user_id: str) -> None:
    old = ti.note or ""
    text = (old + "\n" + line).strip() if old else line
    if len(text) > NOTE_LIMIT:
        text = "…" + text[-(NOTE_LIMIT - 1) :]
    if ti.task_instance_note is None:
        ti.note = (text, user_id)
    else:
        ti.task_instance_note.content = text
        ti.task_instance_note.user_id = user_id


def _mail(message: Any) -> str | None:
    try:
        send(message)
    except MailError as exc:
        log.warning("E-mail '%s' could not be sent: %s", message["Subject"], exc)
        return str(exc)
    return None


def _base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback=DEFAULT_BASE_URL)


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/transfer",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404, 409),
)
def transfer(
    dag_id: str,
    run_id: str,
    step_id: str,
    body: TransferBody,
    session: SessionDep,
    user: GetUserDep,
) -> dict:
    with use_language(_language(user)):
        return _transfer(dag_id, run_id, step_id, body, session, user)


# The answer when a step cannot be transferred, or given a defect, in its state.
NOT_TRANSFERABLE = N_(
    "step {step} can be transferred once it is Ready or Open (asking for Start or Close); it is {state}"
)
NO_DEFECT_YET = N_(
    "step {step} can be given a defect once it is Ready or Open (asking for Start or Close); it is {state}"
)


def _transfer(
    dag_id: str, run_id: str, step_id: str, body: TransferBody, session: Any, user: Any
) -> dict:
    ref, ti, who = _actionable(session, dag_id, run_id, step_id, user, NOT_TRANSFERABLE)
    plan = ref.plan
    target = plan.actors.get(body.to)
    if target is None:
        raise HTTPException(
            400,
            _("unknown actor '{actor}': name an actor ID from the Actors sheet").format(
                actor=body.to
            ),
        )
    row = records.add_transfer(
        session,
        dag_id=dag_id,
        run_id=run_id,
        task_id=step_id,
        from_user=who,
        to_user=target.id,
        message=body.message,
    )
    assignees = list(ti.hitl_detail.assignees or [])
    if all(a.get("id") != target.id for a in assignees):
        ti.hitl_detail.assignees = assignees + [{"id": target.id, "name": target.name}]
    when = dt.datetime.now(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(plan.language):
        note = _("Transferred by {giver} to {person} on {time}").format(
            giver=who, person=target.id, time=f"{when:%Y-%m-%d %H:%M}"
        )
    _append_note(ti, f"{note}: {body.message}" if body.message else note, who)
    session.flush()
    giver = plan.actors.get(who)
    owner = plan.actors[plan.steps[step_id].owner]
    with use_language(target.language):
        message = notice_message(
            plan,
            ref.dry_run,
            step_id,
            what=_("Transfer"),
            headline=_("{giver} hands step {step} · {label} over to you.").format(
                giver=giver.name if giver else who, step=step_id, label=plan.steps[step_id].label
            ),
            to=[target.email],
            cc=[a.email for a in (giver, owner) if a is not None and a.id != target.id],
            dag_id=dag_id,
            run_id=run_id,
            base_url=_base_url(),
            facts=[(_("From"), giver.name if giver else who), (_("Message"), body.message or "—")],
        )
    error = _mail(message)
    records.set_mail_error(session, records.transfers, row["id"], error)
    return {
        "transfer": {**row, "created_at": row["created_at"].isoformat()},
        "mail": "sent" if error is None else f"failed: {error}",
    }


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects",
    status_code=201,
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404, 409),
)
def record_defect(
    dag_id: str, run_id: str, step_id: str, body: DefectBody, session: SessionDep, user: GetUserDep
) -> dict:
    with use_language(_language(user)):
        return _record_defect(dag_id, run_id, step_id, body, session, user)


def _record_defect(
    dag_id: str, run_id: str, step_id: str, body: DefectBody, session: Any, user: Any
) -> dict:
    ref, ti, who = _actionable(session, dag_id, run_id, step_id, user, NO_DEFECT_YET)
    plan = ref.plan
    row = records.add_defect(
        session,
        dag_id=dag_id,
        run_id=run_id,
        task_id=step_id,
        title=body.title,
        severity=body.severity.value,
        description=body.description,
        created_by=who,
    )
    with use_language(plan.language):
        note = _("Defect #{number} ({severity}) by {person}: {title}").format(
            number=row["id"],
            severity=_(SEVERITY_NAMES[body.severity.value]),
            person=who,
            title=body.title,
        )
    _append_note(ti, note, who)
    session.flush()
    mail = "not needed"
    if body.severity is Severity.BLOCKING:
        owner = plan.actors[plan.steps[step_id].owner]
        # To the cutover managers, one e-mail per language among them (the owner copied on the first).
        groups = by_language(plan.actors.get(m) for m in plan.cutover_managers) or {
            owner.language: [owner]
        }
        errors = []
        for number, (language, people) in enumerate(groups.items()):
            with use_language(language):
                message = notice_message(
                    plan,
                    ref.dry_run,
                    step_id,
                    what=_("Blocking defect: {title}").format(title=body.title),
                    headline=_(
                        "A blocking defect was recorded on step {step}: it cannot be closed until the defect is "
                        "resolved."
                    ).format(step=step_id),
                    to=[a.email for a in people],
                    cc=[owner.email] if number == 0 else [],
                    dag_id=dag_id,
                    run_id=run_id,
                    base_url=_base_url(),
                    facts=[
                        (_("Defect"), f"#{row['id']} {body.title}"),
                        (_("Severity"), _(SEVERITY_NAMES[body.severity.value])),
                        (_("Recorded by"), plan.actors[who].name if who in plan.actors else who),
                        (_("Description"), body.description or "—"),
                    ],
                )
            if (error := _mail(message)) is not None:
                errors.append(error)
        error = "; ".join(errors) or None
        records.set_mail_error(session, records.defects, row["id"], error)
        mail = "sent" if error is None else f"failed: {error}"
    return {"defect": _json(row), "mail": mail}


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404, 409),
)
def resolve(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    user: GetUserDep,
    defect_id: int = Path(ge=1, le=DEFECT_ID_MAX, description="the defect's number"),
) -> dict:
    """A defect is resolved by whoever recorded it or a cutover manager, never by the people it blocks
    (unless they recorded it); once resolved, who resolved it stays."""
    who = actor_id(user)
    with use_language(_language(user)):
        row = records.defect(session, defect_id, dag_id, run_id)
        if row is None:
            raise HTTPException(404, _("no defect #{number} in this run").format(number=defect_id))
        ref = _step(dag_id, row["task_id"])
        if who != row["created_by"] and who not in ref.plan.cutover_managers and not is_admin(user):
            raise HTTPException(
                403,
                _(
                    "Defect #{number} is resolved by whoever recorded it ({person}) or a cutover "
                    "manager."
                ).format(number=defect_id, person=row["created_by"]),
            )
        if not records.resolve_defect(session, defect_id, who):
            raise HTTPException(
                409,
                _("Defect #{number} was already resolved by {person}.").format(
                    number=defect_id, person=row["resolved_by"]
                ),
            )
    ti = _task_instance(session, dag_id, run_id, row["task_id"])
    with use_language(ref.plan.language):
        note = _("Defect #{number} resolved by {person}").format(number=defect_id, person=who)
    _append_note(ti, note, who)
    return {"defect": _json(records.defect(session, defect_id, dag_id, run_id))}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/defects",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404),
)
def list_defects(dag_id: str, run_id: str, session: SessionDep) -> dict:
    rows = records.defects_of_run(session, dag_id, run_id)
    return {"defects": [_json(r) for r in rows], "total_entries": len(rows)}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/transfers",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404),
)
def list_transfers(dag_id: str, run_id: str, session: SessionDep) -> dict:
    rows = records.transfers_of_run(session, dag_id, run_id)
    return {"transfers": [_json(r) for r in rows], "total_entries": len(rows)}


def _json(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


# -- The recap: where every step of a dry run stands ---------------------------------------------

STATE_MEANINGS = {  # the recap's legend (translated when shown)
    "Planned": N_("prerequisites not done, start far away"),
    "Locked": N_("prerequisites not done, start within the lock window"),
    "Overdue": N_("start reached, prerequisites not done"),
    "Idle": N_("prerequisites done, start not reached"),
    "Ready": N_("waiting for its owner to start it"),
    "Open": N_("started, not closed"),
    "Late": N_("open past its planned end"),
    "Terminated": N_("closed"),
    "Skipped": N_("not executed in this run"),
    "Failed": N_("failed in Airflow: look at it"),
}


def _plan_or_404() -> Any:
    plan = permissions.current_plan()
    if plan is None:
        raise HTTPException(404, _("the transition plan has no valid version yet"))
    return plan


def _dry_run_of(plan: Any, dag_id: str) -> str:
    dry_run = plan.dry_run_of(dag_id)
    if dry_run is not None:
        return dry_run
    raise HTTPException(
        404, _("'{dag}' is not a dry run of plan {plan}").format(dag=dag_id, plan=plan.name)
    )


@app.get(
    "/api/dags/{dag_id}/runs",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404),
)
def list_runs(dag_id: str, session: SessionDep, user: GetUserDep) -> dict:
    with use_language(_language(user)):
        _dry_run_of(_plan_or_404(), dag_id)
    return {"runs": dag_runs(session, dag_id)}


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/steps",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=_problems(400, 401, 403, 404),
)
def list_steps(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> RunView:
    with use_language(_language(user)):
        plan = _plan_or_404()
        dry_run = _dry_run_of(plan, dag_id)
    return run_steps(session, plan, dry_run, run_id, _base_url())


def _js(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


@app.get("/recap", response_class=HTMLResponse, responses=_problems(401, 403, 404))
def recap(user: GetUserDep, lang: str | None = None) -> HTMLResponse:
    """The recap page (its data comes from the JSON endpoints above, with the user's Airflow login),
    in ``?lang=`` if given, else the user's language."""

    with use_language(lang if lang in languages() else _language(user)) as language:
        plan = _plan_or_404()
        owners = sorted(
            {(s.owner, plan.actors[s.owner].name) for s in plan.steps.values()}, key=lambda o: o[1]
        )
        texts = {
            "states": {state: state_name(state) for state in STATE_COLOURS},
            "severities": {key: _(name) for key, name in SEVERITY_NAMES.items()},
            "statuses": {key: _(name) for key, name in STATUS_NAMES.items()},
            "no_run": _("No run of this dry run yet: trigger its DAG to start it."),
            "updated": _("Updated {time} ({timezone}); refreshes every {seconds} s."),
            "shown": _("{shown} shown of {total}"),
            "planned_end": _("Planned end"),
            "forecast_end": _("forecast end"),
            "must_end_by": _("must end by"),
            "critical_path": _("Critical path (forecast)"),
            "as_planned": _("as planned"),
            "phase": _("Phase"),
            "open_defect": _("(open)"),
            "resolve": _("Resolve"),
            "required_action": _("Required action"),
            "transfer": _("Transfer"),
            "defect": _("Defect"),
            "transfer_title": _("Transfer step {step}"),
            "defect_title": _("Record a defect on step {step}"),
            "refused": _("Refused: {reason}"),
            "could_not_load": _("Could not load: {reason}"),
            "forced_close": _("forced closed by {person}"),
        }
        page = (
            template_environment()
            .get_template("recap.html.j2")
            .render(
                plan=plan.name,
                prefix="/transition",
                user=actor_id(user),
                user_json=_js(actor_id(user)),
                texts_json=_js(texts),
                lang=language,
                dags=[
                    (
                        plan.dag_id(d),
                        _("{dry_run} (D-day {date})").format(
                            dry_run=d, date=plan.dry_runs[d].d_day
                        ),
                    )
                    for d in plan.schedules
                ],
                phases=list(plan.phases),
                teams=sorted({a.team for a in plan.actors.values() if a.team}),
                owners=owners,
                colours=STATE_COLOURS,
                state_names=texts["states"],
                legend=[(state, _(meaning)) for state, meaning in STATE_MEANINGS.items()],
            )
        )
    return HTMLResponse(page)
