"""A whole dry run on a real Airflow, owners played through the REST API.

A 20-step plan (the DRY dry run of the shared servers, tests/shared_airflow.py) is triggered
through REST. Two steps have the same planned start, 40 s ahead to the second (written right
before the run): S01, which waits for nothing else, and S07, whose prerequisites (a
chain of four steps) are closed before then. Each step is started and closed by its owner, logged
in as that user, through the HITL endpoint. Checked: no step asks before its prerequisites are
closed or before its planned start, a stranger is refused, marking a task "success" closes it, and
the run ends in success. Then the workbook breaks: the problems show, the DAG stays as it was.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from pathlib import Path

import pytest

from airflow_server import FLAVOURS, AirflowServer, dump
from shared_airflow import DRY_STEPS, dag_id
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DAG_ID = dag_id("DRY")
ANSWER_DELAY = 0.0  # seconds between a request appearing and the answer: people answer at once
PREREQUISITES = DRY_STEPS
OWNERS = ["alice", "bob", "carol"]
MARKED_SUCCESS = "S19"  # closed by "mark success" instead of the Close answer


def planned_starts() -> dict[str, dt.datetime]:
    """40 s ahead, to the second (a Start may say its seconds), counted when the plan is written
    right before the run is triggered: S01 waits for it, and so does S07, whose four
    prerequisites (S02 → S03 → S05, S02 → S04 → S06) are closed before (both checked below)."""
    first = (dt.datetime.now(ZONE) + dt.timedelta(seconds=40)).replace(microsecond=0)
    return {"S01": first, "S07": first}


def break_workbook(path: Path) -> str:
    """An unknown owner on S02 and a step added while broken; returns the owner cell's name."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book["Steps"]
    header = [cell.value for cell in sheet[1]]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "S02")
    owner = sheet.cell(row, header.index("Owner") + 1)
    owner.value = "zoe"
    added = dict.fromkeys(header, "")
    added.update({"ID": "S99", "Label": "Added while broken", "Phase": "CO"})
    added.update({"Dry runs": "DRY", "Prerequisites": "S20", "Owner": "alice"})
    sheet.append(list(added.values()))
    book.save(path)
    return owner.coordinate


def wait_for_import_error(
    server: AirflowServer, file_name: str, containing: str, timeout: float = 120
) -> str:
    """The import error of ``file_name`` once it says ``containing`` (an earlier one may be
    listed until the file is parsed again)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        for error in server.import_errors():
            if error["filename"].endswith(file_name):
                seen = error["stack_trace"]
                if containing in seen:
                    return seen
        time.sleep(2)
    raise TimeoutError(
        f"no import error for {file_name} saying {containing!r} after {timeout} s (last: {seen}):"
        f"\n{server.tail()}"
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_dry_run_played_by_its_owners(shared_servers, flavour):
    shared = shared_servers.get(flavour)
    starts = planned_starts()  # counted from now, not from the server's start
    with shared.use(starts) as (server, _smtp):
        plan = load_plan(shared.folder / "config.yaml").plan
        assert plan is not None
        admin = server.client("admin")
        owners = {user: server.client(user) for user in OWNERS + ["eve"]}
        assert admin.patch(f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
        triggered = admin.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
        assert triggered.status_code == 200, triggered.text
        run_id = triggered.json()["dag_run_id"]
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"

        answers: dict[str, int] = dict.fromkeys(PREREQUISITES, 0)
        pending_since: dict[str, float] = {}
        first_asked: dict[str, str] = {}  # step -> when it first asked
        stranger_refused = None
        state = None
        deadline = time.monotonic() + 420
        next_state_check = 0.0
        while time.monotonic() < deadline:
            # One request a look (a request's details carry its task's state), the run's state
            # every 2 s: the observer's reads cost the api-server's CPU, which the suite shares.
            if time.monotonic() >= next_state_check:
                next_state_check = time.monotonic() + 2
                state = admin.get(run_url).json()["state"]
                if state in ("success", "failed"):
                    break
            details = admin.get(f"{run_url}/hitlDetails", params={"limit": 100}).json()[
                "hitl_details"
            ]
            for detail in details:
                step = detail["task_instance"]["task_id"]
                if step not in first_asked:
                    first_asked[step] = detail["created_at"]
                waiting = (
                    detail["task_instance"]["state"] == "awaiting_input"
                    and not detail["response_received"]
                )
                if not waiting:
                    pending_since.pop(step, None)
                    continue
                since = pending_since.setdefault(step, time.monotonic())
                if time.monotonic() - since < ANSWER_DELAY:
                    continue
                if stranger_refused is None:
                    stranger_refused = owners["eve"].patch(
                        f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                        json={"chosen_options": ["Start"]},
                    )
                if step == MARKED_SUCCESS and answers[step] == 1:
                    marked = admin.patch(
                        f"{run_url}/taskInstances/{step}", json={"new_state": "success"}
                    )
                    assert marked.status_code == 200, marked.text
                else:
                    option = "Start" if answers[step] == 0 else "Close"
                    owner = plan.steps[step].owner
                    answer = owners[owner].patch(
                        f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                        json={"chosen_options": [option]},
                    )
                    assert answer.status_code == 200, (step, option, answer.text)
                answers[step] += 1
                pending_since.pop(step, None)
            time.sleep(0.4)

        final = {
            t["task_id"]: t
            for t in admin.get(f"{run_url}/taskInstances", params={"limit": 100}).json()[
                "task_instances"
            ]
        }
        run = admin.get(run_url).json()
        assert state == "success", (
            f"run ended {state}: {dump({k: v['state'] for k, v in final.items()})}\n{server.tail()}"
        )

        # The workbook breaks: the problems show as an import error, the DAG stays as it was.
        cell = break_workbook(shared.folder / "plan.xlsx")
        problems = wait_for_import_error(
            server, "transition_plan_problems.py", f"Steps!{cell}: unknown owner 'zoe'"
        )
        assert "Traceback" not in problems
        dag = admin.get(f"/api/v2/dags/{DAG_ID}").json()
        assert dag["is_stale"] is False and dag["has_import_errors"] is False
        tasks = admin.get(f"/api/v2/dags/{DAG_ID}/tasks").json()["tasks"]
        assert sorted(t["task_id"] for t in tasks if t["task_id"] != "_watch") == sorted(
            PREREQUISITES
        )

    assert stranger_refused is not None and stranger_refused.status_code == 403, (
        stranger_refused.text
    )
    assert all(t["state"] == "success" for t in final.values())
    assert answers == dict.fromkeys(PREREQUISITES, 2)
    schedule = plan.schedules["DRY"].steps
    for step, created_at in first_asked.items():
        asked = dt.datetime.fromisoformat(created_at)
        for upstream in schedule[step].upstream:
            closed = dt.datetime.fromisoformat(final[upstream]["end_date"])
            assert closed <= asked, (
                f"{step} asked at {asked} before {upstream} was closed at {closed}"
            )
        if step in starts:
            assert asked >= starts[step], (
                f"{step} asked at {asked}, before its planned start {starts[step]}"
            )
    assert set(first_asked) == set(PREREQUISITES)
    # The waits above were for the planned start and nothing else: the run began before it, and
    # S07's prerequisites were closed before it (else "not before its start" would prove nothing).
    began = dt.datetime.fromisoformat(run["start_date"])
    assert began < starts["S01"], f"the run began at {began}, after S01's start {starts['S01']}"
    for upstream in schedule["S07"].upstream:
        closed = dt.datetime.fromisoformat(final[upstream]["end_date"])
        assert closed < starts["S07"], f"{upstream} closed at {closed}, after S07's start"
