"""The escalation ladder's rungs: when each is due, which one goes, and when to wake next."""

from __future__ import annotations

import datetime as dt
import json

from conftest import base_sheets, compile_sheets
from transition.plan.escalation import NOT_STARTED, OVERRUN, Ladder, Rung, next_rung, passed, rungs
from transition.plan.serial import plan_from_json, plan_to_json

READY = dt.datetime(2026, 3, 28, 22, 0, tzinfo=dt.UTC)
DUE = READY + dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
LADDER = Ladder((15 * MINUTE, 30 * MINUTE, 45 * MINUTE), (0 * MINUTE, 20 * MINUTE))


def test_a_step_waiting_for_start_climbs_the_not_started_ladder_from_ready():
    ladder = rungs(LADDER, "start", READY, DUE)
    assert [(r.key, r.at) for r in ladder] == [
        ("not_started.1", READY + 15 * MINUTE),
        ("not_started.2", READY + 30 * MINUTE),
        ("not_started.3", READY + 45 * MINUTE),
    ]
    assert next_rung(ladder, set(), READY) == ladder[0]
    assert passed(ladder, set(), READY + 14 * MINUTE) == []
    assert passed(ladder, set(), READY + 15 * MINUTE) == ladder[:1]
    assert next_rung(ladder, {"not_started.1"}, READY + 15 * MINUTE) == ladder[1]
    assert next_rung(ladder, {r.key for r in ladder}, READY + 50 * MINUTE) is None


def test_an_open_step_climbs_the_overrun_ladder_from_its_due_time():
    ladder = rungs(LADDER, "close", READY, DUE)
    assert ladder == [Rung(OVERRUN, 1, DUE), Rung(OVERRUN, 2, DUE + 20 * MINUTE)]
    assert passed(ladder, set(), DUE) == ladder[:1]
    assert next_rung(ladder, set(), DUE - MINUTE) == ladder[0]


def test_after_an_outage_only_the_highest_due_rung_goes_and_the_lower_are_passed():
    ladder = rungs(LADDER, "start", READY, DUE)
    due_now = passed(ladder, set(), READY + 40 * MINUTE)
    assert [r.level for r in due_now] == [1, 2]  # the caller sends the last, marks both
    # a higher rung already sent: a lower one left unsent is never waited for again
    assert next_rung(ladder, {"not_started.2"}, READY + 31 * MINUTE) == ladder[2]
    assert next_rung(ladder, {"not_started.3"}, READY) is None


def test_a_gate_waiting_for_its_decision_climbs_the_not_started_ladder_from_ready():
    assert rungs(LADDER, "decide", READY, None) == rungs(LADDER, "start", READY, DUE)
    assert rungs(LADDER, "decide", None, None) == []


def test_no_rungs_without_a_moment_to_count_from():
    assert rungs(LADDER, "start", None, None) == []
    assert rungs(LADDER, "close", READY, None) == []  # no due time: never Late
    assert rungs(Ladder((), ()), "start", READY, DUE) == []
    assert rungs(LADDER, "start", READY, DUE)[0].ladder == NOT_STARTED


def test_the_compiled_plan_keeps_its_ladder(tmp_path):
    compiled = compile_sheets(
        tmp_path, base_sheets(), escalation={"not_started": ["5m", "1h"], "overrun": "off"}
    ).plan
    assert compiled.escalation == Ladder((5 * MINUTE, 60 * MINUTE), ())
    assert plan_from_json(json.loads(json.dumps(plan_to_json(compiled)))).escalation == (
        compiled.escalation
    )
    old = plan_to_json(compiled)
    del old["escalation"]["gate_warning_s"]  # compiled before the gate's warning: its default
    assert plan_from_json(old).escalation == Ladder((5 * MINUTE, 60 * MINUTE), ())
    del old["escalation"]  # compiled before the ladder existed: the defaults
    assert plan_from_json(old).escalation == Ladder()
    warned = compile_sheets(
        tmp_path, base_sheets(), escalation={"gate_warning": "90m", "heads_up": "off"}
    ).plan
    assert warned.escalation.gate_warning == 90 * MINUTE
    quiet = compile_sheets(tmp_path, base_sheets(), escalation={"gate_warning": "off"}).plan
    for plan in (warned, quiet):
        assert plan_from_json(json.loads(json.dumps(plan_to_json(plan)))).escalation == (
            plan.escalation
        )
    assert quiet.escalation.gate_warning is None
