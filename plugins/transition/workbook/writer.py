"""Writing workbooks in the contract: the template, synthetic samples and the sample plan.

Header titles are the contract's first names (``ID``, ``Label``, ...); rows are dicts keyed by
contract field (``id``, ``label``, ``dry_runs``, ...); a key that is not a contract field becomes an
extra column with that title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from transition.i18n import _
from transition.workbook.sheets import ACTORS, DRY_RUNS, ENVIRONMENTS, STEPS, SheetSpec

Row = Mapping[str, Any]

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_WIDTHS = {
    "id": 14,
    "label": 42,
    "phase": 9,
    "dry_runs": 16,
    "prerequisites": 22,
    "start": 13,
    "duration": 10,
    "owner": 14,
    "environment": 13,
    "description": 70,
    "kind": 9,
    "approvals": 11,
    "action": 34,
    "expect": 24,
    "name": 26,
    "email": 32,
    "team": 18,
    "team_leader": 14,
    "department_head": 18,
    "language": 10,
    "timezone": 18,
    "phone": 16,
    "d_day": 13,
    "end": 18,
    "code": 12,
}
LIST_ROWS = 2000  # rows covered by drop-down lists in a template


def write_plan_workbook(
    path: Path,
    *,
    steps: Iterable[Row] = (),
    actors: Iterable[Row] = (),
    dry_runs: Iterable[Row] = (),
    environments: Iterable[Row] = (),
    phases: Sequence[str] = ("PP", "AC", "CO", "DC", "HO", "FB-RB"),
    instructions: Sequence[str] | None = None,
    keywords: str | None = None,
) -> Path:
    """Write a workbook in the contract, with drop-down lists, and return its path. ``keywords``:
    the file's Keywords property (File > Properties in Excel)."""
    book = Workbook()
    book.remove(book.active)
    if keywords:
        book.properties.keywords = keywords
    if instructions:
        _instructions_sheet(book, instructions)
    steps_sheet = _data_sheet(book, STEPS, steps)
    _data_sheet(book, ACTORS, actors)
    dry_runs_sheet = _data_sheet(book, DRY_RUNS, dry_runs)
    _data_sheet(book, ENVIRONMENTS, environments)
    _drop_downs(steps_sheet, dry_runs_sheet, phases)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _data_sheet(book: Workbook, spec: SheetSpec, rows: Iterable[Row]) -> Worksheet:
    sheet = book.create_sheet(spec.title)
    rows = list(rows)
    fields = [c.field for c in spec.columns]
    extras: list[str] = []
    for row in rows:
        extras.extend(k for k in row if k not in fields and k not in extras)
    titles = [c.title for c in spec.columns] + extras
    sheet.append(titles)
    for row in rows:
        sheet.append([row.get(f) for f in fields] + [row.get(e) for e in extras])
    for index, key in enumerate(fields + extras, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(key, 18)
    sheet.freeze_panes = "A2"
    wrap = Alignment(wrap_text=True, vertical="top")
    if "description" in fields:
        column = get_column_letter(fields.index("description") + 1)
        for cell in sheet[column][1:]:
            cell.alignment = wrap
    return sheet


def _drop_downs(steps: Worksheet, dry_runs: Worksheet, phases: Sequence[str]) -> None:
    fields = [c.field for c in STEPS.columns]

    def column(name: str) -> str:
        letter = get_column_letter(fields.index(name) + 1)
        return f"{letter}2:{letter}{LIST_ROWS}"

    lists = [
        ("phase", f'"{",".join(phases)}"', True),
        ("owner", f"Actors!$A$2:$A${LIST_ROWS}", True),
        ("environment", f"Environments!$A$2:$A${LIST_ROWS}", True),
        # Several dry runs may be named in one cell, so the list only suggests.
        ("dry_runs", f"DryRuns!$A$2:$A${LIST_ROWS}", False),
        # French values (étape, porte, contrôle) are accepted too, so the list only suggests.
        ("kind", '"step,gate,auto,check"', False),
    ]
    for name, formula, strict in lists:
        validation = DataValidation(type="list", formula1=formula, allow_blank=True)
        validation.showErrorMessage = strict
        validation.error = _("Choose a value from the list ({column})").format(
            column=STEPS.column(name).title
        )
        validation.prompt = {
            "dry_runs": _("One or more dry runs, separated by commas, or ALL"),
            "owner": _("An actor ID from the Actors sheet"),
        }.get(name)
        validation.showInputMessage = validation.prompt is not None
        steps.add_data_validation(validation)
        validation.add(column(name))


def _instructions_sheet(book: Workbook, lines: Sequence[str]) -> None:
    sheet = book.create_sheet(_("Instructions"))
    sheet.column_dimensions["A"].width = 120
    for line in lines:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet["A"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
