"""What the step guard reads and writes in Airflow's database (api-server side).

The facts a verdict needs (the plan's DAGs, who may act on a step now, the task's state, open
blocking defects), the user's identity in the plan's terms (any auth manager: the login is the
actor ID, the Airflow user id may be a number as with FAB), and the writes the guard makes:
adding an allowed person to a step's request, recording a cutover manager's forced close, and
writing each answer Airflow took in the task's note.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
from airflow.api_fastapi.core_api.datamodels.task_instances import (
    PatchTaskInstanceBody,
)
from airflow.models.backfill import Backfill
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import joinedload

from transition.i18n import _, format_moment, use_language
from transition.plan.model import Plan
from transition.results.weekly_report import weekly_report_dag_id
from transition.runs import records
from transition.web.permissions import allowed_people, current_plan, find_step
from transition.web.route_rules import Call, Rule, Started, Who
from transition.web.task_notes import append_note

ADMIN_ROLES = frozenset({"admin"})
COMMENT_IN_NOTE = 200  # characters of an answer's comment copied into the task's note
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def actor_id(user: Any) -> str:
    """The login of an Airflow user: the plan's actor ID (Simple and FAB auth managers both keep it in
    ``username``; FAB's ``get_id()`` is a number)."""
    return str(getattr(user, "username", None) or user.get_id())


def is_admin(user: Any) -> bool:
    """An Airflow admin: the Simple auth manager's role ``admin``, FAB's role ``Admin``."""
    role = getattr(user, "role", None)
    if isinstance(role, str) and role.lower() in ADMIN_ROLES:
        return True
    names = {str(getattr(r, "name", r)).lower() for r in (getattr(user, "roles", None) or [])}
    return bool(names & ADMIN_ROLES)


def plan_dag_ids(plan: Plan) -> frozenset[str]:
    return frozenset([plan.dag_id(d) for d in plan.schedules] + [weekly_report_dag_id(plan)])


class DatabaseFacts:
    """:class:`transition.web.route_rules.Facts` from the plan and Airflow's metadata database."""

    def __init__(self) -> None:
        self.plan = current_plan()

    def plan_dags(self) -> frozenset[str]:
        return plan_dag_ids(self.plan) if self.plan is not None else frozenset()

    def language_of(self, actor: str) -> str | None:
        if self.plan is None:
            return None
        person = self.plan.actors.get(actor)
        return person.language if person is not None else self.plan.language

    def is_manager(self, user: Any) -> bool:
        return is_admin(user) or (
            self.plan is not None and actor_id(user) in self.plan.cutover_managers
        )

    def backfill_dag(self, backfill_id: str) -> str | None:
        if not backfill_id.strip().lstrip("-").isdigit():
            return None
        with create_session() as session:
            return session.scalar(sa.select(Backfill.dag_id).where(Backfill.id == int(backfill_id)))

    def allowed_people(self, dag_id: str, run_id: str, step_id: str) -> list[str] | None:
        ref = find_step(dag_id, step_id, self.plan)
        if ref is None:
            return None
        with create_session() as session:
            return allowed_people(ref, records.transferees(session, dag_id, run_id, step_id))

    def task_state(self, dag_id: str, run_id: str, step_id: str) -> str | None:
        with create_session() as session:
            state = session.scalar(
                sa.select(TaskInstance.state).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == step_id,
                    TaskInstance.map_index == -1,
                )
            )
        return str(getattr(state, "value", state)) if state is not None else None

    def blocking_defects(self, dag_id: str, run_id: str, step_id: str) -> list[dict[str, Any]]:
        with create_session() as session:
            return records.open_blocking_defects(session, dag_id, run_id, step_id)

    def is_gate(self, dag_id: str, step_id: str) -> bool:
        ref = find_step(dag_id, step_id, self.plan)
        return ref is not None and ref.plan.steps[step_id].is_gate

    def started(self, dag_id: str, run_id: str, step_id: str) -> Started | None:
        """The Start the step's current try recorded (its XCom ``started``; a new try has none)."""
        with create_session() as session:
            row = session.execute(
                sa.select(XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == step_id,
                    XComModel.map_index == -1,
                    XComModel.key == "started",
                )
            ).first()
        value = XComModel.deserialize_value(row) if row is not None else None
        if not isinstance(value, dict):
            return None
        try:
            at = dt.datetime.fromisoformat(str(value.get("at")))
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        by = str(value.get("by") or "?")
        if self.plan is not None:
            at = at.astimezone(zoneinfo.ZoneInfo(self.plan.timezone))
            by = self.plan.actors[by].name if by in self.plan.actors else by
        return Started(by=by, at=at)


