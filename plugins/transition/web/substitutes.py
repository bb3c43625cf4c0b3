"""A cutover manager replaces an absent person in one action: every step they hold in a run.

``POST /transition/api/dags/{dag_id}/runs/{run_id}/substitute``
``{"absent": "bob", "substitute": "frank", "message": "..."}`` transfers to ``substitute`` every
step of the run that ``absent`` holds now and that is not closed or skipped, as one transfer each.
Only the cutover managers (and Airflow admins) may do it: 403 otherwise.

How it works: docs/architecture.md, "web/substitutes.py".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import partial
from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException
from pydantic import BaseModel, Field, field_validator

from transition.i18n import _, use_language
from transition.notifications.addressing import run_link
from transition.notifications.deliver import Announcement, Mail, deliver
from transition.notifications.notices import substitution_channel_message, substitution_notices
from transition.plan.model import Plan
from transition.runs import records
from transition.runs.server_failures import server_failure_recorder
from transition.web.app import (
    app,
    base_url,
    dry_run_or_404,
    plan_or_404,
    problems,
    user_language,
)
from transition.web.guard_facts import actor_id, is_manager
from transition.web.step_actions import hand_over
from transition.web.step_checks import FINISHED, storable, task_instance
from transition.web.task_notes import append_note as _append_note


class SubstituteBody(BaseModel):
    absent: str = Field(min_length=1, max_length=250, description="the actor ID of who is away")
    substitute: str = Field(
        min_length=1, max_length=250, description="the actor ID of who takes their steps over"
    )
    message: str = Field(default="", max_length=2000)

    _text = field_validator("absent", "substitute", "message")(storable)


def held_steps(plan: Plan, dry_run: str, transfers: list[dict[str, Any]], person: str) -> list[str]:
    """The steps of ``dry_run`` that ``person`` holds: the last transferee, else the owner."""
    last: dict[str, str] = {}
    for transfer in transfers:  # in the order they were made
        last[transfer["task_id"]] = transfer["to_user"]
    return [
        step_id
        for step_id in plan.schedules[dry_run].steps
        if last.get(step_id, plan.steps[step_id].owner) == person
    ]


def _require_two_actors(plan: Any, body: SubstituteBody) -> None:
    """Both people are actors of the plan, and not the same one (400 otherwise)."""
    for field, actor in (("absent", body.absent), ("substitute", body.substitute)):
        if actor not in plan.actors:
            raise HTTPException(
                400,
                _(
                    "{field}: unknown actor '{actor}': name an actor ID from the Actors sheet"
                ).format(field=field, actor=actor),
            )
    if body.absent == body.substitute:
        raise HTTPException(400, _("the absent person and the substitute are the same"))


def _open_steps_held(
    session: Any, plan: Any, dry_run: str, dag_id: str, run_id: str, absent: str
) -> list[tuple[str, Any]]:
    """The steps ``absent`` holds in the run (transfers included) that are not finished, with
    their task instances."""
    transfers = records.transfers_of_run(session, dag_id, run_id)
    handed = []
    for step_id in held_steps(plan, dry_run, transfers, absent):
        ti = task_instance(session, dag_id, run_id, step_id)
        state = str(getattr(ti.state, "value", ti.state)) if ti.state else None
        if state not in FINISHED:
            handed.append((step_id, ti))
    return handed


@app.post(
    "/api/dags/{dag_id}/runs/{run_id}/substitute",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404, 409, 415),
)
def substitute(
    dag_id: str, run_id: str, body: SubstituteBody, session: SessionDep, user: GetUserDep
) -> dict:
    """Hand every step ``absent`` holds in this run, not closed yet, to ``substitute``."""
    who = actor_id(user)
    with use_language(user_language(user)):
        plan = plan_or_404()
        dry_run = dry_run_or_404(plan, dag_id)
        if not is_manager(user, plan):
            raise HTTPException(403, _("Only the cutover managers may replace a person."))
        if records.run_key(session, dag_id, run_id) is None:
            raise HTTPException(404, _("no run '{run}' of '{dag}'").format(run=run_id, dag=dag_id))
        _require_two_actors(plan, body)
        handed = _open_steps_held(session, plan, dry_run, dag_id, run_id, body.absent)
        if not handed:
            raise HTTPException(
                409,
                _("{person} holds no step of this run that is not closed yet").format(
                    person=body.absent
                ),
            )
    target = plan.actors[body.substitute]
    when = dt.datetime.now(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(plan.language):
        note = _("Handed over by {manager} from {absent} to {person} on {time}").format(
            manager=who, absent=body.absent, person=target.id, time=f"{when:%Y-%m-%d %H:%M}"
        )
    rows = []
    for step_id, ti in handed:
        rows.append(hand_over(session, ti, dag_id, run_id, step_id, who, target, body.message))
        _append_note(ti, f"{note}: {body.message}" if body.message else note, who)
    session.flush()
    steps = [step_id for step_id, _ti in handed]
    notices = substitution_notices(
        plan,
        dry_run,
        steps,
        manager_id=who,
        absent=plan.actors[body.absent],
        substitute=target,
        text=body.message,
        dag_id=dag_id,
        run_id=run_id,
        base_url=base_url(),
    )
    delivered = deliver(
        plan,
        Announcement(
            kind="substitution",
            about=", ".join(steps),
            mails=[Mail.built(message, to=whom) for whom, message in notices],
            channel=partial(
                substitution_channel_message,
                plan,
                dry_run,
                steps,
                manager_id=who,
                absent=plan.actors[body.absent],
                substitute=target,
                text=body.message,
                link=run_link(base_url(), dag_id, run_id),
            ),
        ),
        server_failure_recorder(session, dag_id, run_id, step=", ".join(steps)),
    )
    mails = {whom: "sent" for whom, _message in notices}
    mails.update({whom: f"failed: {reason}" for whom, reason in delivered.failed})
    told = mails.get("substitute", "sent")
    for row in rows:
        records.set_mail_error(
            session, records.transfers, row["id"], None if told == "sent" else told
        )
    return {"steps": steps, "mail": mails}
