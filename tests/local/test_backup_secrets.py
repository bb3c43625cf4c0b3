"""Secrets of backup and restore, and of the files we write (issue 14).

* ``pg_dump``/``pg_restore`` never get the database password on their command line (a real PostgreSQL
  on 127.0.0.1:5432, a role with a password made for the test; the tools are wrapped through PATH by a
  script that records their argv, what ``ps`` shows, and the password file they were given);
* no message prints the URL with its password;
* ``transition restore`` refuses while Airflow runs on the database (a real SQLite file and a real
  PostgreSQL database holding Airflow's own ``job`` table);
* password files are created 0600 with O_EXCL, never chmod-ed afterwards.

The whole round trip on a real Airflow: tests/e2e/test_e2e_backup.py.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from transition.local.backup import BackupError, backup, mask_url, restore

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))
ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PASSWORD = "s3cr:et\\pa ss@word"  # a colon and a backslash: escaped in .pgpass; "@" and a space: quoted in URLs


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TRANSITION, *args, "--lang", "en"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


# -- messages -------------------------------------------------------------------------------------


def test_mask_url():
    assert (
        mask_url("postgresql+psycopg2://airflow:hunter2@db:5432/airflow")
        == "postgresql+psycopg2://airflow:***@db:5432/airflow"
    )
    assert (
        mask_url("mysql://u:p%40ss@h/db?password=other&x=1")
        == "mysql://u:***@h/db?password=***&x=1"
    )
    assert mask_url("sqlite:////tmp/airflow.db") == "sqlite:////tmp/airflow.db"
    assert mask_url("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # an "@" left unquoted


def test_a_database_that_cannot_be_checked_is_said_in_a_line(tmp_path):
    source = tmp_path / "in.dump"
    source.write_bytes(b"x")
    with pytest.raises(BackupError) as caught:
        restore(source, "postgresql+psycopg2://nobody:hunter2@127.0.0.1:5432/no_such_database_here")
    message = caught.value.render()
    assert (
        "could not check whether Airflow runs on this database" in message
        and "hunter2" not in message
    )


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_an_unsupported_or_broken_url_is_shown_without_its_password(tmp_path, command):
    source = tmp_path / "in.db"
    source.write_bytes(b"x")
    url = "mssql+pymssql://airflow:hunter2@db/airflow"
    with pytest.raises(BackupError) as caught:
        restore(source, url) if command == "restore" else backup(tmp_path / "out", url)
    assert (
        "hunter2" not in caught.value.render()
        and "mssql+pymssql://airflow:***@db/airflow" in caught.value.render()
    )
    # Configured so that Airflow itself cannot start (no driver, a port that is no number): one line, no password.
    for broken in (url, "postgresql://airflow:hunter2@db:port/airflow"):
        done = run_cli(
            command,
            str(source if command == "restore" else tmp_path / "out"),
            env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": broken},
        )
        assert done.returncode == 1, done.stderr
        assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr, (
            done.stderr
        )
        assert done.stderr.startswith("[database] sql_alchemy_conn: ")


# -- PostgreSQL: the password never on a command line ---------------------------------------------


@pytest.fixture
def pg_role():
    """A role with a password and two databases it owns; dropped after."""
    suffix = uuid.uuid4().hex[:10]
    role, first, second = (
        f"transition_bk_{suffix}",
        f"transition_bk_a_{suffix}",
        f"transition_bk_b_{suffix}",
    )
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    quoted = PASSWORD.replace("'", "''")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'"))
        for database in (first, second):
            connection.execute(sa.text(f"CREATE DATABASE {database} OWNER {role}"))
    from urllib.parse import quote

    url = f"postgresql+psycopg2://{role}:{quote(PASSWORD, safe='')}@127.0.0.1:5432/"
    try:
        yield url + first, url + second
    finally:
        with admin.connect() as connection:
            for database in (first, second):
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            connection.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


@pytest.fixture
def recording_tools(tmp_path):
    """pg_dump and pg_restore wrapped: each call appends its argv, environment and password file to a record."""
    folder, record = tmp_path / "bin", tmp_path / "record.txt"
    folder.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        script = folder / tool
        script.write_text(
            textwrap.dedent(f"""\
            #!/bin/sh
            {{ echo "argv: $0 $*"; echo "PGPASSWORD=${{PGPASSWORD:-unset}}"; echo "PGPASSFILE=$PGPASSFILE"
               echo "mode: $(stat -c %a "$PGPASSFILE")"; echo "folder mode: $(stat -c %a "$(dirname "$PGPASSFILE")")"
               printf 'pgpass: %s\\n' "$(cat "$PGPASSFILE")"; }} >> {record}
            exec {shutil.which(tool)} "$@"
            """)
        )
        script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, record


def test_pg_dump_and_pg_restore_get_the_password_from_a_private_pgpass(
    tmp_path, pg_role, recording_tools
):
    first, second = pg_role
    path, record = recording_tools
    with sa.create_engine(
        first
    ).begin() as connection:  # the password works: trust or not, it is the role's
        connection.execute(sa.text("CREATE TABLE dag_run (id int, note text)"))
        connection.execute(sa.text("INSERT INTO dag_run VALUES (1, 'half-run')"))
    out = tmp_path / "backup.dump"
    done = run_cli(
        "backup",
        str(out),
        env={**path, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": first, "PGPASSWORD": "wrong"},
    )
    assert done.returncode == 0, done.stderr
    done = run_cli("restore", str(out), env={**path, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": second})
    assert done.returncode == 0, done.stderr
    with sa.create_engine(second).connect() as connection:
        assert connection.execute(sa.text("SELECT note FROM dag_run")).scalar() == "half-run"

    calls = [  # not the `--version` that chose them (by the server's major)
        call
        for call in record.read_text().split("argv: ")[1:]
        if call.splitlines()[0].split()[1:] != ["--version"]
    ]
    assert [c.split()[0].rsplit("/", 1)[1] for c in calls] == ["pg_dump", "pg_restore"]
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    for call in calls:
        argv = call.splitlines()[0]
        assert "s3cr" not in argv and "%40" not in argv and "word" not in argv, (
            argv
        )  # not even quoted
        assert "PGPASSWORD=unset" in call  # the user's PGPASSWORD would win over the file: removed
        assert "mode: 600" in call and "folder mode: 700" in call
        assert f"pgpass: *:*:*:*:{escaped}" in call
    password_file = Path(calls[0].split("PGPASSFILE=")[1].splitlines()[0])
    assert not password_file.exists() and not password_file.parent.exists()  # deleted after use
    assert "s3cr" not in done.stdout + done.stderr


def test_a_failing_tool_does_not_print_the_password(tmp_path, pg_role):
    first, _second = pg_role
    broken = tmp_path / "broken.dump"
    broken.write_bytes(b"not a dump")
    with pytest.raises(BackupError) as caught:
        restore(broken, first.replace("/transition_bk_a_", "/no_such_db_"), force=True)
    assert "s3cr" not in caught.value.render() and "pg_restore" in caught.value.render()


# -- restore refuses while Airflow runs ---------------------------------------------------------------


def airflow_job(
    url: str, state: str, heartbeat_ago: dt.timedelta, job_type: str = "SchedulerJob"
) -> None:
    """Airflow's own ``job`` table (its model), with one row as a component writes it."""
    from airflow.jobs.job import Job

    engine = sa.create_engine(url)
    Job.__table__.create(engine, checkfirst=True)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Job.__table__).values(
                job_type=job_type,
                state=state,
                hostname="airflow-host-1",
                start_date=now - dt.timedelta(hours=1),
                latest_heartbeat=now - heartbeat_ago,
                end_date=None if state == "running" else now,
            )
        )
    engine.dispose()


