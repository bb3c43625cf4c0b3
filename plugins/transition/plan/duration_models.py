"""How long each step may take, for the Monte Carlo forecast (:mod:`transition.plan.simulation`).

A step measured in the plan's rehearsals (Start → Close of its finished runs) takes a duration
drawn from a log-normal law whose median is the median of its measures and whose spread is theirs
(at least :data:`MIN_SPREAD`); with one or two measures the spread is :data:`UNMEASURED_SPREAD`.
A measure more than :data:`OUTLIER_RATIO` times the median of the others, or less than its
inverse, is left out (a step left open overnight is no duration). A step never measured takes its
planned Duration as median, with :data:`UNMEASURED_SPREAD`. A spread ``s`` puts 90% of the draws
between ``median × e^(-1.645 s)`` and ``median × e^(1.645 s)``: for 0.25, ×0.66 to ×1.51.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_SPREAD = 0.1  # of a step measured three times or more
UNMEASURED_SPREAD = 0.25  # of a step measured once or twice, or never
OUTLIER_RATIO = 3.0


@dataclass(frozen=True)
class DurationModel:
    """A step's law: its median in seconds, its spread (the log-normal's sigma), the measures it
    rests on and those left out as outliers."""

    median: float
    spread: float
    measures: tuple[float, ...] = ()
    outliers: tuple[float, ...] = ()

    @property
    def measured(self) -> bool:
        return bool(self.measures)


def duration_model(planned: dt.timedelta, measured: Sequence[dt.timedelta] = ()) -> DurationModel:
    """The law of a step whose Duration is ``planned``, measured ``measured`` in rehearsals."""
    seconds = [max(m.total_seconds(), 0.0) for m in measured]
    kept, outliers = _without_outliers(seconds)
    kept = [s for s in kept if s > 0]
    if not kept:
        return DurationModel(planned.total_seconds(), UNMEASURED_SPREAD, (), tuple(outliers))
    median = statistics.median(kept)
    spread = UNMEASURED_SPREAD
    if len(kept) >= 3:
        spread = max(statistics.pstdev(np.log(kept).tolist()), MIN_SPREAD)
    return DurationModel(median, spread, tuple(kept), tuple(outliers))


def _without_outliers(seconds: list[float]) -> tuple[list[float], list[float]]:
    if len(seconds) < 3:
        return seconds, []
    kept: list[float] = []
    left_out: list[float] = []
    for i, value in enumerate(seconds):
        others = statistics.median(seconds[:i] + seconds[i + 1 :])
        far = others > 0 and not (others / OUTLIER_RATIO <= value <= others * OUTLIER_RATIO)
        (left_out if far else kept).append(value)
    return kept, left_out


def draw(
    models: Mapping[str, DurationModel], draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``draws`` durations of each step, in seconds."""
    drawn: dict[str, np.ndarray] = {}
    for step_id, model in models.items():
        if model.median <= 0:
            drawn[step_id] = np.zeros(draws)
        else:
            drawn[step_id] = model.median * np.exp(model.spread * rng.standard_normal(draws))
    return drawn
