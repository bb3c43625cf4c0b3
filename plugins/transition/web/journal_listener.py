"""On the api-server: each request, answer and step record of a run goes to the run's journal
(:mod:`transition.runs.journal`), written as the transaction that writes it commits.

A SQLAlchemy ``before_flush`` listener sees what every session of the api-server is about to write,
whoever asked for it: a worker through Airflow's execution API (a step asking, its records in XCom:
started, closed, a check's value and verdict, an automated run's outcome, a message sent or not) or
a person through the REST API or the UI (an answer, a gate's decision, a note). A ``do_orm_execute``
listener sees the steps' sent-ledgers written (every message a step sent, or marked done). Only the
plan's steps are journaled (their task instances' ``operator``). The plugin's own records
(transfers, defects, forced closes) are journaled where they are written (:mod:`transition.runs.records`).

How it works: docs/architecture.md, "web/journal_listener.py".
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

from transition.runs import journal, sent_ledger, step_records
from transition.runs.answers import responder_login
from transition.runs.records import run_key
from transition.web.answer_record import newly_answered

JOURNALED_OPERATORS = frozenset({"StepOperator", "GateOperator", "AutoStepOperator"})
# The steps' XCom records a journal keeps, and the kind of their entries.
XCOM_KINDS = {
    step_records.READY: "ready_sent",
    step_records.LATE: "late_sent",
    step_records.STARTED: "started",
    step_records.CLOSED: "closed",
    step_records.APPROVALS: "approvals",
    step_records.DECISION: "gate_decided",
    step_records.AUTOMATION: "automation",
    step_records.MAIL_FAILURES: "messages_failed",
}


def listen(key: bytes | None) -> None:
    """Journal from now on, in this process (the api-server; once however often called), each
    entry signed with ``key`` (None: unsigned)."""
    journal.set_key(key)
    if not event.contains(Session, "before_flush", before_flush):
        event.listen(Session, "before_flush", before_flush)
        event.listen(Session, "do_orm_execute", ledger_written)


def before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstanceNote
    from airflow.models.xcom import XComModel

    new, dirty = list(session.new), list(session.dirty)
    if not any(isinstance(o, HITLDetail | XComModel | TaskInstanceNote) for o in (*new, *dirty)):
        return
    with session.no_autoflush:
        for detail in (o for o in new if isinstance(o, HITLDetail)):
            _request(session, detail)
        for detail in (o for o in dirty if isinstance(o, HITLDetail)):
            if newly_answered(detail):
                _answer(session, detail)
            elif _asked_again(detail):
                _request(session, detail)
        for xcom in (o for o in new if isinstance(o, XComModel) and o.key in XCOM_KINDS):
            _xcom(session, xcom)
        for note in (o for o in (*new, *dirty) if isinstance(o, TaskInstanceNote)):
            if note in new or inspect(note).attrs.content.history.has_changes():
                _note(session, note)


def _asked_again(detail: Any) -> bool:
    """The step asks again (a new stage or try): Airflow clears the answer it had."""
    deleted = inspect(detail).attrs.responded_at.history.deleted
    return detail.responded_at is None and any(d is not None for d in deleted)


def _step(session: Session, ti: Any) -> tuple[tuple[str, str, str], str] | None:
    """(the run, the step) when ``ti`` is a step of the plan, else None."""
    if ti is None or ti.operator not in JOURNALED_OPERATORS:
        return None
    key = run_key(session, ti.dag_id, ti.run_id)
    return ((ti.dag_id, ti.run_id, key), ti.task_id) if key is not None else None


def _task_of(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.taskinstance import TaskInstance

    return session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    )


def _task_instance(session: Session, ti_id: Any) -> Any:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.taskinstance import TaskInstance

    return session.get(TaskInstance, ti_id)


def _request(session: Session, detail: Any) -> None:
    ti = _task_instance(session, detail.ti_id)
    found = _step(session, ti)
    if found is None:
        return
    assigned = [u.get("id") for u in (detail.assignees or []) if isinstance(u, dict)]
    fact = {"try": ti.try_number, "options": list(detail.options or []), "assigned": assigned}
    journal.record(session, found[0], "request", fact, step=found[1])


def _answer(session: Session, detail: Any) -> None:
    ti = _task_instance(session, detail.ti_id)
    found = _step(session, ti)
    if found is None:
        return
    params = detail.params_input if isinstance(detail.params_input, dict) else {}
    fact = {
        "try": ti.try_number,
        "options": list(detail.chosen_options or []),
        "comment": params.get("comment"),
        "responded_at": detail.responded_at,
    }
    kind = "decision" if ti.operator == "GateOperator" else "answer"
    by = responder_login(detail.responded_by)
    journal.record(session, found[0], kind, fact, step=found[1], by=by)


def _note(session: Session, note: Any) -> None:
    # A new note has no ti_id before the flush: its task instance is the relationship's.
    ti = note.task_instance or _task_instance(session, note.ti_id)
    found = _step(session, ti)
    if found is None:
        return
    fact = {"try": ti.try_number, "content": note.content}
    journal.record(session, found[0], "note", fact, step=found[1], by=note.user_id)


def _xcom(session: Session, xcom: Any) -> None:
    ti = _task_of(session, xcom.dag_id, xcom.run_id, xcom.task_id, xcom.map_index)
    found = _step(session, ti)
    if found is None or ti is None:
        return
    value = xcom.value
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    fact = {"try": ti.try_number, "value": value}
    journal.record(session, found[0], XCOM_KINDS[xcom.key], fact, step=found[1])


def ledger_written(state: ORMExecuteState) -> None:
    """A step's sent-ledger about to be written (Airflow upserts a Variable with one statement):
    what it marks that it did not before is journaled (``ledger``)."""
    statement: Any = state.statement
    table = getattr(statement, "table", None)
    if not state.is_insert or table is None or getattr(table, "name", None) != "variable":
        return
    params = statement.compile(dialect=state.session.get_bind().dialect).params
    key = params.get("key")
    if not isinstance(key, str) or not key.startswith(sent_ledger.PREFIX):
        return
    with state.session.no_autoflush:
        _ledger(state.session, key, _plain_value(params.get("val"), params.get("is_encrypted")))


def _plain_value(value: Any, encrypted: Any) -> str:
    if not encrypted or not isinstance(value, str):
        return str(value)
    # deferred: Airflow's Fernet, on the api-server only
    from airflow.models.crypto import get_fernet

    return get_fernet().decrypt(value.encode()).decode()


def _ledger(session: Session, key: str, written: str) -> None:
    # deferred: Airflow's ORM models, on the api-server only
    from airflow.models.variable import Variable

    dag_id, _, rest = key[len(sent_ledger.PREFIX) :].partition("/")
    run_id, _, task_id = rest.rpartition("/")
    ti = _task_of(session, dag_id, run_id, task_id, -1)
    found = _step(session, ti)
    if found is None or ti is None:
        return
    before_row = session.scalar(select(Variable).where(Variable.key == key))
    try:
        before = json.loads(before_row.val) if before_row is not None else {}
        after = json.loads(written)
    except ValueError:
        return
    if not isinstance(before, dict) or not isinstance(after, dict):
        return
    marked = {k: v for k, v in after.items() if before.get(k) != v}
    if marked:
        fact = {"try": ti.try_number, "marked": marked}
        journal.record(session, found[0], "ledger", fact, step=found[1])
