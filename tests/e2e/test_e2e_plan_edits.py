"""The workbook edited during a running dry run (docs/plan-edits.md).

A running run follows the latest valid plan (Airflow's local DAG bundle is not versioned): a changed
label shows in the requests asked from then on, and an added step joins the running run. A request
already asked keeps its text.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
DAG_ID = "edit_dr1"
ACTORS = [
    ["ID", "Name", "Email"],
    ["alice", "Alice Martin", "alice@example.com"],
    ["bob", "Bob Peeters", "bob@example.com"],
]


def steps(*extra):
    return [
        ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner"],
        ["A", "Freeze billing", "AC", "ALL", "", "alice"],
        ["B", "Migrate EAN register", "CO", "ALL", "A", "bob"],
        *extra,
    ]


def write_plan(folder, step_rows):
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {"Steps": step_rows, "Actors": ACTORS, "DryRuns": [["Name", "D-day"], ["DR1", today]]},
    )


def test_label_change_and_added_step_during_a_run(tmp_path):
    write_plan(tmp_path, steps())
    write_config(tmp_path / "config.yaml", "plan.xlsx", name="edit")
    plan = load_plan(tmp_path / "config.yaml").plan
    with AirflowServer(
        tmp_path / "airflow", tmp_path / "config.yaml", airflow_users(plan)
    ) as server:
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)
        assert server.answer_when_asked("alice", DAG_ID, run_id, "A", "Start").status_code == 200

        edited = steps(["C", "Check the register", "CO", "ALL", "A", "alice"])
        edited[2][1] = "Migrate the EAN register (v2)"
        write_plan(tmp_path, edited)
        with server.client("admin") as admin:
            # What "Reparse Dag" on the DAG's page does (otherwise the next periodic parse, within 30 s).
            file_token = admin.get(f"/api/v2/dags/{DAG_ID}/details").json()["file_token"]
            reparse = admin.put(f"/api/v2/parseDagFile/{file_token}")
            assert reparse.status_code == 201, reparse.text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                tasks = {
                    t["task_id"] for t in admin.get(f"/api/v2/dags/{DAG_ID}/tasks").json()["tasks"]
                }
                if "C" in tasks:
                    break
                time.sleep(2)
            assert "C" in tasks, server.tail()
            a_subject = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "A"}
            ).json()["hitl_details"][0]["subject"]
        assert a_subject == "A · Freeze billing"  # asked before the edit: unchanged

        assert server.answer_when_asked("alice", DAG_ID, run_id, "A", "Close").status_code == 200
        assert server.answer_when_asked("bob", DAG_ID, run_id, "B", "Close").status_code == 200
        assert server.answer_when_asked("alice", DAG_ID, run_id, "C", "Close").status_code == 200
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        with server.client("admin") as admin:
            details = admin.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails").json()[
                "hitl_details"
            ]
        subjects = {d["task_instance"]["task_id"]: d["subject"] for d in details}
        assert subjects["B"] == "B · Migrate the EAN register (v2)"
        assert subjects["C"] == "C · Check the register"
