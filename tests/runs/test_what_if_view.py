"""The what-if answer at an open gate, as the recap shows it: undecided gates taken as Go (what only
No-go runs does not move), the gates that move, and the people to warn with their e-mails.

S (D+0 08:00, 1h, alice) ─► G (gate, 30m, carol) ─► F1 (3h, bob) ─► F2 (1h, alice) ─► J (1h, dave)
                                                 └─► B1 (FB-RB, 1h, bob) ─────────────────┘
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import compile_sheets, gate_sheets
from transition.plan.forecast import Progress
from transition.plan.what_if import Hypothesis, WhatIfError, ask
from transition.runs.run_view import progress_on_go, undecided_gates
from transition.runs.what_if_view import as_view

H = dt.timedelta(hours=1)


@pytest.fixture
def plan(tmp_path):
    result = compile_sheets(tmp_path, gate_sheets())
    assert result.plan is not None, result.problems
    return result.plan


def step_views(plan, transferred):
    """The little of the run view the answer reads: the kind, decision, state, transfers of a step."""
    return {
        step_id: {
            "id": step_id,
            "kind": plan.steps[step_id].kind,
            "decision": None,
            "state": "Open" if step_id == "S" else "Planned",
            "transferred_to": transferred.get(step_id, []),
        }
        for step_id in plan.schedules["DR1"].steps
    }


def test_a_slip_before_an_open_gate(plan):
    schedule = plan.schedules["DR1"]
    s_start = schedule.steps["S"].not_before
    now = s_start + 0.5 * H  # S open since 08:00 (Brussels)
    steps = step_views(plan, {"F2": ["frank"]})
    progress = {step: Progress() for step in schedule.steps}
    progress["S"] = Progress(started_at=s_start)
    progress = progress_on_go(plan, "DR1", progress, undecided_gates(list(steps.values())))
    assert progress["B1"].done  # the forecast takes Go: B1 (fallback only) takes no time

    answer = ask(schedule, plan.steps, now, progress, Hypothesis("S", slip=1.5 * H))
    view = as_view(plan, "DR1", "run-1", now, answer, steps)

    assert [m["id"] for m in view["moved"]] == ["S", "G", "F1", "F2", "J"]  # not B1
    assert all(m["shift_minutes"] == 90 for m in view["moved"])
    assert [g["id"] for g in view["gates"]] == ["G"]
    gate = view["gates"][0]
    assert (gate["start_before"], gate["start_after"]) == (
        "2027-01-16T09:00:00+01:00",
        "2027-01-16T10:30:00+01:00",
    )  # in the plan's time zone
    assert gate["planned_start"] == "2027-01-16T09:00:00+01:00"
    assert view["forecast_end_after"] == "2027-01-16T16:00:00+01:00"
    assert view["shift_minutes"] == 90 and view["step_shift_minutes"] == 90
    assert view["must_end_by"] == "2027-01-19T18:00:00+01:00" and not view["late_after"]
    assert view["margin_minutes"] == (3 * 24 + 2) * 60  # 16:00 on the 16th to 18:00 on the 19th
    assert view["warn"] == [
        {"id": "alice", "name": "Alice Martin", "email": "alice@example.com", "steps": ["S", "F2"]},
        {"id": "carol", "name": "Carol Dubois", "email": "carol@example.com", "steps": ["G"]},
        {"id": "bob", "name": "Bob Peeters", "email": "bob@example.com", "steps": ["F1"]},
        {"id": "frank", "name": "frank", "email": "", "steps": ["F2"]},  # not an actor
        {"id": "dave", "name": "Dave Lambert", "email": "dave@example.com", "steps": ["J"]},
    ]

    with pytest.raises(WhatIfError) as skipped:  # B1 is skipped on Go: nothing to forecast
        ask(schedule, plan.steps, now, progress, Hypothesis("B1", slip=H))
    assert skipped.value.reason == "done" and "skipped on Go" in skipped.value.message
