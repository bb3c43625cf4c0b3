"""The sample plan shipped in plan/: valid, without warnings, and in step with its generator."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import openpyxl

from transition.locations import REPO_ROOT
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config


def cells(path) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(path)
    return {
        name: [[c.value for c in row] for row in book[name].iter_rows()] for name in book.sheetnames
    }


def test_sample_plan_is_valid_and_realistic():
    result = compile_plan(load_config(REPO_ROOT / "plan" / "config.yaml"))
    assert result.problems == []
    plan = result.plan
    assert 60 <= len(plan.steps) <= 120
    assert set(plan.dry_runs) == {"DR1", "DR2", "DR3", "LIVE", "DEMO"}
    assert len(plan.actors) >= 10 and len({a.team for a in plan.actors.values()}) >= 3
    assert {s.phase for s in plan.steps.values()} == set(plan.phases)
    assert any(len(s.dry_runs) < len(plan.dry_runs) for s in plan.steps.values())
    assert all(s.description for s in plan.steps.values())


def test_generator_writes_the_committed_workbook(tmp_path):
    out = tmp_path / "plan.xlsx"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "plan" / "build_sample_plan.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert cells(out) == cells(REPO_ROOT / "plan" / "transition_plan.xlsx")
    # its mark: make run dates a copy of it while its D-days are these (tests/local/test_sample_dates.py)
    marks = [
        openpyxl.load_workbook(p).properties.keywords
        for p in (out, REPO_ROOT / "plan" / "transition_plan.xlsx")
    ]
    assert (
        marks[0]
        == marks[1]
        == "transition-sample-plan DR1=2026-10-03 DR2=2027-01-16 DR3=2027-03-13 LIVE=2027-05-08"
        " DEMO=2026-09-01"
    )


def test_the_demo_dry_run_can_be_played_in_a_few_minutes():
    """DEMO, to try the tool: a chain of a few short steps with no planned time (the first asks as
    soon as it is triggered, the others as the one before closes), owned by the first actors (the
    logins make run prints), and none of them in the plan's own dry runs."""
    plan = compile_plan(load_config(REPO_ROOT / "plan" / "config.yaml")).plan
    demo = plan.schedules["DEMO"]
    assert 3 <= len(demo.steps) <= 10 and demo.dry_run.end is None
    # Four run by themselves: a command and SQL on make run's demo database, each with its check.
    automated = {s: plan.steps[s] for s in demo.steps if plan.steps[s].action is not None}
    kinds = sorted((s.kind, plan.actions[s.action.name].kind) for s in automated.values())
    assert kinds == [("auto", "bash"), ("auto", "sql"), ("check", "bash"), ("check", "sql")]
    assert all(s.planned_start is None and s.not_before is None for s in demo.steps.values())
    assert [s.step_id for s in demo.steps.values() if not s.upstream] == ["PP-901"]
    assert all(plan.steps[s].duration <= dt.timedelta(minutes=5) for s in demo.steps)
    assert {plan.steps[s].owner for s in demo.steps} <= set(list(plan.actors)[:3])
    for name in ("DR1", "DR2", "DR3", "LIVE"):
        assert not set(demo.steps) & set(plan.schedules[name].steps), name
