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
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from airflow.api_fastapi.common.db.common import apply_filters_to_select
from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
from airflow.api_fastapi.core_api.datamodels.task_instances import (
    PatchTaskInstanceBody,
)
from airflow.models.backfill import Backfill
from airflow.models.dag import DagModel, DagTag
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import joinedload

from transition.i18n import _, format_moment, use_language
from transition.plan.check_rules import evidence, not_settled
from transition.plan.model import Plan
from transition.results.weekly_report import weekly_report_dag_id
from transition.runs import records, step_records
from transition.web.permissions import allowed_people, current_plan, find_step
from transition.web.route_matching import query_dependencies
from transition.web.route_rules import Call, Rule, Started, Who
from transition.web.task_notes import append_note

ADMIN_ROLES = frozenset({"admin"})
GATE_OPERATOR = "GateOperator"  # a gate's task type, in Airflow's serialized DAG
PLAN_TAGS = (
    "transition",
    "transition-report",
)  # the tags of the plan's DAGs (dag_builder, weekly_report)
# The filters of PATCH /api/v2/dags that pick its DAGs (its user's own rights, and pagination, aside).
SELECTING_FILTERS = frozenset(
    {"dag_id_pattern", "dag_id_prefix_pattern", "tags", "owners", "exclude_stale", "paused"}
)
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


def is_manager(user: Any, plan: Plan | None) -> bool:
    """A cutover manager of the current plan, or an Airflow admin who is none of its actors.

    An actor's rights come from the plan at each request, whatever role their login carries:
    ``make run`` makes the cutover managers Airflow admins when Airflow starts, and a token renewed
    after someone left the cutover managers still says admin. Someone removed from the Actors sheet
    altogether is an Airflow admin until Airflow's users are made again (a restart)."""
    login = actor_id(user)
    if plan is not None and login in plan.actors:
        return login in plan.cutover_managers
    return is_admin(user)


def plan_dag_ids(plan: Plan) -> frozenset[str]:
    return frozenset([plan.dag_id(d) for d in plan.schedules] + [weekly_report_dag_id(plan)])


def dags_selected(route: Any, query: Any, session: Any) -> frozenset[str]:
    """The DAGs a bulk change (``PATCH /api/v2/dags``) would change: Airflow's own filters, built
    from the query by the route's own dependencies and run on its database (pagination left out:
    more, never fewer). Empty when FastAPI would refuse the query (422: nothing changes)."""
    filters = query_dependencies(route, SELECTING_FILTERS, query)
    if filters is None:
        return frozenset()
    statement = apply_filters_to_select(
        statement=sa.select(DagModel.dag_id), filters=list(filters.values())
    )
    return frozenset(session.scalars(statement))


def marked_dags(session: Any) -> frozenset[str]:
    """The DAGs Airflow knows as the plan's, by the tags the plugin gives them: also those of a dry
    run no longer in the workbook, and all of them while no valid plan is loaded."""
    return frozenset(session.scalars(sa.select(DagTag.dag_id).where(DagTag.name.in_(PLAN_TAGS))))


