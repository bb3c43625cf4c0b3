"""Every process ``transition standalone`` starts carries a mark in its environment: found by it, all
are stopped, also those that left Airflow's process group or outlived their parent.

Airflow's LocalExecutor workers and task supervisors ignore SIGTERM, and a component that dies
leaves its children to ``init``: a process group or a tree of children misses them. The
environment is inherited by every descendant and is not changed by ``setsid``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path

import psutil

RUN_MARK = "TRANSITION_STANDALONE_RUN"  # set by make run on what it starts, not a setting


def new_mark() -> str:
    return secrets.token_hex(12)


def mail_mark(mark: str) -> str:
    """The mail catcher's mark: Airflow's restarts (which end ``mark``) leave it running."""
    return f"{mark}-mail"


def marked(mark: str, groups: frozenset[int] = frozenset()) -> list[psutil.Process]:
    """The live processes (but this one) whose environment holds ``RUN_MARK=mark``, or that are in
    one of ``groups`` (Airflow's process groups) with "airflow" in their command line: a process
    that sets its title (api-server and executor workers, setproctitle) overwrites the memory
    /proc shows as its environment, and only its group still tells whose it is."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(RUN_MARK) == mark or (
                groups
                and os.getpgid(process.pid) in groups
                and "airflow" in " ".join(process.cmdline())
            ):
                found.append(process)
        except (psutil.Error, OSError):  # gone, or not ours to read
            continue
    return found


def group_file_for(mark: str) -> Path:
    """Where ``transition standalone`` notes the process group of each Airflow it starts."""
    return Path(tempfile.gettempdir()) / f"transition-run-{mark}.groups"


def note_group(mark: str, group: int) -> None:
    with group_file_for(mark).open("a", encoding="utf-8") as file:
        file.write(f"{group}\n")


def noted_groups(mark: str) -> frozenset[int]:
    try:
        text = group_file_for(mark).read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(int(line) for line in text.split() if line.isdigit())


def end_marked(mark: str, *, grace: float = 3.0) -> int:
    """SIGTERM to every marked process (and those of the Airflow process groups noted for the
    mark), then SIGKILL to those still there after ``grace`` seconds; how many there were."""
    groups = noted_groups(mark)
    processes = marked(mark, groups)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _gone, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    deadline = time.monotonic() + 5  # a process forked while we looked
    while (late := marked(mark, groups)) and time.monotonic() < deadline:
        for process in late:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(late, timeout=1)
    return len(processes)
