"""Acting on a step through the plugin: transfer it, record a defect, resolve a defect.

Under ``/transition/api/dags/{dag_id}/runs/{run_id}``: ``POST steps/{step_id}/transfer``,
``POST steps/{step_id}/defects``, ``POST defects`` (on the run as a whole) and
``POST defects/{defect_id}/resolve``. Only the people allowed on a step may transfer it or record a
defect on it (403 otherwise); a blocking defect keeps the step from being closed until it is
resolved (:mod:`transition.web.step_guard`).

How it works: docs/architecture.md, "web/step_actions.py".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import partial
from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException

from transition.i18n import N_, _, use_language
from transition.notifications.addressing import step_page_link
from transition.notifications.deliver import Announcement, Mail, deliver
from transition.notifications.notices import (
    transfer_channel_message,
    transfer_notice,
)
from transition.runs import records
from transition.runs.server_failures import server_failure_recorder
from transition.runs.step_holder import write_holder
from transition.web.app import (
    app,
    base_url,
    problems,
    step_or_404,
    user_language,
)
from transition.web.guard_facts import actor_id
from transition.web.step_checks import (
    TransferBody,
    require_allowed,
    require_not_finished,
    task_instance,
)
from transition.web.task_notes import append_note as _append_note


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
    ti = task_instance(session, dag_id, run_id, step_id)
    require_allowed(session, ref, dag_id, run_id, user)
    require_not_finished(ti, ref)
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
    delivered = deliver(
        plan,
        Announcement(
            kind="transfer",
            about=step_id,
            mails=[
                Mail(
                    partial(
                        transfer_notice,
                        plan,
                        ref.dry_run,
                        step_id,
                        giver_id=who,
                        target=target,
                        text=body.message,
                        dag_id=dag_id,
                        run_id=run_id,
                        base_url=base_url(),
                    ),
                    to=target.email,
                )
            ],
            channel=partial(
                transfer_channel_message,
                plan,
                ref.dry_run,
                step_id,
                giver_id=who,
                target=target,
                text=body.message,
                link=step_page_link(base_url(), dag_id, run_id, step_id),
            ),
        ),
        server_failure_recorder(session, dag_id, run_id, step=step_id),
    )
    records.set_mail_error(session, records.transfers, row["id"], delivered.error)
    return {
        "transfer": {**row, "created_at": row["created_at"].isoformat()},
        "mail": "sent" if delivered.error is None else f"failed: {delivered.error}",
    }
