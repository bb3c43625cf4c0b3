"""The plugin's tables: ordered migrations, from an empty database and from the first release's schema,
on SQLite and PostgreSQL, applied once when several api-server workers start together."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import uuid

import pytest
import sqlalchemy as sa

from transition.runs.records_schema import LATEST, migrate

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def dag_runs(engine: sa.Engine) -> None:
    """Airflow's ``dag_run`` as far as the migrations read it (the rest is Airflow's)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id VARCHAR(250), run_id VARCHAR(250), "
                "created_at TIMESTAMP WITH TIME ZONE)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO dag_run (id, dag_id, run_id, created_at) VALUES "
                "(41, 'resa_dr1', 'manual__1', '2027-01-16 07:59:00.123456+00:00')"
            )
        )


def first_release_tables(engine: sa.Engine) -> None:
    """What release 0.1 left: its two tables made by ``create_all``, no version table, a record in each."""
    old = sa.MetaData()
    transfer = sa.Table(
        "transition_transfer",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        *(
            sa.Column(c, sa.String(250), nullable=False)
            for c in ("dag_id", "run_id", "task_id", "from_user", "to_user")
        ),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_error", sa.Text),
    )
    defect = sa.Table(
        "transition_defect",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        *(
            sa.Column(c, sa.String(250), nullable=False)
            for c in (
                "dag_id",
                "run_id",
                "task_id",
                "title",
                "severity",
                "description",
                "status",
                "created_by",
            )
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(250)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("mail_error", sa.Text),
    )
    old.create_all(engine)
    now = dt.datetime(2027, 1, 16, 8, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            transfer.insert().values(
                dag_id="resa_dr1",
                run_id="manual__1",
                task_id="A",
                from_user="alice",
                to_user="frank",
                message="",
                created_at=now,
            )
        )
        conn.execute(
            defect.insert().values(
                dag_id="resa_dr1",
                run_id="gone",
                task_id="A",
                title="t",
                severity="blocking",
                description="",
                status="open",
                created_by="alice",
                created_at=now,
            )
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        yield sa.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
        return
    name = f"transition_schema_{uuid.uuid4().hex[:10]}"
    made = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f'CREATE DATABASE "{name}"'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, f"PostgreSQL at 127.0.0.1:5432 is needed: {made.stderr}"
    engine = sa.create_engine(f"{POSTGRES}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                f'DROP DATABASE "{name}" WITH (FORCE)',
            ],
            capture_output=True,
            timeout=60,
        )


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_from_an_empty_database(engine):
    dag_runs(engine)
    assert migrate(engine) == LATEST
    assert migrate(engine) == 0  # a second start changes nothing
    assert {"run_key"} <= columns(engine, "transition_transfer") & columns(
        engine, "transition_defect"
    )
    assert {"forced_by", "reason", "why_forced"} <= columns(engine, "transition_forced_close")
    assert "after_close" in columns(engine, "transition_defect")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version FROM transition_schema")) == LATEST


def test_from_the_first_releases_tables_records_are_kept_and_given_their_run(engine):
    dag_runs(engine)
    first_release_tables(engine)
    assert migrate(engine) == LATEST
    with engine.connect() as conn:
        transfer = conn.execute(sa.text("SELECT to_user, run_key FROM transition_transfer")).one()
        defect = conn.execute(sa.text("SELECT title, run_key FROM transition_defect")).one()
    assert tuple(transfer) == (
        "frank",
        "41@20270116T075900.123456",
    )  # its run exists: it belongs to it
    assert tuple(defect) == ("t", None)  # its run is gone: it belongs to no run that exists


def test_defects_on_the_run_and_after_close_keep_the_records_before_them(engine):
    """Migration 3: a defect may have no step (on the run) and says whether its step was closed;
    the defects recorded before keep their number, their step and their run."""
    dag_runs(engine)
    first_release_tables(engine)
    migrate(engine)
    with engine.begin() as conn:
        before = conn.execute(
            sa.text("SELECT id, task_id, title, run_key, after_close FROM transition_defect")
        ).one()
        conn.execute(
            sa.text(
                "INSERT INTO transition_defect (dag_id, run_id, task_id, title, severity, "
                "description, status, created_by, created_at) VALUES ('resa_dr1', 'manual__1', "
                "NULL, 'Run-wide', 'major', '', 'open', 'mia', '2027-01-16 09:00:00+00:00')"
            )
        )
        run_wide = conn.execute(
            sa.text("SELECT id, task_id, after_close FROM transition_defect WHERE task_id IS NULL")
        ).one()
    assert (before.id, before.task_id, before.title, before.run_key) == (1, "A", "t", None)
    assert not before.after_close
    assert run_wide.id == 2 and run_wide.task_id is None and not run_wide.after_close
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("transition_defect")}
    assert "transition_defect_run_key" in indexes  # SQLite's rebuilt table has it again
    assert "transition_defect_v3" not in sa.inspect(engine).get_table_names()


def test_a_database_newer_than_the_plugin_is_refused(engine):
    dag_runs(engine)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE transition_schema SET version = 99"))
    with pytest.raises(RuntimeError, match="version 99, newer than this plugin's"):
        migrate(engine)


def test_workers_starting_together_apply_each_migration_once(engine):
    if engine.dialect.name == "sqlite":
        engine = sa.create_engine(engine.url, connect_args={"timeout": 30})
    dag_runs(engine)
    applied: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            applied.append(migrate(engine))
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=start) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert sorted(applied) == [0, 0, 0, LATEST]


def test_a_run_instance_is_its_id_and_its_creation():
    from transition.runs.records_schema import run_instance_key

    created = dt.datetime(2027, 1, 16, 8, 0, 0, 5, tzinfo=dt.UTC)
    assert run_instance_key(7, created) == "7@20270116T080000.000005"
    # SQLite gives a deleted run's id to the next run: its creation tells them apart
    assert run_instance_key(7, created) != run_instance_key(
        7, created + dt.timedelta(microseconds=1)
    )
