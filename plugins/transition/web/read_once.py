"""Readers of the same thing at the same moment share one reading, never an older one.

The recap's JSON and timeline of a run are read by every person watching it, each page every
30 s, and the api-server (one worker on ``make run``) computes them one after the other: with many
readers, each would wait for all the others' readings. :func:`read_once` lets the readers that ask
for the same ``key`` while a reading is under way wait for the *next* one, which starts once the
current one ends and serves them all. A reader's answer is thus always read after it asked (what
it would get alone, as fresh), and a reading is never kept once given: nothing to expire.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

WAIT_SECONDS = 120.0  # a reader waits at most this long for another's reading, then reads itself


class _Reading:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.failed = False


_lock = threading.Lock()
_running: dict[Hashable, _Reading] = {}  # key -> the reading under way
_next: dict[Hashable, _Reading] = {}  # key -> the reading that starts when it ends (not begun)


def read_once(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, or the value of a reading of ``key`` that began after this call (shared)."""
    with _lock:
        if key in _next:  # join the next reading: it has not begun, so it starts after we asked
            reading, lead, before = _next[key], False, None
        elif key in _running:  # lead the next one, once the one under way ends
            reading = _next[key] = _Reading()
            lead, before = True, _running[key]
        else:
            reading = _running[key] = _Reading()
            lead, before = True, None
    if not lead:
        if reading.done.wait(WAIT_SECONDS) and not reading.failed:
            return reading.value
        return read()  # the leader failed (its error is its own) or hangs: read alone
    if before is not None:
        before.done.wait(WAIT_SECONDS)
        with _lock:
            if _next.get(key) is reading:
                del _next[key]
            _running[key] = reading
    try:
        reading.value = read()
    except BaseException:
        reading.failed = True
        raise
    finally:
        with _lock:
            if _running.get(key) is reading:
                del _running[key]
        reading.done.set()
    return reading.value
