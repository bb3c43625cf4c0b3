"""Reading a workbook's sheets into rows keyed by contract field, remembering every cell's place.

Uses python-calamine (Rust) for speed; see BENCHMARKS.md for the numbers behind the choice.
Sheets and headers are matched ignoring case, accents, spaces and punctuation; columns the contract
does not know are kept as ``extras``; fully empty rows are skipped.

Before calamine sees anything, the file and each sheet it will read are checked against the limits
of :mod:`transition.workbook.limits` (a regular file of bounded size, a zip that does not unpack to
far more than a plan, a bounded number of sheets, cells within a bounded area); rows are then read
one at a time.
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import python_calamine

from transition.errors import Problem, WorkbookError
from transition.i18n import _, format_count
from transition.workbook.cells import CellValue, as_text, is_blank, normalise_key
from transition.workbook.limits import (
    MAX_ROWS,
    SheetExtent,
    count_sheets,
    extent_problem,
    open_workbook_file,
    scan_sheet,
)
from transition.workbook.sheets import SheetSpec

HEADER_SEARCH_ROWS = 10
# A real plan of 20,000 steps unpacks to about 15 MB: far past these is a broken or hostile file.
MAX_UNPACKED_BYTES = 400 * 1024 * 1024
MAX_PACKING_RATIO = 200
MAX_INDEX_BYTES = 4 * 1024 * 1024  # xl/workbook.xml and its relationships: a few KB in a plan
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    KeyError,
)  # what a damaged zip raises while read (zlib: a corrupt stream)


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


class _SheetTooLong(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_workbook(path: Path, specs: dict[str, SheetSpec]) -> tuple[RawWorkbook, list[Problem]]:
    """Read every sheet of the contract; problems for missing sheets and columns.

    Raises :class:`WorkbookError` when the file cannot be opened as a workbook at all, or is past the
    limits of :mod:`transition.workbook.limits` (checked before anything is unpacked).
    """
    location = path.name
    with open_workbook_file(
        path, location
    ) as handle:  # a file object: the name need not be valid UTF-8
        with _open_zip(handle, location) as archive:
            _refuse_bombs(archive, location)
            count_sheets(archive, location)
            parts = sheet_parts(archive)
            handle.seek(0)
            try:
                book = python_calamine.CalamineWorkbook.from_filelike(handle)
                names = list(book.sheet_names)
            except (
                BaseException
            ) as exc:  # calamine raises several error types (a Rust panic is a BaseException)
                _reraise_interrupts(exc)
                raise WorkbookError([Problem(location, _cannot_open(_short(exc)))]) from None
            return _read_sheets(book, names, archive, parts, specs, path)


def _read_sheets(
    book: python_calamine.CalamineWorkbook,
    names: list[str],
    archive: zipfile.ZipFile,
    parts: dict[str, str],
    specs: dict[str, SheetSpec],
    path: Path,
) -> tuple[RawWorkbook, list[Problem]]:
    problems: list[Problem] = []
    sheets: dict[str, RawSheet] = {}
    by_key = {normalise_key(n): n for n in names}
    for spec in specs.values():
        actual = next(
            (by_key[normalise_key(n)] for n in spec.names if normalise_key(n) in by_key), None
        )
        if actual is None:
            if spec.required:
                also = (
                    " ("
                    + _("also accepted: {names}").format(
                        names=", ".join(repr(n) for n in spec.names[1:])
                    )
                    + ")"
                    if len(spec.names) > 1
                    else ""
                )
                problems.append(
                    Problem(
                        path.name,
                        _("missing sheet '{sheet}'{also}; sheets found: {names}").format(
                            sheet=spec.title, also=also, names=", ".join(names) or _("none")
                        ),
                    )
                )
            continue
        refusal = _check_extent(archive, parts, actual)
        if refusal is not None:
            problems.append(refusal)
            continue
        try:
            sheet, sheet_problems = _read_sheet(
                spec, actual, _sheet_rows(book.get_sheet_by_name(actual))
            )
        except _SheetTooLong as too_long:
            problems.append(too_long.problem)
            continue
        except BaseException as exc:
            _reraise_interrupts(exc)
            problems.append(
                Problem(sheet_ref(actual), _("cannot be read: {reason}").format(reason=_short(exc)))
            )
            continue
        problems.extend(sheet_problems)
        if sheet is not None:
            sheets[spec.key] = sheet
    return RawWorkbook(path, names, sheets), problems


def _cannot_open(reason: str) -> str:
    return _("cannot be opened as an Excel workbook (.xlsx): {reason}").format(reason=reason)


def _open_zip(handle: BinaryIO, location: str) -> zipfile.ZipFile:
    """The workbook as a zip; anything else (an old .xls, a damaged file) is refused unread."""
    try:
        return zipfile.ZipFile(handle)
    except zipfile.BadZipFile:
        reason = _(
            "it is not an .xlsx file (an .xlsx is a zip archive; this one is damaged or in another format); "
            "save it in Excel as 'Excel Workbook (*.xlsx)'"
        )
    except _ZIP_ERRORS as exc:
        reason = _short(exc)
    raise WorkbookError([Problem(location, _cannot_open(reason))])


def _refuse_bombs(archive: zipfile.ZipFile, location: str) -> None:
    """Refuse a file that would unpack to far more than any plan (a "zip bomb" posing as .xlsx)."""
    members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    packed = max(1, sum(m.compress_size for m in members))
    if unpacked > MAX_UNPACKED_BYTES or (
        unpacked > 50 * 1024 * 1024 and unpacked / packed > MAX_PACKING_RATIO
    ):
        raise WorkbookError(
            [
                Problem(
                    location,
                    _(
                        "refused: the file would unpack to {unpacked} MB (from {packed} KB), far more than a plan; it is damaged "
                        "or not a plan workbook"
                    ).format(
                        unpacked=format_count(unpacked // (1024 * 1024)),
                        packed=format_count(packed // 1024),
                    ),
                )
            ]
        )


_SHEET = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?sheet\b([^>]*)>")
_RELATIONSHIP = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(r"""([\w:.-]+)\s*=\s*(["'])(.*?)\2""", re.S)


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its XML part in the zip (``xl/worksheets/sheet1.xml``); empty when not found."""
    try:
        book = _small_member(archive, "xl/workbook.xml")
        rels = _small_member(archive, "xl/_rels/workbook.xml.rels")
    except _ZIP_ERRORS:
        return {}
    targets: dict[str, str] = {}
    for match in _RELATIONSHIP.finditer(rels):
        attributes = {
            k.split(":")[-1]: html.unescape(v) for k, _q, v in _ATTRIBUTE.findall(match.group(1))
        }
        target = attributes.get("Target", "")
        targets[attributes.get("Id", "")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
        )
    parts: dict[str, str] = {}
    for match in _SHEET.finditer(book):
        pairs = _ATTRIBUTE.findall(match.group(1))
        name = next((html.unescape(v) for k, _q, v in pairs if k == "name"), None)
        relation = next((v for k, _q, v in pairs if k.endswith(":id")), None)
        if name is not None and relation in targets:
            parts[name] = targets[relation]
    return parts


def _small_member(archive: zipfile.ZipFile, name: str) -> str:
    with archive.open(name) as stream:
        return stream.read(MAX_INDEX_BYTES).decode("utf-8", "replace")


def _check_extent(
    archive: zipfile.ZipFile, parts: dict[str, str], sheet_name: str
) -> Problem | None:
    """The sheet's refusal when its cells reach past the limits (streamed, before calamine builds its grid).

    When the sheet's part cannot be told from the workbook's index, every worksheet part is checked."""
    known = parts.get(sheet_name)
    members = (
        [known]
        if known in archive.NameToInfo
        else [
            m for m in archive.namelist() if m.startswith("xl/worksheets/") and m.endswith(".xml")
        ]
    )
    for member in members:
        try:
            extent = scan_sheet(archive, member)
        except _ZIP_ERRORS as exc:
            return Problem(
                sheet_ref(sheet_name), _("cannot be read: {reason}").format(reason=_short(exc))
            )
        refusal = extent_problem(sheet_ref(sheet_name), extent)
        if refusal is not None:
            return refusal
    return None


def _reraise_interrupts(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise exc


def _sheet_rows(sheet: python_calamine.CalamineSheet) -> Iterator[list[CellValue]]:
    """The sheet's rows from row 1 and column A, one at a time (calamine starts its rows at row 1 but its
    columns at the first one used; memory is one row, not the sheet)."""
    if sheet.start is None:
        return
    padding: list[CellValue] = [None] * sheet.start[1]
    for index, cells in enumerate(sheet.iter_rows()):
        if index >= MAX_ROWS:  # the scan before refuses such a sheet: this is the backstop
            problem = extent_problem(
                sheet_ref(sheet.name), SheetExtent(0, 0, index + 1, 1, f"A{index + 1}")
            )
            raise _SheetTooLong(problem or Problem(sheet_ref(sheet.name), "too many rows"))
        yield [*padding, *cells] if padding else list(cells)


def _read_sheet(
    spec: SheetSpec, name: str, rows: Iterator[list[CellValue]]
) -> tuple[RawSheet | None, list[Problem]]:
    ref = sheet_ref(name)
    alias_to_field = {normalise_key(a): c.field for c in spec.columns for a in c.aliases}
    required = {c.field for c in spec.columns if c.required}

    head: list[list[CellValue]] = []  # the rows where the header may be
    for cells in rows:
        head.append(cells)
        if len(head) >= max(HEADER_SEARCH_ROWS, spec.header_row or 0):
            break
    header_index = _find_header_row(spec, head, alias_to_field, required)
    headers = head[header_index] if header_index < len(head) else []
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
                    _(
                        "column '{column}' repeats column {first} ('{header}'); remove or rename one of them"
                    ).format(
                        column=text, first=first, header=as_text(headers[columns[field_name]])
                    ),
                )
            )
        else:
            columns[field_name] = index
    missing = [c for c in spec.columns if c.required and c.field not in columns]
    if missing:
        found = ", ".join(as_text(h) for h in headers if as_text(h)) or _("none")
        for column in missing:
            also = (
                " (" + _("also accepted: {names}").format(names=", ".join(column.aliases[1:])) + ")"
                if len(column.aliases) > 1
                else ""
            )
            problems.append(
                Problem(
                    ref,
                    _(
                        "missing column '{column}'{also}; headers found in row {row}: {found}"
                    ).format(column=column.title, also=also, row=header_index + 1, found=found),
                )
            )
        return None, problems

    sheet = RawSheet(spec.key, name, header_index + 1, columns, extras)
    below = head[header_index + 1 :]
    for offset, cells in enumerate(_chain(below, rows), start=header_index + 2):
        if all(is_blank(v) for v in cells):
            continue
        values = {f: _cell(cells, i) for f, i in columns.items()}
        extra_values = {
            h: _cell(cells, i) for h, i in extras.items() if not is_blank(_cell(cells, i))
        }
        sheet.rows.append(RawRow(offset, values, extra_values))
    return sheet, problems


def _chain(
    first: list[list[CellValue]], rest: Iterator[list[CellValue]]
) -> Iterator[list[CellValue]]:
    yield from first
    yield from rest


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
