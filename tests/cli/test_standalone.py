"""The embedded default's settings (``transition standalone``, ``make run``): SQLite in WAL mode;
a database of the user's own wins."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from transition.cli.standalone import airflow_environment, prepare_sqlite, sqlite_path


def test_prepare_sqlite_sets_write_ahead_log_and_keeps_data(tmp_path: Path):
    home = tmp_path / "home"
    prepare_sqlite(home)
    with sqlite3.connect(sqlite_path(home)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.execute("CREATE TABLE kept (value TEXT)")
        connection.execute("INSERT INTO kept VALUES ('restored run')")
    connection.close()
    prepare_sqlite(home)  # again, on a database with data (e.g. after `transition restore`)
    with sqlite3.connect(sqlite_path(home)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT value FROM kept").fetchall() == [("restored run",)]
    connection.close()


def test_prepare_sqlite_converts_a_rollback_journal_database(tmp_path: Path):
    path = sqlite_path(tmp_path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()
    prepare_sqlite(tmp_path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_the_embedded_default_is_sqlite_in_airflows_home(tmp_path: Path):
    env = airflow_environment(tmp_path, 8080, tmp_path / "config.yaml", users={"admin": "admin"})
    url = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert url.get_backend_name() == "sqlite" and Path(url.database) == sqlite_path(tmp_path)
    assert (
        not url.query
    )  # pysqlite's 5 s busy timeout: a longer one outlasts the workers' API timeout


def test_a_database_of_ones_own_wins(tmp_path: Path):
    own = "postgresql+psycopg2://postgres@127.0.0.1:5432/cutover"
    env = airflow_environment(
        tmp_path,
        8080,
        tmp_path / "config.yaml",
        users={"admin": "admin"},
        extra={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": own},
    )
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == own