def sqlite_with_data(path: Path, note: str) -> str:
    url = f"sqlite:///{path}"
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS notes (note text)"))
        connection.execute(sa.text("DELETE FROM notes"))
        connection.execute(sa.text("INSERT INTO notes VALUES (:note)"), {"note": note})
    return url


def note_in(url: str) -> str:
    with sa.create_engine(url).connect() as connection:
        return connection.execute(sa.text("SELECT note FROM notes")).scalar()


def test_restore_refuses_while_airflow_runs_on_sqlite(tmp_path):
    source = tmp_path / "backup.db"
    sqlite_with_data(source, "from the backup")
    target = sqlite_with_data(tmp_path / "airflow.db", "live")
    airflow_job(target, "running", dt.timedelta(seconds=3))
    airflow_job(
        target, "success", dt.timedelta(seconds=1), job_type="TriggererJob"
    )  # ended: not running
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": target}
    done = run_cli("restore", str(source), env=env)
    assert done.returncode == 1 and note_in(target) == "live"
    assert (
        "Airflow is running on this database" in done.stderr
        and "scheduler on airflow-host-1" in done.stderr
    )
    assert "triggerer on" not in done.stderr and "--force" in done.stderr
    done = run_cli("restore", "--force", str(source), env=env)
    assert done.returncode == 0, done.stderr
    assert note_in(target) == "from the backup"


