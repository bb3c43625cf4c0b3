"""The review's two charts, drawn as SVG by the server as the recap's timeline is: the S-curve of
steps closed over time (planned against actual) and the histogram of the forecast's end.

Pure (figures in, text out): no plotting library, no script, every text escaped; the figures
(:func:`closed_curve`, :func:`histogram`) are computed here too, so a test reads them directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from transition.i18n import _
from transition.runs.timeline_svg import CRITICAL_COLOUR, PLANNED_COLOUR, text

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 34, 40  # the plot's margins, in px
ACTUAL_COLOUR = "#2e75b6"
BAR_COLOUR = "#9dc3e6"
TICKS = 6  # time ticks on an axis, about
BINS = 30  # the histogram's bars
MARK_COLOURS = {50: "#2e75b6", 80: "#c55a11", 95: "#7030a0"}  # P50, P80, P95; the End red


@dataclass(frozen=True)
class CurvePoint:
    at: dt.datetime
    closed: int  # steps closed by then (this one included)


@dataclass(frozen=True)
class Bin:
    start: dt.datetime
    end: dt.datetime
    count: int


@dataclass(frozen=True)
class Mark:
    """A vertical line on a chart: P50, P80, P95, the dry run's End."""

    label: str
    at: dt.datetime
    colour: str = CRITICAL_COLOUR


def closed_curve(moments: Iterable[dt.datetime | None]) -> tuple[CurvePoint, ...]:
    """How many steps are closed at each moment one is (the moments of those that are)."""
    known = sorted(m for m in moments if m is not None)
    return tuple(CurvePoint(moment, index + 1) for index, moment in enumerate(known))


def histogram(origin: dt.datetime, seconds: Sequence[float], bins: int = BINS) -> tuple[Bin, ...]:
    """``seconds`` after ``origin`` counted in ``bins`` bars of equal width (all of them: the
    counts add up to ``len(seconds)``)."""
    if not seconds:
        return ()
    low, high = min(seconds), max(seconds)
    width = (high - low) / bins if high > low else 60.0
    counts = [0] * bins
    for value in seconds:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return tuple(
        Bin(
            origin + dt.timedelta(seconds=low + i * width),
            origin + dt.timedelta(seconds=low + (i + 1) * width),
            count,
        )
        for i, count in enumerate(counts)
    )


@dataclass(frozen=True)
class _Axis:
    first: dt.datetime
    last: dt.datetime

    def x(self, moment: dt.datetime) -> float:
        span = (self.last - self.first).total_seconds() or 1.0
        return LEFT + (moment - self.first).total_seconds() / span * (WIDTH - LEFT - RIGHT)


def _y(value: float, top: float) -> float:
    return HEIGHT - BOTTOM - (value / (top or 1)) * (HEIGHT - TOP - BOTTOM)


def _open(title: str, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{kind}" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Arial, Helvetica, '
        f'sans-serif" font-size="11" role="img" aria-label="{text(title)}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]


def _time_axis(axis: _Axis, zone: dt.tzinfo) -> list[str]:
    """About :data:`TICKS` evenly spaced ticks, each with its local date and time."""
    parts = [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#595959"/>'
    ]
    span = axis.last - axis.first
    for index in range(TICKS + 1):
        moment = axis.first + span * index / TICKS
        x = axis.x(moment)
        local = moment.astimezone(zone)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM + 4}" '
            'stroke="#e6e6e6"/>'
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f'{local:%m-%d}</text><text x="{x:.1f}" y="{HEIGHT - BOTTOM + 29}" '
            f'text-anchor="middle">{local:%H:%M}</text>'
        )
    return parts


