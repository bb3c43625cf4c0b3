"""The run view (the recap page's data) as a pure function of the plan, a run's facts and the moment:
no Airflow, no database.

The base plan's DR1 (D-day Saturday 2027-01-16, Europe/Brussels):
PP-010 (D-2 08:00, 1h, alice) ─► PP-020 (2h, bob) ─► CO-100 (D+0 22:00, 45m, carol)
─► CO-110 (30m, alice) ─► HO-010 (D+1 09:00, 15m, dave).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from conftest import base_sheets, compile_sheets, gate_sheets
from transition.runs.records import RunRecords
from transition.runs.run_view import RunFacts, run_view

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
BASE = "http://airflow.example"
RUN = "manual__2027-01-14T07:00:00+00:00"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of January 2027 in Brussels."""
    return dt.datetime(2027, 1, day, hour, minute, tzinfo=ZONE)


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat()  # as the steps write their XComs


def defect(task_id: str | None, status: str, number: int) -> dict:
    return {
        "id": number,
        "task_id": task_id,
        "title": f"Defect {number}",
        "severity": "blocking",
        "status": status,
        "created_by": "bob",
        "after_close": False,
    }


@pytest.fixture
def plan(tmp_path):
    result = compile_sheets(tmp_path, base_sheets())
    assert result.plan is not None, result.problems
    return result.plan


def half_way(**changes) -> RunFacts:
    """PP-010 closed, PP-020 started long ago (transferred to carol, with an open blocking defect),
    the rest waiting for it; one defect on the run as a whole, resolved."""
    facts = {
        "task_states": {"PP-010": "success", "PP-020": "awaiting_input", "CO-100": None},
        "end_dates": {"PP-010": at(14, 8, 51)},
        "xcoms": {
            ("PP-010", "ready"): {"at": stamp(at(14, 8))},
            ("PP-010", "started"): {"at": stamp(at(14, 8, 5)), "by": "alice"},
            ("PP-010", "closed"): {"at": stamp(at(14, 8, 50)), "by": "alice", "comment": "frozen"},
            ("PP-020", "ready"): {"at": stamp(at(14, 8, 50))},
            ("PP-020", "started"): {"at": stamp(at(14, 9)), "by": "bob"},
        },
        "records": RunRecords(
            defects=[defect("PP-020", "open", 1), defect(None, "resolved", 2)],
            forced_closes=[],
            transfers=[{"task_id": "PP-020", "from_user": "bob", "to_user": "carol"}],
        ),
    }
    facts.update(changes)
    return RunFacts(**facts)


def test_each_step_stands_where_its_facts_and_the_clock_put_it(plan):
    now = at(16, 22, 30)
    view = run_view(plan, "DR1", RUN, half_way(), BASE, now)
    steps = {s["id"]: s for s in view["steps"]}
    assert {step: s["state"] for step, s in steps.items()} == {
        "PP-010": "Terminated",
        "PP-020": "Late",  # due at its planned end (D-2 11:00), long past
        "CO-100": "Overdue",  # its prerequisite open, its planned start (22:00) passed
        "CO-110": "Locked",  # planned start 22:45: within the 5-day lock window
        "HO-010": "Locked",
    }
    assert view["counts"]["Terminated"] == 1 and view["counts"]["Locked"] == 2
    assert sum(view["counts"].values()) == 5
    assert view["counts_by_phase"]["PP"]["Terminated"] == 1
    assert view["counts_by_phase"]["PP"]["Late"] == 1

    closed = steps["PP-010"]
    assert (closed["started_by"], closed["closed_by"], closed["comment"]) == (
        "alice",
        "alice",
        "frozen",
    )
    assert closed["actual_start"] == at(14, 8, 5).isoformat()
    assert closed["actual_end"] == at(14, 8, 50).isoformat()  # the Close, not the task's end
    assert closed["planned_start"] == at(14, 8).isoformat()

    open_step = steps["PP-020"]
    assert open_step["transferred_to"] == ["carol"]
    assert "carol" in open_step["responsible"] and "bob" in open_step["responsible"]
    assert open_step["open_defects"] == 1 and open_step["defects"][0]["title"] == "Defect 1"
    assert open_step["due"] == at(14, 11).isoformat()
    assert open_step["actual_end"] is None and open_step["closed_by"] is None
    assert open_step["link"] == (
        f"{BASE}/dags/resa_dr1/runs/manual__2027-01-14T07%3A00%3A00%2B00%3A00"
        "/tasks/PP-020/required_actions?map_index=-1"
    )
    assert [d["id"] for d in view["run_defects"]] == [2]

    # The forecast starts from now: the open step ends now at the earliest, what follows after it.
    overdue = steps["CO-100"]
    start = dt.datetime.fromisoformat(overdue["forecast_start"])
    end = dt.datetime.fromisoformat(overdue["forecast_end"])
    assert start >= now and end - start == dt.timedelta(minutes=45)
    assert steps["PP-010"]["forecast_end"] is not None
    assert view["planned_end"] == at(17, 9, 15).isoformat()  # HO-010's planned end
    assert view["forecast_end"] == at(17, 9, 15).isoformat()  # its Start still holds it
    assert view["forecast_late"] is False  # the dry run's End: 2027-01-19 18:00
    assert view["must_end_by"] == at(19, 18).isoformat()
    assert view["now"] == now.isoformat() and view["dag_id"] == "resa_dr1"
    assert view["gates_ahead"] == []


