"""The plugin's own tables in Airflow's metadata database, and their ordered migrations.

A table ``transition_schema`` holds the schema's version; :func:`migrate` applies the migrations the
database has not had yet, in order, in one transaction under a lock (PostgreSQL: an advisory lock;
SQLite: its write lock, taken by the first statement), so two api-server workers starting together
apply each migration once. It runs at api-server start and, once per process, before the first use.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

METADATA = sa.MetaData()
ADVISORY_LOCK_KEY = 0x7472616E  # "tran": any constant the plugin alone uses

schema_version = sa.Table(
    "transition_schema",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

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
    # The run instance (Airflow's dag_run.id and created_at, see records.run_key): a run deleted and
    # triggered again under the same run id is another instance and inherits nothing. Migration 2.
    sa.Column("run_key", sa.String(80), nullable=True),
    sa.Index("transition_transfer_step", "dag_id", "run_id", "task_id"),
)

defects = sa.Table(
    "transition_defect",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    # None: a defect on the run as a whole, not on one step (migration 3)
    sa.Column("task_id", sa.String(250), nullable=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("created_by", sa.String(250), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_by", sa.String(250), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("mail_error", sa.Text, nullable=True),
    sa.Column("run_key", sa.String(80), nullable=True),  # migration 2
    # Recorded on a step already closed (migration 3): it cannot block that step any more.
    sa.Column("after_close", sa.Boolean, nullable=False, default=False),
    sa.Index("transition_defect_run", "dag_id", "run_id"),
)

forced_closes = sa.Table(
    "transition_forced_close",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("run_key", sa.String(80), nullable=True),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("forced_by", sa.String(250), nullable=False),
    sa.Column("forced_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state_before", sa.String(40), nullable=True),
    sa.Column("why_forced", sa.Text, nullable=False, default=""),
    sa.Index("transition_forced_close_run", "dag_id", "run_id"),
)

journal = sa.Table(  # a run's journal (transition.runs.journal), append only; migration 4
    "transition_journal",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("run_key", sa.String(80), nullable=False),
    sa.Column("n", sa.Integer, nullable=False),  # 1, 2, ... in the run instance
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=True),
    sa.Column("line", sa.Text, nullable=False),  # the entry, as hashed (canonical JSON)
    sa.Column("hash", sa.String(64), nullable=False),  # SHA-256 of line: the next one holds it
    sa.UniqueConstraint("run_key", "n", name="transition_journal_entry"),
)


# -- migrations: append only; never edit one that has shipped ----------------------------------------


def _v1_tables_of_release_0_1(conn: Connection) -> None:
    """The two tables as the first release created them (``create_all`` on first use), if absent."""
    v1 = sa.MetaData()
    sa.Table(
        "transition_transfer",
        v1,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("from_user", sa.String(250), nullable=False),
        sa.Column("to_user", sa.String(250), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_error", sa.Text),
        sa.Index("transition_transfer_step", "dag_id", "run_id", "task_id"),
    )
    sa.Table(
        "transition_defect",
        v1,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(250)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("mail_error", sa.Text),
        sa.Index("transition_defect_run", "dag_id", "run_id"),
    )
    v1.create_all(conn, checkfirst=True)


def run_instance_key(run_pk: int, created_at: dt.datetime | None) -> str:
    """A run instance: Airflow's ``dag_run.id`` with its ``created_at`` (SQLite gives a deleted
    run's id to the next run it stores, so the id alone does not tell two instances apart)."""
    stamp = created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%f") if created_at else "-"
    return f"{run_pk}@{stamp}"


