"""Backup and restore of a half-run dry run, on make run's embedded PostgreSQL and on production's
PostgreSQL; and an earlier make run's SQLite history moved into the embedded PostgreSQL.

A dry run is played half-way (a step closed with a comment, one started, transferred and given a
blocking defect); ``transition backup`` copies the database; a second Airflow starts on a fresh
database into which ``transition restore`` put the copy. Everything is there as before, and the run
goes on to the end from where it was.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from airflow_server import FLAVOURS, AirflowServer
from conftest import write_config, write_xlsx
from transition.local.embedded_database import EmbeddedPostgres
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
DAG_ID = "bk_dr1"


def write_plan(folder):
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Duration"],
                ["A", "Freeze billing", "AC", "ALL", "", "alice", "2h"],
                ["B", "Migrate EAN register", "CO", "ALL", "A", "bob", "2h"],
                ["C", "Smoke tests", "DC", "ALL", "B", "alice", "2h"],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Billing", "carol", ""],
                ["bob", "Bob Peeters", "bob@example.com", "Market", "carol", ""],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "", ""],
                ["frank", "Frank Claes", "frank@example.com", "Market", "carol", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="bk")


def snapshot(server: AirflowServer, run_id: str) -> dict:
    run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
    with server.client("admin") as admin:
        instances = admin.get(f"{run_url}/taskInstances").json()["task_instances"]
        details = admin.get(f"{run_url}/hitlDetails").json()["hitl_details"]
        return {
            # The run's watch wakes every few seconds: its state is a matter of timing, not of history.
            "states": {t["task_id"]: t["state"] for t in instances if t["task_id"] != "_watch"},
            "notes": {t["task_id"]: t["note"] for t in instances},
            "asked": {
                d["task_instance"]["task_id"]: (
                    [u["id"] for u in d["assigned_users"]],
                    d["response_received"],
                )
                for d in details
            },
            "closed": admin.get(f"{run_url}/taskInstances/A/xcomEntries/closed").json()["value"],
            "defects": [
                (d["task_id"], d["title"], d["status"])
                for d in admin.get(f"{plugin}/defects").json()["defects"]
            ],
            "transfers": [
                (t["task_id"], t["from_user"], t["to_user"])
                for t in admin.get(f"{plugin}/transfers").json()["transfers"]
            ],
        }


def play_half(first: AirflowServer) -> tuple[str, dict]:
    """A closed with a comment, B started, transferred to Frank and given a blocking defect; the
    run's id and its snapshot."""
    first.wait_for_dag(DAG_ID)
    run_id = first.trigger(DAG_ID)
    assert (
        first.answer_when_asked(
            "alice", DAG_ID, run_id, "A", "Close", params={"comment": "frozen"}
        ).status_code
        == 200
    )
    assert first.answer_when_asked("bob", DAG_ID, run_id, "B", "Start").status_code == 200
    plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
    with first.client("bob") as bob:
        assert (
            bob.post(
                f"{plugin}/steps/B/transfer", json={"to": "frank", "message": "yours"}
            ).status_code
            == 200
        )
        defect = bob.post(
            f"{plugin}/steps/B/defects", json={"title": "Counts differ", "severity": "blocking"}
        )
        assert defect.status_code == 201
    first.wait_until_asked(DAG_ID, run_id, "B")  # B parked again, for Close
    first.wait_for_state(DAG_ID, run_id, "B", "awaiting_input")
    before = snapshot(first, run_id)
    assert before["states"]["A"] == "success" and before["closed"]["comment"] == "frozen"
    assert before["defects"] == [("B", "Counts differ", "open")] and before["transfers"] == [
        ("B", "bob", "frank")
    ]
    return run_id, before


def finish(second: AirflowServer, run_id: str) -> None:
    """The run goes on from where it was: Frank (transferee) cannot close over the defect, then can."""
    plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
    with second.client("frank") as frank:
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
        assert (
            frank.patch(
                f"{run_url}/taskInstances/B/-1/hitlDetails", json={"chosen_options": ["Close"]}
            ).status_code
            == 409
        )
        defect_id = frank.get(f"{plugin}/defects").json()["defects"][0]["id"]
        assert (
            frank.post(f"{plugin}/defects/{defect_id}/resolve", json={}).status_code == 403
        )  # it blocks him
    with second.client("bob") as bob:
        assert (
            bob.post(f"{plugin}/defects/{defect_id}/resolve", json={}).status_code == 200
        )  # its recorder
    assert second.answer_when_asked("frank", DAG_ID, run_id, "B", "Close").status_code == 200
    assert second.answer_when_asked("alice", DAG_ID, run_id, "C", "Close").status_code == 200
    assert second.wait_for_run(DAG_ID, run_id) == "success"


# A backup of a live Airflow can hold a task that was running (the run's watch wakes every few
# seconds): on the restored database no process runs it any more, and Airflow finds it after
# its task heartbeat timeout (5 minutes by default) and tries it again. Sooner here.
QUICK_HEARTBEAT_TIMEOUT = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_backup_and_restore_a_half_run_dry_run(tmp_path, flavour):
    write_plan(tmp_path)
    users = airflow_users(load_plan(tmp_path / "config.yaml").plan)
    backup_file = tmp_path / "backup.db"
    first = AirflowServer(tmp_path / "first", tmp_path / "config.yaml", users, flavour=flavour)
    with first:
        run_id, before = play_half(first)
        done = first.run_cli("backup", str(backup_file))
        assert done.returncode == 0, done.stderr

    second = AirflowServer(
        tmp_path / "second",
        tmp_path / "config.yaml",
        users,
        flavour=flavour,
        queue=first.queue,
        extra_env=QUICK_HEARTBEAT_TIMEOUT,
    )

    def restore() -> None:
        done = second.run_cli("restore", str(backup_file))
        assert done.returncode == 0, done.stderr

    try:
        second.start(prepare=restore)
        second.wait_for_dag(DAG_ID)
        assert snapshot(second, run_id) == before
        finish(second, run_id)
    finally:
        second.stop()
        second.cleanup()


def test_an_earlier_make_runs_sqlite_history_moves_into_the_embedded_postgresql(tmp_path):
    """The path docs/getting-started.md gives: `transition backup --home H --sqlite` of the old SQLite home
    (Airflow stopped), `transition restore --home H` into make run's embedded PostgreSQL."""
    write_plan(tmp_path)
    users = airflow_users(load_plan(tmp_path / "config.yaml").plan)
    old_home, new_home = tmp_path / "old", tmp_path / "new"
    first = AirflowServer(old_home, tmp_path / "config.yaml", users, flavour="standalone-sqlite")
    with first:
        run_id, before = play_half(first)
    moved = tmp_path / "history.db"
    done = first.run_cli("backup", str(moved), "--home", str(old_home), "--sqlite")
    assert done.returncode == 0, done.stderr
    done = first.run_cli("restore", str(moved), "--home", str(new_home))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (new_home / "postgres" / "PG_VERSION").is_file()
    assert EmbeddedPostgres.in_home(new_home).running_pid() is None  # stopped after the command

    second = AirflowServer(
        new_home, tmp_path / "config.yaml", users, extra_env=QUICK_HEARTBEAT_TIMEOUT
    )
    with second:
        second.wait_for_dag(DAG_ID)
        assert snapshot(second, run_id) == before
        finish(second, run_id)
