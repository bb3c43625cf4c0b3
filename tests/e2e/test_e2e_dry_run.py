"""A whole dry run on a real Airflow, owners played through the REST API.

A 20-step plan with planned starts about a minute ahead (written right before the run) is
triggered through REST; each step is started and closed by its owner, logged in as that user,
through the HITL endpoint. Checked: no step asks before its prerequisites are closed or before its
planned start, a stranger is refused, marking a task "success" closes it, and the run ends in
success.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from pathlib import Path

import pytest

from airflow_server import FLAVOURS, AirflowServer, dump
from conftest import write_config, write_xlsx
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DAG_ID = "e2e_dr1"
ANSWER_DELAY = 0.0  # seconds between a request appearing and the answer: people answer at once
PREREQUISITES = {
    "S01": "",
    "S02": "",
    "S03": "S01",
    "S04": "S01, S02",
    "S05": "S03",
    "S06": "S04",
    "S07": "S05, S06",
    "S08": "S07",
    "S09": "S07",
    "S10": "S08",
    "S11": "S09",
    "S12": "S10, S11",
    "S13": "S12",
    "S14": "S12",
    "S15": "S13",
    "S16": "S14",
    "S17": "S15, S16",
    "S18": "S17",
    "S19": "S17",
    "S20": "S18, S19",
}
OWNERS = ["alice", "bob", "carol"]
MARKED_SUCCESS = "S19"  # closed by "mark success" instead of the Close answer


def relative(moment: dt.datetime, d_day: dt.date) -> str:
    return f"D{(moment.date() - d_day).days:+d} {moment:%H:%M}"


def write_plan(folder: Path) -> dict[str, dt.datetime]:
    now = dt.datetime.now(ZONE)
    d_day = now.date()
    # The first whole minute at least 30 s ahead (a Start has minute precision): written right
    # before the run is triggered, so S01 waits for it.
    first = (now + dt.timedelta(seconds=30)).replace(second=0, microsecond=0) + dt.timedelta(
        minutes=1
    )
    starts = {"S01": first, "S07": first + dt.timedelta(minutes=1)}
    steps = [["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Start", "Duration", "Owner"]]
    for number, (step_id, prerequisites) in enumerate(PREREQUISITES.items()):
        start = relative(starts[step_id], d_day) if step_id in starts else ""
        steps.append(
            [
                step_id,
                f"Step {step_id}",
                "CO",
                "ALL",
                prerequisites,
                start,
                "1m",
                OWNERS[number % 3],
            ]
        )
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": steps,
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice", "alice@example.com", "T", "dave", "dave"],
                ["bob", "Bob", "bob@example.com", "T", "dave", "dave"],
                ["carol", "Carol", "carol@example.com", "T", "dave", "dave"],
                ["dave", "Dave", "dave@example.com", "T", "", ""],
                ["eve", "Eve Stranger", "eve@example.com", "Other", "", ""],
            ],
            "DryRuns": [["Name", "D-day", "End"], ["DR1", d_day, None]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="e2e")
    return starts


def break_workbook(path: Path) -> None:
    import openpyxl

    book = openpyxl.load_workbook(path)
    book["Steps"]["H3"] = "zoe"
    book["Steps"].append(["S99", "Added while broken", "CO", "ALL", "S20", "", "", "alice"])
    book.save(path)


def wait_for_import_error(server: AirflowServer, file_name: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for error in server.import_errors():
            if error["filename"].endswith(file_name):
                return error["stack_trace"]
        time.sleep(2)
    raise TimeoutError(f"no import error for {file_name} after {timeout} s:\n{server.tail()}")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_dry_run_played_by_its_owners(tmp_path, flavour):
    starts = write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    assert plan is not None
    server = AirflowServer(
        tmp_path / "airflow", tmp_path / "config.yaml", airflow_users(plan), flavour=flavour
    )
    with server:
        server.wait_for_dag(DAG_ID)
        starts = write_plan(tmp_path)  # the planned starts counted from now, not the server's start
        server.reparse(DAG_ID)
        admin = server.client("admin")
        owners = {user: server.client(user) for user in OWNERS + ["eve"]}
        assert admin.patch(f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
        triggered = admin.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
        assert triggered.status_code == 200, triggered.text
        run_id = triggered.json()["dag_run_id"]
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"

        answers: dict[str, int] = dict.fromkeys(PREREQUISITES, 0)
        pending_since: dict[str, float] = {}
        first_asked: dict[str, dict] = {}
        stranger_refused = None
        state = None
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            state = admin.get(run_url).json()["state"]
            if state in ("success", "failed"):
                break
            instances = {
                t["task_id"]: t
                for t in admin.get(f"{run_url}/taskInstances", params={"limit": 100}).json()[
                    "task_instances"
                ]
            }
            details = admin.get(f"{run_url}/hitlDetails", params={"limit": 100}).json()[
                "hitl_details"
            ]
            for detail in details:
                step = detail["task_instance"]["task_id"]
                if step not in first_asked:
                    first_asked[step] = {"created_at": detail["created_at"], "instances": instances}
                waiting = (
                    instances[step]["state"] == "awaiting_input" and not detail["response_received"]
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
        assert state == "success", (
            f"run ended {state}: {dump({k: v['state'] for k, v in final.items()})}\n{server.tail()}"
        )

        # The workbook breaks: the problems show as an import error, the DAG stays as it was.
        break_workbook(tmp_path / "plan.xlsx")
        problems = wait_for_import_error(server, "transition_plan_problems.py")
        assert "Steps!H3: unknown owner 'zoe'" in problems and "Traceback" not in problems
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
    schedule = plan.schedules["DR1"].steps
    for step, seen in first_asked.items():
        asked = dt.datetime.fromisoformat(seen["created_at"])
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