class DatabaseFacts:
    """:class:`transition.web.route_rules.Facts` from the plan and Airflow's metadata database.

    Fails closed: a DAG carrying the plugin's tags is the plan's even when the current plan does not
    have it (a dry run removed from the workbook, an invalid workbook with no last good plan); on
    such a DAG a step may be acted on by the people its request was written for (Airflow's own
    record of the rules the run was triggered with), everything else is the Airflow admins'."""

    def __init__(self) -> None:
        self.plan = current_plan()
        self._marked: frozenset[str] | None = None

    def marked(self) -> frozenset[str]:
        if self._marked is None:
            with create_session() as session:
                self._marked = marked_dags(session)
        return self._marked

    def plan_dags(self) -> frozenset[str]:
        current = plan_dag_ids(self.plan) if self.plan is not None else frozenset()
        return current | self.marked()

    def language_of(self, actor: str) -> str | None:
        if self.plan is None:
            return None
        person = self.plan.actors.get(actor)
        return person.language if person is not None else self.plan.language

    def is_manager(self, user: Any) -> bool:
        return is_manager(user, self.plan)

    def backfill_dag(self, backfill_id: Any) -> str | None:
        """The DAG of the backfill Airflow's route would act on (the id as the route parsed it)."""
        if not isinstance(backfill_id, int):
            return None  # not an integer by the route's own type: Airflow refuses it (422)
        with create_session() as session:
            return session.scalar(sa.select(Backfill.dag_id).where(Backfill.id == backfill_id))

    def dags_selected(self, route: Any, query: Any) -> frozenset[str]:
        with create_session() as session:
            return dags_selected(route, query, session)

    def allowed_people(self, dag_id: str, run_id: str, step_id: str) -> list[str] | None:
        ref = find_step(dag_id, step_id, self.plan)
        with create_session() as session:
            if ref is not None:
                return allowed_people(ref, records.transferees(session, dag_id, run_id, step_id))
            if dag_id not in self.marked():
                return None
            # Not in the current plan: the people the step's request was written for, if it asks.
            assignees = session.scalar(
                sa.select(HITLDetail.assignees)
                .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == step_id,
                    TaskInstance.map_index == -1,
                )
            )
        people = [str(a.get("id")) for a in assignees or [] if isinstance(a, dict)]
        return people or None

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
        if ref is not None:
            return ref.plan.steps[step_id].is_gate
        if dag_id not in self.marked():
            return False
        with create_session() as session:  # a DAG the plan no longer has: its task's own type
            operator = session.scalar(
                sa.select(TaskInstance.operator)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == step_id)
                .limit(1)
            )
        return operator == GATE_OPERATOR

    def gate_reached(
        self, dag_id: str, step_ids: Sequence[str], upstream: bool, downstream: bool
    ) -> str | None:
        """A gate among the relatives of ``step_ids`` (upstream, downstream) in the DAG Airflow's
        route would use (its latest version: Airflow's own graph, not the plan's copy of it)."""
        from airflow.models.dagbag import DBDagBag  # deferred: only for flagged marks

        with create_session() as session:
            dag = DBDagBag(load_op_links=False).get_latest_version_of_dag(dag_id, session=session)
        if dag is None:
            return None
        reached: set[str] = set()
        for step in step_ids:
            if dag.has_task(step):
                task = dag.get_task(step)
                if upstream:
                    reached |= task.get_flat_relative_ids(upstream=True)
                if downstream:
                    reached |= task.get_flat_relative_ids(upstream=False)
        return next(
            (
                t
                for t in sorted(reached)
                if dag.get_task(t).task_type == GATE_OPERATOR or self.is_gate(dag_id, t)
            ),
            None,
        )

    def is_automated(self, dag_id: str, step_id: str) -> bool:
        ref = find_step(dag_id, step_id, self.plan)
        return ref is not None and ref.plan.steps[step_id].action is not None

    def checks_not_passed(self, dag_id: str, run_id: str, gate: str) -> list[str]:
        ref = find_step(dag_id, gate, self.plan)
        if ref is None or not ref.plan.steps[gate].is_gate:
            return []
        checks = evidence(ref.plan, ref.dry_run, gate)
        if not checks:
            return []
        with create_session() as session:
            states = dict(
                session.execute(
                    sa.select(TaskInstance.task_id, TaskInstance.state).where(
                        TaskInstance.dag_id == dag_id,
                        TaskInstance.run_id == run_id,
                        TaskInstance.task_id.in_(checks),
                        TaskInstance.map_index == -1,
                    )
                ).all()
            )
            rows = session.execute(
                sa.select(XComModel.task_id, XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id.in_(checks),
                    XComModel.map_index == -1,
                    XComModel.key == step_records.CLOSED,
                )
            ).all()
        closed = {row.task_id: XComModel.deserialize_value(row) for row in rows}
        named = {
            t: str(getattr(v, "value", v)) if v is not None else None for t, v in states.items()
        }
        return not_settled(checks, named, closed)

    def started(self, dag_id: str, run_id: str, step_id: str) -> Started | None:
        """The Start the step's current try recorded (its XCom ``started``; a new try has none)."""
        with create_session() as session:
            row = session.execute(
                sa.select(XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == step_id,
                    XComModel.map_index == -1,
                    XComModel.key == step_records.STARTED,
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
