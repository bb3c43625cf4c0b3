"""The review after a run (issue 29): one self-contained HTML page, in the plan's language, of what
the run did against its plan: the recap's timeline, the S-curve of steps closed, the variance per
phase and the steps that slipped most, decisions, defects, forced closes and transfers, the trend
of each phase across the dry runs, the forecast's distribution, lessons and a sign-off block.

Pure: the plan, the run view, its results, the comparison and the forecast in; figures
(:func:`build_review`) and the page (:func:`review_html`) out. ``transition review`` reads them
through the REST API, the api-server's ``review.html`` from its database (docs/command-line.md).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from transition.i18n import _, current_language, format_moment, use_language
from transition.notifications.mail import template_environment
from transition.plan.model import Plan
from transition.results.confidence import Confidence, GateSafety
from transition.results.data import (
    DONE,
    Defect,
    DryRunComparison,
    PhaseResult,
    RunResults,
    StepResult,
    Transfer,
    phase_results,
)
from transition.results.review_charts import (
    MARK_COLOURS,
    Bin,
    CurvePoint,
    Mark,
    closed_curve,
    histogram,
    histogram_svg,
    s_curve_svg,
)
from transition.runs.states import state_name
from transition.runs.timeline_svg import CRITICAL_COLOUR, timeline_svg
from transition.runs.views import RunView
from transition.workbook.cells import format_duration

SEED = 29  # the same runs, the same histogram: a review made twice says the same
SHOWN_SLIPS = 10  # the steps that slipped most, and those that overran most
PERCENTS = (50, 80, 95)
LESSON_LINES = 8  # empty lines to fill


@dataclass(frozen=True)
class PhaseVariance:
    phase: str
    name: str
    steps: int
    closed: int
    planned: dt.timedelta | None  # first planned start to last planned end
    actual: dt.timedelta | None  # first actual start to last actual end (so far, while open)
    planned_end: dt.datetime | None
    actual_end: dt.datetime | None  # once every step of the phase is closed

    @property
    def variance(self) -> dt.timedelta | None:
        return self.actual - self.planned if self.actual is not None and self.planned else None

    @property
    def end_slip(self) -> dt.timedelta | None:
        if self.actual_end is None or self.planned_end is None:
            return None
        return self.actual_end - self.planned_end


@dataclass(frozen=True)
class Slip:
    step: StepResult
    end_slip: dt.timedelta  # actual end less planned end
    overrun: dt.timedelta | None  # actual duration less planned duration


@dataclass(frozen=True)
class GateDecision:
    gate: str
    label: str
    decision: str  # "go", "no-go"
    by: str
    at: dt.datetime | None
    comment: str
    go: tuple[str, ...]  # who said Go


@dataclass(frozen=True)
class ForecastFigures:
    draws: int
    runs: int  # the finished rehearsals measured
    measured: int  # steps measured in them
    steps: int
    bins: tuple[Bin, ...]  # the Go scenario's ends
    percentiles: tuple[tuple[int, dt.datetime], ...]
    must_end_by: dt.datetime | None
    chance: float | None  # of ending by the End
    gates: tuple[GateSafety, ...]


@dataclass(frozen=True)
class SignOff:
    role: str
    name: str


@dataclass(frozen=True)
class Review:
    results: RunResults
    phase_names: dict[str, str]
    generated_at: dt.datetime
    planned_curve: tuple[CurvePoint, ...]
    actual_curve: tuple[CurvePoint, ...]
    variances: tuple[PhaseVariance, ...]
    slipped: tuple[Slip, ...]  # by end slip, most first
    overran: tuple[Slip, ...]  # by duration overrun, most first
    decisions: tuple[GateDecision, ...]
    forced: tuple[StepResult, ...]
    transfers: tuple[Transfer, ...]
    comparison: tuple[DryRunComparison, ...]  # the dry runs, in D-day order
    forecast: ForecastFigures | None
    sign_off: tuple[SignOff, ...]

    @property
    def defects(self) -> tuple[Defect, ...]:
        return self.results.defects


def variances(results: RunResults, names: dict[str, str]) -> tuple[PhaseVariance, ...]:
    """Each phase of the run: its planned and actual time, and when it ended against its plan."""
    found = []
    for result in phase_results(results).phases:
        steps = [s for s in results.steps if s.phase == result.phase]
        planned_ends = [s.planned_end for s in steps if s.planned_end]
        actual_ends = [s.actual_end for s in steps if s.actual_end]
        found.append(
            PhaseVariance(
                result.phase,
                names.get(result.phase, ""),
                result.steps,
                result.closed,
                result.planned,
                result.actual,
                max(planned_ends) if planned_ends else None,
                max(actual_ends) if actual_ends and result.finished else None,
            )
        )
    return tuple(found)


def slips(results: RunResults) -> tuple[tuple[Slip, ...], tuple[Slip, ...]]:
    """The closed steps that ended most after their planned end, and those that took most longer
    than planned (:data:`SHOWN_SLIPS` each, later than planned only; the ID breaks a tie)."""
    found = [
        Slip(
            s,
            s.actual_end - s.planned_end,
            s.actual_duration - s.planned_duration
            if s.actual_duration is not None and s.planned_duration is not None
            else None,
        )
        for s in results.steps
        if s.actual_end is not None and s.planned_end is not None and s.state in DONE
    ]
    zero = dt.timedelta(0)
    slipped = sorted(
        (f for f in found if f.end_slip > zero), key=lambda f: (-f.end_slip, f.step.id)
    )
    overran = sorted(
        (f for f in found if f.overrun is not None and f.overrun > zero),
        key=lambda f: (-(f.overrun or zero), f.step.id),
    )
    return tuple(slipped[:SHOWN_SLIPS]), tuple(overran[:SHOWN_SLIPS])


def _moment(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(zone)
    except ValueError:
        return None


def decisions(results: RunResults) -> tuple[GateDecision, ...]:
    """The gates decided in the run, in plan order."""
    zone = zoneinfo.ZoneInfo(results.timezone)
    return tuple(
        GateDecision(
            s.id,
            s.label,
            str(s.decision.get("decision") or ""),
            str(s.decision.get("by") or ""),
            _moment(s.decision.get("at"), zone),
            str(s.decision.get("comment") or ""),
            tuple(str(p) for p in s.decision.get("go") or ()),
        )
        for s in results.steps
        if s.decision
    )


def forecast_figures(found: Confidence) -> ForecastFigures:
    """The Go scenario's ends (every gate Go; a dry run without gates: its one scenario)."""
    simulation = found.scenarios[0].simulation
    ends = [float(v) for v in simulation.ends]
    return ForecastFigures(
        draws=simulation.draws,
        runs=found.runs,
        measured=sum(1 for m in found.models.values() if m.measured),
        steps=len(found.models),
        bins=histogram(simulation.origin, ends),
        percentiles=tuple((p, simulation.end_at(p)) for p in PERCENTS),
        must_end_by=found.must_end_by,
        chance=simulation.chance_by(found.must_end_by) if found.must_end_by else None,
        gates=found.gates,
    )


