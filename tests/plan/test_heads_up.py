"""The heads-up ("you're next"): which steps the live forecast says become Ready within the window."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from conftest import base_sheets, compile_sheets
from transition.plan.heads_up import HeadsUp, heads_up_due

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
WINDOW = dt.timedelta(minutes=30)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 1, day, hour, minute, tzinfo=ZONE)


def plan(tmp_path):
    result = compile_sheets(tmp_path, base_sheets())
    assert result.plan is not None, result.problems
    return result.plan


def test_the_next_step_is_told_when_its_prerequisite_s_forecast_end_comes_within_the_window(
    tmp_path,
):
    p = plan(tmp_path)  # DR1: PP-010 (1h, Start 14 Jan 08:00) -> PP-020 (2h) -> CO-100 ...
    states = {"PP-010": "awaiting_input"}
    started = {"PP-010": at(14, 8, 5)}  # ends 09:05 by the forecast: PP-020 Ready then
    due, ahead = heads_up_due(
        p, "DR1", WINDOW, states=states, started=started, told=set(), now=at(14, 8, 30)
    )
    assert due == [] and ahead == at(14, 8, 35)
    due, ahead = heads_up_due(
        p, "DR1", WINDOW, states=states, started=started, told=set(), now=at(14, 8, 40)
    )
    assert due == [HeadsUp("PP-020", at(14, 9, 5), ("PP-010",))]
    assert ahead is not None and ahead > at(14, 8, 40)  # CO-100's turn, much later
    told, _ = heads_up_due(
        p, "DR1", WINDOW, states=states, started=started, told={"PP-020"}, now=at(14, 8, 50)
    )
    assert told == []


def test_a_step_not_started_pushes_its_dependents_forecast_along(tmp_path):
    p = plan(tmp_path)  # PP-010 Ready, nobody started it: PP-020 stays an hour ahead
    due, ahead = heads_up_due(
        p, "DR1", WINDOW, states={"PP-010": "awaiting_input"}, started={}, told=set(), now=at(14, 9)
    )
    assert due == [] and ahead == at(14, 9, 30)


def test_an_idle_step_is_told_before_its_start_but_not_a_step_about_to_ask(tmp_path):
    p = plan(tmp_path)
    done = {"PP-010": "success", "PP-020": "success"}
    # CO-100 waits for its Start (D+0 22:00), its prerequisites closed.
    due, _ = heads_up_due(
        p,
        "DR1",
        WINDOW,
        states={**done, "CO-100": "deferred"},
        started={},
        told=set(),
        now=at(16, 21, 40),
    )
    assert due == [HeadsUp("CO-100", at(16, 22, 0), ())]
    # Past its Start (or none), prerequisites closed: it asks at once, the Ready e-mail says so.
    due, _ = heads_up_due(
        p,
        "DR1",
        WINDOW,
        states={**done, "CO-100": None},
        started={},
        told=set(),
        now=at(16, 22, 1),
    )
    assert due == []
    # A step that has asked already gets nothing.
    due, _ = heads_up_due(
        p,
        "DR1",
        WINDOW,
        states={**done, "CO-100": "awaiting_input"},
        started={},
        told=set(),
        now=at(16, 21, 40),
    )
    assert due == []
