"""The results workbook of a dry run: what ``transition report`` writes and the weekly e-mail attaches.

Sheets **Steps**, **Defects**, **Comparison** (when given) and **Run**; times in the plan's time
zone, titles in the current language (:mod:`transition.i18n`). Every cell goes through
:func:`transition.workbook.text_cells.put`: people's text is always a text cell, never a formula.

How it works: docs/architecture.md, "results/workbook.py".
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from transition.i18n import N_, _
from transition.results.data import DryRunComparison, RunResults, StepResult
from transition.results.plan_record import plan_record_rows
from transition.runs.states import STATE_COLOURS, state_name
from transition.vocabulary import SEVERITY_NAMES, STATUS_NAMES, DefectStatus
from transition.workbook.text_cells import cell_text, put, put_row

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_TITLE_FONT = Font(bold=True, size=13)
DATE_FORMAT = "yyyy-mm-dd hh:mm"
DURATION_FORMAT = "[h]:mm"
HOURS_FORMAT = "0.00"
# The recap page's colours, as Excel writes them.
STATE_FILLS = {
    state: (background[1:].upper(), text[1:].upper())
    for state, (background, text) in STATE_COLOURS.items()
}

STEP_COLUMNS = [  # title (English, translated when written), width
    (N_("ID"), 12),
    (N_("Label"), 40),
    (N_("Phase"), 8),
    (N_("State"), 12),
    (N_("Owner"), 12),
    (N_("Owner name"), 20),
    (N_("Team"), 16),
    (N_("Planned start"), 17),
    (N_("Planned end"), 17),
    (N_("Planned duration"), 10),
    (N_("Actual start"), 17),
    (N_("Actual end"), 17),
    (N_("Actual duration"), 10),
    (N_("Started by"), 12),
    (N_("Closed by"), 12),
    (N_("Comment"), 30),
    (N_("Forced close"), 30),
    (N_("Decision"), 30),
    (N_("Measured value"), 12),
    (N_("Automation"), 36),
    (N_("Transfers"), 30),
    (N_("Defects"), 36),
    (N_("Open defects"), 8),
    (N_("Link"), 30),
]
DEFECT_COLUMNS = [
    (N_("ID"), 6),
    (N_("Step"), 12),
    (N_("Title"), 40),
    (N_("Severity"), 10),
    (N_("Status"), 10),
    (N_("Description"), 50),
    (N_("Recorded by"), 12),
    (N_("Recorded at"), 17),
    (N_("Resolved by"), 12),
    (N_("Resolved at"), 17),
    (N_("After the close"), 10),
]
SEVERITIES, STATUSES = SEVERITY_NAMES, STATUS_NAMES


def _word(words: dict[str, str], value: str | None) -> str | None:
    """A severity or status in the current language (as it is when unknown)."""
    return _(words[value]) if value in words else value


COMPARISON_TITLE_ROW, COMPARISON_HEADER_ROW = 1, 3


def results_workbook(
    results: RunResults, comparison: Sequence[DryRunComparison] | None = None
) -> Workbook:
    book = Workbook()
    steps = book.active
    steps.title = _("Steps")
    _steps_sheet(steps, results)
    _defects_sheet(book.create_sheet(_("Defects")), results)
    if comparison:
        _comparison_sheet(book.create_sheet(_("Comparison")), results.plan, comparison)
    _run_sheet(book.create_sheet(_("Run")), results, comparison)
    book.properties.title = cell_text(
        _("Results of {plan} {dry_run} ({run})").format(
            plan=results.plan, dry_run=results.dry_run, run=results.run_id
        )
    )
    book.properties.creator = "transition report"
    return book


def write_results(
    path: Path, results: RunResults, comparison: Sequence[DryRunComparison] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    results_workbook(results, comparison).save(path)
    return path


def results_bytes(
    results: RunResults, comparison: Sequence[DryRunComparison] | None = None
) -> bytes:
    buffer = io.BytesIO()
    results_workbook(results, comparison).save(buffer)
    return buffer.getvalue()


def _naive(moment: dt.datetime | None) -> dt.datetime | None:
    """Excel keeps no time zone: the wall-clock time in the plan's zone (the values are already in it)."""
    return moment.replace(tzinfo=None, microsecond=0) if moment is not None else None


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> dt.timedelta | None:
    """End minus start as written (whole seconds), so the sheet's own arithmetic agrees."""
    begun, ended = _naive(start), _naive(end)
    return ended - begun if begun is not None and ended is not None else None


