"""Transfers, defects and forced closes, kept in Airflow's metadata database (tables ``transition_*``).

Every record belongs to one run instance: Airflow's ``dag_run.id`` (``run_key``), so a run deleted
and triggered again under the same run id starts with none. The tables and their migrations are in
:mod:`transition.runs.records_schema`. Only the api-server touches them (the plugin's endpoints and guard).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from transition.runs import journal
from transition.runs.records_schema import (
    defects,
    ensure_migrated,
    forced_closes,
    run_instance_key,
    transfers,
)
from transition.vocabulary import DefectStatus, Severity

SEVERITIES = tuple(s.value for s in Severity)
__all__ = ["SEVERITIES", "defects", "forced_closes", "transfers"]


def ensure_tables(session: Session) -> None:
    ensure_migrated(session.get_bind().engine)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


def run_key(session: Session, dag_id: str, run_id: str) -> str | None:
    """The run instance that has this run id now (None: no such run); see :func:`run_instance_key`."""
    from airflow.models.dagrun import DagRun  # deferred: the api-server's models, not the CLI's

    row = session.execute(
        sa.select(DagRun.id, DagRun.created_at).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id
        )
    ).first()
    return run_instance_key(row[0], row[1]) if row is not None else None


def _of_run(table: sa.Table, session: Session, dag_id: str, run_id: str) -> Any:
    ensure_tables(session)
    return _of_key(table, dag_id, run_id, run_key(session, dag_id, run_id))


def _of_key(table: sa.Table, dag_id: str, run_id: str, key: str | None) -> Any:
    return sa.and_(
        table.c.dag_id == dag_id,
        table.c.run_id == run_id,
        table.c.run_key == key if key is not None else sa.false(),
    )


def transferees(session: Session, dag_id: str, run_id: str, task_id: str) -> list[str]:
    query = (
        sa.select(transfers.c.to_user)
        .where(_of_run(transfers, session, dag_id, run_id), transfers.c.task_id == task_id)
        .order_by(transfers.c.id)
    )
    return list(dict.fromkeys(session.scalars(query)))


def handed(session: Session, dag_id: str, run_id: str, task_id: str) -> list[tuple[str, str]]:
    """Who handed the step to whom in this run instance, ``(from, to)``, in order."""
    query = (
        sa.select(transfers.c.from_user, transfers.c.to_user)
        .where(_of_run(transfers, session, dag_id, run_id), transfers.c.task_id == task_id)
        .order_by(transfers.c.id)
    )
    return [(str(giver), str(taker)) for giver, taker in session.execute(query)]


def _insert(session: Session, table: sa.Table, **values: Any) -> dict[str, Any]:
    ensure_tables(session)
    values["run_key"] = run_key(session, values["dag_id"], values["run_id"])
    new_id = _new_id(session.execute(sa.insert(table).values(**values)))
    return {"id": new_id, **values}


def _new_id(result: Any) -> int:
    """The primary key an insert gave its row."""
    key = cast(CursorResult, result).inserted_primary_key
    assert key is not None
    return int(key[0])


def _journal(
    session: Session, row: dict[str, Any], kind: str, fact: dict[str, Any], by: str | None
) -> None:
    """The record in the run's journal, as the transaction commits (none without a run)."""
    if row.get("run_key"):
        run = (str(row["dag_id"]), str(row["run_id"]), str(row["run_key"]))
        journal.record(session, run, kind, fact, step=row.get("task_id"), by=by)


def add_transfer(session: Session, **values: Any) -> dict[str, Any]:
    values.setdefault("created_at", now())
    row = _insert(session, transfers, **values)
    fact = {"id": row["id"], "to": row["to_user"], "message": row.get("message", "")}
    _journal(session, row, "transfer", fact, row["from_user"])
    return row


def set_mail_error(session: Session, table: sa.Table, row_id: int, error: str | None) -> None:
    session.execute(sa.update(table).where(table.c.id == row_id).values(mail_error=error))


