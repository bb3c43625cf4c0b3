"""The sample plan shipped in plan/: valid, without warnings, and in step with its generator."""

from __future__ import annotations

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
    assert set(plan.dry_runs) == {"DR1", "DR2", "DR3", "LIVE"}
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
    )
