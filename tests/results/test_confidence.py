"""How likely a dry run ends in its window (transition.results.confidence, ``transition forecast``):
the rehearsals' measures as calibrate reads them (the runs as the REST client gives them, no
Airflow needed), then the draws; the command's lines and its refusals. The REST reading of the
runs is calibrate's, tested on a real Airflow in tests/e2e/test_e2e_results.py."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import compile_sheets, gate_sheets, write_config, write_xlsx
from run_samples import step
from transition.results.confidence import confidence, step_models
from transition.results.data import run_results_from_json

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))
H = dt.timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0) -> str:
    return dt.datetime(2027, 1, day, hour, minute).isoformat() + "+01:00"


def rehearsal(run_id: str, f1_hours: float) -> dict:
    """A run of DR1 in which F1 took ``f1_hours`` (planned 3 h) and S its hour."""

    def done(id_, start, end):
        return {**step(id_, "CO", "Terminated", "alice", None, None, start, end), "kind": "step"}

    f1_end = dt.datetime(2027, 1, 16, 10) + dt.timedelta(hours=f1_hours)
    return {
        "plan": "resa",
        "dry_run": "DR1",
        "dag_id": "resa_dr1",
        "run_id": run_id,
        "timezone": "Europe/Brussels",
        "now": at(20, 12),
        "steps": [
            done("S", at(16, 8), at(16, 9)),
            done("F1", at(16, 10), f1_end.isoformat() + "+01:00"),
        ],
    }


def test_measured_durations_move_the_forecast(tmp_path):
    """F1 took 6 h in each of three rehearsals, against 3 h planned: the Go end moves 3 h later,
    the No-go end (F1 skipped) does not; what was never measured keeps its planned Duration."""
    plan = compile_sheets(tmp_path, gate_sheets()).plan
    assert plan is not None
    runs = [run_results_from_json(rehearsal(f"manual__{n}", 6)) for n in range(3)]
    models = step_models(plan, "DR1", runs)
    assert models["F1"].median == 6 * 3600 and models["F1"].measures == (6 * 3600.0,) * 3
    assert not models["F2"].measured and models["F2"].median == 3600
    planned = confidence(plan, "DR1", draws=4000, seed=7)
    measured = confidence(plan, "DR1", runs, draws=4000, seed=7)
    assert [s.name for s in measured.scenarios] == ["go", "no-go"]
    go_planned, go_measured = (c.scenarios[0].simulation.end_at(50) for c in (planned, measured))
    assert abs((go_measured - go_planned) - 3 * H) < dt.timedelta(minutes=15)
    nogo = [c.scenarios[1].simulation.end_at(50) for c in (planned, measured)]
    # No-go skips F1: its end moves by no more than S's narrower spread (measured, always 1 h)
    assert abs(nogo[0] - nogo[1]) < dt.timedelta(minutes=5)
    # The latest safe decision at G: the End less what a No-go there leaves to run (P95).
    (safety,) = measured.gates
    nogo_draws = measured.scenarios[1].simulation
    remaining = nogo_draws.ends - nogo_draws.step_ends["G"]
    assert safety.fallback_p95 == dt.timedelta(seconds=float(np.percentile(remaining, 95)))
    assert safety.latest_safe == measured.must_end_by - safety.fallback_p95
    assert dt.timedelta(hours=2) < safety.fallback_p95 < dt.timedelta(hours=3.5)
    # The same seed, the same draws.
    again = confidence(plan, "DR1", runs, draws=4000, seed=7)
    assert again.scenarios[0].simulation.end_at(95) == measured.scenarios[0].simulation.end_at(95)


def test_a_run_of_another_plan_is_refused(tmp_path):
    plan = compile_sheets(tmp_path, gate_sheets()).plan
    other = run_results_from_json({**rehearsal("manual__1", 3), "plan": "other"})
    with pytest.raises(ValueError, match="a run of plan 'other', not 'resa'"):
        step_models(plan, "DR1", [other])


def forecast(*args: str) -> subprocess.CompletedProcess:
    assert TRANSITION
    return subprocess.run(
        [TRANSITION, "forecast", *args], capture_output=True, text=True, timeout=120
    )


def test_the_command_says_the_ends_the_chance_and_the_critical_steps(tmp_path):
    write_xlsx(tmp_path / "plan.xlsx", gate_sheets())
    config = str(write_config(tmp_path / "config.yaml", "plan.xlsx"))
    done = forecast(config, "--dry-run", "DR1", "--seed", "3", "--simulations", "2000")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "Dry run DR1 of plan resa: 2000 draws; 0 of its 6 steps measured in 0 runs, the others "
        "take their planned Duration."
    )
    assert lines[1].startswith("Every gate Go: P50 Sat 16 Jan 14:")
    assert " · ends by its End (Tue 19 Jan 18:00) in 100% of the draws" in lines[1]
    # A chain on Go: every step of it, always (B1 skipped); the order of the IDs on a tie.
    assert lines[2] == "  Most often on the critical path: F1 100%, F2 100%, G 100%, J 100%, S 100%"
    assert lines[3].startswith("Every gate No-go: P50 Sat 16 Jan 11:")
    # After a No-go at G: B1 then J, an hour each (medians): up to about 2 h 45 in 95% of the draws.
    assert re.fullmatch(
        r"Gate G: after a No-go the run goes on up to 2h[3-5]\dm \(P95\); decide by Tue 19 Jan "
        r"15:\d\d at the latest",
        lines[5],
    ), lines[5]
    assert forecast(config, "--dry-run", "DR1", "--seed", "3", "--simulations", "2000").stdout == (
        done.stdout
    )
    refused = forecast(config, "--dry-run", "DR7")
    assert refused.returncode == 2
    assert "unknown dry run 'DR7' (dry runs: DR1, LIVE)" in refused.stderr
    too_many = forecast(config, "--dry-run", "DR1", "--simulations", "5000000")
    assert too_many.returncode == 2 and "--simulations: from 100 to 1000000" in too_many.stderr
    bad_run = forecast(config, "--dry-run", "DR1", "--run", "nothing")
    assert bad_run.returncode == 2 and "give the run as DAG_ID/RUN_ID" in bad_run.stderr