def sign_off(plan: Plan, phases: Sequence[str]) -> tuple[SignOff, ...]:
    """The cutover managers by name, then one line per phase of the run (the plan names no owner
    of a phase: the name is written by hand)."""
    managers = [
        SignOff(_("Cutover manager"), plan.actors[m].name if m in plan.actors else m)
        for m in plan.cutover_managers
    ]
    owners = [
        SignOff(
            _("Owner of phase {phase}").format(phase=f"{code} {plan.phases.get(code, '')}".strip()),
            "",
        )
        for code in phases
    ]
    return (*managers, *owners)


def build_review(
    plan: Plan,
    results: RunResults,
    comparison: Sequence[DryRunComparison],
    found: Confidence | None,
    generated_at: dt.datetime,
) -> Review:
    """The review's figures (language-neutral but for the sign-off's roles)."""
    slipped, overran = slips(results)
    transfers = sorted(
        (t for s in results.steps for t in s.transfers),
        key=lambda t: (t.created_at is None, t.created_at or generated_at, t.id),
    )
    return Review(
        results=results,
        phase_names=dict(plan.phases),
        generated_at=generated_at.astimezone(zoneinfo.ZoneInfo(results.timezone)),
        planned_curve=closed_curve(s.planned_end for s in results.steps),
        actual_curve=closed_curve(
            s.actual_end for s in results.steps if s.state in DONE and s.actual_end
        ),
        variances=variances(results, dict(plan.phases)),
        slipped=slipped,
        overran=overran,
        decisions=decisions(results),
        forced=tuple(s for s in results.steps if s.forced_close),
        transfers=tuple(transfers),
        comparison=tuple(comparison),
        forecast=forecast_figures(found) if found is not None else None,
        sign_off=sign_off(plan, results.phases),
    )


