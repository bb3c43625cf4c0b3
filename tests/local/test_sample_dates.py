"""make run plays a copy of the sample plan dated from the day it starts (transition.local.sample_dates).

On the real sample workbook (plan/), through the function ``transition standalone`` calls: the
copy compiles without a problem, its first dry run can be triggered at once without any step
Overdue and not a day later than needed, the others follow every two weeks, each End as far after
its D-day as in the sample; every other cell is the sample's. A restart keeps the dates while the
first dry run is not over; a workbook with dates of its own, or another workbook, runs as it is.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from transition.local.sample_dates import FIRST_MARGIN, FOLDER, SPACING, marked_d_days
from transition.local.standalone import choose_plan
from transition.locations import REPO_ROOT
from transition.plan.model import Plan

BRUSSELS = ZoneInfo("Europe/Brussels")
SAMPLE = REPO_ROOT / "plan"


@pytest.fixture
def sample(tmp_path, monkeypatch) -> Path:
    """A copy of plan/ (its config and workbook), with a compile cache of the test's own."""
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "plan"
    folder.mkdir()
    for name in ("config.yaml", "transition_plan.xlsx", "actions.yaml"):
        shutil.copyfile(SAMPLE / name, folder / name)
    return folder / "config.yaml"


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BRUSSELS)


def waiting_steps_start_after(plan: Plan, dry_run: str, moment: dt.datetime) -> bool:
    """Every step that waits for another is planned to start at or after ``moment``."""
    return all(
        step.planned_start >= moment
        for step in plan.schedules[dry_run].steps.values()
        if step.upstream and step.planned_start is not None
    )


def cells(path: Path) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(path)
    return {n: [[c.value for c in row] for row in book[n].iter_rows()] for n in book.sheetnames}


@pytest.mark.parametrize(
    "now",
    [
        local(2026, 12, 1, 8, 0),  # before the first steps' hour
        local(2026, 12, 1, 10, 30),
        local(2026, 12, 1, 23, 55),
        local(2027, 3, 18, 12, 0),  # its dry run spans the change to summer time
        local(2027, 10, 22, 9, 50),  # and to winter time
    ],
)
def test_the_first_dry_run_can_be_triggered_now_without_an_overdue_step(sample, tmp_path, now):
    config, loaded = choose_plan(sample, tmp_path / "home", now)
    assert config == tmp_path / "home" / FOLDER / "config.yaml"
    assert loaded.problems == []
    plan = loaded.plan
    assert plan is not None
    assert waiting_steps_start_after(plan, "DR1", now + FIRST_MARGIN)
    # the earliest such D-day: a day earlier, some waiting step would start before that
    day_before = [
        (s.planned_start.astimezone(BRUSSELS).replace(tzinfo=None) - dt.timedelta(days=1)).replace(
            tzinfo=BRUSSELS
        )
        for s in plan.schedules["DR1"].steps.values()
        if s.upstream and s.planned_start is not None
    ]
    assert min(day_before) < now + FIRST_MARGIN
    first = plan.schedules["DR1"].dry_run.d_day
    demo = plan.schedules["DEMO"].dry_run  # no planned time: dated the day make run starts
    assert (demo.d_day, demo.end) == (now.date(), None)
    runs = [plan.schedules[n].dry_run for n in ("DR1", "DR2", "DR3", "LIVE")]
    assert [r.d_day for r in runs] == [first + i * SPACING for i in range(4)]
    for run in runs:  # the sample's End: D+3 18:00
        assert run.end == dt.datetime.combine(
            run.d_day + dt.timedelta(days=3), dt.time(18), BRUSSELS
        )
    # the copy is the sample but for the DryRuns sheet's dates
    ours, theirs = (
        cells(config.parent / "transition_plan.xlsx"),
        cells(SAMPLE / "transition_plan.xlsx"),
    )
    assert ours.keys() == theirs.keys()
    for name in ours:
        if name == "DryRuns":
            assert [r[0] for r in ours[name]] == [r[0] for r in theirs[name]]
            assert [r[3:] for r in ours[name]] == [r[3:] for r in theirs[name]]
        else:
            assert ours[name] == theirs[name], name


def test_a_restart_keeps_the_dates_until_the_first_dry_run_is_over(sample, tmp_path, capsys):
    home = tmp_path / "home"
    now = local(2026, 12, 1, 10, 30)
    _config, loaded = choose_plan(sample, home, now)
    assert loaded.plan is not None
    first = loaded.plan.schedules["DR1"].dry_run
    said = capsys.readouterr().out  # make run says the dates on the terminal
    assert f"DR1 on {first.d_day:%a %Y-%m-%d} (its first step asks from " in said
    assert "Trigger resa_dr1 to play DR1 now." in said
    assert (
        "To try the tool in a few minutes, trigger resa_demo: 9 steps with no planned time "
        "(4 run by themselves)" in said
    )
    assert "PP-901 asking mlambert at once" in said
    # a week later, DR1 being played: same dates, and the edits made to the sample meanwhile
    book = openpyxl.load_workbook(sample.parent / "transition_plan.xlsx")
    book["Steps"]["B2"] = "Kick-off (moved to the big room)"
    book.save(sample.parent / "transition_plan.xlsx")
    config, loaded = choose_plan(sample, home, now + dt.timedelta(days=7))
    assert loaded.plan is not None and loaded.problems == []
    assert loaded.plan.schedules["DR1"].dry_run == first
    assert cells(config.parent / "transition_plan.xlsx")["Steps"][1][1] == (
        "Kick-off (moved to the big room)"
    )
    # once DR1's End has passed, the next start dates them anew
    assert first.end is not None
    _config, loaded = choose_plan(sample, home, first.end + dt.timedelta(minutes=1))
    assert loaded.plan is not None
    assert loaded.plan.schedules["DR1"].dry_run.d_day > first.d_day


def test_a_workbook_with_dates_of_its_own_runs_as_it_is(sample, tmp_path):
    book = openpyxl.load_workbook(sample.parent / "transition_plan.xlsx")
    assert marked_d_days(sample.parent / "transition_plan.xlsx") is not None  # the sample's mark
    book["DryRuns"]["B2"] = dt.datetime(2027, 2, 6)  # the cutover manager's own D-day for DR1
    book.save(sample.parent / "transition_plan.xlsx")
    config, loaded = choose_plan(sample, tmp_path / "home", local(2026, 12, 1, 10, 30))
    assert config == sample
    assert loaded.plan is not None and loaded.plan.schedules["DR1"].dry_run.d_day == dt.date(
        2027, 2, 6
    )
    assert not (tmp_path / "home" / FOLDER).exists()


def test_another_workbook_runs_as_it_is(sample, tmp_path):
    book = openpyxl.load_workbook(sample.parent / "transition_plan.xlsx")
    book.properties.keywords = None  # no mark: a plan of one's own, made from the sample
    book.save(sample.parent / "transition_plan.xlsx")
    assert marked_d_days(sample.parent / "transition_plan.xlsx") is None
    config, _loaded = choose_plan(sample, tmp_path / "home", local(2026, 12, 1, 10, 30))
    assert config == sample and not (tmp_path / "home" / FOLDER).exists()
