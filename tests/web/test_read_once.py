"""Readers of the recap at the same moment share one reading that began after they asked, and the
JSON written once is the one FastAPI would write (same values, same OpenAPI entry).

Its speed with many readers on a real Airflow: bench/recap_read.py (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from transition.runs.views import RunView
from transition.web import read_once as module
from transition.web.read_once import read_once, read_once_async
from transition.web.run_api import RUN_VIEW, answer, written
from transition.web.session_slots import READINGS, takes_a_session
from transition.web.step_api import app


class Source:
    """A reading that can be held open; counts its readings, each one numbered when it begins."""

    def __init__(self) -> None:
        self.begun = 0
        self.release = threading.Event()
        self.started = threading.Event()
        self.lock = threading.Lock()

    def read(self) -> tuple[int, float]:
        with self.lock:
            self.begun += 1
            number = self.begun
        began = time.monotonic()
        self.started.set()
        assert self.release.wait(10)
        return number, began


def in_thread(target, results: dict, name: str) -> threading.Thread:
    def run() -> None:
        asked = time.monotonic()
        try:
            results[name] = (asked, target())
        except Exception as error:  # the test looks at it
            results[name] = (asked, error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_one_reader_reads_and_nothing_is_kept():
    source = Source()
    source.release.set()
    assert read_once("k-alone", source.read)[0] == 1
    assert read_once("k-alone", source.read)[0] == 2  # read again: no answer is kept once given
    assert not module._running and not module._next


def test_readers_during_a_reading_share_the_next_one_which_began_after_they_asked():
    source = Source()
    results: dict = {}
    first = in_thread(lambda: read_once("k-shared", source.read), results, "first")
    assert source.started.wait(5)
    late = [
        in_thread(lambda: read_once("k-shared", source.read), results, f"r{i}") for i in range(6)
    ]
    deadline = time.monotonic() + 5
    while len(module._next) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the six have asked
    source.release.set()
    for thread in [first, *late]:
        thread.join(10)
    assert results["first"][1][0] == 1
    shared = {results[f"r{i}"][1] for i in range(6)}
    assert len(shared) == 1  # one reading for the six
    number, began = shared.pop()
    assert number == 2 and source.begun == 2
    assert all(results[f"r{i}"][0] <= began for i in range(6))  # never older than the question
    assert not module._running and not module._next


def test_other_keys_do_not_wait():
    source, other = Source(), Source()
    other.release.set()
    results: dict = {}
    held = in_thread(lambda: read_once("k-held", source.read), results, "held")
    assert source.started.wait(5)
    assert read_once("k-other", other.read)[0] == 1
    source.release.set()
    held.join(10)


def test_a_failed_reading_fails_its_reader_and_the_others_read_alone():
    release, started = threading.Event(), threading.Event()
    calls = []

    def failing() -> str:
        started.set()
        assert release.wait(10)
        raise RuntimeError("database gone")

    def working() -> str:
        calls.append(1)
        return "read alone"

    results: dict = {}
    first = in_thread(lambda: read_once("k-fail", failing), results, "first")
    assert started.wait(5)
    second = in_thread(lambda: read_once("k-fail", failing), results, "second")
    third = in_thread(lambda: read_once("k-fail", working), results, "third")
    time.sleep(0.2)
    release.set()
    for thread in (first, second, third):
        thread.join(10)
    assert isinstance(results["first"][1], RuntimeError)
    assert isinstance(results["second"][1], RuntimeError)  # led the next reading: its own error
    assert results["third"][1] == "read alone"
    assert not module._running and not module._next


async def until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def test_async_readers_share_the_next_reading_and_wait_without_a_thread():
    async def scenario() -> None:
        source = Source()
        threads = anyio.to_thread.current_default_thread_limiter()
        first = asyncio.create_task(read_once_async("a-shared", source.read))
        await until(source.started.is_set)
        asked = time.monotonic()
        late = [asyncio.create_task(read_once_async("a-shared", source.read)) for _ in range(6)]
        await asyncio.sleep(0.2)  # the six have asked, and wait
        assert threads.borrowed_tokens == 1  # the reading's thread: the six hold none
        assert len(module._next_async) == 1
        source.release.set()
        results = await asyncio.gather(first, *late)
        assert results[0][0] == 1
        assert len(set(results[1:])) == 1  # one reading for the six
        number, began = results[1]
        assert number == 2 and source.begun == 2 and began >= asked  # never older than the question
        assert not module._running_async and not module._next_async
        assert (await read_once_async("a-shared", source.read))[0] == 3  # nothing kept

    asyncio.run(scenario())


def test_async_a_failed_reading_fails_its_reader_and_the_others_read_alone():
    async def scenario() -> None:
        release, started = threading.Event(), threading.Event()

        def failing() -> str:
            started.set()
            assert release.wait(10)
            raise RuntimeError("database gone")

        first = asyncio.create_task(read_once_async("a-fail", failing))
        await until(started.is_set)
        second = asyncio.create_task(read_once_async("a-fail", failing))
        await asyncio.sleep(0.05)
        third = asyncio.create_task(read_once_async("a-fail", lambda: "read alone"))
        await asyncio.sleep(0.1)
        release.set()
        results = await asyncio.gather(first, second, third, return_exceptions=True)
        assert isinstance(results[0], RuntimeError)
        assert isinstance(results[1], RuntimeError)  # led the next reading: its own error
        assert results[2] == "read alone"
        assert not module._running_async and not module._next_async

    asyncio.run(scenario())


def test_distinct_questions_read_a_few_at_a_time_and_wait_without_a_thread():
    """Forty readers naming forty different runs (made-up run ids, timeline filters): at most
    READINGS readings, each with its own database session, run at once; the others wait in the
    event loop, holding neither a thread nor a connection."""

    async def scenario() -> None:
        release = threading.Event()
        lock = threading.Lock()
        running = {"now": 0, "most": 0}

        def read() -> str:
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            assert release.wait(10)
            with lock:
                running["now"] -= 1
            return "read"

        threads = anyio.to_thread.current_default_thread_limiter()
        readers = [asyncio.create_task(read_once_async(("run", n), read)) for n in range(40)]
        await until(lambda: running["now"] == READINGS)
        await asyncio.sleep(0.2)  # the other 38 have asked, and wait for a turn
        assert running["now"] == READINGS and threads.borrowed_tokens == READINGS
        release.set()
        assert await asyncio.gather(*readers) == ["read"] * 40
        assert running["most"] == READINGS
        assert not module._running_async and not module._next_async

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "path",
    ["/api/dags/{dag_id}/runs/{run_id}/steps", "/api/dags/{dag_id}/runs/{run_id}/timeline.svg"],
)
def test_the_recap_readers_hold_no_session_while_they_wait(path):
    """Their route takes no database session (the reading opens its own), so the api-server does
    not let them in a few at a time (session_slots), and they wait in the event loop."""
    route = next(r for r in app.routes if getattr(r, "path", None) == path)
    assert not takes_a_session(route)
    assert asyncio.iscoroutinefunction(route.endpoint)


VIEW: RunView = {
    "plan": "Démo <plan>",
    "dry_run": "DR1",
    "dag_id": "demo_dr1",
    "run_id": "manual__2027-01-16",
    "timezone": "Europe/Brussels",
    "now": "2027-01-16T09:00:00+01:00",
    "states": ["Planned", "Open"],
    "cutover_managers": ["carol"],
    "actors": {"alice": "Alice Ünal", "carol": "Carol"},
    "counts": {"Planned": 1, "Open": 1},
    "planned_end": "2027-01-16T12:00:00+01:00",
    "critical_path": ["S", "T"],
    "forecast_end": None,
    "forecast_critical_path": [],
    "must_end_by": None,
    "forecast_late": False,
    "counts_by_phase": {"CO": {"Planned": 1, "Open": 1}},
    "steps": [
        {
            "id": step,
            "label": "Arrêt \u2028 « base » \x01",
            "phase": "CO",
            "state": state,
            "owner": "alice",
            "owner_name": "Alice Ünal",
            "team": "",
            "responsible": ["alice"],
            "transferred_to": [],
            "planned_start": "2027-01-16T08:00:00+01:00",
            "planned_end": "2027-01-16T09:00:00+01:00",
            "due": None,
            "actual_start": "2027-01-16T08:05:00+01:00" if state == "Open" else None,
            "actual_end": None,
            "forecast_start": None,
            "forecast_end": None,
            "started_by": "alice" if state == "Open" else None,
            "closed_by": None,
            "comment": "",
            "forced_close": None,
            "defects": [
                {
                    "id": 3,
                    "title": "x",
                    "severity": "minor",
                    "status": "open",
                    "created_by": "a",
                    "after_close": False,
                }
            ],
            "open_defects": 1,
            "link": "http://localhost:8080/dags/demo_dr1/runs/r/tasks/S/required_actions",
            "kind": "step",
            "decision": None,
            "skipped_by": None,
            "automation": None,
        }
        for step, state in (("S", "Open"), ("T", "Planned"))
    ],
    "gates_ahead": [],
    "confidence": {
        "draws": 2000,
        "runs": 3,
        "measured_steps": 1,
        "p50": "2027-01-16T12:10:00+01:00",
        "p80": "2027-01-16T12:35:00+01:00",
        "p95": "2027-01-16T13:05:00+01:00",
        "chance_by_end": 0.742,
        "criticality": [{"step": "T", "share": 1.0}],
        "gates": [
            {
                "gate": "G",
                "label": "Go « base »",
                "fallback_p95_minutes": 95,
                "latest_safe": "2027-01-16T10:25:00+01:00",
            }
        ],
    },
    "run_defects": [],
    "plan_of_record": {
        "workbook": "plan « base ».xlsx",
        "workbook_sha256": "a" * 64,
        "config": None,
        "config_sha256": None,
        "format": 2,
        "dag_version_id": None,
        "recorded_at": "2027-01-16T08:00:03+01:00",
        "files": {
            "workbook": {
                "name": "plan « base ».xlsx",
                "size": None,
                "sha256": None,
                "kept": False,
                "why": "unreadable",
            }
        },
        "changes": {
            "changed": True,
            "compared": True,
            "added": ["T"],
            "removed": [],
            "durations": [{"step": "S", "before_minutes": 30.0, "after_minutes": 45.5}],
            "since": "2027-01-16T08:30:00+01:00",
            "since_from": "dag_version",
            "since_version": 4,
            "while_running": True,
        },
    },
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Starlette's TestClient on httpx
def test_the_json_written_once_is_what_fastapi_would_write():
    plain = FastAPI()

    @plain.get("/view")
    def view() -> RunView:
        return VIEW

    expected = TestClient(plain).get("/view")
    body = RUN_VIEW.dump_json(RUN_VIEW.validate_python(VIEW))
    assert json.loads(body) == json.loads(expected.content) == json.loads(json.dumps(VIEW))
    assert list(json.loads(body)["steps"][0]) == list(json.loads(expected.content)["steps"][0])


@pytest.mark.parametrize("path", ["/api/dags/{dag_id}/runs/{run_id}/steps"])
def test_the_openapi_still_declares_the_run_view(path):
    answer = app.openapi()["paths"][path]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunView"
    }


def asking(accept: str) -> Request:
    return Request({"type": "http", "headers": [(b"accept-encoding", accept.encode())]})


def test_an_answer_compressed_once_is_what_the_api_server_would_send():
    body = json.dumps(VIEW).encode() * 20
    bodies = written(body)
    packed = answer(
        asking("gzip, deflate"), bodies, "application/json", {"Cache-Control": "no-store"}
    )
    assert gzip.decompress(packed.body) == body
    assert packed.headers["content-encoding"] == "gzip"  # the api-server's gzip lets it through
    assert packed.headers["cache-control"] == "no-store"
    plain = answer(asking("identity"), bodies, "application/json")
    assert plain.body == body and "content-encoding" not in plain.headers
    small = written(b"{}")  # under the api-server's minimum: sent as it is, to everyone
    assert answer(asking("gzip"), small, "application/json").body == b"{}"
    assert "content-encoding" not in answer(asking("gzip"), small, "application/json").headers
