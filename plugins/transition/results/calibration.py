"""Each step's Duration for the next dry run, proposed from what runs measured (``transition calibrate``).

The rules (docs/command-line.md, "Calibrating the next dry run" and the Calibration sheet say them too):

* a step's measure in a run is Start → Close (the recap's actual start and end) of a step that was
  started, then closed; several runs: the median of their measures, then :func:`round_duration`;
* a step closed without a Start (straight from Ready: its recorded Start is its Close, to the
  microsecond; or marked done in Airflow: no Start) has no measure: its Duration is kept, and the
  sheet says so; likewise a step started and not closed;
* a step that did not run (skipped, not reached, not in the dry runs given) keeps its Duration;
* a gate (Kind ``gate``) is not calibrated: it has no Start, its time is the wait for a decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from transition.i18n import _
from transition.plan.model import Plan, Step
from transition.results.data import RunResults, StepResult
from transition.vocabulary import State
from transition.workbook.cells import MAX_DURATION

# Rounding: to the nearest 5 minutes below 1 h, 15 minutes below 4 h, 30 minutes from 4 h on (a
# half rounds up), and never below 5 minutes: a plan reads "1h15", not "1h12m37s".
ROUNDING: tuple[tuple[dt.timedelta | None, dt.timedelta], ...] = (
    (dt.timedelta(hours=1), dt.timedelta(minutes=5)),
    (dt.timedelta(hours=4), dt.timedelta(minutes=15)),
    (None, dt.timedelta(minutes=30)),
)
SHORTEST = dt.timedelta(minutes=5)


def round_duration(measured: dt.timedelta) -> dt.timedelta:
    """``measured`` rounded as :data:`ROUNDING` says, at least :data:`SHORTEST`, at most the
    longest Duration the workbook accepts."""
    unit = next(unit for below, unit in ROUNDING if below is None or measured < below)
    rounded = ((measured + unit / 2) // unit) * unit
    return min(max(rounded, SHORTEST), MAX_DURATION)


class Outcome(str, Enum):
    """What one run says of one step."""

    MEASURED = "measured"  # started, then closed: Start → Close
    NO_START = "no start"  # closed without a Start: nothing measured
    NOT_CLOSED = "not closed"  # started, not closed (Open, Late, or failed after its Start)
    SKIPPED = "skipped"  # not executed (a gate's decision)
    NOT_REACHED = "not reached"  # still waiting when the run was read
    ABSENT = "absent"  # not part of that run's dry run


class Verdict(str, Enum):
    """What becomes of a step's Duration."""

    CALIBRATED = "calibrated"  # the median of its measures, rounded
    NO_START = "no start"  # kept: closed without a Start in every run that closed it
    NOT_CLOSED = "not closed"  # kept: started and not closed
    NOT_RUN = "not run"  # kept: skipped, not reached, or not in the dry runs given
    GATE = "gate"  # kept: gates are not calibrated


@dataclass(frozen=True)
class Measure:
    outcome: Outcome
    duration: dt.timedelta | None = None  # Start → Close, when measured
    taken_over: bool = False  # an automated step a person closed: their work is in the duration


@dataclass(frozen=True)
class StepCalibration:
    step: Step
    planned: dt.timedelta  # the Duration in effect: the cell's, else the plan's default
    measures: tuple[Measure, ...]  # one per run, in the order the runs were given
    verdict: Verdict
    median: dt.timedelta | None
    proposed: dt.timedelta

    @property
    def changed(self) -> bool:
        return self.proposed != self.planned

    @property
    def change(self) -> dt.timedelta:
        return self.proposed - self.planned


@dataclass(frozen=True)
class Calibration:
    runs: tuple[RunResults, ...]
    steps: tuple[StepCalibration, ...]  # in workbook order

    def with_verdict(self, *verdicts: Verdict) -> list[StepCalibration]:
        return [s for s in self.steps if s.verdict in verdicts]

    @property
    def changed(self) -> list[StepCalibration]:
        return [s for s in self.steps if s.changed]


def measure(result: StepResult | None) -> Measure:
    if result is None:
        return Measure(Outcome.ABSENT)
    if result.state == State.SKIPPED.value:
        return Measure(Outcome.SKIPPED)
    if result.state == State.TERMINATED.value:
        # Closed straight from Ready: the step records its Close as its Start too (same moment);
        # marked done in Airflow: no Start at all. Either way nothing was measured.
        if result.actual_duration is None or result.actual_start == result.actual_end:
            return Measure(Outcome.NO_START)
        taken_over = bool((result.automation or {}).get("taken_over"))
        return Measure(Outcome.MEASURED, max(result.actual_duration, dt.timedelta(0)), taken_over)
    if result.actual_start is not None:
        return Measure(Outcome.NOT_CLOSED)
    return Measure(Outcome.NOT_REACHED)


def _verdict(step: Step, measures: Sequence[Measure]) -> Verdict:
    outcomes = {m.outcome for m in measures}
    if step.is_gate:
        return Verdict.GATE
    if Outcome.MEASURED in outcomes:
        return Verdict.CALIBRATED
    if Outcome.NO_START in outcomes:
        return Verdict.NO_START
    if Outcome.NOT_CLOSED in outcomes:
        return Verdict.NOT_CLOSED
    return Verdict.NOT_RUN


def _median(durations: Sequence[dt.timedelta]) -> dt.timedelta:
    ordered = sorted(durations)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def calibrate(plan: Plan, runs: Sequence[RunResults]) -> Calibration:
    """Every step of the plan, in workbook order, with its measures in ``runs`` and its proposed
    Duration; ValueError for a run of another plan."""
    for run in runs:
        if run.plan != plan.name:
            raise ValueError(
                _(
                    "run {run} is a dry run of plan '{other}', not of '{plan}': give runs of the plan "
                    "to calibrate"
                ).format(run=f"{run.dag_id}/{run.run_id}", other=run.plan, plan=plan.name)
            )
    by_run = [{s.id: s for s in run.steps} for run in runs]
    steps = []
    for step in sorted(plan.steps.values(), key=lambda s: s.row):
        measures = tuple(measure(found.get(step.id)) for found in by_run)
        verdict = _verdict(step, measures)
        measured = [m.duration for m in measures if m.duration is not None]
        median = _median(measured) if measured else None
        proposed = (
            round_duration(median)
            if verdict is Verdict.CALIBRATED and median is not None
            else step.duration
        )
        steps.append(StepCalibration(step, step.duration, measures, verdict, median, proposed))
    return Calibration(tuple(runs), tuple(steps))
