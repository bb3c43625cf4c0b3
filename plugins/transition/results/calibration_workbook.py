"""The calibrated copy of a plan workbook: the source's every sheet, column and format, with only the
changed Duration cells of the Steps sheet rewritten, and a ``Calibration`` sheet that says why.

A Duration is written as the cell held it: text (``1h30m``, or ``01:30`` when the cell was written
so), a number of minutes, or a typed duration in the cell's number format (``[h]:mm`` when the new
value reaches a day and the format would show it as a date). An empty cell (the plan's default)
gets text. Without a Duration column, one is added after the last header.

The Calibration sheet (in the current language, as the results workbook) replaces one a
calibration left in the source: a calibrated plan can be calibrated again after the next dry run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from copy import copy
from pathlib import Path

import openpyxl
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from transition.i18n import N_, _, ngettext
from transition.plan.automation_rows import AUTOMATED
from transition.results.calibration import Calibration, Outcome, StepCalibration, Verdict
from transition.results.data import RunResults
from transition.results.workbook import DURATION_FORMAT, _header
from transition.workbook.cells import format_duration, is_clock_duration
from transition.workbook.reader import RawSheet
from transition.workbook.sheets import STEPS
from transition.workbook.text_cells import put, set_value

CALIBRATION_SHEET = N_("Calibration")
MEASURED_FORMAT = "[h]:mm:ss"
HEADER_ROW = 7
PLANNED_COLUMN = 4  # then one column per run, the median, the proposed Duration
_TITLE_FONT = Font(bold=True, size=13)

OUTCOME_WORDS = {  # what a run's column says when it measured nothing
    Outcome.NO_START: N_("closed without a Start"),
    Outcome.NOT_CLOSED: N_("not closed"),
    Outcome.SKIPPED: N_("skipped"),
    Outcome.NOT_REACHED: N_("not reached"),
    Outcome.ABSENT: N_("not in this dry run"),
}
STATUS_WORDS = {
    Verdict.CALIBRATED: N_("calibrated"),
    Verdict.NO_START: N_("kept"),
    Verdict.NOT_CLOSED: N_("kept"),
    Verdict.NOT_RUN: N_("not run"),
    Verdict.GATE: N_("gate"),
}


def run_labels(runs: tuple[RunResults, ...]) -> list[str]:
    """Each run's dry run name; ``DR1 (2)`` for a second run of the same dry run."""
    seen: Counter[str] = Counter()
    labels = []
    for run in runs:
        seen[run.dry_run] += 1
        labels.append(
            run.dry_run if seen[run.dry_run] == 1 else f"{run.dry_run} ({seen[run.dry_run]})"
        )
    return labels


def write_calibrated(
    source: Path, out: Path, steps_sheet: RawSheet, calibration: Calibration
) -> Path:
    """Copy ``source`` to ``out`` with the proposed Durations and the Calibration sheet.

    ``steps_sheet`` is the reader's view of the source's Steps sheet (its name, header row and columns,
    as ``transition validate`` found them)."""
    book = openpyxl.load_workbook(source, rich_text=True)
    _rewrite_durations(book[steps_sheet.name], steps_sheet, calibration)
    title = _(CALIBRATION_SHEET)
    index = len(book.sheetnames)
    if title in book.sheetnames:  # a calibration of an earlier run: replaced where it stood
        index = book.sheetnames.index(title)
        book.remove(book[title])
    _calibration_sheet(book.create_sheet(title, index), calibration)
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return out


def _rewrite_durations(sheet: Worksheet, raw: RawSheet, calibration: Calibration) -> None:
    column = raw.columns.get("duration")
    if column is None:  # no Duration column: every step had the default; add one
        column = sheet.max_column
        header = put(sheet, raw.header_row, column + 1, STEPS.column("duration").title)
        if column:
            header._style = copy(sheet.cell(raw.header_row, column)._style)
    for step in calibration.steps:
        if step.changed:
            write_duration(sheet.cell(step.step.row, column + 1), step.proposed)


def write_duration(cell: Cell, duration: dt.timedelta) -> None:
    """``duration`` into a Duration cell, written as the cell held its value (module docstring)."""
    held = cell.value
    minutes = _minutes(duration)
    if isinstance(held, (dt.timedelta, dt.time, dt.datetime)):
        number_format = cell.number_format
        cell.value = duration
        if duration >= dt.timedelta(days=1) and "[" not in number_format:
            number_format = "[h]:mm"  # h:mm would show (and be read back as) a date
        cell.number_format = number_format
    elif isinstance(held, (int, float)) and not isinstance(held, bool):
        cell.value = minutes
    elif isinstance(held, str) and is_clock_duration(held) and minutes < 1000 * 60:
        set_value(cell, "{:02d}:{:02d}".format(*divmod(minutes, 60)))
    else:
        set_value(cell, format_duration(duration))


def _minutes(value: dt.timedelta) -> int:
    return round(value.total_seconds() / 60)