def _count_axis(top: int) -> list[str]:
    parts = [f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#595959"/>']
    step = max(1, -(-top // 5))
    for value in range(0, top + 1, step):
        y = _y(value, top)
        parts.append(
            f'<line x1="{LEFT - 4}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eeeeee"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{value}</text>"
        )
    return parts


def _legend(entries: Sequence[tuple[str, str, str]]) -> str:
    """Swatches over the plot: (name, colour, dash)."""
    parts, x = [], LEFT
    for name, colour, dash in entries:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 22}" y1="14" y2="14" stroke="{colour}" '
            f'stroke-width="2.5"{dashed}/><text x="{x + 27}" y="18">{text(name)}</text>'
        )
        x += 40 + 6 * len(name)
    return "".join(parts)


def _mark(mark: Mark, axis: _Axis, row: int) -> str:
    x = axis.x(mark.at)
    return (
        f'<g class="mark"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{mark.colour}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        f'<text x="{x + 3:.1f}" y="{TOP + 10 + 12 * row}" fill="{mark.colour}" '
        f'font-weight="bold">{text(mark.label)}</text></g>'
    )


def _framed(
    moments: Sequence[dt.datetime], marks: Sequence[Mark], pad: dt.timedelta, zone: dt.tzinfo
) -> tuple[_Axis, list[str]]:
    """The time axis around ``moments`` (and the marks near them), and the marks drawn on it: a
    mark far off the data (an End days after the run) is named at the chart's edge instead of
    squeezing the data into a corner."""
    first, last = min(moments), max(moments)
    near = (last - first) / 4 + pad
    inside = [m for m in marks if first - near <= m.at <= last + near]
    shown = [*moments, *(m.at for m in inside)]
    axis = _Axis(min(shown) - pad, max(shown) + pad)
    parts = [_mark(mark, axis, row) for row, mark in enumerate(inside)]
    for row, mark in enumerate(m for m in marks if m not in inside):
        after = mark.at > last
        caption = f"{mark.label} {mark.at.astimezone(zone):%m-%d %H:%M}"
        parts.append(
            f'<text class="mark-off" x="{WIDTH - RIGHT if after else LEFT + 4}" '
            f'y="{TOP + 10 + 12 * row}" text-anchor="{"end" if after else "start"}" '
            f'fill="{mark.colour}" font-weight="bold">'
            f"{'' if after else '← '}{text(caption)}{' →' if after else ''}</text>"
        )
    return axis, parts


def _steps_path(points: Sequence[CurvePoint], axis: _Axis, top: int) -> str:
    """A staircase: flat until a step closes, then one up."""
    x0 = axis.x(axis.first)
    coordinates = [f"{x0:.1f},{_y(0, top):.1f}"]
    for point in points:
        x = axis.x(point.at)
        coordinates += [f"{x:.1f},{_y(point.closed - 1, top):.1f}"]
        coordinates += [f"{x:.1f},{_y(point.closed, top):.1f}"]
    return " ".join(coordinates)


def s_curve_svg(
    planned: Sequence[CurvePoint],
    actual: Sequence[CurvePoint],
    total: int,
    zone: dt.tzinfo,
    marks: Sequence[Mark] = (),
) -> str:
    """Steps closed over time: planned (grey, dashed) and actual (blue), out of ``total``."""
    title = _("Steps closed over time")
    moments = [p.at for p in (*planned, *actual)]
    if not moments:
        return ""
    axis, drawn = _framed(moments, marks, dt.timedelta(minutes=30), zone)
    top = max(total, 1)
    parts = [*_open(title, "s-curve"), *_count_axis(top), *_time_axis(axis, zone)]
    for points, colour, dash, kind in (
        (planned, PLANNED_COLOUR, "6 3", "planned"),
        (actual, ACTUAL_COLOUR, "", "actual"),
    ):
        if points:
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline class="{kind}" fill="none" stroke="{colour}" stroke-width="2.5"'
                f'{dashed} points="{_steps_path(points, axis, top)}"/>'
            )
    parts += drawn
    parts.append(_legend([(_("planned"), PLANNED_COLOUR, "6 3"), (_("actual"), ACTUAL_COLOUR, "")]))
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(bins: Sequence[Bin], zone: dt.tzinfo, marks: Sequence[Mark] = ()) -> str:
    """The draws' ends as bars, with the percentiles and the End as lines."""
    if not bins:
        return ""
    title = _("The forecast's end, over the draws")
    pad = (bins[-1].end - bins[0].start) / 20 or dt.timedelta(minutes=5)
    axis, drawn = _framed([bins[0].start, bins[-1].end], marks, pad, zone)
    top = max(b.count for b in bins)
    parts = [*_open(title, "histogram"), *_count_axis(top), *_time_axis(axis, zone)]
    for one in bins:
        x, y = axis.x(one.start), _y(one.count, top)
        width = max(axis.x(one.end) - x - 1, 1)
        parts.append(
            f'<rect class="bin" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{BAR_COLOUR}" stroke="{ACTUAL_COLOUR}" '
            f'stroke-width="0.5"><title>{one.count}</title></rect>'
        )
    parts += drawn
    parts.append("</svg>")
    return "".join(parts)
