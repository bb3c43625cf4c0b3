"""A bench-only stack sampler for Airflow's api-server (py-spy is not installed here).

Put this folder first on ``PYTHONPATH`` and set ``TRANSITION_BENCH_SAMPLE`` to a folder: every
process starting Python loads it, and in the api-server (``airflow api-server``) a daemon thread
then looks at every thread's stack every few milliseconds while ``<folder>/ON`` exists, and writes
what it saw to ``<folder>/stacks-<pid>.txt`` every few seconds: how often each function was on a
busy thread's stack, and the commonest innermost stacks (``W|``: threads waiting on a lock, a
queue, a socket). A thread waiting for the GIL counts as busy: read it as where threads are, not as
CPU time. Used for BENCHMARKS.md's "Reading the recap while a dry run moves"::

    TRANSITION_BENCH_SAMPLE=/tmp/sample PYTHONPATH=bench/sampler:plugins \\
        .venv/bin/python bench/recap_read.py --readers 32 ...   # touch /tmp/sample/ON meanwhile
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import traceback

PERIOD = 0.003  # seconds between samples
WRITE_EVERY = 3.0  # seconds between writes of the file
WAITING = {"wait", "get", "select", "recv", "recv_into", "accept", "poll", "sleep", "acquire"}
WAITING_FILES = ("threading.py", "queue.py", "selectors.py", "socket.py", "thread.py")


def _waiting(stack: traceback.StackSummary) -> bool:
    top = stack[-1]
    return top.name in WAITING and top.filename.endswith(WAITING_FILES)


def _line(stack: traceback.StackSummary) -> str:
    return " <- ".join(f"{os.path.basename(f.filename)}:{f.name}" for f in reversed(stack[-12:]))


def _sample(folder: str) -> None:
    busy: collections.Counter[str] = collections.Counter()
    stacks: collections.Counter[str] = collections.Counter()
    samples, written = 0, time.monotonic()
    me = threading.get_ident()
    while True:
        time.sleep(PERIOD)
        if not os.path.exists(os.path.join(folder, "ON")):
            continue
        samples += 1
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            stack = traceback.extract_stack(frame, limit=60)
            if not stack:
                continue
            if _waiting(stack):
                stacks["W| " + _line(stack)] += 1
                continue
            stacks[_line(stack)] += 1
            for name in {f"{os.path.basename(f.filename)}:{f.name}" for f in stack}:
                busy[name] += 1
        if time.monotonic() - written > WRITE_EVERY:
            written = time.monotonic()
            with open(os.path.join(folder, f"stacks-{os.getpid()}.txt"), "w") as out:
                out.write(f"samples {samples}\n== on a busy thread's stack\n")
                out.writelines(f"{n:7d} {name}\n" for name, n in busy.most_common(80))
                out.write("== innermost stacks\n")
                out.writelines(f"{n:7d} {line}\n" for line, n in stacks.most_common(60))


def _start() -> None:
    folder = os.environ.get("TRANSITION_BENCH_SAMPLE")
    if folder and "api-server" in sys.argv:
        threading.Thread(target=_sample, args=(folder,), daemon=True, name="bench-sampler").start()


_start()