def note(step: StepCalibration) -> str:
    """Why the step has the Duration proposed, in words; an automated step's says so."""
    text = _note(step)
    if step.step.kind not in AUTOMATED:
        return text
    taken = sum(1 for m in step.measures if m.taken_over)
    if not taken:
        return _("runs by itself") + "; " + text
    return (
        ngettext(
            "runs by itself; a person took over in {count} run (their work is in its duration)",
            "runs by itself; a person took over in {count} runs (their work is in their durations)",
            taken,
        ).format(count=taken)
        + "; "
        + text
    )


def _note(step: StepCalibration) -> str:
    if step.verdict is Verdict.CALIBRATED:
        count = sum(1 for m in step.measures if m.outcome is Outcome.MEASURED)
        text = ngettext(
            "the measured Start → Close of {count} run, rounded",
            "the median of the measured Start → Close of {count} runs, rounded",
            count,
        ).format(count=count)
        return text if step.changed else text + "; " + _("the same as planned")
    return {
        Verdict.NO_START: _("closed without a Start: no measured duration, Duration kept"),
        Verdict.NOT_CLOSED: _("started and not closed: no measured duration, Duration kept"),
        Verdict.NOT_RUN: _("did not run in the runs given: Duration kept"),
        Verdict.GATE: _("a gate (go/no-go decision) has no Start: not calibrated, Duration kept"),
    }[step.verdict]


def rules() -> list[str]:
    return [
        _(
            "Measured: from Start to Close of each step started and closed; with several runs, the "
            "median. A step closed without a Start, started and not closed, or that did not run keeps "
            "its Duration; gates are not calibrated."
        ),
        _(
            "Rounding: to the nearest 5 minutes below 1 h, 15 minutes from 1 h to 4 h, 30 minutes "
            "from 4 h; at least 5 minutes. Change: proposed minus planned, in minutes."
        ),
    ]


def _calibration_sheet(sheet: Worksheet, calibration: Calibration) -> None:
    runs = calibration.runs
    labels = run_labels(runs)
    plan = runs[0].plan if runs else ""
    put(
        sheet, 1, 1, _("Durations proposed for the next dry run of plan {plan}").format(plan=plan)
    ).font = _TITLE_FONT
    for row, line in enumerate(rules(), start=2):
        put(sheet, row, 1, line)
    put(
        sheet,
        4,
        1,
        _("Runs: {runs}").format(
            runs="; ".join(
                f"{label} = {run.dag_id}/{run.run_id}" for label, run in zip(labels, runs)
            )
        ),
    )
    put(sheet, 5, 1, summary(calibration)).font = Font(bold=True)
    columns = [(N_("ID"), 12), (N_("Label"), 40), (N_("Phase"), 8), (N_("Planned duration"), 11)]
    columns += [(_("Measured in {run}").format(run=label), 13) for label in labels]
    columns += [
        (N_("Median measured"), 11),
        (N_("Proposed duration"), 11),
        (N_("Change (min)"), 9),
        (N_("Status"), 11),
        (N_("Note"), 60),
    ]
    _header(sheet, HEADER_ROW, columns)
    proposed = PLANNED_COLUMN + len(runs) + 2
    for row, step in enumerate(calibration.steps, start=HEADER_ROW + 1):
        values: list[object] = [step.step.id, step.step.label, step.step.phase, step.planned]
        values += [
            m.duration if m.duration is not None else _(OUTCOME_WORDS[m.outcome])
            for m in step.measures
        ]
        values += [
            step.median,
            step.proposed,
            _minutes(step.change),
            _(STATUS_WORDS[step.verdict]),
            note(step),
        ]
        for column, value in enumerate(values, start=1):
            cell = put(sheet, row, column, value)
            if isinstance(
                value, dt.timedelta
            ):  # planned and proposed in minutes, measures to the second
                cell.number_format = (
                    DURATION_FORMAT if column in (PLANNED_COLUMN, proposed) else MEASURED_FORMAT
                )
        if step.changed:
            sheet.cell(row, proposed).font = Font(bold=True)
    last = HEADER_ROW + max(1, len(calibration.steps))
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=2)
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(columns))}{last}"


def summary(calibration: Calibration) -> str:
    """``12 of 40 durations changed; calibrated: 20, kept without a measure: 3, did not run: 16, gates: 1``."""
    kept = len(calibration.with_verdict(Verdict.NO_START, Verdict.NOT_CLOSED))
    return _(
        "{changed} of {steps} durations changed; calibrated: {calibrated}, kept without a measure: "
        "{kept}, did not run: {not_run}, gates: {gates}"
    ).format(
        changed=len(calibration.changed),
        steps=len(calibration.steps),
        calibrated=len(calibration.with_verdict(Verdict.CALIBRATED)),
        kept=kept,
        not_run=len(calibration.with_verdict(Verdict.NOT_RUN)),
        gates=len(calibration.with_verdict(Verdict.GATE)),
    )
