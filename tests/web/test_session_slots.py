"""Requests holding a database session go into Airflow a few at a time (transition.web.session_slots).

Which routes take a session is read from Airflow's real app; the limit is checked on a burst of
requests through the middleware, timed by an inner app that counts how many run at once. That the
limit keeps a real api-server answering is the 40-owner burst of tests/e2e/test_make_run.py.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from transition.web import session_slots
from transition.web.route_matching import matched_route
from transition.web.session_slots import (
    GUARD_THREADS,
    READINGS,
    RESERVE,
    SessionSlots,
    pool_capacity,
    slots_for,
    takes_a_session,
)

RUN = "/api/v2/dags/d/dagRuns/manual__1"
TI = "01a22bdd-2934-73ed-a1c2-b4fb6ecdc339"


def scope(app: Any, method: str, path: str) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "app": app,
    }


@pytest.mark.parametrize(
    ("method", "path", "takes"),
    [
        ("PATCH", f"{RUN}/taskInstances/S01/-1/hitlDetails", True),  # an answer
        ("GET", f"{RUN}/taskInstances", True),
        ("POST", "/api/v2/dags/d/dagRuns", True),
        # the workers' Execution API (versioned by Cadwyn), which the freeze stopped too
        ("PATCH", f"/execution/task-instances/{TI}/state", True),
        ("POST", f"/execution/hitlDetails/{TI}", True),
        ("GET", "/api/v2/version", False),
        ("GET", "/api/v2/no/such/route", False),
    ],
)
def test_the_routes_that_take_a_session_are_read_from_airflows_app(
    airflow_app, method, path, takes
):
    found = matched_route(airflow_app, scope(airflow_app, method, path))
    assert (found is not None and takes_a_session(found[0])) is takes


def test_the_slots_leave_room_for_the_event_loop_the_guard_and_the_recaps_readings():
    assert slots_for(15) == 15 - RESERVE - GUARD_THREADS - READINGS  # Airflow's default pool: 7
    assert slots_for(None) is None  # no limit in the pool: none here
    assert slots_for(3) == session_slots.FEWEST_SLOTS


def test_the_capacity_is_the_real_engines_pool(tmp_path, monkeypatch):
    from airflow import settings

    queued = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}", pool_size=5, max_overflow=10)
    monkeypatch.setattr(settings, "engine", queued)
    assert pool_capacity() == 15
    monkeypatch.setattr(
        settings, "engine", sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}", poolclass=NullPool)
    )
    assert pool_capacity() is None
    monkeypatch.setattr(
        settings,
        "engine",
        sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}", pool_size=5, max_overflow=-1),
    )
    assert pool_capacity() is None


def burst(app: Any, requests: list[tuple[str, str]]) -> dict[str, int]:
    """Send ``requests`` at once through SessionSlots; the most that ran at once, per path kind."""
    running = {"session": 0, "none": 0}
    most = {"session": 0, "none": 0}

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        kind = "none" if scope["path"].endswith("/version") else "session"
        running[kind] += 1
        most[kind] = max(most[kind], running[kind])
        await anyio.sleep(0.02)
        running[kind] -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    slots = SessionSlots(inner)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for method, path in requests:
                group.start_soon(slots, scope(app, method, path), receive, send)

    anyio.run(main)
    return most


def test_a_burst_runs_a_few_at_a_time_and_session_less_requests_are_not_held(
    airflow_app, tmp_path, monkeypatch
):
    from airflow import settings

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}", pool_size=5, max_overflow=10)
    monkeypatch.setattr(settings, "engine", engine)
    answers = [("PATCH", f"{RUN}/taskInstances/S{n:02d}/-1/hitlDetails") for n in range(40)]
    versions = [("GET", "/api/v2/version")] * 20
    most = burst(airflow_app, answers + versions)
    assert most["session"] == slots_for(15) == 7
    assert most["none"] == 20  # not held back

    monkeypatch.setattr(
        settings, "engine", sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}", poolclass=NullPool)
    )
    assert burst(airflow_app, answers)["session"] == 40  # no pool limit: no slots
