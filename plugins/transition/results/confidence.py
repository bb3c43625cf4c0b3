"""How likely a dry run ends in its window, from the plan's rehearsals (issue 29): each step's law
from the runs' measured durations (:mod:`transition.plan.duration_models`, the measures as
``transition calibrate`` takes them), then the Monte Carlo walk (:mod:`transition.plan.simulation`)
with every gate taken Go and, separately, No-go. At each gate, the latest safe decision: the dry
run's End less the time the run takes after a No-go there in 95% of the draws (its fallback).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transition.plan.duration_models import DurationModel, draw, duration_model
from transition.plan.forecast import planned_origin
from transition.plan.model import Plan
from transition.plan.simulation import Simulation, scenario_skips, simulate
from transition.results.calibration import Outcome, measure
from transition.results.data import RunResults

DRAWS = 10_000
REHEARSALS = 10  # the newest finished runs of each dry run the recap and the review measure
FINISHED = ("success", "failed")  # Airflow's states of a finished run


@dataclass(frozen=True)
class Scenario:
    name: str  # "go", "no-go", or "" (a dry run without gates)
    simulation: Simulation


@dataclass(frozen=True)
class GateSafety:
    """A gate's backout figures: how long the run goes on after a No-go there (95% of the draws)
    and, with an End, the latest moment to decide so that the fallback still ends by it."""

    gate: str
    fallback_p95: dt.timedelta
    latest_safe: dt.datetime | None


@dataclass(frozen=True)
class Confidence:
    dry_run: str
    must_end_by: dt.datetime | None  # the dry run's End
    models: dict[str, DurationModel]
    scenarios: tuple[Scenario, ...]
    runs: int  # the rehearsals measured
    gates: tuple[GateSafety, ...] = ()  # in plan order; the last is the point of no return


def step_models(
    plan: Plan, dry_run: str, runs: Sequence[RunResults] = ()
) -> dict[str, DurationModel]:
    """Each step of ``dry_run`` and its law, from what ``runs`` measured of it (any dry run of
    the plan: a step is the same work in each)."""
    measured: dict[str, list[dt.timedelta]] = {}
    for run in runs:
        if run.plan != plan.name:
            raise ValueError(
                f"{run.dag_id}/{run.run_id} is a run of plan '{run.plan}', not '{plan.name}'"
            )
        for result in run.steps:
            found = measure(result)
            if found.outcome is Outcome.MEASURED and found.duration is not None:
                measured.setdefault(result.id, []).append(found.duration)
    return {
        step_id: duration_model(plan.steps[step_id].duration, measured.get(step_id, []))
        for step_id in plan.schedules[dry_run].steps
    }


def confidence(
    plan: Plan,
    dry_run: str,
    runs: Sequence[RunResults] = (),
    draws: int = DRAWS,
    seed: int | None = None,
) -> Confidence:
    """The dry run's end as the rehearsals let one expect it, from its planned beginning."""
    schedule = plan.schedules[dry_run]
    models = step_models(plan, dry_run, runs)
    durations = draw(models, draws, np.random.default_rng(seed))
    origin = planned_origin(schedule, zoneinfo.ZoneInfo(plan.timezone))
    gates = [s for s in schedule.steps if plan.steps[s].is_gate]
    names = ("go", "no-go") if gates else ("",)
    scenarios = tuple(
        Scenario(
            name,
            simulate(
                schedule, durations, origin, skipped=_skipped(plan, dry_run, name), keep=set(gates)
            ),
        )
        for name in names
    )
    end = schedule.dry_run.end
    safety = []
    for gate in gates:
        after = scenarios[-1].simulation.after(gate, 95)  # the No-go draws
        safety.append(GateSafety(gate, after, end - after if end is not None else None))
    return Confidence(dry_run, end, models, scenarios, len(runs), tuple(safety))


def _skipped(plan: Plan, dry_run: str, name: str) -> set[str]:
    return scenario_skips(plan, dry_run, name) if name else set()
