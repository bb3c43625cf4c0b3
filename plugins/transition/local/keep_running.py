"""Keep ``airflow standalone`` running: start it again when one of its components stops.

``airflow standalone`` starts the api-server, scheduler, dag-processor and triggerer and shows
their output, but does not restart one that exits. On SQLite (``make run``) under load, a write
can wait past the database's busy timeout, and Airflow's scheduler, triggerer or dag-processor
then exit with "database is locked" (seen in a 500-step benchmark run, BENCHMARKS.md): the dry run
stops moving with no sign in the UI. This watches the components and, when one is gone, stops the
rest and starts Airflow again. Steps waiting for people survive a restart (their state is in the
database); a task running at that moment fails its try and is retried.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import psutil

from transition.local.run_mark import end_marked, note_group

# What a component's command line holds, and its name in messages.
COMPONENTS = {
    "scheduler": "scheduler",
    "dag-processor": "dag-processor",
    "triggerer": "triggerer",
    "api_server": "api-server",
}
CHECK_EVERY = 2.0  # seconds between two looks at the components
# Seconds Airflow gets to stop its components before they are killed. Its own shutdown takes over a
# minute ("Shutting down components"), and LocalExecutor's workers ignore SIGTERM: nothing it would
# save is lost by cutting it short (what people answered is in the database; a task interrupted
# is tried again), and a Ctrl-C gives the prompt back within 15 s.
STOP_TIMEOUT = 8.0
MAX_RESTARTS = 5  # within RESTART_WINDOW: then something is wrong that a restart does not mend
RESTART_WINDOW = 600.0


def components_of(process: psutil.Process) -> dict[str, int]:
    """The live Airflow components that ``process`` (``airflow standalone``) started, by name: pid."""
    found: dict[str, int] = {}
    try:
        children = process.children()
    except psutil.Error:
        return found
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:  # exited; standalone does not reap it
                continue
            words = " ".join(child.cmdline()).split()
        except psutil.Error:
            continue
        for needle, name in COMPONENTS.items():
            if any(word.startswith(needle) for word in words[:4]):
                found.setdefault(name, child.pid)
    return found


def watch(child: subprocess.Popen, *, check_every: float = CHECK_EVERY) -> str | None:
    """Wait until ``child`` exits (None) or one of the components it started is gone (its name)."""
    try:
        process = psutil.Process(child.pid)
    except psutil.NoSuchProcess:  # exited at once
        child.wait()
        return None
    seen: set[str] = set()
    missing_once: set[str] = set()
    while child.poll() is None:
        alive = components_of(process)
        seen |= alive.keys()
        missing = seen - alive.keys()
        if gone := sorted(missing & missing_once):  # missing twice in a row: not a look mid-start
            return gone[0]
        missing_once = missing
        time.sleep(check_every)
    return None


def stop(
    child: subprocess.Popen, *, timeout: float = STOP_TIMEOUT, mark: str | None = None
) -> None:
    """Stop Airflow as Ctrl-C in a terminal does: SIGINT to its process group (``airflow
    standalone``, its components and what they started); after ``timeout`` seconds SIGKILL to
    what is left of the group, and to every process carrying ``mark`` (:mod:`run_mark`: those
    that left the group or outlived their parent)."""
    signal_group(child.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    while signal_group(child.pid, 0) and time.monotonic() < deadline:  # components still stopping
        time.sleep(0.25)
    signal_group(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    if mark is not None:
        end_marked(mark, grace=0.5)


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to a process group; whether it still had a process."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


# Each stops Airflow as Ctrl-C would. Handled explicitly, Ctrl-C too: a Python started with SIGINT
# ignored (a background job of a shell without job control) keeps ignoring it, and the programs it
# starts would inherit that; a handler is reset to the default in them.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def interrupt(signum: int, frame: object) -> None:
    """The handler of :data:`STOP_SIGNALS`: a KeyboardInterrupt, whichever it was."""
    raise KeyboardInterrupt


def keep_running(
    command: Sequence[str],
    env: dict[str, str],
    *,
    say: Callable[[str], None] | None = None,
    check_every: float = CHECK_EVERY,
    mark: str | None = None,
) -> int:
    """Run ``command`` (``airflow standalone``) until it exits by itself or is stopped (Ctrl-C,
    SIGTERM, SIGHUP); start it again when one of its components stops. Returns its exit code.
    ``mark``: the :mod:`run_mark` of the processes to end with it."""
    say = say or (lambda text: print(f"transition: {text}", file=sys.stderr, flush=True))
    restarts: list[float] = []
    while True:
        child = subprocess.Popen(
            list(command), env=env, process_group=0
        )  # a group of its own: see stop()
        if mark is not None:  # for the reaper, should this process be killed outright
            note_group(mark, child.pid)
        previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
        try:
            gone = watch(child, check_every=check_every)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: stop Airflow as Ctrl-C would
            stop(child, mark=mark)
            return 130
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if gone is None:
            return child.returncode
        now = time.monotonic()
        restarts = [at for at in restarts if now - at < RESTART_WINDOW] + [now]
        if len(restarts) > MAX_RESTARTS:
            say(
                f"Airflow's {gone} stopped again: {len(restarts) - 1} restarts in {RESTART_WINDOW / 60:.0f} "
                "minutes; stopping. Its last lines above say why."
            )
            stop(child, mark=mark)
            return 1
        say(
            f"Airflow's {gone} stopped (its last lines above say why); starting Airflow again. Steps "
            "waiting for people keep their state."
        )
        stop(child, mark=mark)
