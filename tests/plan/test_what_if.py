"""What-if on a small plan worked out by hand: which steps move, the new end, the End at risk."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import base_sheets, compile_sheets
from transition.plan.forecast import Progress, reckon
from transition.plan.what_if import Hypothesis, WhatIfError, ask

H = dt.timedelta(hours=1)
UTC = dt.UTC
NOW = dt.datetime(2027, 1, 16, 8, 0, tzinfo=UTC)  # 09:00 in Brussels, D-day of DR1


@pytest.fixture
def diamond(tmp_path):
    # S (D+0 08:00 Brussels, 1h) -> A (3h) -> J (1h);  S -> B (1h) -> J;  C (D+0 13:00, 30m) -> J
    # DR1 must end by 2027-01-19 18:00 in Brussels (17:00 UTC).
    row = lambda i, pre, start, dur: [i, f"Step {i}", "CO", "DR1", pre, start, dur, "alice", "", ""]  # noqa: E731
    sheets = base_sheets()
    sheets["Steps"] = [
        sheets["Steps"][0],
        row("S", "", "D+0 08:00", "1h"),
        row("A", "S", "", "3h"),
        row("B", "S", "", "1h"),
        row("C", "", "D+0 13:00", "30m"),
        row("J", "A, B, C", "", "1h"),
    ]
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


# S closed on time at 08:00 UTC, A started then (ends 11:00), B not started (08:00-09:00 from now),
# C 12:00-12:30, J waits for C: 12:30-13:30 UTC.
PROGRESS = {
    "S": Progress(done=True, started_at=NOW - H, ended_at=NOW),
    "A": Progress(started_at=NOW),
}


def asking(plan, hypothesis):
    return ask(plan.schedules["DR1"], plan.steps, NOW, PROGRESS, hypothesis)


def at(hour, minute=0, day=16):
    return dt.datetime(2027, 1, day, hour, minute, tzinfo=UTC)


def test_the_current_forecast_is_the_one_compared_with(diamond):
    answer = asking(diamond, Hypothesis("A", slip=dt.timedelta(0)))
    assert answer.before == reckon(diamond.schedules["DR1"], diamond.steps, NOW, PROGRESS)
    assert answer.before.end == at(13, 30)
    assert answer.moved == [] and answer.shift == dt.timedelta(0)


def test_a_slip_on_the_long_branch_moves_the_join_and_the_end(diamond):
    answer = asking(diamond, Hypothesis("A", slip=2 * H))  # A ends 13:00 instead of 11:00
    assert answer.ends_at == at(13)
    assert [(m.step, m.start_after, m.end_after, m.shift) for m in answer.moved] == [
        ("A", at(8), at(13), 2 * H),  # its start does not move
        ("J", at(13), at(14), 0.5 * H),
    ]
    assert answer.after.end == at(14)
    assert answer.shift == 0.5 * H  # C held J until 12:30: half an hour of the slip was slack
    assert answer.margin == at(17, day=19) - at(14) and not answer.late


def test_an_end_within_the_slack_moves_only_the_step(diamond):
    answer = asking(diamond, Hypothesis("A", ends_at=at(12, 15)))
    assert [m.step for m in answer.moved] == ["A"]
    assert answer.after.end == answer.before.end


def test_a_step_may_end_early(diamond):
    answer = asking(diamond, Hypothesis("A", slip=-2 * H))  # 09:00: J still waits for C
    assert [(m.step, m.shift) for m in answer.moved] == [("A", -2 * H)]
    assert answer.shift == dt.timedelta(0)


def test_a_step_not_started_ending_after_the_end_puts_the_end_at_risk(diamond):
    answer = asking(diamond, Hypothesis("B", ends_at=at(10, day=20)))
    assert [(m.step, m.start_before, m.start_after) for m in answer.moved] == [
        ("B", at(8), at(8)),
        ("J", at(12, 30), at(10, day=20)),
    ]
    assert answer.after.end == at(11, day=20)
    assert answer.late and answer.margin == -18 * H  # the End is 19 January 17:00 UTC


def test_refusals_say_which_step_and_why(diamond):
    with pytest.raises(WhatIfError) as unknown:
        asking(diamond, Hypothesis("Z", slip=H))
    assert unknown.value.reason == "no-step" and "'Z'" in unknown.value.message
    assert "DR1" in unknown.value.message
    with pytest.raises(WhatIfError) as done:
        asking(diamond, Hypothesis("S", slip=H))
    assert done.value.reason == "done" and "step S is closed" in done.value.message
    with pytest.raises(WhatIfError) as past:
        asking(diamond, Hypothesis("A", slip=-4 * H))  # would end 07:00, before now
    assert past.value.reason == "bad-time"
    assert "2027-01-16T08:00+01:00" in past.value.message  # in the plan's time zone
    assert "2027-01-16T09:00+01:00" in past.value.message  # now
    with pytest.raises(WhatIfError) as before_start:
        asking(diamond, Hypothesis("J", ends_at=at(12)))  # J cannot start before 12:30
    assert before_start.value.reason == "bad-time" and "13:30+01:00" in before_start.value.message


def test_a_hypothesis_is_an_end_or_a_slip(diamond):
    with pytest.raises(ValueError, match="exactly one"):
        Hypothesis("A")
    with pytest.raises(ValueError, match="exactly one"):
        Hypothesis("A", ends_at=at(9), slip=H)