def _header(
    sheet: Worksheet, row: int, columns: Sequence[tuple[str, int]], first_column: int = 1
) -> None:
    for offset, (title, width) in enumerate(columns):
        cell = put(sheet, row, first_column + offset, _(title))
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.column_dimensions[get_column_letter(first_column + offset)].width = width


def _formats(sheet: Worksheet, row: int, columns: Sequence[str], formats: dict[str, str]) -> None:
    for index, title in enumerate(columns, start=1):
        if title in formats:
            sheet.cell(row=row, column=index).number_format = formats[title]


def decision_text(step: StepResult) -> str:
    """A gate's decision (``No-go: carol, 2027-01-16T23:10+01:00: counts differ``), or which
    gate's decision skipped the step."""
    if step.decision:
        decided = step.decision
        name = _("Go") if decided.get("decision") == "go" else _("No-go")
        who = ", ".join(decided.get("go") or []) if name == _("Go") else decided.get("by")
        comment = f": {decided['comment']}" if decided.get("comment") else ""
        return f"{name}: {who or decided.get('by') or ''}, {decided.get('at') or ''}{comment}"
    if step.skipped_by:
        return _("skipped by the decision of gate {gate}").format(gate=step.skipped_by)
    return ""


def automation_text(step: StepResult) -> str:
    """An automated step's action: ``check passed, 1 run: <what it said>``, or how a person took
    over (``failed, 2 runs; Accept by bob``)."""
    auto = step.automation
    if not auto:
        return ""
    verdict = {"passed": _("passed"), "failed": _("failed")}.get(auto.get("verdict") or "")
    went = verdict or (
        _("went right") if auto.get("ok") else _("failed") if auto.get("ok") is False else _("runs")
    )
    text = _("{outcome}, runs: {count}").format(outcome=went, count=auto.get("runs", 0))
    if auto.get("said"):
        text += f": {auto['said']}"
    if auto.get("taken_over"):
        text += "; " + _("{option} by {person}").format(
            option=auto["taken_over"], person=auto.get("taken_over_by") or ""
        )
    return text


def transfers_text(step: StepResult) -> str:
    return "\n".join(
        f"{t.from_user} → {t.to_user}" + (f": {t.message}" if t.message else "")
        if t.from_user
        else f"→ {t.to_user}"
        for t in step.transfers
    )


def defects_text(step: StepResult) -> str:
    return "\n".join(
        f"#{d.id} {_word(SEVERITIES, d.severity)} {_word(STATUSES, d.status)}: {d.title}"
        + (f" ({_('recorded after the close')})" if d.after_close else "")
        for d in step.defects
    )


def _steps_sheet(sheet: Worksheet, results: RunResults) -> None:
    titles = [title for title, _ in STEP_COLUMNS]
    _header(sheet, 1, STEP_COLUMNS)
    formats = {
        **dict.fromkeys(
            ("Planned start", "Planned end", "Actual start", "Actual end"), DATE_FORMAT
        ),
        **dict.fromkeys(("Planned duration", "Actual duration"), DURATION_FORMAT),
    }
    state_column = titles.index("State") + 1
    for row, step in enumerate(results.steps, start=2):
        put_row(
            sheet,
            row,
            [
                step.id,
                step.label,
                step.phase,
                state_name(step.state),
                step.owner,
                step.owner_name,
                step.team,
                _naive(step.planned_start),
                _naive(step.planned_end),
                _duration(step.planned_start, step.planned_end),
                _naive(step.actual_start),
                _naive(step.actual_end),
                _duration(step.actual_start, step.actual_end),
                step.started_by,
                step.closed_by,
                step.comment or None,
                step.forced_close or None,
                decision_text(step) or None,
                (step.automation or {}).get("value"),
                automation_text(step) or None,
                transfers_text(step) or None,
                defects_text(step) or None,
                len(step.open_defects),
                step.link or None,
            ],
        )
        _formats(sheet, row, titles, formats)
        if step.state in STATE_FILLS:
            background, text = STATE_FILLS[step.state]
            cell = sheet.cell(row=row, column=state_column)
            cell.fill = PatternFill("solid", fgColor=background)
            cell.font = Font(color=text)
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(titles))}{max(1, len(results.steps)) + 1}"


