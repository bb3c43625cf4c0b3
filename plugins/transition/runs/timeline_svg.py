"""The recap page's timeline: one row per step of a run view, drawn as SVG by the server.

Per step a thin bar for the plan and a thicker one for what happened (solid) and what the forecast
expects (faded), in the recap's state colours; the critical paths marked, gates as diamonds, the
dry run's End and *now* as lines, a time axis in the plan's time zone. Pure (a :class:`RunView` in,
text out), so it needs no browser, no JavaScript library and no network; every text is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from transition.i18n import _
from transition.plan.automation_rows import AUTOMATED
from transition.runs.states import STATE_COLOURS, state_name
from transition.runs.views import RunView, StepView
from transition.vocabulary import AUTOMATION

LABEL_WIDTH = 300  # the step column, in px
PLOT_WIDTH = 1100  # the time axis at zoom 1, in px
RIGHT_MARGIN = 70  # room for the last tick's and the lines' labels
HEAD = 62  # the legend, the lines' captions and the axis above the first row
ROW = 20
LABEL_CHARS = 44  # "ID label" is cut there (the whole of it is in the row's tooltip)
MIN_BAR = 2.0  # px: an instant (a gate, a step closed without a start) stays visible
ZOOM_LIMITS = (0.25, 16.0)
TICK_HOURS = (1, 2, 3, 6, 12, 24, 48, 96, 168)
MIN_TICK_SPACING = 64  # px between two ticks at least
PLANNED_COLOUR = "#7f7f7f"
CRITICAL_COLOUR = "#c00000"
NOW_COLOUR = "#0070c0"
END_COLOUR = "#c00000"
# Characters XML 1.0 does not allow: a workbook's label holding one would break the whole picture.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class StepFilter:
    """The recap table's filters (empty: all), so the timeline shows the same steps as the table."""

    state: str = ""
    phase: str = ""
    team: str = ""
    owner: str = ""
    responsible: str = ""  # "my steps": the user's actor ID

    def keeps(self, step: StepView) -> bool:
        return (
            (not self.state or step["state"] == self.state)
            and (not self.phase or step["phase"] == self.phase)
            and (not self.team or step["team"] == self.team)
            and (not self.owner or step["owner"] == self.owner)
            and (not self.responsible or self.responsible in step["responsible"])
        )


def text(value: object) -> str:
    """``value`` as XML text or attribute content: escaped, without the characters XML refuses."""
    return html.escape(NOT_XML.sub("\ufffd", str(value)), quote=True)


