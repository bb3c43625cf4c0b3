"""The settings of ``transition standalone`` (``make run``): the embedded PostgreSQL by default,
SQLite in WAL mode with ``--sqlite``; a database of the user's own wins."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from transition.local.embedded_database import EmbeddedPostgres
from transition.local.standalone import (
    airflow_environment,
    choose_database,
    parallelism,
    prepare_sqlite,
    sqlite_path,
)


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


def test_with_sqlite_the_database_is_a_file_in_airflows_home(tmp_path: Path):
    env = airflow_environment(tmp_path, 8080, tmp_path / "config.yaml", users={"admin": "admin"})
    url = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert url.get_backend_name() == "sqlite" and Path(url.database) == sqlite_path(tmp_path)
    assert (
        not url.query
    )  # pysqlite's 5 s busy timeout: a longer one outlasts the workers' API timeout


def test_the_default_is_the_embedded_postgresql_and_ones_own_database_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    url, server = choose_database(tmp_path, sqlite=False)
    assert url is None and server == EmbeddedPostgres(tmp_path.resolve() / "postgres")
    env = airflow_environment(
        tmp_path,
        8080,
        tmp_path / "config.yaml",
        users={"admin": "admin"},
        database_url=server.url(),
    )
    parsed = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert parsed.get_backend_name() == "postgresql" and parsed.database == "airflow"
    assert parsed.query["host"] == str(server.socket_dir) and parsed.port is None  # no TCP
    assert choose_database(tmp_path, sqlite=True) == (None, None)
    own = "postgresql+psycopg2://postgres@127.0.0.1:5432/cutover"
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", own)
    for sqlite in (False, True):  # the user's own database wins over both
        assert choose_database(tmp_path, sqlite=sqlite) == (own, None)


def test_parallelism_follows_the_machine_on_postgresql_only(monkeypatch: pytest.MonkeyPatch):
    assert parallelism("sqlite:////x/airflow.db") == 8
    for cores, slots in ((1, 8), (2, 8), (4, 16), (8, 32), (64, 32)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert parallelism("postgresql+psycopg2://postgres@/airflow?host=/s") == slots
