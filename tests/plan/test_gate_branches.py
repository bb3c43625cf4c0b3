"""A gate's branches, joins and the forecast either way, on a small plan worked out by hand.

S (D+0 08:00, 1h) ─► G (gate, 30m) ─► F1 (3h) ─► F2 (1h) ─► J (1h)
                                  └─► B1 (FB-RB, 1h) ──────┘
                                  └─► L (FB-RB, 2h)         (follows the fallback only)
"""

from __future__ import annotations

import datetime as dt

from conftest import STEPS_HEADER, base_sheets, compile_sheets
from transition.plan.forecast import Progress, reckon
from transition.plan.gates import branch_only, gate_branches, join_steps, led_by_a_gate
from transition.runs.run_view import _as_done

H = dt.timedelta(hours=1)


def gate_plan(tmp_path):
    sheets = base_sheets()

    def row(step, pre, phase, start, duration, kind=""):
        return [step, f"Step {step}", phase, "DR1", pre, start, duration, "alice", "", "", kind, ""]

    sheets["Steps"] = [
        [*STEPS_HEADER, "Kind", "Approvals"],
        row("S", "", "CO", "D+0 08:00", "1h"),
        row("G", "S", "CO", "", "30m", "gate"),
        row("F1", "G", "CO", "", "3h"),
        row("F2", "F1", "CO", "", "1h"),
        row("B1", "G", "FB-RB", "", "1h"),
        row("L", "G", "FB-RB", "", "2h"),
        row("J", "F2, B1", "DC", "", "1h"),
    ]
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def test_branches_joins_and_what_each_decision_skips(tmp_path):
    plan = gate_plan(tmp_path)
    branches = gate_branches(plan, "DR1")["G"]
    assert branches.forward == ("F1",) and branches.fallback == ("B1", "L")
    assert join_steps(plan, "DR1") == {"J"}
    assert led_by_a_gate(plan, "DR1") == {"F1", "F2", "B1", "L", "J"}
    assert branch_only(plan, "DR1", "G", "go") == {"B1", "L"}
    assert branch_only(plan, "DR1", "G", "no-go") == {"F1", "F2"}


def test_the_forecast_either_way_at_an_open_gate(tmp_path):
    plan = gate_plan(tmp_path)
    schedule = plan.schedules["DR1"]
    s_start = schedule.steps["S"].not_before
    now = s_start + 2 * H  # S closed at 09:00, G open since 09:00
    progress = {step: Progress() for step in schedule.steps}
    progress["S"] = Progress(done=True, started_at=s_start, ended_at=s_start + H)
    progress["G"] = Progress(started_at=s_start + H)
    on_go = reckon(
        schedule, plan.steps, now, _as_done(progress, branch_only(plan, "DR1", "G", "go"))
    )
    on_no_go = reckon(
        schedule, plan.steps, now, _as_done(progress, branch_only(plan, "DR1", "G", "no-go"))
    )
    # G ends at now (10:00, open past its 30 minutes); Go: F1 3h, F2 1h, J 1h -> 15:00
    assert on_go.end == now + 5 * H
    assert on_go.critical_path[-3:] == ["F1", "F2", "J"]
    # No-go: B1 1h then J 1h -> 12:00; L (2h) ends at 12:00 too
    assert on_no_go.end == now + 2 * H
    # Both branches counted (what the forecast did before gates): the fallback would not delay J
    both = reckon(schedule, plan.steps, now, progress)
    assert both.end == on_go.end
