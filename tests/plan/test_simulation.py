"""The Monte Carlo forecast's walk (transition.plan.simulation) and the durations' laws
(transition.plan.duration_models), against what is known exactly: durations that do not vary give
today's forecast, a chain of independent normal durations the normal law of their sum, and the
gates' decisions skip their other branch."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from conftest import base_sheets, compile_sheets, gate_sheets
from transition.plan.duration_models import (
    MIN_SPREAD,
    UNMEASURED_SPREAD,
    draw,
    duration_model,
)
from transition.plan.forecast import Progress, planned_origin, reckon
from transition.plan.model import DryRunPlan, ScheduledStep
from transition.plan.simulation import scenario_skips, simulate

UTC = dt.UTC
M = dt.timedelta(minutes=1)


def plan_of(tmp_path, sheets):
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def constant(plan, dry_run: str, draws: int = 3) -> dict[str, np.ndarray]:
    steps = plan.schedules[dry_run].steps
    return {s: np.full(draws, plan.steps[s].duration.total_seconds()) for s in steps}


@pytest.mark.parametrize("sheets", [base_sheets, gate_sheets], ids=["base", "gate"])
def test_durations_that_do_not_vary_give_todays_forecast_and_its_critical_path(tmp_path, sheets):
    plan = plan_of(tmp_path, sheets())
    schedule = plan.schedules["DR1"]
    origin = planned_origin(schedule)
    today = reckon(schedule, plan.steps, origin)
    simulated = simulate(schedule, constant(plan, "DR1"), origin)
    for percent in (50, 80, 95):
        assert simulated.end_at(percent) == today.end
    assert simulated.chance_by(today.end) == 1.0
    assert simulated.chance_by(today.end - dt.timedelta(seconds=1)) == 0.0
    on_path = sorted(s for s, share in simulated.criticality.items() if share == 1.0)
    assert on_path == sorted(today.critical_path)
    assert all(share == 0.0 for s, share in simulated.criticality.items() if s not in on_path)


def test_what_is_done_or_open_counts_as_today(tmp_path):
    """PP-010 closed late, PP-020 open since a while: the same ends as today's forecast from now."""
    plan = plan_of(tmp_path, base_sheets())
    schedule = plan.schedules["DR1"]
    first = min(s.planned_start for s in schedule.steps.values() if s.planned_start)
    progress = {
        "PP-010": Progress(done=True, started_at=first, ended_at=first + 95 * M),
        "PP-020": Progress(started_at=first + 100 * M),
    }
    now = first + 3 * dt.timedelta(hours=1)
    today = reckon(schedule, plan.steps, now, progress)
    simulated = simulate(schedule, constant(plan, "DR1"), now, progress)
    assert simulated.end_at(50) == today.end


def test_a_chain_of_normal_durations_ends_as_the_normal_law_of_their_sum():
    """Twenty steps one after the other, each N(mean, sd) independent: the end is N(sum of the
    means, root of the sum of the variances); P50 and P95 within 2% of the exact values."""
    origin = dt.datetime(2027, 1, 16, 8, tzinfo=UTC)
    ids = [f"S{n:02d}" for n in range(20)]
    steps = {
        step: ScheduledStep(step, (ids[n - 1],) if n else (), None, None, None)
        for n, step in enumerate(ids)
    }
    schedule = DryRunPlan(dry_run=None, steps=steps)  # type: ignore[arg-type]
    rng = np.random.default_rng(2027)
    means = [600.0 + 120 * n for n in range(20)]
    sds = [60.0 + 30 * n for n in range(20)]
    durations = {s: rng.normal(m, sd, 10_000) for s, m, sd in zip(ids, means, sds, strict=True)}
    simulated = simulate(schedule, durations, origin)
    mean, sd = sum(means), math.sqrt(sum(x * x for x in sds))
    for percent, z in ((50, 0.0), (95, 1.6448536)):
        exact = mean + z * sd
        got = (simulated.end_at(percent) - origin).total_seconds()
        assert abs(got - exact) <= 0.02 * exact, (percent, got, exact)
    assert simulated.criticality == dict.fromkeys(ids, 1.0)  # a chain: every step, always


def test_each_decision_skips_the_other_branch(tmp_path):
    """S ─► G ─► F1 ─► F2 ─► J, G ─► B1 (fallback) ─► J: on Go B1 holds nobody back, on No-go F1
    and F2 do not; J, the join, runs either way."""
    plan = plan_of(tmp_path, gate_sheets())
    schedule = plan.schedules["DR1"]
    assert scenario_skips(plan, "DR1", "go") == {"B1"}
    assert scenario_skips(plan, "DR1", "no-go") == {"F1", "F2"}
    origin = planned_origin(schedule)
    durations = constant(plan, "DR1")
    durations["B1"] = durations["B1"] * 10  # a fallback of ten hours
    go = simulate(schedule, durations, origin, skipped=scenario_skips(plan, "DR1", "go"))
    nogo = simulate(schedule, durations, origin, skipped=scenario_skips(plan, "DR1", "no-go"))
    # S 08:00-09:00, G 09:30, then F1 3h + F2 1h (Go) or B1 10h (No-go), then J 1h
    assert go.end_at(50) - origin == dt.timedelta(hours=6.5)
    assert nogo.end_at(50) - origin == dt.timedelta(hours=12.5)
    assert go.criticality["B1"] == 0.0 and go.criticality["F1"] == 1.0
    assert nogo.criticality["B1"] == 1.0 and nogo.criticality["F2"] == 0.0


def test_the_laws_of_measured_never_measured_and_outlying_durations():
    never = duration_model(30 * M)
    assert (never.median, never.spread, never.measured) == (1800.0, UNMEASURED_SPREAD, False)
    twice = duration_model(30 * M, [20 * M, 40 * M])
    assert (twice.median, twice.spread) == (1800.0, UNMEASURED_SPREAD)
    alike = duration_model(30 * M, [45 * M, 45 * M, 45 * M])
    assert (alike.median, alike.spread) == (2700.0, MIN_SPREAD)
    # Left open overnight in one rehearsal: no duration of the step's.
    overnight = duration_model(30 * M, [40 * M, 50 * M, 14 * 60 * M, 45 * M])
    assert overnight.outliers == (14 * 3600.0,) and overnight.median == 45 * 60
    spread = duration_model(30 * M, [20 * M, 40 * M, 60 * M])
    assert spread.spread == pytest.approx(np.std(np.log([1200, 2400, 3600])))
    # Drawn: their median is the law's, 90% of them within e^(±1.645 s).
    drawn = draw(
        {"A": never, "G": duration_model(dt.timedelta(0))}, 20_000, np.random.default_rng(1)
    )
    assert np.median(drawn["A"]) == pytest.approx(1800, rel=0.02)
    assert np.percentile(drawn["A"], 95) == pytest.approx(1800 * math.exp(1.645 * 0.25), rel=0.02)
    assert not drawn["G"].any()  # a step of no duration (a gate) stays so