def signed(delta: dt.timedelta | None) -> str:
    """A duration with its sign: ``+1h30m``, ``-15m``, ``0m``; ``—`` when unknown."""
    if delta is None:
        return "—"
    sign = "-" if delta < dt.timedelta(0) else "+" if delta > dt.timedelta(0) else ""
    return sign + format_duration(abs(delta))


def _charts(review: Review) -> dict[str, Markup]:
    """The S-curve and the histogram, as SVG (escaped by their drawing)."""
    zone = zoneinfo.ZoneInfo(review.results.timezone)
    end = review.results.must_end_by
    ends = [Mark(_("End"), end, CRITICAL_COLOUR)] if end else []
    curve = s_curve_svg(
        review.planned_curve, review.actual_curve, len(review.results.steps), zone, ends
    )
    forecast = review.forecast
    spread = ""
    if forecast is not None:
        marks = [Mark(f"P{p}", at, MARK_COLOURS[p]) for p, at in forecast.percentiles]
        spread = histogram_svg(forecast.bins, zone, [*marks, *ends])
    return {"s_curve": Markup(curve), "histogram": Markup(spread)}


def trend_rows(
    review: Review,
) -> list[tuple[str, str, list[PhaseResult | None]]]:
    """Each phase of any compared run: code, name, and its result in each dry run."""
    codes = list(dict.fromkeys(p.phase for c in review.comparison for p in c.phases))
    order = list(review.phase_names)
    codes.sort(key=lambda c: order.index(c) if c in order else len(order))
    return [
        (code, review.phase_names.get(code, ""), [c.phase(code) for c in review.comparison])
        for code in codes
    ]


def _in_zone(zone: dt.tzinfo) -> Any:
    """How the page writes a moment: in the plan's time zone (the draws' are in UTC)."""

    def at(moment: dt.datetime | None) -> str:
        return format_moment(moment.astimezone(zone), "datetime") if moment is not None else "—"

    return at


def review_html(review: Review, view: RunView) -> str:
    """The page, in the current language: ``view`` (the run view the results were read from)
    drawn as the recap's timeline."""
    results = review.results
    return (
        template_environment()
        .get_template("review.html.j2")
        .render(
            lang=current_language(),
            review=review,
            results=results,
            state=state_name,
            timeline=Markup(timeline_svg(view)),
            trend=trend_rows(review),
            at=_in_zone(zoneinfo.ZoneInfo(results.timezone)),
            span=lambda d: format_duration(d) if d is not None else "—",
            signed=signed,
            name_of=results.name_of,
            lesson_lines=range(LESSON_LINES),
            **_charts(review),
        )
    )


def review_page(
    plan: Plan,
    view: RunView,
    results: RunResults,
    comparison: Sequence[DryRunComparison],
    found: Confidence | None,
    generated_at: dt.datetime,
    language: str | None = None,
) -> str:
    """The review of a run as one HTML page, in ``language`` (default: the plan's)."""
    with use_language(language or plan.language):
        return review_html(build_review(plan, results, comparison, found, generated_at), view)
