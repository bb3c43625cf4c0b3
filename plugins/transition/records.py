"""Transfers and defects, kept in Airflow's metadata database (tables ``transition_*``).

SQLAlchemy Core tables on their own ``MetaData``, created on first use in whichever database Airflow
uses (SQLite or PostgreSQL). Only the api-server touches them (the plugin's endpoints and guard).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

METADATA = sa.MetaData()
SEVERITIES = ("blocking", "major", "minor")

transfers = sa.Table(
    "transition_transfer",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("from_user", sa.String(250), nullable=False),
    sa.Column("to_user", sa.String(250), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("mail_error", sa.Text, nullable=True),
    sa.Index("transition_transfer_step", "dag_id", "run_id", "task_id"),
)

defects = sa.Table(
    "transition_defect",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("created_by", sa.String(250), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_by", sa.String(250), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("mail_error", sa.Text, nullable=True),
    sa.Index("transition_defect_run", "dag_id", "run_id"),
)

_created: set[str] = set()


def ensure_tables(session: Session) -> None:
    bind = session.get_bind()
    key = str(bind.url)
    if key not in _created:
        METADATA.create_all(bind, checkfirst=True)
        _created.add(key)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


def transferees(session: Session, dag_id: str, run_id: str, task_id: str) -> list[str]:
    ensure_tables(session)
    query = sa.select(transfers.c.to_user).where(
        transfers.c.dag_id == dag_id, transfers.c.run_id == run_id, transfers.c.task_id == task_id
    ).order_by(transfers.c.id)
    return list(dict.fromkeys(session.scalars(query)))


def add_transfer(session: Session, **values: Any) -> dict[str, Any]:
    ensure_tables(session)
    values.setdefault("created_at", now())
    new_id = session.execute(sa.insert(transfers).values(**values)).inserted_primary_key[0]
    return {"id": new_id, **values}


def set_mail_error(session: Session, table: sa.Table, row_id: int, error: str | None) -> None:
    session.execute(sa.update(table).where(table.c.id == row_id).values(mail_error=error))


def add_defect(session: Session, **values: Any) -> dict[str, Any]:
    ensure_tables(session)
    values.setdefault("created_at", now())
    values.setdefault("status", "open")
    new_id = session.execute(sa.insert(defects).values(**values)).inserted_primary_key[0]
    return {"id": new_id, **values}


def defect(session: Session, defect_id: int) -> dict[str, Any] | None:
    ensure_tables(session)
    rows = _rows(session.execute(sa.select(defects).where(defects.c.id == defect_id)))
    return rows[0] if rows else None


def resolve_defect(session: Session, defect_id: int, user: str) -> None:
    session.execute(
        sa.update(defects).where(defects.c.id == defect_id).values(status="resolved", resolved_by=user, resolved_at=now())
    )


def defects_of_run(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    ensure_tables(session)
    query = sa.select(defects).where(defects.c.dag_id == dag_id, defects.c.run_id == run_id).order_by(defects.c.id)
    return _rows(session.execute(query))


def open_blocking_defects(session: Session, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    ensure_tables(session)
    query = sa.select(defects).where(
        defects.c.dag_id == dag_id, defects.c.run_id == run_id, defects.c.task_id == task_id,
        defects.c.severity == "blocking", defects.c.status == "open",
    )
    return _rows(session.execute(query))


def transfers_of_run(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    ensure_tables(session)
    query = sa.select(transfers).where(transfers.c.dag_id == dag_id, transfers.c.run_id == run_id).order_by(transfers.c.id)
    return _rows(session.execute(query))
