"""A dry run started on the flat package (before the layers) finishes on the layered one.

Airflow keeps, per run, what it stores by import path: the Deadline Alert's callback
(``transition.deadline_mail.notify_dry_run_late`` before the layers), the operators' resume method
names and their kwargs (``answered``, ``{"stage": ...}``). The same Airflow home runs first the code of
the last commit before the layers (``git archive``), then this checkout's.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import os
import subprocess
import tarfile
import time
import zoneinfo
from pathlib import Path

import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from transition.local.standalone import airflow_users
from transition.locations import REPO_ROOT
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
BEFORE_LAYERS = "0efacdb9cc9ee44a4566d5137c22beaae47ee8d1"  # the last commit of the flat package
DAG_ID = "upgrade_dr1"


def old_tree(into: Path) -> Path:
    """The repository's files at the last commit before the layers (needs the git history: a
    shallow clone without that commit skips this test, saying why)."""
    known = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{BEFORE_LAYERS}^{{commit}}"],
        capture_output=True,
        timeout=60,
    )
    if known.returncode != 0:
        pytest.skip(f"this clone lacks commit {BEFORE_LAYERS[:10]} (the flat package): no history")
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(REPO_ROOT),
            "archive",
            "--format=tar",
            BEFORE_LAYERS,
            "plugins",
            "dags",
            "include",
        ],
        capture_output=True,
        timeout=120,
    )
    assert archive.returncode == 0, (
        f"the git history is needed for this test: {archive.stderr.decode()}"
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    assert (into / "plugins" / "transition" / "step_operator.py").exists()
    return into


def write_plan(folder: Path) -> None:
    zone = zoneinfo.ZoneInfo("Europe/Brussels")
    today = dt.datetime.now(zone).date()
    end = dt.datetime.now(zone).replace(tzinfo=None) + dt.timedelta(days=2)
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Duration"],
                ["A", "Stop the market gateway", "AC", "ALL", "", "alice", "2h"],
                ["B", "Back up the databases", "AC", "ALL", "A", "alice", "2h"],
            ],
            "Actors": [
                ["ID", "Name", "Email"],
                ["alice", "Alice Martin", "alice@example.com"],
                ["mia", "Mia Renard", "mia@example.com"],
            ],
            "DryRuns": [["Name", "D-day", "End"], ["DR1", today, end]],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="upgrade",
        cutover_managers=["mia"],
        weekly_report=None,
    )


def answer_on_sqlite(
    server: AirflowServer, run_id: str, step: str, option: str, tries: int = 3
) -> None:
    """Alice answers ``option`` to ``step``. On SQLite, an answer can meet "database is locked" (a
    500 "Database error") while Airflow's components start and each wants the one writer's lock
    (seen in CI: a task's start held it past SQLite's 5 s busy timeout); answering again works (the
    known limitation in docs/limitations.md), as an owner would. Nothing was written by the refused answer: Airflow rolled
    it back, and the step still waits for its answer, which ``answer_when_asked`` checks again."""
    for _ in range(tries):
        answer = server.answer_when_asked("alice", DAG_ID, run_id, step, option)
        if answer.status_code == 200:
            return
        if answer.status_code != 500 or "Database error" not in answer.text:
            break
    time.sleep(5)  # let airflow standalone write out what its api-server said
    pytest.fail(f"{option} {step}: {answer.status_code} {answer.text}\n{server.tail(80)}")


def test_a_run_started_before_the_layers_finishes_after(tmp_path):
    old = old_tree(tmp_path / "old")
    write_plan(tmp_path)
    users = airflow_users(load_plan(tmp_path / "config.yaml").plan)
    home = tmp_path / "airflow"
    # On SQLite (make run --sqlite): the one end-to-end test that keeps it working.
    before = AirflowServer(home, tmp_path / "config.yaml", users, flavour="standalone-sqlite")
    before.env.update(
        {  # the flat package's code, DAG files and templates, and the executor it ran with
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(old / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(old / "plugins"),
            "PYTHONPATH": os.pathsep.join(
                [str(old / "plugins"), os.environ.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep),
        }
    )
    with before:
        before.wait_for_dag(DAG_ID)
        run_id = before.trigger(DAG_ID)
        answer_on_sqlite(before, run_id, "A", "Start")
        # A parks again for Close: a resume stored by the old code, with its stage in kwargs
        before.wait_for_state(DAG_ID, run_id, "A", "awaiting_input")
    import sqlite3

    with sqlite3.connect(home / "airflow.db") as db:
        callbacks = [str(row) for row in db.execute("SELECT * FROM callback")]
    assert any("transition.deadline_mail.notify_dry_run_late" in str(c) for c in callbacks), (
        callbacks
    )

    # this checkout, same database
    after = AirflowServer(home, tmp_path / "config.yaml", users, flavour="standalone-sqlite")
    with after:
        for step in ("A", "B"):
            answer_on_sqlite(after, run_id, step, "Close")
        assert after.wait_for_run(DAG_ID, run_id) == "success"
    # What the triggerer imports when the stored deadline fires: the same callback
    from transition.notifications.deadline_mail import notify_dry_run_late

    module, _, name = "transition.deadline_mail.notify_dry_run_late".rpartition(".")
    assert getattr(importlib.import_module(module), name) is notify_dry_run_late
