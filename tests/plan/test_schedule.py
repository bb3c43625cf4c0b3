"""Planned times per dry run: D-day relative, local wall clock, DST-correct, projected."""

from __future__ import annotations

import datetime as dt

from conftest import base_sheets, compile_sheets


def compiled(tmp_path, sheets):
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def test_planned_times_follow_d_day_and_prerequisites(tmp_path):
    plan = compiled(tmp_path, base_sheets())
    dr1 = plan.schedules["DR1"].steps
    assert dr1["PP-010"].planned_start.isoformat() == "2027-01-14T08:00:00+01:00"
    assert dr1["PP-020"].not_before is None
    assert dr1["PP-020"].planned_start == dr1["PP-010"].planned_end  # as soon as PP-010 ends
    assert dr1["CO-100"].planned_start.isoformat() == "2027-01-16T22:00:00+01:00"
    assert dr1["CO-110"].planned_end.isoformat() == "2027-01-16T23:15:00+01:00"


def test_projection_in_a_dry_run_without_the_middle_step(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"].append(["DR2", dt.date(2027, 3, 13), None, ""])
    plan = compiled(tmp_path, sheets)
    dr2 = plan.schedules["DR2"].steps
    assert "PP-020" not in dr2  # DR1 and LIVE only
    assert dr2["CO-100"].upstream == ("PP-010",)
    assert plan.schedules["DR2"].edges() == [
        ("PP-010", "CO-100"),
        ("CO-100", "CO-110"),
        ("CO-110", "HO-010"),
    ]


def test_same_wall_clock_time_across_summer_time(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][2][1] = dt.date(2027, 3, 28)  # LIVE D-day: clocks go forward at 02:00
    sheets["DryRuns"][2][2] = dt.datetime(2027, 3, 31, 18, 0)
    sheets["Steps"][3][5] = "D-1 23:30"
    sheets["Steps"][3][6] = "4h"
    plan = compiled(tmp_path, sheets)
    live = plan.schedules["LIVE"].steps
    assert live["PP-010"].planned_start.isoformat() == "2027-03-26T08:00:00+01:00"
    assert live["HO-010"].planned_start.isoformat() == "2027-03-29T09:00:00+02:00"
    # 4 hours of elapsed time from 23:30 CET end at 04:30 CEST, not 03:30.
    assert live["CO-100"].planned_end.isoformat() == "2027-03-28T04:30:00+02:00"
