"""What acting on a step checks first: the request bodies (free text without control characters),
the step's task instance, whether the user may act on it, and its state; and an e-mail sent or its
failure said in a line."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from airflow.models.taskinstance import TaskInstance
from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import joinedload

from transition.i18n import _
from transition.runs import records
from transition.vocabulary import Severity
from transition.web.app import (
    CONTROL,
    step_or_404,
)
from transition.web.guard_facts import actor_id
from transition.web.permissions import StepRef, allowed_people, refusal

log = logging.getLogger(__name__)

ACTIONABLE = {"scheduled", "queued", "running", "deferred", "awaiting_input", "up_for_retry"}


def storable(value: str) -> str:
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

    _text = field_validator("to", "message")(storable)


class ResolveBody(BaseModel):
    """A resolution says nothing more than its address: ``{}`` (a change is always sent as JSON)."""

    model_config = ConfigDict(extra="forbid")


class DefectBody(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    description: str = Field(default="", max_length=10_000)

    _text = field_validator("title", "description")(storable)


def task_instance(session: Any, dag_id: str, run_id: str, step_id: str) -> Any:
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


def actionable(
    session: Any, dag_id: str, run_id: str, step_id: str, user: Any, action: str
) -> tuple[StepRef, Any, str]:
    """The step, its task instance and the user's id, if the user may act on a Ready or Open step."""
    ref = step_or_404(dag_id, step_id)
    ti = task_instance(session, dag_id, run_id, step_id)
    require_allowed(session, ref, dag_id, run_id, user)
    require_ready_or_open(ti, ref, action)
    return ref, ti, actor_id(user)


def require_allowed(session: Any, ref: StepRef, dag_id: str, run_id: str, user: Any) -> list[str]:
    people = allowed_people(ref, records.transferees(session, dag_id, run_id, ref.step_id))
    if actor_id(user) not in people:
        raise HTTPException(403, refusal(ref))
    return people


FINISHED = {"success", "skipped", "failed", "upstream_failed", "removed"}


def require_not_finished(ti: Any, ref: StepRef) -> None:
    """A step may be handed over until it is closed (or skipped): also before it is Ready."""
    state = str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state else None
    if state in FINISHED:
        raise HTTPException(
            409,
            _("step {step} is {state}: it can no longer be transferred").format(
                step=ref.step_id, state=state
            ),
        )


def state_of(ti: Any) -> str:
    if not ti.state:
        return _("not started")
    return str(ti.state.value if hasattr(ti.state, "value") else ti.state)


def require_ready_or_open(ti: Any, ref: StepRef, action: str) -> None:
    state = state_of(ti)
    if state not in ACTIONABLE or ti.hitl_detail is None:
        raise HTTPException(409, _(action).format(step=ref.step_id, state=state))


def is_closed(ti: Any) -> bool:
    """Closed: Airflow ran the step to success (Close, "mark success", or a forced close)."""
    return state_of(ti) == "success"