def _moment(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat()[:16].replace("T", " ") if moment else "—"


@dataclass(frozen=True)
class _Scale:
    start: dt.datetime
    seconds: float
    width: float

    def x(self, moment: dt.datetime) -> float:
        return LABEL_WIDTH + (moment - self.start).total_seconds() / self.seconds * self.width


def _span(
    view: RunView, steps: Sequence[StepView], now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """From the first moment shown to the last, padded by an hour (now alone when nothing is known)."""
    moments = [now]
    for step in steps:
        for value in (
            step["planned_start"],
            step["planned_end"],
            step["actual_start"],
            step["actual_end"],
            step["forecast_start"],
            step["forecast_end"],
        ):
            moments += [m for m in [_moment(value)] if m]
    moments += [m for m in [_moment(view["must_end_by"])] if m]
    hour = dt.timedelta(hours=1)
    return min(moments) - hour, max(moments) + hour


def _ticks(
    scale: _Scale, end: dt.datetime, zone: zoneinfo.ZoneInfo
) -> tuple[int, list[dt.datetime]]:
    """The tick step in hours (the smallest of :data:`TICK_HOURS` leaving room for its label) and
    the ticks: local whole hours that are multiples of it, or local midnights every so many days."""
    px_per_hour = scale.width / (scale.seconds / 3600)
    step = next((h for h in TICK_HOURS if h * px_per_hour >= MIN_TICK_SPACING), TICK_HOURS[-1])
    first_day = scale.start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    ticks: list[dt.datetime] = []
    day, index = first_day, 0
    while day <= last_day:
        hours = range(0, 24, step) if step < 24 else ([0] if index % (step // 24) == 0 else [])
        for hour in hours:
            local = dt.datetime.combine(day, dt.time(hour), zone)
            if local.astimezone(dt.UTC).astimezone(zone).hour != hour:
                continue  # a wall-clock hour the change to summer time skips
            if scale.start <= local <= end:
                ticks.append(local)
        day, index = day + dt.timedelta(days=1), index + 1
    return step, ticks


def _axis(
    scale: _Scale, end: dt.datetime, zone: zoneinfo.ZoneInfo, bottom: float
) -> tuple[list[str], list[str]]:
    """The ticks' lines (behind the bars) and their dates and hours (in the head)."""
    step, ticks = _ticks(scale, end, zone)
    lines: list[str] = []
    captions: list[str] = []
    for tick in ticks:
        x = scale.x(tick)
        midnight = tick.hour == 0
        lines.append(
            f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{HEAD - 16}" y2="{bottom:.0f}" '
            f'stroke="{"#bfbfbf" if midnight else "#e6e6e6"}"/>'
        )
        if midnight:  # the whole date when a day is wide, else month and day
            day = f"{tick:%Y-%m-%d}" if step < 24 else f"{tick:%m-%d}"
            captions.append(f'<text class="day" x="{x + 2:.1f}" y="{HEAD - 18}">{day}</text>')
        if step < 24:
            captions.append(
                f'<text class="hour" x="{x + 2:.1f}" y="{HEAD - 4}">{tick:%H:%M}</text>'
            )
    return lines, captions


def _legend() -> Iterator[str]:
    """What the marks mean, in two lines over the step column (it stays in view there)."""
    colour = STATE_COLOURS["Open"][0]
    swatches = [
        (_("planned"), f'<rect y="5" width="22" height="4" fill="{PLANNED_COLOUR}"/>'),
        (_("actual"), f'<rect y="2" width="22" height="9" fill="{colour}" stroke="#595959"/>'),
        (
            _("forecast"),
            f'<rect y="2" width="22" height="9" fill="{colour}" fill-opacity="0.45" '
            'stroke="#595959" stroke-dasharray="3 2"/>',
        ),
        (
            _("critical path"),
            f'<rect y="2" width="22" height="9" fill="#ffffff" stroke="{CRITICAL_COLOUR}" '
            'stroke-width="2"/>',
        ),
        (_("gate"), f'<polygon points="{_diamond(11, 6.5, 5)}" fill="#ffffff" stroke="#0b2a4a"/>'),
        (_("runs by itself"), '<text x="1" y="10" font-style="italic">ID</text>'),
    ]
    x, y = 4, 4
    for index, (name, swatch) in enumerate(swatches):
        if index == 3:  # the second line
            x, y = 4, 20
        yield f'<g transform="translate({x},{y})">{swatch}<text x="26" y="10">{text(name)}</text></g>'
        x += 34 + 6 * len(name)


def _diamond(x: float, y: float, r: float) -> str:
    return f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"


def _bar(
    scale: _Scale, start: dt.datetime, end: dt.datetime, y: float, height: float, attributes: str
) -> str:
    x = scale.x(start)
    width = max(scale.x(end) - x, MIN_BAR)
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height}" {attributes}>'


def _planned(
    step: StepView, top: float, scale: _Scale, planned_critical: bool, gate: bool
) -> Iterator[str]:
    """The thin planned bar (a gate: a small diamond at its planned moment), if planned."""
    planned_start, planned_end = _moment(step["planned_start"]), _moment(step["planned_end"])
    if not (planned_start and planned_end):
        return
    tip = _("Planned: {start} → {end}").format(start=_when(planned_start), end=_when(planned_end))
    fill = CRITICAL_COLOUR if planned_critical else PLANNED_COLOUR
    if gate:
        points = _diamond(scale.x(planned_start), top + 5, 4)
        yield f'<polygon class="planned" points="{points}" fill="#ffffff" stroke="{fill}">'
    else:
        yield _bar(scale, planned_start, planned_end, top + 2, 4, f'class="planned" fill="{fill}"')
    yield f"<title>{text(tip)}</title>" + ("</polygon>" if gate else "</rect>")


def _gate_mark(
    moment: dt.datetime, decided: bool, top: float, scale: _Scale, background: str, stroke: str
) -> str:
    """A gate's diamond: when it was decided, or (faded) when it is forecast to be."""
    tip = (
        _("Decided: {when}").format(when=_when(moment))
        if decided
        else _("Forecast: {start} → {end}").format(start=_when(moment), end=_when(moment))
    )
    faded = "" if decided else ' fill-opacity="0.45" stroke-dasharray="3 2"'
    return (
        f'<polygon class="{"actual" if decided else "forecast"}" '
        f'points="{_diamond(scale.x(moment), top + 12, 6)}" fill="{background}"{faded} '
        f"{stroke}><title>{text(tip)}</title></polygon>"
    )


def _row(
    step: StepView,
    top: float,
    scale: _Scale,
    now: dt.datetime,
    planned_critical: bool,
    forecast_critical: bool,
) -> Iterator[str]:
    state = step["state"]
    background, _foreground = STATE_COLOURS.get(state, ("#ffffff", "#1b1b1b"))
    gate = step["kind"] == "gate"
    classes = " ".join(
        ["step"]
        + (["critical"] if forecast_critical else [])
        + (["planned-critical"] if planned_critical else [])
        + (["gate"] if gate else [])
        + (["automated"] if _automated(step) else [])
    )
    yield (
        f'<g class="{classes}" data-step="{text(step["id"])}" data-state="{text(state)}">'
        f"<title>{text(step['id'])} {text(step['label'])} · {text(state_name(state))}</title>"
    )
    yield from _planned(step, top, scale, planned_critical, gate)
    stroke = (
        f'stroke="{CRITICAL_COLOUR}" stroke-width="2"'
        if forecast_critical
        else 'stroke="#595959" stroke-width="0.6"'
    )
    actual_start, actual_end = _moment(step["actual_start"]), _moment(step["actual_end"])
    forecast_start, forecast_end = _moment(step["forecast_start"]), _moment(step["forecast_end"])
    done_until = actual_end or (now if actual_start else None)
    if gate:
        moment = actual_end or actual_start or forecast_start
        if moment is not None:
            yield _gate_mark(moment, actual_end is not None, top, scale, background, stroke)
        yield "</g>"
        return
    if actual_start or actual_end:
        start = actual_start or actual_end
        assert start is not None and done_until is not None
        tip = _("Actual: {start} → {end}").format(start=_when(actual_start), end=_when(actual_end))
        if by := _closed_how(step):
            tip += f" · {by}"
        yield _bar(
            scale, start, done_until, top + 8, 9, f'class="actual" fill="{background}" {stroke}'
        )
        yield f"<title>{text(tip)}</title></rect>"
    if forecast_start and forecast_end and not actual_end:
        start = max(forecast_start, done_until) if done_until else forecast_start
        if forecast_end > start or not done_until:
            tip = _("Forecast: {start} → {end}").format(
                start=_when(forecast_start), end=_when(forecast_end)
            )
            yield _bar(
                scale,
                start,
                forecast_end,
                top + 8,
                9,
                f'class="forecast" fill="{background}" fill-opacity="0.45" stroke-dasharray="3 2" '
                + stroke,
            )
            yield f"<title>{text(tip)}</title></rect>"
    yield "</g>"


def _automated(step: StepView) -> bool:
    return step["kind"] in AUTOMATED


def _closed_how(step: StepView) -> str:
    """How an automated step was closed: by its action, or by the person who took over."""
    automation = step.get("automation")
    if step.get("closed_by") == AUTOMATION:
        return _("closed by the automation")
    if automation and automation.get("taken_over"):
        return _("taken over by {person}").format(person=automation.get("taken_over_by") or "")
    return ""


def _label(step: StepView, top: float, critical: bool) -> str:
    """The step's ID and label (cut at :data:`LABEL_CHARS`), in the left column; an automated
    step's in italics."""
    name = f"{step['id']} {step['label']}"
    shown = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
    marked = f' font-weight="bold" fill="{CRITICAL_COLOUR}"' if critical else ""
    if _automated(step):
        marked += ' font-style="italic"'
        name += f" · {_('runs by itself')}"
    return (
        f'<text class="label" data-step="{text(step["id"])}" x="4" y="{top + 14:.0f}"{marked}>'
        f"{text(shown)}<title>{text(name)}</title></text>"
    )


def _line(
    kind: str, label: str, moment: dt.datetime, scale: _Scale, bottom: float
) -> tuple[str, str]:
    """A vertical line at ``moment`` through the rows, and its caption (in the head)."""
    x = scale.x(moment)
    colour = NOW_COLOUR if kind == "now" else END_COLOUR
    dash = "" if kind == "now" else ' stroke-dasharray="6 3"'
    caption = f"{label} {moment:%H:%M}"
    return (
        f'<g class="{kind}"><line x1="{x:.1f}" x2="{x:.1f}" y1="{HEAD - 16}" y2="{bottom:.0f}" '
        f'stroke="{colour}" stroke-width="2"{dash}/>'
        f"<title>{text(label)} {text(_when(moment))}</title></g>",
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{HEAD - 44}" y2="{HEAD}" stroke="{colour}" '
        f'stroke-width="2"{dash}/><text class="{kind}-caption" x="{x + 3:.1f}" y="{HEAD - 33}" '
        f'fill="{colour}" font-weight="bold">{text(caption)}</text>',
    )


def _label_column(
    steps: list[StepView], stripes: range, height: float, forecast_critical: set[str]
) -> list[str]:
    """The step column: each step's ID and label on its row's stripe, or a line saying none."""
    parts = [
        f'<g class="labels"><rect width="{LABEL_WIDTH - 2}" height="{height:.0f}" fill="#ffffff"/>'
    ]
    parts += [
        f'<rect x="0" y="{HEAD + ROW * i}" width="{LABEL_WIDTH - 2}" height="{ROW}" fill="#f5f5f5"/>'
        for i in stripes
    ]
    parts.append(
        f'<line x1="{LABEL_WIDTH - 2}" x2="{LABEL_WIDTH - 2}" y1="0" y2="{height:.0f}" '
        'stroke="#bfbfbf"/>'
    )
    if not steps:
        nothing = _("No step to show.")
        parts.append(f'<text x="4" y="{HEAD + 14}">{text(nothing)}</text>')
    parts += [
        _label(step, HEAD + ROW * index, step["id"] in forecast_critical)
        for index, step in enumerate(steps)
    ]
    parts.append("</g>")
    return parts


def timeline_svg(
    view: RunView,
    now: dt.datetime | None = None,
    zoom: float = 1.0,
    only: StepFilter | None = None,
) -> str:
    """The run view's steps (those ``only`` keeps) on a time axis ``zoom`` times :data:`PLOT_WIDTH`
    wide, with *now* (default: the view's) and the dry run's End as lines."""
    if not ZOOM_LIMITS[0] <= zoom <= ZOOM_LIMITS[1]:
        raise ValueError(
            f"zoom {zoom} is outside {ZOOM_LIMITS[0]} to {ZOOM_LIMITS[1]} (1 is {PLOT_WIDTH} px)"
        )
    zone = zoneinfo.ZoneInfo(view["timezone"])
    now = (now or dt.datetime.fromisoformat(view["now"])).astimezone(zone)
    steps = [s for s in view["steps"] if only is None or only.keeps(s)]
    first, last = _span(view, steps, now)
    scale = _Scale(first, (last - first).total_seconds(), PLOT_WIDTH * zoom)
    width = LABEL_WIDTH + scale.width + RIGHT_MARGIN
    bottom = HEAD + ROW * max(len(steps), 1)
    height = bottom + 8
    planned_critical = set(view["critical_path"])
    forecast_critical = set(view["forecast_critical_path"])
    title = _("Timeline")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="Arial, Helvetica, sans-serif" font-size="11" role="img" '
        f'aria-label="{text(title)}" data-zoom="{zoom:g}" data-head="{HEAD}" data-row="{ROW}">',
        f'<rect class="background" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    stripes = range(1, len(steps), 2)
    parts += [
        f'<rect x="0" y="{HEAD + ROW * i}" width="{width:.0f}" height="{ROW}" fill="#f5f5f5"/>'
        for i in stripes
    ]
    tick_lines, tick_captions = _axis(scale, last, zone, bottom)
    parts += tick_lines
    for index, step in enumerate(steps):
        parts += _row(
            step,
            HEAD + ROW * index,
            scale,
            now,
            step["id"] in planned_critical,
            step["id"] in forecast_critical,
        )
    captions = []
    must_end_by = _moment(view["must_end_by"])
    lines = [("end", _("End"), must_end_by.astimezone(zone))] if must_end_by else []
    for kind, label, moment in [*lines, ("now", _("now"), now)]:
        line, caption = _line(kind, label, moment, scale, bottom)
        parts.append(line)
        captions.append(caption)
    # The step column and the head are groups of their own: the page keeps them in view while the
    # picture scrolls (it moves them by the scroll), and they hide what passes under them.
    parts += _label_column(steps, stripes, height, forecast_critical)
    parts.append(f'<g class="head"><rect width="{width:.0f}" height="{HEAD}" fill="#ffffff"/>')
    parts += tick_captions
    parts += captions
    parts.append(f'<line x1="0" x2="{width:.0f}" y1="{HEAD}" y2="{HEAD}" stroke="#bfbfbf"/></g>')
    parts.append(
        f'<g class="corner"><rect width="{LABEL_WIDTH - 2}" height="{HEAD}" fill="#ffffff"/>'
    )
    parts += _legend()
    parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
