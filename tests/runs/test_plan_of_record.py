"""The plan of record (transition.runs.plan_of_record): what a run records of its plan, the
workbook and configuration kept beside it byte for byte (or not, and why), and what changed since
and when, from plans compiled here. Written by the watch on a real Airflow:
tests/e2e/test_e2e_evidence.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from conftest import base_sheets, compile_sheets
from transition.plan.serial import FORMAT_VERSION, plan_from_json
from transition.runs.plan_of_record import (
    KEEP_LIMIT,
    NOT_STORED,
    TOO_BIG,
    UNREADABLE,
    files_key,
    kept_files,
    plan_changes,
    plan_record,
    read_kept,
    record_key,
    record_run,
    record_view,
    same_run,
    summary,
    unpack_file,
    unpack_plan,
    when_changed,
)
from transition.runs.views import PlanOfRecordView

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


# -- the workbook and configuration as they were -------------------------------------------------


def test_the_workbook_and_configuration_are_kept_byte_for_byte(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    files, packed = kept_files(plan)
    for role, name in (("workbook", "plan.xlsx"), ("config", "config.yaml")):
        original = (tmp_path / name).read_bytes()
        assert unpack_file(packed[role]) == original  # restored exactly
        assert files[role] == {
            "name": name,
            "size": len(original),
            "sha256": hashlib.sha256(original).hexdigest(),
            "kept": True,
            "why": None,
        }
    record = plan_record(plan, "DR1", RUN_AFTER, NOW, "0195-version", files)
    assert record["files"] == files and "plan" not in summary(record)
    assert record["config_sha256"] == files["config"]["sha256"]
    assert len(json.dumps(record)) < len(packed["workbook"])  # the bytes are not in the record


def test_a_file_above_the_limit_is_not_kept_and_the_record_says_why(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    workbook = (tmp_path / "plan.xlsx").read_bytes()
    files, packed = kept_files(plan, limit=len(zlib.compress(workbook)) // 2)
    assert "workbook" not in packed and "config" in packed  # the small configuration still is
    assert files["workbook"] == {
        "name": "plan.xlsx",
        "size": len(workbook),
        "sha256": hashlib.sha256(workbook).hexdigest(),  # hashed all the same
        "kept": False,
        "why": TOO_BIG,
    }
    assert KEEP_LIMIT == 20 * 1024 * 1024
    assert read_kept(str(tmp_path / "gone.xlsx")) == (
        {"name": "gone.xlsx", "size": None, "sha256": None, "kept": False, "why": UNREADABLE},
        None,
    )
    assert read_kept(None) == (None, None)  # a bare workbook has no configuration


class _Variables:
    """Airflow's Variables as a task sees them (airflow.sdk.Variable), in a dictionary."""

    values: dict[str, str] = {}
    refuse: set[str] = set()

    @classmethod
    def get(cls, key: str, default: object = None) -> object:
        return cls.values.get(key, default)

    @classmethod
    def set(cls, key: str, value: str, description: str | None = None) -> None:
        if key in cls.refuse:
            raise RuntimeError("Data too long for column 'val'")
        cls.values[key] = value


def _context(version: str = "0195-version") -> dict:
    ti = SimpleNamespace(dag_id="resa_dr1", run_id="manual__1", dag_version_id=version)
    return {"ti": ti, "dag_run": SimpleNamespace(run_after=RUN_AFTER)}


def test_the_watch_keeps_the_files_beside_the_record_once(tmp_path: Path, monkeypatch) -> None:
    import airflow.sdk

    plan = compile_sheets(tmp_path, base_sheets()).plan
    monkeypatch.setattr(airflow.sdk, "Variable", _Variables)
    monkeypatch.setattr(_Variables, "values", {})
    monkeypatch.setattr(_Variables, "refuse", set())
    assert record_run(_context(), plan, "DR1") and not record_run(_context(), plan, "DR1")
    record = json.loads(_Variables.values[record_key("resa_dr1", "manual__1")])
    kept = json.loads(_Variables.values[files_key("resa_dr1", "manual__1")])
    assert files_key("resa_dr1", "manual__1") == "transition.plan_files/resa_dr1/manual__1"
    assert same_run(kept, RUN_AFTER) and record["files"]["workbook"]["kept"]
    assert unpack_file(kept["workbook"]) == (tmp_path / "plan.xlsx").read_bytes()
    assert unpack_file(kept["config"]) == (tmp_path / "config.yaml").read_bytes()
    assert kept["workbook"] not in json.dumps(record)  # the record holds names and hashes only


