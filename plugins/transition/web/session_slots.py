"""A root middleware that keeps Airflow's api-server from freezing under a burst of requests.

The requests whose route takes a pooled database session of Airflow's go in a few at a time, fewer
than the pool holds: :data:`RESERVE` connections stay free for the event loop's commit,
:data:`GUARD_THREADS` for the step guard's own sessions and :data:`READINGS` for the recap's shared
readings. The others wait their turn without holding anything; a pool without a limit lets every
request through.

How it works: docs/architecture.md, "web/session_slots.py".
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from transition.web.route_matching import matched_route

log = logging.getLogger(__name__)

RESERVE = 2  # the event loop's action-log commit, and one more
GUARD_THREADS = 4  # the step guard's worker threads (step_guard), each with at most one session
READINGS = 2  # the recap's readings under way at once (read_once_async), each with one session
FEWEST_SLOTS = 2


def pool_capacity() -> int | None:
    """How many connections the api-server's database pool allows at once (None: no limit)."""
    # deferred: Airflow's settings, only in the api-server at its first request
    from airflow import settings

    pool = getattr(getattr(settings, "engine", None), "pool", None)
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if not callable(size) or not isinstance(overflow, int):
        return None  # NullPool, SingletonThreadPool: no queue to wait in
    if size() <= 0 or overflow < 0:
        return None  # unlimited
    return int(size()) + overflow


def slots_for(capacity: int | None) -> int | None:
    """How many requests holding a session may run at once (None: no limit)."""
    if capacity is None:
        return None
    return max(FEWEST_SLOTS, capacity - RESERVE - GUARD_THREADS - READINGS)


def takes_a_session(route: Any) -> bool:
    """Whether Airflow's ``route`` (or one of its dependencies) takes a synchronous session."""
    # deferred: Airflow's api modules, only in the api-server
    from airflow.api_fastapi.common.db.common import _get_session

    seen: set[int] = set()
    todo = [getattr(route, "dependant", None)]
    while todo:
        dependant = todo.pop()
        if dependant is None or id(dependant) in seen:
            continue
        seen.add(id(dependant))
        if getattr(dependant, "call", None) is _get_session:
            return True
        todo.extend(getattr(dependant, "dependencies", ()))
    return False


class SessionSlots:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._slots: anyio.Semaphore | None = None
        self._limited: bool | None = None  # decided at the first request, in the event loop
        self._takes: dict[int, bool] = {}  # id(route) -> takes_a_session(route)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not self._limit() or not self._takes_a_session(scope):
            await self.app(scope, receive, send)
            return
        assert self._slots is not None
        async with self._slots:
            await self.app(scope, receive, send)

    def _limit(self) -> bool:
        if self._limited is None:
            capacity = pool_capacity()
            slots = slots_for(capacity)
            self._limited = slots is not None
            if slots is not None:
                self._slots = anyio.Semaphore(slots)
                log.info(
                    "Requests that hold a database session run %d at a time (the pool allows %d)",
                    slots,
                    capacity,
                )
        return self._limited

    def _takes_a_session(self, scope: dict) -> bool:
        app = scope.get("app")
        found = matched_route(app, scope) if app is not None else None
        if found is None:
            return False  # Airflow answers 404 or 405 without a session
        route = found[0]
        key = id(route)
        if key not in self._takes:
            self._takes[key] = takes_a_session(route)
        return self._takes[key]
