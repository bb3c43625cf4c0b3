"""On the api-server, inside the transaction that closes a step: the answer's record, and the
blocking-defect check done again where it cannot be raced.

A SQLAlchemy ``before_flush`` listener adds the write of the step's answers record
(:mod:`transition.runs.answers`) to the flush that writes the answer: both are committed, or
neither. For a request armed with :data:`RECHECK`, it locks the step's task-instance row and reads
its open blocking defects again; if there is one, the transaction fails (:class:`Blocked`) and the
guard answers 409.

How it works: docs/architecture.md, "web/answer_record.py".
"""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from transition.runs import records
from transition.runs.answers import (
    DESCRIPTION,
    Answer,
    answers_key,
    answers_since,
    close_accepted,
    first_try_since_clear,
    responder_login,
    with_answer,
)
from transition.runs.variable_rows import locked_value

STEP_OPERATORS = frozenset({"StepOperator", "GateOperator"})  # the task instances' ``operator``


@dataclass
class Recheck:
    """Armed by the guard for one request: the step whose blocking defects are read again in the
    request's own transaction; ``blocking`` is what was found (the request then fails)."""

    dag_id: str
    run_id: str
    step_id: str
    language: str | None = None  # of the refusal, the user's
    done: bool = False
    blocking: list[dict[str, Any]] = field(default_factory=list)


RECHECK: contextvars.ContextVar[Recheck | None] = contextvars.ContextVar(
    "transition_recheck", default=None
)


class Blocked(Exception):
    """The step got an open blocking defect between the guard's check and Airflow's write."""


def listen() -> None:
    """Record answers and recheck from now on, in this process (the api-server; once however often
    called)."""
    if not event.contains(Session, "before_flush", before_flush):
        event.listen(Session, "before_flush", before_flush)


def before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance

    recheck = RECHECK.get()
    if recheck is not None and not recheck.done:
        changed = [*session.dirty, *session.new]
        # The step's own transaction (its request answered, its state set), not another session
        # of the same request (Airflow's audit log writes its row in its own).
        if any(isinstance(o, HITLDetail | TaskInstance) for o in changed):
            recheck.done = True
            _recheck(session, recheck)
    answered = [o for o in session.dirty if isinstance(o, HITLDetail) and newly_answered(o)]
    for detail in answered:
        _record(session, detail)


def lock_step(session: Session, dag_id: str, run_id: str, step_id: str) -> None:
    """Lock the step's task-instance row until the transaction ends (a write that changes nothing:
    a row lock on PostgreSQL, the database's write lock on SQLite)."""
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.taskinstance import TaskInstance

    with session.no_autoflush:
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == step_id,
                TaskInstance.map_index == -1,
            )
            .values(updated_at=TaskInstance.updated_at)
            .execution_options(synchronize_session=False)
        )


def _recheck(session: Session, recheck: Recheck) -> None:
    lock_step(session, recheck.dag_id, recheck.run_id, recheck.step_id)
    with session.no_autoflush:
        blocking = records.open_blocking_defects(
            session, recheck.dag_id, recheck.run_id, recheck.step_id
        )
    if blocking:
        recheck.blocking = blocking
        raise Blocked(f"{recheck.step_id}: an open blocking defect was recorded meanwhile")


def newly_answered(detail: Any) -> bool:
    """Whether this flush writes an answer (not the clearing of one when the step asks again)."""
    history = inspect(detail).attrs.chosen_options.history
    return bool(history.added) and bool(detail.chosen_options) and detail.responded_at is not None


def _record(session: Session, detail: Any) -> None:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.variable import Variable

    with session.no_autoflush:
        ti = session.get(TaskInstance, detail.ti_id)  # loaded and locked by the answer's route
        if ti is None or ti.operator not in STEP_OPERATORS:
            return
        run_after = session.scalar(
            select(DagRun.run_after).where(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id)
        )
        if not isinstance(run_after, dt.datetime):
            return
        params = detail.params_input if isinstance(detail.params_input, dict) else {}
        answer = Answer(
            {
                "option": str(detail.chosen_options[0]),
                "by": responder_login(detail.responded_by),
                "at": detail.responded_at.isoformat(),
                "comment": params.get("comment"),
                "try": ti.try_number,
            }
        )
        key = answers_key(ti.dag_id, ti.run_id, ti.task_id)
        raw = locked_value(session, key, DESCRIPTION)
        Variable.set(key, with_answer(raw, run_after, answer), DESCRIPTION, session=session)


def accepted_close(session: Session, ti: Any, approvals: int = 1) -> bool:
    """Whether Airflow accepted an answer that closes the step since its last clear (the task may
    not have acted on it yet): a defect recorded now comes after the close."""
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable

    run_after = session.scalar(
        select(DagRun.run_after).where(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id)
    )
    raw = session.scalar(
        select(Variable).where(Variable.key == answers_key(ti.dag_id, ti.run_id, ti.task_id))
    )
    if raw is None or not isinstance(run_after, dt.datetime):
        return False
    answers = answers_since(raw.val, run_after, first_try_since_clear(ti.max_tries))
    return close_accepted(answers, approvals)