class _ClearPreview(BaseModel):
    """What a clear's verdict needs: every clear body of Airflow has ``dry_run``, true by default."""

    dry_run: bool = True


def parse_with_airflow_model(rule: Rule, body: Any) -> Any:
    """The body as Airflow's route will read it (its own pydantic model); ValueError if it would not."""
    model: Any = {
        Rule.ANSWER: UpdateHITLDetailPayload,
        Rule.MARK_STEP: PatchTaskInstanceBody,
        Rule.CLEAR: _ClearPreview,
    }[rule]
    if rule is Rule.CLEAR and body is not None and not isinstance(body, dict):
        raise ValueError("not an object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


def add_assignee(call: Call, user: Any) -> None:
    """Make sure Airflow lets an allowed person answer: their Airflow user id among the request's
    assigned users (a transferee after a retry; FAB's numeric ids)."""

    user_id = str(user.get_id())
    with create_session() as session:
        detail = session.scalar(
            sa.select(HITLDetail)
            .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
            .where(
                TaskInstance.dag_id == call.params["dag_id"],
                TaskInstance.run_id == call.params["dag_run_id"],
                TaskInstance.task_id == call.params["task_id"],
                TaskInstance.map_index == -1,
            )
        )
        if detail is None or not detail.assignees:
            return
        if all(a.get("id") != user_id for a in detail.assignees):
            detail.assignees = [*detail.assignees, {"id": user_id, "name": actor_id(user)}]


def add_transferees(ti_id: str) -> None:
    """After a step (re)wrote its request: the people it was transferred to in this run are assignees."""

    plan = current_plan()
    with create_session() as session:
        ti = session.scalar(sa.select(TaskInstance).where(TaskInstance.id == uuid.UUID(ti_id)))
        if ti is None or plan is None or find_step(ti.dag_id, ti.task_id, plan) is None:
            return
        people = records.transferees(session, ti.dag_id, ti.run_id, ti.task_id)
        detail = session.scalar(sa.select(HITLDetail).where(HITLDetail.ti_id == ti.id))
        if not people or detail is None or not detail.assignees:
            return
        known = {a.get("id") for a in detail.assignees}
        added = [
            {"id": p, "name": plan.actors[p].name if p in plan.actors else p}
            for p in people
            if p not in known
        ]
        if added:
            detail.assignees = [*detail.assignees, *added]


def forced_close_recorder(
    call: Call, who: Who, why: str, facts: DatabaseFacts
) -> Callable[[], None]:
    """What records a cutover manager's forced close once Airflow has accepted it."""
    reason = ""
    if isinstance(call.body, dict):
        reason = str(call.body.get("note") or "").strip()
    dag_id, run_id, step_id = (
        call.params["dag_id"],
        call.params["dag_run_id"],
        call.params["task_id"],
    )
    state_before = facts.task_state(dag_id, run_id, step_id)

    def record() -> None:
        with create_session() as session:
            records.add_forced_close(
                session,
                dag_id=dag_id,
                run_id=run_id,
                task_id=step_id,
                forced_by=who.actor,
                reason=reason,
                state_before=state_before,
                why_forced=why,
            )

    return record


def note_answer(call: Call, user: Any) -> None:
    """Once Airflow took an answer to a step's request: the task's note says who gave it, when, and
    their comment ("Start by Alice Martin on Sat 16 Jan 2027 22:05: ..."), in the plan's language.
    Airflow keeps only a request's last answer, and a step that parks again for Close clears it."""
    plan = current_plan()
    try:
        answer = parse_with_airflow_model(Rule.ANSWER, call.body)
    except ValueError:
        return
    if plan is None or not answer.chosen_options:
        return
    login = actor_id(user)
    comment = (answer.params_input or {}).get("comment")
    comment = CONTROL.sub(" ", str(comment)).strip() if comment is not None else ""
    if len(comment) > COMMENT_IN_NOTE:
        comment = comment[: COMMENT_IN_NOTE - 1] + "…"
    now = dt.datetime.now(zoneinfo.ZoneInfo(plan.timezone))
    with use_language(plan.language):
        line = _("{option} by {person} on {time}").format(
            option=", ".join(answer.chosen_options),
            person=plan.actors[login].name if login in plan.actors else login,
            time=format_moment(now, "short"),
        )
    if comment:
        line += f": {comment}"
    with create_session() as session:
        ti = session.scalar(
            sa.select(TaskInstance)
            .where(
                TaskInstance.dag_id == call.params["dag_id"],
                TaskInstance.run_id == call.params["dag_run_id"],
                TaskInstance.task_id == call.params["task_id"],
                TaskInstance.map_index == -1,
            )
            .options(joinedload(TaskInstance.task_instance_note))
        )
        if ti is not None:
            append_note(ti, line, str(user.get_id()))