def _v2_run_instances_and_forced_closes(conn: Connection) -> None:
    """Records belong to a run instance (``run_key``); forced closes are recorded."""
    runs = sa.table(
        "dag_run",
        sa.column("id"),
        sa.column("dag_id"),
        sa.column("run_id"),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    for name in ("transition_transfer", "transition_defect"):
        conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN run_key VARCHAR(80)"))
        table = sa.table(
            name, sa.column("id"), sa.column("dag_id"), sa.column("run_id"), sa.column("run_key")
        )
        # Records written before: they belong to the run that has their run id now, if any.
        rows = conn.execute(
            sa.select(table.c.id, runs.c.id, runs.c.created_at).join(
                runs, sa.and_(runs.c.dag_id == table.c.dag_id, runs.c.run_id == table.c.run_id)
            )
        ).all()
        for record_id, run_pk, created_at in rows:  # (int, int, datetime or text)
            assert isinstance(run_pk, int)
            conn.execute(
                sa.update(table)
                .where(table.c.id == record_id)
                .values(
                    run_key=run_instance_key(
                        run_pk, _aware(str(created_at) if created_at else None)
                    )
                )
            )
        conn.execute(sa.text(f"CREATE INDEX {name}_run_key ON {name} (run_key, task_id)"))
    forced_closes.create(conn)


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    if isinstance(value, str):  # SQLite hands back text
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _v3_defects_after_the_fact(conn: Connection) -> None:
    """A defect may be on the run as a whole (``task_id`` NULL) and recorded on a closed step
    (``after_close``). SQLite cannot drop a NOT NULL: it gets the table rebuilt, rows and ids kept."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE transition_defect ALTER COLUMN task_id DROP NOT NULL"))
        conn.execute(
            sa.text(
                "ALTER TABLE transition_defect ADD COLUMN after_close BOOLEAN NOT NULL DEFAULT FALSE"
            )
        )
        return
    v3 = sa.MetaData()
    sa.Table(
        "transition_defect_v3",
        v3,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(250)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("mail_error", sa.Text),
        sa.Column("run_key", sa.String(80)),
        sa.Column("after_close", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    v3.create_all(conn)
    kept = (
        "id, dag_id, run_id, task_id, title, severity, description, status, created_by, "
        "created_at, resolved_by, resolved_at, mail_error, run_key"
    )
    conn.execute(
        sa.text(f"INSERT INTO transition_defect_v3 ({kept}) SELECT {kept} FROM transition_defect")
    )
    conn.execute(sa.text("DROP TABLE transition_defect"))
    conn.execute(sa.text("ALTER TABLE transition_defect_v3 RENAME TO transition_defect"))
    conn.execute(
        sa.text("CREATE INDEX transition_defect_run ON transition_defect (dag_id, run_id)")
    )
    conn.execute(
        sa.text("CREATE INDEX transition_defect_run_key ON transition_defect (run_key, task_id)")
    )


def _v4_journal(conn: Connection) -> None:
    """Each run's journal, hash-chained (:mod:`transition.runs.journal`)."""
    journal.create(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_tables_of_release_0_1,
    _v2_run_instances_and_forced_closes,
    _v3_defects_after_the_fact,
    _v4_journal,
]
LATEST = len(MIGRATIONS)

_done: set[str] = set()
_done_lock = threading.Lock()


def migrate(engine: Engine) -> int:
    """Bring the plugin's tables to the latest version; returns the number of migrations applied."""
    applied = 0
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS transition_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"
            )
        )
        if (
            conn.dialect.name != "postgresql"
        ):  # SQLite: the first write takes its write lock until the commit
            conn.execute(
                sa.update(schema_version)
                .where(schema_version.c.id == 1)
                .values(version=schema_version.c.version)
            )
        version = conn.scalar(sa.select(schema_version.c.version).where(schema_version.c.id == 1))
        if version is None:
            conn.execute(sa.insert(schema_version).values(id=1, version=0))
            version = 0
        if version > LATEST:
            raise RuntimeError(
                f"the database's transition tables are at version {version}, newer than this plugin's {LATEST}: "
                "upgrade the plugin"
            )
        for number in range(version + 1, LATEST + 1):
            log.info(
                "Transition tables: applying migration %d (%s)",
                number,
                MIGRATIONS[number - 1].__name__,
            )
            MIGRATIONS[number - 1](conn)
            conn.execute(
                sa.update(schema_version).where(schema_version.c.id == 1).values(version=number)
            )
            applied += 1
    return applied


def ensure_migrated(engine: Engine) -> None:
    """:func:`migrate`, once per process and database."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _done:
        return
    with _done_lock:
        if key not in _done:
            migrate(engine)
            _done.add(key)
