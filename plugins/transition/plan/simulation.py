"""Monte Carlo forecast of a dry run (issue 29): each step's duration drawn many times, the run
walked once per draw, all draws at once (numpy: one array of draws per step).

The walk is :func:`transition.plan.forecast.reckon`'s, vectorised: a step starts at the latest of
the moment the run is reckoned from, its Start and its prerequisites' ends; a step done keeps its
actual end, a step open its actual start. A step a decision skips (:func:`scenario_skips`) ends
nothing: it holds nobody back. Each draw's critical path is followed back from the step that ends
last, as ``reckon`` does, to count how often each step lies on it (its criticality).

Where the durations come from is :mod:`transition.plan.duration_models`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from transition.plan.forecast import Progress
from transition.plan.gates import branch_only
from transition.plan.graph import topological_order
from transition.plan.model import DryRunPlan, Plan

UTC = dt.UTC
NEVER = -np.inf  # the end of a step a decision skips: it binds nothing


@dataclass(frozen=True)
class Simulation:
    """What the draws say: the run's end in each draw (seconds after ``origin``), and how often each
    step lay on the critical path (0 to 1)."""

    origin: dt.datetime
    ends: np.ndarray  # (draws,)
    criticality: dict[str, float]
    step_ends: dict[str, np.ndarray] = field(default_factory=dict)  # the steps asked to keep

    def after(self, step_id: str, percent: float) -> dt.timedelta:
        """How long the run goes on after ``step_id`` ends, in ``percent`` % of the draws."""
        remaining = self.ends - self.step_ends[step_id]
        return dt.timedelta(seconds=float(np.percentile(remaining, percent)))

    @property
    def draws(self) -> int:
        return int(self.ends.size)

    def end_at(self, percent: float) -> dt.datetime:
        """The moment the run ends by in ``percent`` % of the draws (P50, P80, P95)."""
        seconds = float(np.percentile(self.ends, percent))
        return self.origin + dt.timedelta(seconds=seconds)

    def chance_by(self, moment: dt.datetime) -> float:
        """How often the run ends by ``moment`` (0 to 1)."""
        limit = (moment.astimezone(UTC) - self.origin).total_seconds()
        return float(np.mean(self.ends <= limit))


def scenario_skips(plan: Plan, dry_run: str, decision: str) -> set[str]:
    """The steps skipped when every gate of the dry run is decided ``decision`` ("go", "no-go")."""
    skipped: set[str] = set()
    for step_id in plan.schedules[dry_run].steps:
        if plan.steps[step_id].is_gate:
            skipped |= branch_only(plan, dry_run, step_id, decision)
    return skipped


def simulate(
    schedule: DryRunPlan,
    durations: Mapping[str, np.ndarray],
    origin: dt.datetime,
    progress: Mapping[str, Progress] | None = None,
    skipped: set[str] | None = None,
    keep: set[str] | None = None,
) -> Simulation:
    """Walk ``schedule`` once per draw: ``durations`` gives each step's drawn durations in seconds
    (arrays of one length: the number of draws); ``keep``: the steps whose ends to keep."""
    progress = progress or {}
    skipped = skipped or set()
    origin = origin.astimezone(UTC)
    upstream = {s.step_id: s.upstream for s in schedule.steps.values()}
    order = topological_order(upstream)
    index = {step_id: i for i, step_id in enumerate(order)}
    draws = len(next(iter(durations.values()))) if durations else 1
    ends = np.empty((len(order), draws))
    cause = np.full((len(order), draws), -1, dtype=np.int64)
    for i, step_id in enumerate(order):
        ends[i] = _end(schedule, step_id, durations, origin, progress, skipped, ends, cause, index)
    if not order:
        return Simulation(origin, np.zeros(1), {})
    last = _last(ends, order)
    on_path = _critical(cause, last)
    criticality = {step_id: float(on_path[i].mean()) for i, step_id in enumerate(order)}
    kept = {s: ends[index[s]].copy() for s in keep or () if s in index}
    return Simulation(origin, ends[last, np.arange(ends.shape[1])], criticality, kept)


def _end(
    schedule: DryRunPlan,
    step_id: str,
    durations: Mapping[str, np.ndarray],
    origin: dt.datetime,
    progress: Mapping[str, Progress],
    skipped: set[str],
    ends: np.ndarray,
    cause: np.ndarray,
    index: Mapping[str, int],
) -> np.ndarray:
    """The step's end in each draw (and, in ``cause``, the prerequisite that set its start)."""
    draws = ends.shape[1]
    known = progress.get(step_id, Progress())
    if known.done:
        end = (known.ended_at or origin).astimezone(UTC)
        return np.full(draws, _seconds(end, origin))
    if step_id in skipped:
        return np.full(draws, NEVER)
    duration = durations[step_id]
    if known.started_at is not None:
        return np.maximum(_seconds(known.started_at, origin) + duration, 0.0)
    scheduled = schedule.steps[step_id]
    start = np.zeros(draws)
    if scheduled.not_before is not None:
        start = np.maximum(start, _seconds(scheduled.not_before, origin))
    row = cause[index[step_id]]
    for up in scheduled.upstream:
        later = ends[index[up]] > start
        start = np.where(later, ends[index[up]], start)
        row[later] = index[up]
    return start + duration


def _last(ends: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """The step that ends last in each draw; of those ending together, the one whose ID sorts last
    (as ``reckon``)."""
    by_id = np.array(sorted(range(len(order)), key=lambda i: order[i], reverse=True))
    return by_id[np.argmax(ends[by_id], axis=0)]


def _critical(cause: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Which steps lie on each draw's critical path: from the last, back through each cause."""
    on_path = np.zeros(cause.shape, dtype=bool)
    draws = np.arange(cause.shape[1])
    current, active = last.copy(), np.ones(cause.shape[1], dtype=bool)
    for _step in range(cause.shape[0]):
        on_path[current[active], draws[active]] = True
        previous = cause[current, draws]
        active &= previous >= 0
        if not active.any():
            break
        current = np.where(active, previous, current)
    return on_path


def _seconds(moment: dt.datetime, origin: dt.datetime) -> float:
    return (moment.astimezone(UTC) - origin).total_seconds()
