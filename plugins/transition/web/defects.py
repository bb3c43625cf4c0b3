"""Defects through the plugin: on a step, or on the run as a whole, and their resolution.

* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects``   ``{"title", "severity", "description"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/defects``                  ``{"title", "severity", "description"}``
* ``POST /transition/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve``

Who may record and resolve them, and what a blocking one does: :mod:`transition.web.step_actions`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException, Path

from transition.i18n import _, use_language
from transition.notifications.addressing import run_link, step_page_link
from transition.notifications.deliver import Announcement, Mail, deliver
from transition.notifications.notices import (
    blocking_defect_channel_message,
    blocking_defect_notices,
    run_defect_channel_message,
    run_defect_notices,
)
from transition.runs import records
from transition.runs.server_failures import server_failure_recorder
from transition.vocabulary import SEVERITY_NAMES, Severity
from transition.web.answer_record import accepted_close, lock_step
from transition.web.app import (
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
from transition.web.step_actions import NO_DEFECT_YET
from transition.web.step_checks import (
    DefectBody,
    ResolveBody,
    is_closed,
    require_allowed,
    require_ready_or_open,
    task_instance,
)
from transition.web.task_notes import append_note as _append_note


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
    ti = task_instance(session, dag_id, run_id, step_id)
    require_allowed(session, ref, dag_id, run_id, user)
    step = ref.plan.steps[step_id]
    after_close = is_closed(ti) or accepted_close(
        session, ti, step.approvals if step.is_gate else 1
    )
    if not after_close:
        require_ready_or_open(ti, ref, NO_DEFECT_YET)
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
        notices = blocking_defect_notices(
            plan,
            ref.dry_run,
            step_id,
            defect=row,
            recorder=who,
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url(),
            after_close=after_close,
        )
        channel = partial(
            blocking_defect_channel_message,
            plan,
            ref.dry_run,
            step_id,
            defect=row,
            recorder=who,
            link=step_page_link(base_url(), dag_id, run_id, step_id),
            after_close=after_close,
        )
        record = server_failure_recorder(session, dag_id, run_id, step=step_id)
        mail = _tell_defect(session, plan, row["id"], step_id, notices, channel, record)
    return {"defect": as_json(row), "mail": mail}


def _tell_defect(
    session: Any,
    plan: Any,
    defect_id: int,
    about: str,
    notices: list[Any],
    channel: Any,
    record: Any,
) -> str:
    """Send a blocking defect's e-mails and channel message; what failed is kept with the defect
    and said in the answer (a channel that fails is kept for the run's watch: the defect is
    recorded)."""
    delivered = deliver(
        plan,
        Announcement(
            kind="defect",
            about=about,
            mails=[Mail.built(m) for m in notices],
            channel=channel,
        ),
        record,
    )
    records.set_mail_error(session, records.defects, defect_id, delivered.error)
    return "sent" if delivered.error is None else f"failed: {delivered.error}"


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
        notices = run_defect_notices(
            plan, dry_run, defect=row, recorder=who, run_id=run_id, base_url=base_url()
        )
        channel = partial(
            run_defect_channel_message,
            plan,
            dry_run,
            defect=row,
            recorder=who,
            run_id=run_id,
            link=run_link(base_url(), dag_id, run_id),
        )
        record = server_failure_recorder(session, dag_id, run_id, step=run_id)
        mail = _tell_defect(session, plan, row["id"], run_id, notices, channel, record)
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
        ti = task_instance(session, dag_id, run_id, row["task_id"])
        with use_language(plan.language):
            note = _("Defect #{number} resolved by {person}").format(number=defect_id, person=who)
        _append_note(ti, note, who)
    return {"defect": as_json(records.defect(session, defect_id, dag_id, run_id))}
