"""A run's journal: what happened in a run instance, written as it happens, hash-chained.

Each entry is one line of canonical JSON: ``n`` (1, 2, ... in the run instance), ``at`` (when it
was written, UTC), ``kind``, ``step``, ``by``, ``fact``, ``prev`` (the SHA-256 of the line before;
:data:`GENESIS` for the first) and ``mac`` (HMAC-SHA256 of the line without it, with the
deployment's key; None without one). :func:`record` keeps an entry in the session of the change it
records and writes it as that session commits, in the same transaction: both are committed or
neither. Appending takes a lock per run (PostgreSQL: an advisory lock until the transaction ends;
SQLite: its write lock), held for the commit only; the unique ``(run_key, n)`` keeps the chain whole.

What it proves and what it does not: docs/evidence.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from transition import settings
from transition.runs.records_schema import ensure_migrated, journal

KEY_CONNECTION = "transition_evidence"  # its password: the key, when the setting gives none
GENESIS = "0" * 64  # what the first entry holds as the hash of the one before
PENDING = "transition_journal"  # the session's entries to write at its commit (Session.info)
ADVISORY_LOCK_KEY = 0x6A726E6C  # "jrnl": the first half of the per-run lock, the plugin's alone


class _Key:
    """The deployment's key for the entries' MACs in this process (set at the api-server's start)."""

    value: bytes | None = None


def deployment_key() -> bytes | None:
    """The deployment's key: ``$TRANSITION_EVIDENCE_KEY``, else the password of the Airflow
    connection ``transition_evidence``; None without either."""
    key = settings.text(settings.EVIDENCE_KEY) or _connection_password()
    return key.encode() if key else None


def _connection_password() -> str | None:
    try:  # deferred: Airflow, only when the setting gives no key
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(KEY_CONNECTION).password or None
    except Exception:  # no Airflow configured here, or no such connection
        return None


def set_key(key: bytes | None) -> None:
    _Key.value = key or None


def current_key() -> bytes | None:
    return _Key.value


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed and signed."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    ).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    return str(value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_mac(key: bytes, entry: Mapping[str, Any]) -> str:
    """The HMAC-SHA256 of an entry without its ``mac``."""
    unsigned = {k: v for k, v in entry.items() if k != "mac"}
    return hmac.new(key, canonical(unsigned), hashlib.sha256).hexdigest()


def entry_line(entry: Mapping[str, Any], key: bytes | None) -> bytes:
    """The entry's line: with its MAC when there is a key."""
    return canonical({**entry, "mac": entry_mac(key, entry) if key else None})


def new_entry(
    number: int,
    previous: str,
    kind: str,
    fact: Mapping[str, Any],
    step: str | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """Entry ``number`` of a journal, after the line whose SHA-256 is ``previous``, written now."""
    return {
        "n": number,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "kind": kind,
        "step": step,
        "by": by,
        "fact": json.loads(canonical(dict(fact))),
        "prev": previous,
    }


def _connection(where: Session | Connection) -> Connection:
    return where.connection() if isinstance(where, Session) else where


def _lock(conn: Connection, run_key: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(CAST(:key AS integer), hashtext(:run))"),
            {"key": ADVISORY_LOCK_KEY, "run": run_key},
        )
    else:  # SQLite: a write takes the database's write lock before the last entry is read
        conn.execute(sa.text("UPDATE transition_schema SET version = version WHERE id = 1"))


def append(
    where: Session | Connection,
    run: tuple[str, str, str],
    kind: str,
    fact: Mapping[str, Any],
    *,
    step: str | None = None,
    by: str | None = None,
) -> int:
    """Append an entry to the journal of ``run`` (dag_id, run_id, run_key) in ``where``'s
    transaction; returns its number."""
    conn = _connection(where)
    ensure_migrated(conn.engine)
    dag_id, run_id, run_key = run
    _lock(conn, run_key)
    last = conn.execute(
        sa.select(journal.c.n, journal.c.hash)
        .where(journal.c.run_key == run_key)
        .order_by(journal.c.n.desc())
        .limit(1)
    ).first()
    number, previous = (int(last[0]) + 1, str(last[1])) if last is not None else (1, GENESIS)
    entry = new_entry(number, previous, kind, fact, step, by)
    line = entry_line(entry, current_key())
    conn.execute(
        sa.insert(journal).values(
            dag_id=dag_id,
            run_id=run_id,
            run_key=run_key,
            n=number,
            kind=kind,
            task_id=step,
            line=line.decode(),
            hash=sha256(line),
        )
    )
    return number


Pending = tuple[tuple[str, str, str], str, dict[str, Any], str | None, str | None]


def record(
    session: Session,
    run: tuple[str, str, str],
    kind: str,
    fact: Mapping[str, Any],
    *,
    step: str | None = None,
    by: str | None = None,
) -> None:
    """Journal an entry of ``run`` (dag_id, run_id, run_key) when ``session`` commits, in its
    transaction; a rollback drops it with the change."""
    if not event.contains(Session, "before_commit", _write_pending):
        event.listen(Session, "before_commit", _write_pending)
        event.listen(Session, "after_transaction_end", _drop_pending)
    session.info.setdefault(PENDING, []).append((run, kind, dict(fact), step, by))


def _write_pending(session: Session) -> None:
    """Before the commit: what is left to flush is flushed (it may journal more), then the entries
    are appended, the run's lock held from here to the commit."""
    if not session.info.get(PENDING) and not (session.new or session.dirty or session.deleted):
        return
    session.flush()
    pending: list[Pending] = session.info.pop(PENDING, [])
    for run, kind, fact, step, by in pending:
        append(session, run, kind, fact, step=step, by=by)


def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the session's transaction ended: committed or not
        session.info.pop(PENDING, None)


def lines_of_run(where: Session | Connection, run_key: str) -> list[str]:
    """The run instance's entries, in order, as written."""
    conn = _connection(where)
    ensure_migrated(conn.engine)
    query = sa.select(journal.c.line).where(journal.c.run_key == run_key).order_by(journal.c.n)
    found: list[Any] = list(conn.execute(query).scalars())
    return [str(line) for line in found]
