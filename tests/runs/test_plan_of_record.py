"""The plan of record (transition.runs.plan_of_record): what a run records of its plan, and what
changed since, from plans compiled here. Written by the watch on a real Airflow:
tests/e2e/test_e2e_evidence.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from conftest import base_sheets, compile_sheets
from transition.plan.serial import FORMAT_VERSION, plan_from_json
from transition.runs.plan_of_record import (
    plan_changes,
    plan_record,
    record_key,
    same_run,
    summary,
    unpack_plan,
)

RUN_AFTER = dt.datetime(2027, 1, 14, 8, 0, tzinfo=dt.UTC)
NOW = RUN_AFTER + dt.timedelta(seconds=3)


def test_the_record_holds_the_hashes_the_key_and_the_plan(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    record = plan_record(plan, "DR1", RUN_AFTER, NOW, "0195-version")
    assert (
        record["workbook_sha256"]
        == hashlib.sha256((tmp_path / "plan.xlsx").read_bytes()).hexdigest()
    )
    assert (
        record["config_sha256"]
        == hashlib.sha256((tmp_path / "config.yaml").read_bytes()).hexdigest()
    )
    assert record["format"] == FORMAT_VERSION and record["key"] == plan.source.key
    assert record["dag_version_id"] == "0195-version" and record["dry_run"] == "DR1"
    assert plan_from_json(unpack_plan(record["plan"])).source.key == plan.source.key
    assert "plan" not in summary(record)
    json.dumps(record)  # it goes to a Variable as JSON
    assert same_run(record, RUN_AFTER)
    assert not same_run(record, RUN_AFTER + dt.timedelta(minutes=1))  # a run triggered again
    assert not same_run({"run_after": "not a time"}, RUN_AFTER)
    assert record_key("resa_dr1", "manual__1") == "transition.plan_of_record/resa_dr1/manual__1"


def test_an_unchanged_plan_says_so(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    changes = plan_changes(plan_record(plan, "DR1", RUN_AFTER, NOW), plan, "DR1")
    assert changes == {"current_key": plan.source.key, "changed": False}


def test_a_plan_changed_while_the_run_ran_says_what_changed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = compile_sheets(tmp_path / "a", base_sheets()).plan
    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[4][6] = "90m"  # CO-110: 30 min -> 90 min
    del steps[5]  # HO-010 removed
    steps.append(["CO-120", "Check flows", "CO", "ALL", "CO-110", "", "20m", "bob", "", ""])
    after = compile_sheets(tmp_path / "b", sheets).plan
    changes = plan_changes(plan_record(before, "DR1", RUN_AFTER, NOW), after, "DR1")
    assert changes["changed"] and changes["compared"]
    assert changes["current_key"] == after.source.key
    assert changes["added"] == ["CO-120"] and changes["removed"] == ["HO-010"]
    assert changes["durations"] == [
        {"step": "CO-110", "before_minutes": 30.0, "after_minutes": 90.0}
    ]


def test_a_record_whose_plan_cannot_be_read_still_says_the_key_changed(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    record = {**plan_record(plan, "DR1", RUN_AFTER, NOW), "key": "other", "plan": "garbage!"}
    changes = plan_changes(record, plan, "DR1")
    assert changes["changed"] and changes["compared"] is False