def add_defect(session: Session, **values: Any) -> dict[str, Any]:
    """A defect on a step (``task_id``; ``after_close`` when the step was closed already) or, with
    ``task_id`` None, on the run as a whole."""
    values.setdefault("created_at", now())
    values.setdefault("status", DefectStatus.OPEN.value)
    values.setdefault("after_close", False)
    values.setdefault("task_id", None)
    row = _insert(session, defects, **values)
    fact = {k: row.get(k) for k in ("id", "title", "severity", "description", "after_close")}
    _journal(session, row, "defect", fact, row["created_by"])
    return row


def defect(session: Session, defect_id: int, dag_id: str, run_id: str) -> dict[str, Any] | None:
    """Defect ``defect_id`` if it belongs to this run instance."""
    query = sa.select(defects).where(
        defects.c.id == defect_id, _of_run(defects, session, dag_id, run_id)
    )
    rows = _rows(session.execute(query))
    return rows[0] if rows else None


def resolve_defect(session: Session, defect_id: int, user: str) -> bool:
    """Mark an open defect resolved; False if it was resolved already (who resolved it stays)."""
    result = session.execute(
        sa.update(defects)
        .where(defects.c.id == defect_id, defects.c.status == DefectStatus.OPEN.value)
        .values(status=DefectStatus.RESOLVED.value, resolved_by=user, resolved_at=now())
    )
    if not cast(CursorResult, result).rowcount:
        return False
    row = _rows(session.execute(sa.select(defects).where(defects.c.id == defect_id)))[0]
    fact = {"id": defect_id, "resolved_at": row["resolved_at"]}
    _journal(session, row, "defect_resolved", fact, user)
    return True


def defects_of_run(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(defects).where(_of_run(defects, session, dag_id, run_id)).order_by(defects.c.id)
    )
    return _rows(session.execute(query))


def open_blocking_defects(
    session: Session, dag_id: str, run_id: str, task_id: str
) -> list[dict[str, Any]]:
    query = sa.select(defects).where(
        _of_run(defects, session, dag_id, run_id),
        defects.c.task_id == task_id,
        defects.c.severity == Severity.BLOCKING.value,
        defects.c.status == DefectStatus.OPEN.value,
    )
    return _rows(session.execute(query))


def transfers_of_run(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(transfers)
        .where(_of_run(transfers, session, dag_id, run_id))
        .order_by(transfers.c.id)
    )
    return _rows(session.execute(query))


def add_forced_close(session: Session, **values: Any) -> dict[str, Any]:
    values.setdefault("forced_at", now())
    row = _insert(session, forced_closes, **values)
    fact = {k: row.get(k) for k in ("id", "reason", "state_before", "why_forced")}
    _journal(session, row, "forced_close", fact, row["forced_by"])
    return row


class RunRecords(NamedTuple):
    """A run instance's records, each kind in the order recorded."""

    defects: list[dict[str, Any]]
    forced_closes: list[dict[str, Any]]
    transfers: list[dict[str, Any]]


def records_of_run(session: Session, dag_id: str, run_id: str) -> RunRecords:
    """The run's defects, forced closes and transfers (as :func:`defects_of_run` and the others),
    its run instance looked up once: four queries, not six."""
    ensure_tables(session)
    key = run_key(session, dag_id, run_id)

    def of(table: sa.Table) -> list[dict[str, Any]]:
        if key is None:
            return []  # no such run: nothing of it
        query = sa.select(table).where(_of_key(table, dag_id, run_id, key)).order_by(table.c.id)
        return _rows(session.execute(query))

    return RunRecords(of(defects), of(forced_closes), of(transfers))


def forced_closes_of_run(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    query = (
        sa.select(forced_closes)
        .where(_of_run(forced_closes, session, dag_id, run_id))
        .order_by(forced_closes.c.id)
    )
    return _rows(session.execute(query))
