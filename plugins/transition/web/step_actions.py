"""Acting on a step through the plugin: transfer it, record a defect, resolve a defect.

* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/transfer``  ``{"to", "message"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects``   ``{"title", "severity", "description"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/defects``                  ``{"title", "severity", "description"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve``

Only the people allowed on a step may transfer it (while it is Ready or Open) or record a defect on
it (while it is Ready or Open, or after it was closed) (403 otherwise). A transfer adds the new
person to the step's human-in-the-loop request (so Airflow lets them answer), is written in the
task's note, and e-mails them. A blocking defect e-mails the cutover managers and keeps the step
from being closed until it is resolved (see :mod:`transition.web.step_guard`), by whoever recorded
it or a cutover manager. A defect recorded after the step was closed (``after_close``) cannot block
it any more: it is told and shown, and blocks the step again only if it is cleared and asks again.

A defect on the run as a whole (no step) may be recorded by the cutover managers, Airflow admins
and anyone allowed on a step of the dry run, in any state of the run; it blocks nothing, a blocking
one e-mails the cutover managers. Answers are in the user's language; the e-mails in their
recipients' (:mod:`transition.notifications.notices`); notes in the plan's.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from functools import partial
from typing import Any

import sqlalchemy as sa
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.taskinstance import TaskInstance
from fastapi import Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import joinedload

from transition.i18n import N_, _, use_language
from transition.notifications.addressing import required_actions_link, run_link
from transition.notifications.channels import tell_channels
from transition.notifications.mail import MailError, send
from transition.notifications.notices import (
    blocking_defect_channel_message,
    blocking_defect_notices,
    run_defect_channel_message,
    run_defect_notices,
    transfer_channel_message,
    transfer_notice,
)
from transition.notifications.server_failures import server_failure_recorder
from transition.notifications.step_holder import write_holder
from transition.runs import records
from transition.vocabulary import SEVERITY_NAMES, Severity
from transition.web.answer_record import accepted_close, lock_step
from transition.web.app import (
    CONTROL,
    DEFECT_ID_MAX,
    app,
    as_json,
    base_url,
    dry_run_or_404,
    plan_or_404,
    problems,
    step_or_404,
    user_language,
)
from transition.web.guard_facts import actor_id, is_manager
from transition.web.permissions import StepRef, allowed_people, refusal
from transition.web.task_notes import append_note as _append_note

log = logging.getLogger(__name__)
ACTIONABLE = {"scheduled", "queued", "running", "deferred", "awaiting_input", "up_for_retry"}


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


class ResolveBody(BaseModel):
    """A resolution says nothing more than its address: ``{}`` (a change is always sent as JSON)."""

    model_config = ConfigDict(extra="forbid")


class DefectBody(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    description: str = Field(default="", max_length=10_000)

    _text = field_validator("title", "description")(_storable)


def _task_instance(session: Any, dag_id: str, run_id: str, step_id: str) -> Any:
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
    ref = step_or_404(dag_id, step_id)
    ti = _task_instance(session, dag_id, run_id, step_id)
    _require_allowed(session, ref, dag_id, run_id, user)
    _require_ready_or_open(ti, ref, action)
    return ref, ti, actor_id(user)


def _require_allowed(session: Any, ref: StepRef, dag_id: str, run_id: str, user: Any) -> list[str]:
    people = allowed_people(ref, records.transferees(session, dag_id, run_id, ref.step_id))
    if actor_id(user) not in people:
        raise HTTPException(403, refusal(ref))
    return people


FINISHED = {"success", "skipped", "failed", "upstream_failed", "removed"}


def _require_not_finished(ti: Any, ref: StepRef) -> None:
    """A step may be handed over until it is closed (or skipped): also before it is Ready."""
    state = str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state else None
    if state in FINISHED:
        raise HTTPException(
            409,
            _("step {step} is {state}: it can no longer be transferred").format(
                step=ref.step_id, state=state
            ),
        )


def _state_of(ti: Any) -> str:
    if not ti.state:
        return _("not started")
    return str(ti.state.value if hasattr(ti.state, "value") else ti.state)


def _require_ready_or_open(ti: Any, ref: StepRef, action: str) -> None:
    state = _state_of(ti)
    if state not in ACTIONABLE or ti.hitl_detail is None:
        raise HTTPException(409, _(action).format(step=ref.step_id, state=state))


def _is_closed(ti: Any) -> bool:
    """Closed: Airflow ran the step to success (Close, "mark success", or a forced close)."""
    return _state_of(ti) == "success"


def _mail(message: Any) -> str | None:
    try:
        send(message)
    except MailError as exc:
        log.warning("E-mail '%s' could not be sent: %s", message["Subject"], exc)
        return str(exc)
    return None


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/transfer",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 409, 415),
)
def transfer(
    dag_id: str,
    run_id: str,
    step_id: str,
    body: TransferBody,
    session: SessionDep,
    user: GetUserDep,
) -> dict:
    with use_language(user_language(user)):
        return _transfer(dag_id, run_id, step_id, body, session, user)


# The answer when a step cannot be given a defect in its state.
NO_DEFECT_YET = N_(
    "step {step} can be given a defect once it is Ready or Open (asking for Start or Close), or "
    "after it was closed; it is {state}"
)


def hand_over(
    session: Any,
    ti: Any,
    dag_id: str,
    run_id: str,
    step_id: str,
    giver: str,
    target: Any,
    message: str,
) -> dict[str, Any]:
    """One transfer of a step (the transfer route's and a substitute's): recorded, the step's holder
    for its task's coming e-mails, and among its request's people if it asks now. Returns the row."""
    row = records.add_transfer(
        session,
        dag_id=dag_id,
        run_id=run_id,
        task_id=step_id,
        from_user=giver,
        to_user=target.id,
        message=message,
    )
    write_holder(  # its task tells them, not the owner; and reminds every transferee
        session,
        dag_id,
        run_id,
        step_id,
        target.id,
        records.transferees(session, dag_id, run_id, step_id),
        records.handed(session, dag_id, run_id, step_id),
    )
    if ti.hitl_detail is not None:  # asking now; a later request gets them from the guard
        assignees = list(ti.hitl_detail.assignees or [])
        if all(a.get("id") != target.id for a in assignees):
            ti.hitl_detail.assignees = assignees + [{"id": target.id, "name": target.name}]
    return row


def _transfer(
    dag_id: str, run_id: str, step_id: str, body: TransferBody, session: Any, user: Any
) -> dict:
    ref = step_or_404(dag_id, step_id)
    ti = _task_instance(session, dag_id, run_id, step_id)
    _require_allowed(session, ref, dag_id, run_id, user)
    _require_not_finished(ti, ref)
    who = actor_id(user)
    plan = ref.plan
    target = plan.actors.get(body.to)
    if target is None:
        raise HTTPException(
            400,
            _("unknown actor '{actor}': name an actor ID from the Actors sheet").format(
                actor=body.to
            ),
        )
    row = hand_over(session, ti, dag_id, run_id, step_id, who, target, body.message)
    when = dt.datetime.now(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(plan.language):
        note = _("Transferred by {giver} to {person} on {time}").format(
            giver=who, person=target.id, time=f"{when:%Y-%m-%d %H:%M}"
        )
    _append_note(ti, f"{note}: {body.message}" if body.message else note, who)
    session.flush()
    message = transfer_notice(
        plan,
        ref.dry_run,
        step_id,
        giver_id=who,
        target=target,
        text=body.message,
        dag_id=dag_id,
        run_id=run_id,
        base_url=base_url(),
    )
    error = _mail(message)
    records.set_mail_error(session, records.transfers, row["id"], error)
    tell_channels(  # a channel that fails is kept for the run's watch: the transfer is done
        plan,
        "transfer",
        partial(
            transfer_channel_message,
            plan,
            ref.dry_run,
            step_id,
            giver_id=who,
            target=target,
            text=body.message,
            link=required_actions_link(base_url(), dag_id, run_id, step_id),
        ),
        server_failure_recorder(session, dag_id, run_id, step=step_id, mail="transfer"),
    )
    return {
        "transfer": {**row, "created_at": row["created_at"].isoformat()},
        "mail": "sent" if error is None else f"failed: {error}",
    }


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects",
    status_code=201,
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 409, 415),
)
def record_defect(
    dag_id: str, run_id: str, step_id: str, body: DefectBody, session: SessionDep, user: GetUserDep
) -> dict:
    with use_language(user_language(user)):
        return _record_defect(dag_id, run_id, step_id, body, session, user)


def _record_defect(
    dag_id: str, run_id: str, step_id: str, body: DefectBody, session: Any, user: Any
) -> dict:
    """On a Ready or Open step, or after the fact on a closed one (it cannot block it any more).

    The step's row is locked first, as every writer that closes it does (transition.web.answer_record):
    a Close Airflow accepted before (even if the step's task has not acted on it yet) makes this
    defect one *after the close*; a Close that comes after it finds the defect and is refused."""
    ref = step_or_404(dag_id, step_id)
    lock_step(session, dag_id, run_id, step_id)
    ti = _task_instance(session, dag_id, run_id, step_id)
    _require_allowed(session, ref, dag_id, run_id, user)
    step = ref.plan.steps[step_id]
    after_close = _is_closed(ti) or accepted_close(
        session, ti, step.approvals if step.is_gate else 1
    )
    if not after_close:
        _require_ready_or_open(ti, ref, NO_DEFECT_YET)
    who = actor_id(user)
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
        after_close=after_close,
    )
    with use_language(plan.language):
        note = (
            _("Defect #{number} ({severity}) by {person}, after the close: {title}")
            if after_close
            else _("Defect #{number} ({severity}) by {person}: {title}")
        ).format(
            number=row["id"],
            severity=_(SEVERITY_NAMES[body.severity.value]),
            person=who,
            title=body.title,
        )
    _append_note(ti, note, who)
    session.flush()
    mail = "not needed"
    if body.severity is Severity.BLOCKING:
        mail = _mail_all(
            session,
            row["id"],
            blocking_defect_notices(
                plan,
                ref.dry_run,
                step_id,
                defect=row,
                recorder=who,
                dag_id=dag_id,
                run_id=run_id,
                base_url=base_url(),
                after_close=after_close,
            ),
        )
        tell_channels(  # a channel that fails is kept for the run's watch: the defect is recorded
            plan,
            "defect",
            partial(
                blocking_defect_channel_message,
                plan,
                ref.dry_run,
                step_id,
                defect=row,
                recorder=who,
                link=required_actions_link(base_url(), dag_id, run_id, step_id),
                after_close=after_close,
            ),
            server_failure_recorder(session, dag_id, run_id, step=step_id, mail="defect"),
        )
    return {"defect": as_json(row), "mail": mail}


def _mail_all(session: Any, defect_id: int, messages: list[Any]) -> str:
    """Send a defect's e-mails; what failed is kept with the defect and said in the answer."""
    errors = [error for message in messages if (error := _mail(message)) is not None]
    error = "; ".join(errors) or None
    records.set_mail_error(session, records.defects, defect_id, error)
    return "sent" if error is None else f"failed: {error}"


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/defects",
    status_code=201,
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 415),
)
def record_run_defect(
    dag_id: str, run_id: str, body: DefectBody, session: SessionDep, user: GetUserDep
) -> dict:
    """A defect on the run as a whole, not on one step, in any state of the run: by the cutover
    managers, Airflow admins and anyone allowed on a step of the dry run. It blocks nothing; a
    blocking one e-mails the cutover managers."""
    with use_language(user_language(user)):
        return _record_run_defect(dag_id, run_id, body, session, user)