def test_a_heartbeat_that_stopped_long_ago_is_no_running_airflow(tmp_path):
    source = tmp_path / "backup.db"
    sqlite_with_data(source, "from the backup")
    target = sqlite_with_data(tmp_path / "airflow.db", "crashed")
    airflow_job(target, "running", dt.timedelta(minutes=30))  # killed: its row still says running
    restore(source, target)
    assert note_in(target) == "from the backup"
    assert "restored" in restore(
        source, f"sqlite:///{tmp_path / 'new' / 'airflow.db'}"
    )  # a new database


def test_restore_refuses_while_airflow_runs_on_postgresql(tmp_path, pg_role):
    first, second = pg_role
    airflow_job(second, "running", dt.timedelta(seconds=1), job_type="DagProcessorJob")
    out = tmp_path / "backup.dump"
    backup(out, first)  # backing up a running Airflow is fine: pg_dump takes a consistent snapshot
    with pytest.raises(BackupError) as caught:
        restore(out, second)
    assert (
        "dag-processor on airflow-host-1" in caught.value.render()
        and "s3cr" not in caught.value.render()
    )
    assert "transition_bk_" in caught.value.render() and ":***@" in caught.value.render()


# -- files holding secrets ------------------------------------------------------------------------------


def test_password_files_are_created_private_never_chmod_ed(tmp_path):
    """Run in a child: an audit hook sees every open and chmod, with a umask that would make files 0666."""
    home = tmp_path / "home"
    home.mkdir()
    old = home / "passwords.json"
    old.write_text('{"admin": "kept"}')
    old.chmod(0o644)  # as an older version left it
    script = textwrap.dedent(f"""
        import json, os, sys
        from pathlib import Path
        events = []
        home = {str(home)!r}
        sys.addaudithook(lambda event, args: events.append((event, args))
                         if event in ("open", "os.chmod") and str(args[0]).startswith(home) else None)
        os.umask(0)
        from transition.local.standalone import ensure_passwords
        passwords = ensure_passwords(Path(home) / "passwords.json", {{"admin": "admin", "alice": "user"}})
        print(json.dumps({{"events": [[e, str(a[0]), a[1], a[2]] for e, a in events], "passwords": passwords}}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout.splitlines()[-1])
    assert result["passwords"]["admin"] == "kept" and len(result["passwords"]["alice"]) >= 12
    writes = [
        (path, flags)
        for event, path, mode, flags in result["events"]
        if event == "open" and flags is not None and flags & (os.O_WRONLY | os.O_RDWR)
    ]
    assert writes, result["events"]
    for (
        path,
        flags,
    ) in writes:  # a new file, made with its mode (os.open), never an existing one opened to write
        assert flags & os.O_CREAT and flags & os.O_EXCL, (path, flags)
        assert Path(path).name != "passwords.json", path  # written beside it, then renamed over it
    assert not [e for e in result["events"] if e[0] == "os.chmod"]
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["passwords.json"]  # no temporary file left


def test_write_secret_replaces_a_file_at_once(tmp_path):
    from transition.local.secret_files import write_secret

    target = tmp_path / "secret"
    target.write_text("old")
    reader = target.open()  # a reader holding the old file keeps reading the old content, whole
    write_secret(target, "new")
    assert reader.read() == "old" and target.read_text() == "new"
    reader.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
