"""Readers of the same thing at the same moment share one reading, never an older one.

:func:`read_once` lets the readers that ask for the same ``key`` while a reading is under way wait
for the *next* one, which serves them all; a reading is never kept once given.
:func:`read_once_async` does the same for an ``async`` route: its readers wait in the event loop,
and at most :data:`~.session_slots.READINGS` of its readings run at once.

How it works: docs/architecture.md, "web/read_once.py".
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import anyio.to_thread

from transition.web.session_slots import READINGS

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


# read_once_async's readings, per event loop (the api-server has one; tests may run several):
# (id(loop), key) -> the reading under way, and the one that starts when it ends (not begun).
# The readings' turns, per event loop (the api-server has one per worker; tests run others).
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def _read_in_turn(loop: asyncio.AbstractEventLoop, read: Callable[[], T]) -> T:
    """``read()`` in a worker thread once one of the :data:`READINGS` turns is free; waiting for a
    turn holds no thread."""
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(READINGS)
    async with turns:
        return await anyio.to_thread.run_sync(read)


# Only the event loop's thread touches them: no lock.
_running_async: dict[tuple[int, Hashable], asyncio.Future] = {}
_next_async: dict[tuple[int, Hashable], asyncio.Future] = {}


async def read_once_async(key: Hashable, read: Callable[[], T]) -> T:
    """``read()`` in a worker thread, or the value of a reading of ``key`` that began after this
    call (shared); a reader waiting for it holds no thread."""
    loop = asyncio.get_running_loop()
    slot = (id(loop), key)
    if slot in _next_async:  # join the next reading: it has not begun, so it starts after we asked
        shared = _next_async[slot]
        try:
            ok, value = await asyncio.wait_for(asyncio.shield(shared), WAIT_SECONDS)
        except TimeoutError:
            ok, value = False, None
        if ok:
            return value
        return await _read_in_turn(loop, read)  # the leader failed or hangs: read alone
    reading: asyncio.Future = loop.create_future()  # (ok, value) once read
    before = _running_async.get(slot)
    if before is not None:  # lead the next one, once the one under way ends
        _next_async[slot] = reading
    else:
        _running_async[slot] = reading
    try:
        if before is not None:
            try:
                await asyncio.wait_for(asyncio.shield(before), WAIT_SECONDS)
            except TimeoutError:
                pass
            finally:
                if _next_async.get(slot) is reading:
                    del _next_async[slot]
            _running_async[slot] = reading
        value = await _read_in_turn(loop, read)
        reading.set_result((True, value))
        return value
    finally:
        if not reading.done():  # failed or cancelled: its error is its own, the others read alone
            reading.set_result((False, None))
        if _running_async.get(slot) is reading:
            del _running_async[slot]
