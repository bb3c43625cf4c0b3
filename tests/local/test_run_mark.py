"""What ``transition standalone`` starts is found by its mark and ended, also a process that ignores
SIGTERM or left its group; a ``transition standalone`` killed outright is cleaned up by its reaper,
which stops its embedded server but never a newer one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from transition.local.embedded_database import EmbeddedPostgres
from transition.local.run_mark import RUN_MARK, end_marked, mail_mark, marked, new_mark

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition, limit: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"not within {limit} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_marked_processes_are_ended_even_when_they_ignore_sigterm_or_left_the_group():
    mark = new_mark()
    env = {**os.environ, RUN_MARK: mark}
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], env=env)
    elsewhere = subprocess.Popen(  # its own session: no group signal reaches it
        [sys.executable, "-c", STUBBORN], env=env, start_new_session=True
    )
    unmarked = subprocess.Popen([sys.executable, "-c", STUBBORN])
    other_mark = subprocess.Popen([sys.executable, "-c", STUBBORN], env={**env, RUN_MARK: "x"})
    try:
        wait_until(lambda: len(marked(mark)) == 2, 10)
        assert end_marked(mark, grace=0.5) == 2
        # (psutil reaps our own children when it waits for them: their exit code is its)
        assert not alive(stubborn.pid) and not alive(elsewhere.pid)
        assert unmarked.poll() is None and other_mark.poll() is None
    finally:
        for process in (stubborn, elsewhere, unmarked, other_mark):
            process.kill()
            process.wait()


PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from transition.local.embedded_database import EmbeddedPostgres
    from transition.local.reaper import start_reaper
    from transition.local.run_mark import RUN_MARK, mail_mark
    mark, data_dir = sys.argv[1], sys.argv[2]
    server = EmbeddedPostgres(Path(data_dir)) if data_dir else None
    if server:
        server.start()
    stub = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    pids = [
        subprocess.Popen([sys.executable, "-c", stub], env={**os.environ, RUN_MARK: m},
                         start_new_session=True).pid
        for m in (mark, mail_mark(mark))
    ]
    start_reaper(mark, server)
    print(*pids, server.running_pid() if server else 0, flush=True)
    time.sleep(120)
    """
)


def start_parent(mark: str, data_dir: Path | None) -> tuple[subprocess.Popen, list[int], int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, mark, str(data_dir or "")],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = parent.stdout.readline().split()
    assert len(line) == 3, f"the parent did not start: {line}"
    *children, server_pid = (int(word) for word in line)
    return parent, children, server_pid


def test_the_reaper_cleans_up_after_a_killed_make_run(tmp_path: Path):
    mark = new_mark()
    data_dir = tmp_path / "postgres"
    parent, children, server_pid = start_parent(mark, data_dir)
    try:
        assert all(alive(pid) for pid in [*children, server_pid])
        parent.kill()  # kill -9: no chance to clean up itself
        parent.wait()
        took = wait_until(lambda: not any(alive(pid) for pid in [*children, server_pid]), 20)
        assert took < 20
        assert EmbeddedPostgres(data_dir).running_pid() is None
    finally:
        end_marked(mark)
        end_marked(mail_mark(mark))
        EmbeddedPostgres(data_dir).stop()


def test_the_reaper_leaves_a_newer_server_of_the_same_folder_alone(tmp_path: Path):
    mark = new_mark()
    server = EmbeddedPostgres(tmp_path / "postgres")
    parent, _children, first_pid = start_parent(mark, server.data_dir)
    try:
        server.stop()
        server.start()  # a newer make run's server, in the same folder
        newer = server.running_pid()
        assert newer is not None and newer != first_pid
        parent.kill()
        parent.wait()
        wait_until(lambda: not marked(mark), 20)
        time.sleep(1)  # the reaper has looked at the server by now
        assert server.running_pid() == newer
    finally:
        end_marked(mark)
        end_marked(mail_mark(mark))
        server.stop()
