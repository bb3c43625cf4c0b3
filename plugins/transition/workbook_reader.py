"""Reading a workbook's sheets into rows keyed by contract field, remembering every cell's place.

Uses python-calamine (Rust) for speed; see BENCHMARKS.md for the numbers behind the choice.
Sheets and headers are matched ignoring case, accents, spaces and punctuation; columns the contract
does not know are kept as ``extras``; fully empty rows are skipped.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import python_calamine

from transition.cell_values import CellValue, as_text, is_blank, normalise_key
from transition.errors import Problem, WorkbookError
from transition.i18n import _, format_count
from transition.sheet_specs import SheetSpec

HEADER_SEARCH_ROWS = 10
# A real plan of 20,000 steps unpacks to about 15 MB: far past these is a broken or hostile file.
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
MAX_PACKING_RATIO = 200


def column_letter(index: int) -> str:
    """0-based column index to Excel letters: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def sheet_ref(sheet_name: str) -> str:
    """The sheet part of a cell reference, quoted as Excel does when needed."""
    if sheet_name.replace("_", "").isalnum():
        return sheet_name
    return "'" + sheet_name.replace("'", "''") + "'"


@dataclass
class RawRow:
    number: int  # 1-based, as Excel shows it
    values: dict[str, CellValue]
    extras: dict[str, CellValue]


@dataclass
class RawSheet:
    key: str
    name: str
    header_row: int
    columns: dict[str, int]
    extra_columns: dict[str, int]
    rows: list[RawRow] = field(default_factory=list)

    def cell(self, field_name: str, row_number: int) -> str:
        """``Steps!E14`` for a field of a row; the sheet and row when the column is absent."""
        index = self.columns.get(field_name)
        if index is None:
            return f"{sheet_ref(self.name)}!{row_number}:{row_number}"
        return f"{sheet_ref(self.name)}!{column_letter(index)}{row_number}"

    @property
    def ref(self) -> str:
        return sheet_ref(self.name)


@dataclass
class RawWorkbook:
    path: Path
    sheet_names: list[str]
    sheets: dict[str, RawSheet]


def read_workbook(path: Path, specs: dict[str, SheetSpec]) -> tuple[RawWorkbook, list[Problem]]:
    """Read every sheet of the contract; problems for missing sheets and columns.

    Raises :class:`WorkbookError` when the file cannot be opened as a workbook at all.
    """
    location = path.name
    if not path.is_file():
        raise WorkbookError([Problem(str(path), _("workbook not found"))])
    _refuse_bombs(path, location)
    try:
        with path.open("rb") as handle:  # a file object: the name need not be valid UTF-8
            book = python_calamine.CalamineWorkbook.from_filelike(handle)
            names = list(book.sheet_names)
    except Exception as exc:  # calamine raises several error types for broken files
        raise WorkbookError(
            [Problem(location, _("cannot be opened as an Excel workbook (.xlsx): {reason}").format(reason=_short(exc)))]
        ) from None

    problems: list[Problem] = []
    sheets: dict[str, RawSheet] = {}
    by_key = {normalise_key(n): n for n in names}
    for spec in specs.values():
        actual = next((by_key[normalise_key(n)] for n in spec.names if normalise_key(n) in by_key), None)
        if actual is None:
            if spec.required:
                also = " (" + _("also accepted: {names}").format(names=", ".join(repr(n) for n in spec.names[1:])) + ")" \
                    if len(spec.names) > 1 else ""
                problems.append(Problem(location, _("missing sheet '{sheet}'{also}; sheets found: {names}").format(
                    sheet=spec.title, also=also, names=", ".join(names) or _("none"))))
            continue
        try:
            grid = book.get_sheet_by_name(actual).to_python(skip_empty_area=False)
        except Exception as exc:
            problems.append(Problem(sheet_ref(actual), _("cannot be read: {reason}").format(reason=_short(exc))))
            continue
        sheet, sheet_problems = _read_sheet(spec, actual, grid)
        problems.extend(sheet_problems)
        if sheet is not None:
            sheets[spec.key] = sheet
    return RawWorkbook(path, names, sheets), problems


def _refuse_bombs(path: Path, location: str) -> None:
    """Refuse a file that would unpack to far more than any plan (a "zip bomb" posing as .xlsx)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip at all: the reader says so in its own words
    unpacked = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if unpacked > MAX_UNPACKED_BYTES or (unpacked > 50 * 1024 * 1024 and unpacked / packed > MAX_PACKING_RATIO):
        raise WorkbookError([Problem(
            location,
            _("refused: the file would unpack to {unpacked} MB (from {packed} KB), far more than a plan; it is damaged "
              "or not a plan workbook").format(unpacked=format_count(unpacked // (1024 * 1024)), packed=format_count(packed // 1024)),
        )])


def _read_sheet(spec: SheetSpec, name: str, grid: list[list[CellValue]]) -> tuple[RawSheet | None, list[Problem]]:
    ref = sheet_ref(name)
    alias_to_field = {normalise_key(a): c.field for c in spec.columns for a in c.aliases}
    required = {c.field for c in spec.columns if c.required}

    header_index = _find_header_row(spec, grid, alias_to_field, required)
    headers = grid[header_index] if header_index < len(grid) else []
    problems: list[Problem] = []
    columns: dict[str, int] = {}
    extras: dict[str, int] = {}
    for index, value in enumerate(headers):
        text = as_text(value)
        if not text:
            continue
        field_name = alias_to_field.get(normalise_key(text))
        if field_name is None:
            extras.setdefault(text, index)
        elif field_name in columns:
            first = column_letter(columns[field_name])
            problems.append(
                Problem(
                    f"{ref}!{column_letter(index)}{header_index + 1}",
                    _("column '{column}' repeats column {first} ('{header}'); remove or rename one of them").format(
                        column=text, first=first, header=as_text(headers[columns[field_name]])),
                )
            )
        else:
            columns[field_name] = index
    missing = [c for c in spec.columns if c.required and c.field not in columns]
    if missing:
        found = ", ".join(as_text(h) for h in headers if as_text(h)) or _("none")
        for column in missing:
            also = " (" + _("also accepted: {names}").format(names=", ".join(column.aliases[1:])) + ")" \
                if len(column.aliases) > 1 else ""
            problems.append(Problem(ref, _("missing column '{column}'{also}; headers found in row {row}: {found}").format(
                column=column.title, also=also, row=header_index + 1, found=found)))
        return None, problems

    sheet = RawSheet(spec.key, name, header_index + 1, columns, extras)
    for offset, cells in enumerate(grid[header_index + 1 :], start=header_index + 2):
        if all(is_blank(v) for v in cells):
            continue
        values = {f: _cell(cells, i) for f, i in columns.items()}
        extra_values = {h: _cell(cells, i) for h, i in extras.items() if not is_blank(_cell(cells, i))}
        sheet.rows.append(RawRow(offset, values, extra_values))
    return sheet, problems


def _find_header_row(
    spec: SheetSpec, grid: list[list[CellValue]], alias_to_field: dict[str, str], required: set[str]
) -> int:
    if spec.header_row is not None:
        return spec.header_row - 1
    best, best_score = 0, -1
    for index, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        found = {alias_to_field.get(normalise_key(as_text(v))) for v in cells} & required
        if len(found) == len(required):
            return index
        if len(found) > best_score:
            best, best_score = index, len(found)
    return best if best_score > 0 else 0


def _cell(cells: list[CellValue], index: int) -> CellValue:
    value = cells[index] if index < len(cells) else None
    return None if value == "" else value


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
