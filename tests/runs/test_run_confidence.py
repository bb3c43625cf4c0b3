"""The forecast of a running run from the draws (runs/run_confidence.py): where the run stands, the
steps left drawn from their laws, the undecided gates taken Go and, for their latest safe decision,
No-go. Durations that do not vary give the recap's own forecast exactly."""

from __future__ import annotations

import datetime as dt

import pytest
from test_run_view import BASE, RUN, at, gate_facts, stamp

from conftest import compile_sheets, gate_sheets
from transition.plan.duration_models import DurationModel, duration_model
from transition.runs.run_confidence import live_confidence
from transition.runs.run_view import run_view

END = dt.datetime.fromisoformat("2027-01-19T18:00:00+01:00")  # DR1's End in the gate sheets


@pytest.fixture
def gate_plan(tmp_path):
    result = compile_sheets(tmp_path, gate_sheets())
    assert result.plan is not None, result.problems
    return result.plan


def fixed(plan) -> dict[str, DurationModel]:
    """Each step exactly its planned Duration."""
    return {s: DurationModel(plan.steps[s].duration.total_seconds(), 0.0) for s in plan.steps}


def waiting_at_the_gate(plan, now):
    facts = gate_facts(
        {"S": "success", "G": "awaiting_input"}, {("G", "ready"): {"at": stamp(at(16, 9))}}
    )
    return run_view(plan, "DR1", RUN, facts, BASE, now)


def test_durations_that_do_not_vary_give_the_recaps_forecast(gate_plan):
    now = at(16, 9, 10)
    view = waiting_at_the_gate(gate_plan, now)
    found = live_confidence(gate_plan, view, fixed(gate_plan), now, runs=0, draws=50)
    assert found is not None
    assert found["p50"] == found["p80"] == found["p95"] == view["forecast_end"]
    assert found["chance_by_end"] == 1.0
    # On No-go, B1 (1h) and J (1h) run after the gate: decide by the End less 2h.
    assert found["gates"] == [
        {
            "gate": "G",
            "label": "Step G",
            "fallback_p95_minutes": 120,
            "latest_safe": (END - dt.timedelta(hours=2)).isoformat(),
        }
    ]
    # On Go, every step left lies on the one path; the fallback's B1 is not drawn.
    assert [c["step"] for c in found["criticality"]] == ["F1", "F2", "G", "J"]
    assert all(c["share"] == 1.0 for c in found["criticality"])
    assert (found["draws"], found["runs"], found["measured_steps"]) == (50, 0, 0)


def test_a_run_that_will_miss_its_end_says_how_unlikely_it_is(gate_plan):
    now = at(19, 16, 30)  # 1h30 before the End; on Go the run needs 5h30 more, on No-go 2h30
    view = waiting_at_the_gate(gate_plan, now)
    found = live_confidence(gate_plan, view, fixed(gate_plan), now, draws=20)
    assert found is not None and found["chance_by_end"] == 0.0
    assert found["gates"][0]["latest_safe"] == at(19, 16).isoformat()  # passed half an hour ago


def test_measured_steps_move_the_end_and_the_same_facts_give_the_same_figures(gate_plan):
    now = at(16, 9, 10)
    view = waiting_at_the_gate(gate_plan, now)
    models = fixed(gate_plan)
    # F1 took 5h, 6h and 7h in three rehearsals (planned 3h)
    models["F1"] = duration_model(dt.timedelta(hours=3), [dt.timedelta(hours=h) for h in (5, 6, 7)])
    found = live_confidence(gate_plan, view, models, now, runs=3)
    again = live_confidence(gate_plan, view, models, now, runs=3)
    assert found == again
    assert found is not None and found["measured_steps"] == 1 and found["runs"] == 3
    p50, p80, p95 = (dt.datetime.fromisoformat(found[k]) for k in ("p50", "p80", "p95"))
    planned = dt.datetime.fromisoformat(view["forecast_end"])
    assert p50 < p80 < p95
    # G 30m, F1 about 6h, F2 1h, J 1h from 9:10: about 3h later than the plan's forecast
    assert dt.timedelta(hours=2, minutes=45) < p50 - planned < dt.timedelta(hours=3, minutes=15)
    # The fallback does not pass through F1: its latest safe decision does not move.
    assert found["gates"][0]["latest_safe"] == (END - dt.timedelta(hours=2)).isoformat()


def test_a_run_with_every_step_done_has_nothing_to_draw(gate_plan):
    decision = {"decision": "no-go", "by": "carol", "at": stamp(at(16, 9, 20)), "go": []}
    closed = {"by": "bob", "at": stamp(at(16, 11))}
    facts = gate_facts(
        dict.fromkeys(("S", "G", "B1", "J"), "success") | {"F1": "skipped", "F2": "skipped"},
        {("G", "decision"): decision, ("B1", "closed"): closed, ("J", "closed"): closed},
    )
    view = run_view(gate_plan, "DR1", RUN, facts, BASE, at(16, 12))
    assert live_confidence(gate_plan, view, fixed(gate_plan), at(16, 12)) is None
