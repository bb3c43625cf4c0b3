"""The compiled-plan cache: read once, last good plan kept when the workbook breaks."""

from __future__ import annotations

import json

from conftest import base_sheets, write_config, write_xlsx
from transition.plan.serial import plan_from_json, plan_to_json
from transition.store.plan_store import load_plan


def test_second_load_comes_from_the_cache_and_equals_the_first(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    first = load_plan(plan_dir / "config.yaml")
    second = load_plan(plan_dir / "config.yaml")
    assert not first.from_cache and second.from_cache
    assert first.problems == [] and second.problems == []
    assert plan_to_json(second.plan) == plan_to_json(first.plan)
    cached = list((plan_dir / "cache" / "config").glob("plan-*.json"))
    assert len(cached) == 1


def test_json_round_trip_keeps_times_in_the_plan_zone(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    plan = load_plan(plan_dir / "config.yaml").plan
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.schedules["DR1"].steps["CO-100"] == plan.schedules["DR1"].steps["CO-100"]
    assert (
        again.steps == plan.steps
        and again.actors == plan.actors
        and again.dry_runs == plan.dry_runs
    )
    assert str(again.schedules["DR1"].steps["CO-100"].planned_start.tzinfo) == "Europe/Brussels"


def test_json_round_trip_keeps_a_starts_seconds(plan_dir):
    sheets = base_sheets()
    header = sheets["Steps"][0]
    row = next(r for r in sheets["Steps"][1:] if r[header.index("ID")] == "CO-100")
    row[header.index("Start")] = "D+0 22:30:15"
    write_xlsx(plan_dir / "plan.xlsx", sheets)
    plan = load_plan(plan_dir / "config.yaml").plan
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert str(again.steps["CO-100"].start) == "D+0 22:30:15"
    assert again.schedules["DR1"].steps["CO-100"].planned_start.second == 15


def test_broken_workbook_keeps_the_last_good_plan_and_reports_the_problems(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    good = load_plan(plan_dir / "config.yaml").plan
    broken = base_sheets()
    broken["Steps"][2][4] = "PP-999"
    broken["Steps"].append(["CO-120", "New step", "CO", "ALL", "", "", "", "alice", "", ""])
    write_xlsx(plan_dir / "plan.xlsx", broken)
    for _ in range(2):  # compiled, then from the cache of errors
        loaded = load_plan(plan_dir / "config.yaml")
        assert loaded.is_stale
        assert [str(p) for p in loaded.errors] == ["Steps!E3: unknown prerequisite 'PP-999'"]
        assert loaded.plan is not None and list(loaded.plan.steps) == list(good.steps)
    write_xlsx(
        plan_dir / "plan.xlsx", broken | {"Steps": base_sheets()["Steps"] + [broken["Steps"][-1]]}
    )
    fixed = load_plan(plan_dir / "config.yaml")
    assert not fixed.is_stale and "CO-120" in fixed.plan.steps


def test_missing_workbook_and_broken_config_keep_the_last_good_plan(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    load_plan(plan_dir / "config.yaml")
    (plan_dir / "plan.xlsx").rename(plan_dir / "moved.xlsx")
    loaded = load_plan(plan_dir / "config.yaml")
    assert [p.message for p in loaded.errors] == ["workbook not found"]
    assert loaded.plan is not None and "CO-100" in loaded.plan.steps
    (plan_dir / "config.yaml").write_text("name: resa\nworkbook: [unclosed\n")
    loaded = load_plan(plan_dir / "config.yaml")
    assert str(loaded.errors[0]).startswith(f"{plan_dir / 'config.yaml'}:3: not valid YAML")
    assert loaded.plan is not None


def test_no_last_good_plan_yet(plan_dir):
    broken = base_sheets()
    del broken["Actors"]
    write_xlsx(plan_dir / "plan.xlsx", broken)
    loaded = load_plan(plan_dir / "config.yaml")
    assert loaded.plan is None and loaded.errors


def test_channels_reach_the_compiled_plan_and_its_json(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    write_config(
        plan_dir / "config.yaml",
        "plan.xlsx",
        channels=[
            {"connection": "slack_cutover", "messages": ["ready", "decision"]},
            {"connection": "teams_cutover", "messages": "all"},
        ],
    )
    plan = load_plan(plan_dir / "config.yaml").plan
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.channels == plan.channels
    assert [c.connection for c in plan.channels_for("ready")] == ["slack_cutover", "teams_cutover"]
    assert [c.connection for c in plan.channels_for("late")] == ["teams_cutover"]
    assert [c.connection for c in plan.channels_for("calendar")] == ["teams_cutover"]
    assert plan.channels_for("weekly_report") == []  # not a kind a channel gets