def _defects_sheet(sheet: Worksheet, results: RunResults) -> None:
    titles = [title for title, _ in DEFECT_COLUMNS]
    _header(sheet, 1, DEFECT_COLUMNS)
    for row, defect in enumerate(results.defects, start=2):
        put_row(
            sheet,
            row,
            [
                defect.id,
                defect.step or _("(the run)"),
                defect.title,
                _word(SEVERITIES, defect.severity),
                _word(STATUSES, defect.status),
                defect.description or None,
                defect.created_by or None,
                _naive(defect.created_at),
                defect.resolved_by,
                _naive(defect.resolved_at),
                _("yes") if defect.after_close else None,
            ],
        )
        _formats(sheet, row, titles, {"Recorded at": DATE_FORMAT, "Resolved at": DATE_FORMAT})
        sheet.cell(row=row, column=titles.index("Description") + 1).alignment = Alignment(
            wrap_text=True, vertical="top"
        )
    sheet.freeze_panes = "A2"


def _hours(value: dt.timedelta | None) -> float | None:
    return value.total_seconds() / 3600 if value is not None else None  # shown with two decimals


def _comparison_chart(
    sheet: Worksheet, plan: str, chart_columns: int, last_row: int, bars: int
) -> BarChart:
    """The comparison table's clustered bar chart: planned in light shades, actual in strong ones,
    one hue per dry run."""
    chart = BarChart()
    chart.type, chart.grouping = "col", "clustered"
    chart.title = cell_text(_("{plan}: planned vs actual duration per phase").format(plan=plan))
    chart.y_axis.title, chart.x_axis.title = _("hours"), _("phase")
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    data = Reference(
        sheet, min_col=2, max_col=chart_columns, min_row=COMPARISON_HEADER_ROW, max_row=last_row
    )
    chart.add_data(data, titles_from_data=True)
    categories = Reference(sheet, min_col=1, min_row=COMPARISON_HEADER_ROW + 1, max_row=last_row)
    # Phase codes are text: a string reference, so Excel shows them as they are.
    for series in chart.series:
        series.cat = AxDataSource(strRef=StrRef(f=str(categories)))
    chart.height, chart.width = 9, max(16, 3 + 2.2 * bars)
    # Planned in light shades, actual in strong ones, one hue per dry run.
    hues = [
        ("9DC3E6", "1F4E78"),
        ("F4B183", "C55A11"),
        ("A9D18E", "548235"),
        ("D9D9D9", "595959"),
        ("FFD966", "BF9000"),
    ]
    for index, series in enumerate(chart.series):
        light, strong = hues[(index // 2) % len(hues)]
        series.graphicalProperties.solidFill = light if index % 2 == 0 else strong
        series.graphicalProperties.line.solidFill = strong
    return chart


def _comparison_sheet(sheet: Worksheet, plan: str, comparison: Sequence[DryRunComparison]) -> None:
    """A table (phase x dry run: planned and actual hours; steps closed) and a clustered bar chart of it."""
    put(
        sheet,
        COMPARISON_TITLE_ROW,
        1,
        _(
            "Plan {plan}: the dry runs phase by phase, planned vs actual duration in hours (from the first "
            "start to the last end of the phase's steps; an open step counts until now)"
        ).format(plan=plan),
    ).font = _TITLE_FONT
    phases = list(dict.fromkeys(p.phase for c in comparison for p in c.phases))
    columns = [(N_("Phase"), 10)]
    # _header translates the titles: these are written already, and "%" is safe.
    for run in comparison:
        columns += [
            (_("{dry_run} planned (h)").format(dry_run=run.dry_run), 12),
            (_("{dry_run} actual (h)").format(dry_run=run.dry_run), 12),
        ]
    chart_columns = len(columns)
    columns += [(_("{dry_run} steps closed").format(dry_run=run.dry_run), 12) for run in comparison]
    _header(sheet, COMPARISON_HEADER_ROW, columns)
    for row, code in enumerate(phases, start=COMPARISON_HEADER_ROW + 1):
        values: list = [code]
        for run in comparison:
            phase = run.phase(code)
            values += [_hours(phase.planned), _hours(phase.actual)] if phase else [None, None]
        values += [
            f"{phase.closed}/{phase.steps}" if (phase := run.phase(code)) else None
            for run in comparison
        ]
        for column, value in enumerate(values, start=1):
            cell = put(sheet, row, column, value)
            if 2 <= column <= chart_columns:
                cell.number_format = HOURS_FORMAT
    last_row = COMPARISON_HEADER_ROW + len(phases)
    runs_row = last_row + 2
    put(sheet, runs_row, 1, _("Runs compared (the latest run of each dry run)")).font = Font(
        bold=True
    )
    _header(
        sheet,
        runs_row + 1,
        [(N_("Dry run"), 10), (N_("DAG"), 12), (N_("Run"), 12), (N_("State"), 12)],
    )
    for offset, run in enumerate(comparison, start=runs_row + 2):
        for column, value in enumerate(
            (run.dry_run, run.dag_id, run.run_id, run.run_state), start=1
        ):
            put(sheet, offset, column, value)

    chart = _comparison_chart(sheet, plan, chart_columns, last_row, len(phases) * len(comparison))
    sheet.add_chart(chart, f"{get_column_letter(len(columns) + 2)}{COMPARISON_HEADER_ROW}")
    sheet.freeze_panes = sheet.cell(row=COMPARISON_HEADER_ROW + 1, column=2)


def _run_sheet(
    sheet: Worksheet, results: RunResults, comparison: Sequence[DryRunComparison] | None
) -> None:
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 22, 60
    rows: list[tuple[str, object]] = [
        (_("Plan"), results.plan),
        (_("Dry run"), results.dry_run),
        (_("DAG"), results.dag_id),
        (_("Run"), results.run_id),
        (_("Run state"), results.run_state),
        (_("Run started"), _naive(results.run_start)),
        (_("Run ended"), _naive(results.run_end)),
        (_("Planned end"), _naive(results.planned_end)),
        (_("Forecast end"), _naive(results.forecast_end)),
        (_("Must end by"), _naive(results.must_end_by)),
        (_("Forecast late"), _("yes") if results.forecast_late else _("no")),
        (_("Critical path (planned)"), " → ".join(results.critical_path) or None),
        (_("Critical path (forecast)"), " → ".join(results.forecast_critical_path) or None),
        (_("Report made"), _naive(results.now)),
        (_("Times are in"), results.timezone),
        (_("Steps"), len(results.steps)),
        (_("Defects"), len(results.defects)),
        (_("Open defects"), sum(1 for d in results.defects if d.status == DefectStatus.OPEN.value)),
    ]
    rows += [
        (_("Steps {state}").format(state=state_name(state)), count)
        for state, count in results.counts.items()
        if count
    ]
    rows += plan_record_rows(results.plan_of_record)  # the plan the run started with
    for row, (key, value) in enumerate(rows, start=1):
        put(sheet, row, 1, key).font = Font(bold=True)
        cell = put(sheet, row, 2, value)
        if isinstance(value, dt.datetime):
            cell.number_format = DATE_FORMAT
        cell.alignment = Alignment(horizontal="left")
