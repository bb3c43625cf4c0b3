"""The workbook edited during a running dry run (docs/plan-edits.md).

A running run follows the latest valid plan (Airflow's local DAG bundle is not versioned): a changed
label shows in the requests asked from then on, and an added step joins the running run. A request
already asked keeps its text. On the shared standalone server (tests/shared_airflow.py), the EDIT
dry run (EA → EB); the workbook is edited as its cutover manager would, in its cells.
"""

from __future__ import annotations

import time
from pathlib import Path

import openpyxl
import pytest

from shared_airflow import dag_id

pytestmark = pytest.mark.e2e
DAG_ID = dag_id("EDIT")


def edit_workbook(path: Path) -> None:
    """EB's label changes; EC (after EA) is added to the dry run."""
    book = openpyxl.load_workbook(path)
    sheet = book["Steps"]
    header = [cell.value for cell in sheet[1]]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "EB")
    sheet.cell(row, header.index("Label") + 1).value = "Migrate the EAN register (v2)"
    added = dict.fromkeys(header, "")
    added.update({"ID": "EC", "Label": "Check the register", "Phase": "CO", "Dry runs": "EDIT"})
    added.update({"Prerequisites": "EA", "Owner": "alice"})
    sheet.append(list(added.values()))
    book.save(path)


def test_label_change_and_added_step_during_a_run(shared_servers):
    shared = shared_servers.get("standalone")
    with shared.use() as (server, _smtp):
        run_id = server.trigger(DAG_ID)
        assert server.answer_when_asked("alice", DAG_ID, run_id, "EA", "Start").status_code == 200

        edit_workbook(shared.folder / "plan.xlsx")
        # What "Reparse Dag" on the DAG's page does: the parse it asks for carries the edit (with
        # Airflow's default [core] min_serialized_dag_update_interval, 30 s, a parse within half a
        # minute of the plan's last write was thrown away; TUNING sets 1 s). The api-server checks
        # its cached copy of the DAG against the database once that second has passed.
        server.reparse(DAG_ID)
        with server.client("admin") as admin:
            for _ in range(3):
                tasks = {
                    t["task_id"] for t in admin.get(f"/api/v2/dags/{DAG_ID}/tasks").json()["tasks"]
                }
                if "EC" in tasks:
                    break
                time.sleep(1)
            assert "EC" in tasks, (
                f"the parse Reparse asked for did not carry the edit:\n{server.tail()}"
            )
            a_subject = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "EA"}
            ).json()["hitl_details"][0]["subject"]
        assert a_subject == "EA · Freeze billing"  # asked before the edit: unchanged

        assert server.answer_when_asked("alice", DAG_ID, run_id, "EA", "Close").status_code == 200
        assert server.answer_when_asked("bob", DAG_ID, run_id, "EB", "Close").status_code == 200
        assert server.answer_when_asked("alice", DAG_ID, run_id, "EC", "Close").status_code == 200
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        with server.client("admin") as admin:
            details = admin.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails").json()[
                "hitl_details"
            ]
        subjects = {d["task_instance"]["task_id"]: d["subject"] for d in details}
        assert subjects["EB"] == "EB · Migrate the EAN register (v2)"
        assert subjects["EC"] == "EC · Check the register"