def run_people(session: Any, plan: Any, dry_run: str, dag_id: str, run_id: str) -> set[str]:
    """Who may record a defect on the run: whoever is allowed on one of its steps (with the people
    steps were transferred to in this run) and the cutover managers."""
    transferred = [t["to_user"] for t in records.transfers_of_run(session, dag_id, run_id)]
    people = set(plan.cutover_managers) | set(transferred)
    for step_id in plan.schedules[dry_run].steps:
        people.update(plan.responsible_people(step_id))
    return people


def _record_run_defect(dag_id: str, run_id: str, body: DefectBody, session: Any, user: Any) -> dict:
    plan = plan_or_404()
    dry_run = dry_run_or_404(plan, dag_id)
    if records.run_key(session, dag_id, run_id) is None:
        raise HTTPException(404, _("no run '{run}' of DAG '{dag}'").format(run=run_id, dag=dag_id))
    who = actor_id(user)
    if who not in run_people(session, plan, dry_run, dag_id, run_id) and not is_manager(user, plan):
        raise HTTPException(
            403,
            _(
                "A defect on the run is recorded by the cutover managers and the people allowed "
                "on one of its steps."
            ),
        )
    row = records.add_defect(
        session,
        dag_id=dag_id,
        run_id=run_id,
        task_id=None,
        title=body.title,
        severity=body.severity.value,
        description=body.description,
        created_by=who,
    )
    session.flush()
    mail = "not needed"
    if body.severity is Severity.BLOCKING:
        mail = _mail_all(
            session,
            row["id"],
            run_defect_notices(
                plan, dry_run, defect=row, recorder=who, run_id=run_id, base_url=base_url()
            ),
        )
        tell_channels(  # a channel that fails is kept for the run's watch: the defect is recorded
            plan,
            "defect",
            partial(
                run_defect_channel_message,
                plan,
                dry_run,
                defect=row,
                recorder=who,
                run_id=run_id,
                link=run_link(base_url(), dag_id, run_id),
            ),
            server_failure_recorder(session, dag_id, run_id, step=run_id, mail="defect"),
        )
    return {"defect": as_json(row), "mail": mail}


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 409, 415),
)
def resolve(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    user: GetUserDep,
    defect_id: int = Path(ge=1, le=DEFECT_ID_MAX, description="the defect's number"),
    body: ResolveBody | None = None,
) -> dict:
    """A defect is resolved by whoever recorded it or a cutover manager, never by the people it blocks
    (unless they recorded it); once resolved, who resolved it stays."""
    who = actor_id(user)
    with use_language(user_language(user)):
        row = records.defect(session, defect_id, dag_id, run_id)
        if row is None:
            raise HTTPException(404, _("no defect #{number} in this run").format(number=defect_id))
        plan = plan_or_404()
        dry_run_or_404(plan, dag_id)
        if who != row["created_by"] and not is_manager(user, plan):
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
    if row["task_id"] is not None:  # a step's defect: its resolution is in the step's note
        ti = _task_instance(session, dag_id, run_id, row["task_id"])
        with use_language(plan.language):
            note = _("Defect #{number} resolved by {person}").format(number=defect_id, person=who)
        _append_note(ti, note, who)
    return {"defect": as_json(records.defect(session, defect_id, dag_id, run_id))}