def test_a_task_marked_success_ends_when_airflow_ended_it(plan):
    facts = half_way(
        task_states={"PP-010": "success", "PP-020": "success"},
        end_dates={"PP-010": at(14, 8, 51), "PP-020": at(14, 10, 30)},
    )
    steps = {s["id"]: s for s in run_view(plan, "DR1", RUN, facts, BASE, at(16, 21))["steps"]}
    marked = steps["PP-020"]
    assert marked["state"] == "Terminated" and marked["closed_by"] is None
    assert marked["actual_end"] == at(14, 10, 30).isoformat()
    # CO-100's prerequisites are done and its Start (22:00) is an hour away: it waits.
    assert steps["CO-100"]["state"] == "Idle"


def test_a_forced_close_says_by_whom_and_why(plan):
    forced = {
        "task_id": "PP-020",
        "forced_by": "mia",
        "forced_at": stamp(at(15, 7)),
        "reason": "done by hand",
        "state_before": "Late",
        "why_forced": "blocking defect",
    }
    facts = half_way(
        task_states={"PP-010": "success", "PP-020": "success"},
        records=RunRecords(defects=[], forced_closes=[forced], transfers=[]),
    )
    steps = {s["id"]: s for s in run_view(plan, "DR1", RUN, facts, BASE, at(16, 21))["steps"]}
    assert steps["PP-020"]["forced_close"] == {
        "by": "mia",
        "at": at(15, 7).isoformat(),
        "reason": "done by hand",
        "state_before": "Late",
        "why": "blocking defect",
    }
    assert steps["PP-010"]["forced_close"] is None


@pytest.fixture
def gate_plan(tmp_path):
    result = compile_sheets(tmp_path, gate_sheets())
    assert result.plan is not None, result.problems
    return result.plan


def gate_facts(task_states: dict, xcoms: dict | None = None) -> RunFacts:
    return RunFacts(
        task_states=task_states,
        end_dates={},
        xcoms={
            ("S", "started"): {"at": stamp(at(16, 8)), "by": "alice"},
            ("S", "closed"): {"at": stamp(at(16, 9)), "by": "alice"},
            **(xcoms or {}),
        },
        records=RunRecords([], [], []),
    )


def test_an_open_gate_says_where_the_run_ends_on_go_and_on_no_go(gate_plan):
    now = at(16, 9, 10)
    facts = gate_facts(
        {"S": "success", "G": "awaiting_input"}, {("G", "ready"): {"at": stamp(at(16, 9))}}
    )
    view = run_view(gate_plan, "DR1", RUN, facts, BASE, now)
    steps = {s["id"]: s for s in view["steps"]}
    assert steps["G"]["state"] == "Ready" and steps["G"]["decision"] is None
    [ahead] = view["gates_ahead"]
    assert ahead["gate"] == "G"
    on_go = dt.datetime.fromisoformat(ahead["end_on_go"])
    on_no_go = dt.datetime.fromisoformat(ahead["end_on_no_go"])
    assert on_go - on_no_go == dt.timedelta(hours=3)  # F1 + F2 (4h) against B1 (1h)
    # The forecast takes Go: the fallback has no forecast, the run ends when Go ends it.
    assert steps["B1"]["forecast_start"] is None
    assert view["forecast_end"] == ahead["end_on_go"]


def test_a_decided_gate_skips_the_branch_it_did_not_take(gate_plan):
    decision = {"decision": "go", "by": "carol", "at": stamp(at(16, 9, 20)), "go": ["carol"]}
    facts = gate_facts(
        {"S": "success", "G": "success", "B1": "skipped", "F1": "awaiting_input"},
        {("G", "decision"): decision},
    )
    view = run_view(gate_plan, "DR1", RUN, facts, BASE, at(16, 9, 30))
    steps = {s["id"]: s for s in view["steps"]}
    assert steps["G"]["decision"] == {
        "decision": "go",
        "by": "carol",
        "at": at(16, 9, 20).isoformat(),
        "comment": "",
        "go": ["carol"],
    }
    assert (steps["B1"]["state"], steps["B1"]["skipped_by"]) == ("Skipped", "G")
    assert steps["F1"]["skipped_by"] is None
    assert view["gates_ahead"] == []
