"""Critical path and forecast end on small plans worked out by hand."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from conftest import base_sheets, compile_sheets
from transition.plan.forecast import Progress, planned_origin, reckon

H = dt.timedelta(hours=1)


def plan_of(tmp_path, rows):
    sheets = base_sheets()
    sheets["Steps"] = [sheets["Steps"][0]] + rows
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def diamond(tmp_path):
    # S (D+0 08:00, 1h) -> A (3h) -> J (1h);  S -> B (1h) -> J;  C (D+0 13:00, 30m) -> J
    row = lambda i, pre, start, dur: [i, f"Step {i}", "CO", "DR1", pre, start, dur, "alice", "", ""]  # noqa: E731
    return plan_of(
        tmp_path,
        [
            row("S", "", "D+0 08:00", "1h"),
            row("A", "S", "", "3h"),
            row("B", "S", "", "1h"),
            row("C", "", "D+0 13:00", "30m"),
            row("J", "A, B, C", "", "1h"),
        ],
    )


def test_planned_critical_path_and_end(tmp_path):
    plan = diamond(tmp_path)
    schedule = plan.schedules["DR1"]
    timeline = reckon(schedule, plan.steps, planned_origin(schedule))
    # S 08-09, A 09-12, B 09-10, C 13:00-13:30, J waits for C: 13:30-14:30.
    assert timeline.end.isoformat() == "2027-01-16T13:30:00+00:00"  # 14:30 in Brussels
    assert timeline.critical_path == ["C", "J"]


def test_without_c_the_long_branch_is_critical(tmp_path):
    plan = diamond(tmp_path)
    schedule = plan.schedules["DR1"]
    late_c = {
        "C": Progress(
            done=True,
            started_at=dt.datetime(2027, 1, 16, 6, 0, tzinfo=dt.UTC),
            ended_at=dt.datetime(2027, 1, 16, 6, 30, tzinfo=dt.UTC),
        )
    }
    timeline = reckon(schedule, plan.steps, planned_origin(schedule), late_c)
    assert timeline.critical_path == ["S", "A", "J"]
    assert timeline.end - timeline.starts["S"] == 5 * H


def test_forecast_from_now_with_progress(tmp_path):
    plan = diamond(tmp_path)
    schedule = plan.schedules["DR1"]
    utc = dt.UTC
    now = dt.datetime(2027, 1, 16, 11, 0, tzinfo=utc)  # 12:00 in Brussels
    progress = {
        "S": Progress(
            done=True, started_at=now - 3 * H, ended_at=now - 1 * H
        ),  # closed an hour late
        "A": Progress(started_at=now - 0.5 * H),  # 3 h from 10:30 UTC: ends 13:30 UTC
        "C": Progress(done=True, started_at=now - 4 * H, ended_at=now - 3 * H),
    }
    timeline = reckon(schedule, plan.steps, now, progress)
    assert timeline.starts["B"] == now  # ready since S closed: as soon as possible is now
    assert timeline.ends["A"] == dt.datetime(2027, 1, 16, 13, 30, tzinfo=utc)
    assert timeline.end == dt.datetime(2027, 1, 16, 14, 30, tzinfo=utc)
    assert timeline.critical_path == ["A", "J"]  # A was started: the path begins with it


def test_an_open_step_past_its_duration_ends_no_earlier_than_now(tmp_path):
    plan = diamond(tmp_path)
    schedule = plan.schedules["DR1"]
    now = dt.datetime(2027, 1, 16, 20, 0, tzinfo=dt.UTC)
    timeline = reckon(schedule, plan.steps, now, {"J": Progress(started_at=now - 5 * H)})
    assert timeline.ends["J"] == now


def test_a_dry_run_without_any_start_is_reckoned_from_d_day_midnight_in_the_plans_zone(tmp_path):
    """The sample's DEMO: no step has a Start; its planned end is D-day midnight in the plan's zone
    plus the chain's durations (it read 01:12 in Brussels, reckoned from midnight UTC)."""
    row = lambda i, pre, dur: [i, f"Step {i}", "CO", "DR1", pre, "", dur, "alice", "", ""]  # noqa: E731
    plan = plan_of(tmp_path, [row("A", "", "2m"), row("B", "A", "10m")])
    schedule = plan.schedules["DR1"]
    zone = zoneinfo.ZoneInfo(plan.timezone)
    timeline = reckon(schedule, plan.steps, planned_origin(schedule, zone))
    midnight = dt.datetime.combine(schedule.dry_run.d_day, dt.time(), tzinfo=zone)
    assert timeline.end == midnight + dt.timedelta(minutes=12)
    assert timeline.end.astimezone(zone).strftime("%H:%M") == "00:12"