def test_files_airflow_will_not_store_never_fail_the_record(tmp_path: Path, monkeypatch) -> None:
    import airflow.sdk

    plan = compile_sheets(tmp_path, base_sheets()).plan
    monkeypatch.setattr(airflow.sdk, "Variable", _Variables)
    monkeypatch.setattr(_Variables, "values", {})
    monkeypatch.setattr(_Variables, "refuse", {files_key("resa_dr1", "manual__1")})
    assert record_run(_context(), plan, "DR1")
    record = json.loads(_Variables.values[record_key("resa_dr1", "manual__1")])
    assert record["key"] == plan.source.key and record["workbook_sha256"]
    assert {role: (f["kept"], f["why"]) for role, f in record["files"].items()} == {
        "workbook": (False, NOT_STORED),
        "config": (False, NOT_STORED),
    }


# -- what changed, and when ------------------------------------------------------------------------


def test_since_when_from_airflows_dag_versions_else_the_compile(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    changed_at = RUN_AFTER + dt.timedelta(hours=2)
    ended = RUN_AFTER + dt.timedelta(hours=5)
    assert when_changed(plan, (changed_at, 7), None) == {
        "since": changed_at.isoformat(),
        "since_from": "dag_version",
        "since_version": 7,
        "while_running": True,
    }
    assert when_changed(plan, (changed_at, 7), ended)["while_running"]
    after = when_changed(plan, (ended + dt.timedelta(minutes=1), 8), ended)
    assert after["while_running"] is False  # changed once the run had ended
    compiled = when_changed(plan, None, None)
    assert compiled["since"] == plan.source.compiled_at.isoformat()
    assert compiled["since_from"] == "compiled_at" and compiled["since_version"] is None


def test_the_run_views_plan_of_record(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = compile_sheets(tmp_path / "a", base_sheets()).plan
    sheets = base_sheets()
    sheets["Steps"][4][6] = "90m"
    after = compile_sheets(tmp_path / "b", sheets).plan
    files, _packed = kept_files(before)
    record = plan_record(before, "DR1", RUN_AFTER, NOW, "0195-version", files)
    changes = {
        **plan_changes(record, after, "DR1"),
        **when_changed(after, (RUN_AFTER + dt.timedelta(hours=1), 4), None),
    }
    zone = ZoneInfo("Europe/Brussels")
    view = record_view(record, changes, zone)
    assert (view["workbook"], view["config"], view["format"]) == ("plan.xlsx", "config.yaml", 2)
    assert view["workbook_sha256"] == before.source.workbook_sha256
    assert view["recorded_at"] == "2027-01-14T09:00:03+01:00"  # in the plan's time zone
    assert view["files"]["workbook"]["kept"] and view["dag_version_id"] == "0195-version"
    assert view["changes"] == {
        "changed": True,
        "compared": True,
        "added": [],
        "removed": [],
        "durations": [{"step": "CO-110", "before_minutes": 30.0, "after_minutes": 90.0}],
        "since": "2027-01-14T10:00:00+01:00",
        "since_from": "dag_version",
        "since_version": 4,
        "while_running": True,
    }
    # What the run view's JSON checks (pydantic, as FastAPI would) accepts it.
    TypeAdapter(PlanOfRecordView).validate_python(view)


def test_an_older_record_or_one_changed_by_hand_still_gives_a_view(tmp_path: Path) -> None:
    plan = compile_sheets(tmp_path, base_sheets()).plan
    old = {k: v for k, v in plan_record(plan, "DR1", RUN_AFTER, NOW).items() if k != "files"}
    view = record_view(old, plan_changes(old, plan, "DR1"), dt.UTC)
    assert view["files"] == {} and view["changes"]["changed"] is False
    assert view["config_sha256"] == old["config_sha256"]
    odd = {"workbook": 3, "format": "two", "recorded_at": "yesterday", "files": {"workbook": 1}}
    view = record_view(odd, {"changed": True, "since": None}, dt.UTC)
    assert (view["workbook"], view["format"], view["recorded_at"]) == ("3", None, None)
    assert view["files"] == {} and view["changes"]["since"] is None
    TypeAdapter(PlanOfRecordView).validate_python(view)
