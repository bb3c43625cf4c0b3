"""``python -m transition.local.reaper PID MARK [DATA_DIR SERVER_PID]``: cleans up after a
``transition standalone`` that was killed (``kill -9``, an out-of-memory kill) and so could not.

Started by ``transition standalone`` in a session of its own (a Ctrl-C or a closed terminal does
not reach it). It looks every half second whether process ``PID`` still runs; once it is gone, it
ends every process marked ``MARK`` (:mod:`transition.local.run_mark`) and stops the embedded
PostgreSQL of ``DATA_DIR`` if it is still the server ``SERVER_PID`` (not one a newer ``make run``
started since). After a normal stop there is nothing left to do and it just exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from transition.local.embedded_database import EmbeddedPostgres
from transition.local.run_mark import end_marked, group_file_for, mail_mark

LOOK_EVERY = 0.5  # seconds


def start_reaper(mark: str, server: EmbeddedPostgres | None) -> subprocess.Popen:
    """Start the reaper of this process (its parent)."""
    command = [sys.executable, "-m", "transition.local.reaper", str(os.getpid()), mark]
    if server is not None and (pid := server.running_pid()) is not None:
        command += [str(server.data_dir), str(pid)]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def wait_for_end(pid: int, created: float) -> None:
    while True:
        try:
            process = psutil.Process(pid)
            if process.create_time() != created or process.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(LOOK_EVERY)


def main(argv: list[str]) -> int:
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    pid, mark = int(argv[0]), argv[1]
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        created = -1.0
    if created >= 0:
        wait_for_end(pid, created)
    end_marked(mark)
    end_marked(mail_mark(mark))
    group_file_for(mark).unlink(missing_ok=True)
    if len(argv) >= 4:
        server = EmbeddedPostgres(Path(argv[2]))
        if server.running_pid() == int(argv[3]):
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
