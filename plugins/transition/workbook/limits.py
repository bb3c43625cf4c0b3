"""Limits checked before a workbook is read: the file's kind and size, its sheets, their used area.

:func:`scan_sheet` streams each sheet's XML out of the zip and finds where its cells really are, as
declared and as found; a sheet reaching past :data:`MAX_ROWS` rows or :data:`MAX_COLUMNS` columns
is refused with the cell that is too far, before any grid is built. The file must be a regular file
of at most :data:`MAX_WORKBOOK_BYTES`, a zip of at most :data:`MAX_SHEETS` sheets and
:data:`MAX_ZIP_MEMBERS` parts (the limits are documented in docs/workbook.md).

How it works: docs/architecture.md, "workbook/limits.py".
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from transition.errors import Problem, WorkbookError
from transition.i18n import _, format_count
from transition.regular_files import NotARegularFile, TooBig, kind_of, mode_of, open_regular_file

MAX_WORKBOOK_BYTES = 100 * 1024 * 1024  # a 20,000-step plan with long descriptions is about 20 MB
MAX_SHEETS = 200
MAX_ZIP_MEMBERS = 10_000
MAX_ROWS = 50_000  # per sheet; a plan has a few thousand steps
MAX_COLUMNS = 200  # per sheet (column GR); the contract has 10, extra columns are kept as metadata
CHUNK_BYTES = 1024 * 1024

_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_TAG = re.compile(rb"<" + _PREFIX + rb"(row|c)(?=[\s/>])([^>]*)>")
_ANY_CELL = re.compile(rb"<" + _PREFIX + rb"c[\s/>]")
_PLAIN_CELL = re.compile(rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"[\s/>]')
_DIMENSION = re.compile(rb"<" + _PREFIX + rb"dimension(?=[\s/>])([^>]*)>")
_R_ATTRIBUTE = re.compile(rb"""\sr\s*=\s*(["'])(.*?)\1""", re.S)
_REF_ATTRIBUTE = re.compile(rb"""\sref\s*=\s*(["'])(.*?)\1""", re.S)
_CELL_REF = re.compile(rb"^\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_ROW_NUMBER = re.compile(rb"^[0-9]{1,7}$")


def column_number(letters: str) -> int:
    """``A`` -> 1, ``AB`` -> 28."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    """1 -> ``A``, 28 -> ``AB``."""
    letters = ""
    while number > 0:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# -- the file ------------------------------------------------------------------------------------


def open_workbook_file(path: Path, location: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file under the size limit, else WorkbookError.

    Opened without blocking (a FIFO would wait for a writer) and checked on the open file, so a file
    swapped between the check and the read is still checked.
    """
    try:
        return open_regular_file(path, MAX_WORKBOOK_BYTES)
    except FileNotFoundError:
        raise WorkbookError([Problem(location, _("workbook not found"))]) from None
    except NotARegularFile as exc:
        raise WorkbookError([Problem(location, _not_a_file_message(exc.mode))]) from None
    except TooBig as exc:
        raise WorkbookError([Problem(location, too_big_message(exc.size))]) from None
    except OSError as exc:
        if stat.S_ISDIR(mode_of(path)):
            raise WorkbookError([Problem(location, _not_a_file_message(mode_of(path)))]) from None
        raise WorkbookError(
            [
                Problem(
                    location,
                    _("cannot read the workbook: {reason}").format(
                        reason=exc.strerror or type(exc).__name__
                    ),
                )
            ]
        ) from None


def too_big_message(size: int) -> str:
    return _(
        "refused: the file is {size} MB, more than the {most} MB a plan workbook may have; it is not a plan "
        "workbook, or it holds pictures or data to move elsewhere"
    ).format(
        size=format_count(-(-size // (1024 * 1024))),
        most=format_count(MAX_WORKBOOK_BYTES // (1024 * 1024)),
    )


def _not_a_file_message(mode: int) -> str:
    return _(
        "refused: this is {kind}, not a workbook file; point to the .xlsx file of the plan"
    ).format(kind=kind_of(mode))


# -- the sheets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetExtent:
    """Where a sheet's cells are (1-based; 0 when it has none)."""

    declared_rows: int
    declared_columns: int
    rows: int
    columns: int
    far_cell: str  # the cell (or row) that reaches furthest past a limit, '' when within them


def count_sheets(archive: zipfile.ZipFile, location: str) -> None:
    """Refuse a workbook with far more parts or sheets than any plan."""
    members = archive.infolist()
    sheets = sum(
        1
        for m in members
        if re.match(r"xl/(worksheets|chartsheets|dialogsheets|macrosheets)/[^/]+\.xml$", m.filename)
    )
    if len(members) > MAX_ZIP_MEMBERS or sheets > MAX_SHEETS:
        raise WorkbookError(
            [
                Problem(
                    location,
                    _(
                        "refused: the workbook has {sheets} sheets ({parts} parts); a plan workbook may have at most {most} sheets"
                    ).format(
                        sheets=format_count(sheets),
                        parts=format_count(len(members)),
                        most=format_count(MAX_SHEETS),
                    ),
                )
            ]
        )


def scan_sheet(archive: zipfile.ZipFile, member: str) -> SheetExtent:
    """Stream a sheet's XML and find its declared and real extent (see the module's docstring)."""
    state = _ScanState()
    tail = b""
    with archive.open(member) as stream:
        while True:
            chunk = stream.read(CHUNK_BYTES)
            data = tail + chunk
            if not chunk:
                cut = len(data)
            else:
                cut = data.rfind(b"<")  # a tag may straddle two chunks: keep it for the next
                if cut <= 0:
                    cut = (
                        len(data) if len(data) > 16 * CHUNK_BYTES else 0
                    )  # no '<' for long: nothing to find
            state.scan(data, cut)
            tail = data[cut:]
            if not chunk:
                break
    return SheetExtent(
        state.declared_rows, state.declared_columns, state.max_row, state.max_column, state.far
    )


class _ScanState:
    """Positions seen so far. The usual file (every cell written ``<c r="B12" ...``, as Excel and openpyxl
    do) takes the fast path: one regex pass, no Python per cell. Anything else is walked tag by tag."""

    def __init__(self) -> None:
        self.declared_rows = self.declared_columns = 0
        self.dimension_seen = False
        self.max_row = self.max_column = 0
        self.row = self.column = 0
        self.far = ""

    def scan(self, data: bytes, end: int) -> None:
        if not self.dimension_seen:
            found = _DIMENSION.search(data, 0, end)
            if found:
                self.dimension_seen = True
                self.declared_rows, self.declared_columns = _declared(found.group(1))
        plain = _PLAIN_CELL.findall(data, 0, end)
        if len(plain) == len(_ANY_CELL.findall(data, 0, end)):
            if plain:
                self._plain(plain)
        else:
            self._walk(data, end)

    def _plain(self, cells: list[tuple[bytes, bytes]]) -> None:
        rows = {int(r) for _c, r in cells}
        columns = {column_number(c.decode()) for c, _r in cells}
        self.max_row, self.max_column = max(self.max_row, *rows), max(self.max_column, *columns)
        self.row, self.column = int(cells[-1][1]), column_number(cells[-1][0].decode())
        if not self.far and (self.max_row > MAX_ROWS or self.max_column > MAX_COLUMNS):
            self.far = next(
                f"{c.decode()}{int(r)}"
                for c, r in cells
                if int(r) > MAX_ROWS or column_number(c.decode()) > MAX_COLUMNS
            )

    def _walk(self, data: bytes, end: int) -> None:
        for match in _TAG.finditer(data, 0, end):
            name, attributes = match.group(1), match.group(2)
            position = _R_ATTRIBUTE.search(attributes)
            value = position.group(2).strip() if position else None
            if name == b"row":
                self.row = _row_number(
                    value, self.row
                )  # a row without cells (a height, a style) costs nothing
                self.column = 0
                continue
            if self.row == 0:
                self.row = 1  # a cell before any row: calamine puts it in the first
            self.row, self.column = _cell_position(value, self.row, self.column)
            self.max_row, self.max_column = (
                max(self.max_row, self.row),
                max(self.max_column, self.column),
            )
            if not self.far and (self.row > MAX_ROWS or self.column > MAX_COLUMNS):
                self.far = f"{column_letters(max(self.column, 1))}{self.row}"


def _declared(attributes: bytes) -> tuple[int, int]:
    ref = _REF_ATTRIBUTE.search(attributes)
    if not ref:
        return 0, 0
    last = ref.group(2).strip().split(b":")[-1]
    cell = _CELL_REF.match(last)
    if cell is None:
        return 0, 0  # a dimension that says nothing usable: the cells themselves are checked
    return int(cell.group(2)), column_number(cell.group(1).decode())


def _row_number(value: bytes | None, previous: int) -> int:
    if value is not None and _ROW_NUMBER.match(value):
        return int(value)
    if value is not None:
        return MAX_ROWS + 1  # a position we cannot read: refused rather than guessed
    return previous + 1


def _cell_position(value: bytes | None, row: int, column: int) -> tuple[int, int]:
    if value is None:
        return row, column + 1
    cell = _CELL_REF.match(value)
    if cell is None:
        return row, MAX_COLUMNS + 1  # a position we cannot read: refused rather than guessed
    return int(cell.group(2)), column_number(cell.group(1).decode())


def extent_problem(sheet_location: str, extent: SheetExtent) -> Problem | None:
    """The refusal of a sheet past the limits, in words saying which cell and what to do; None if within."""
    limits = _(
        "a plan sheet may have at most {rows} rows and {columns} columns (up to column {last})"
    ).format(
        rows=format_count(MAX_ROWS),
        columns=format_count(MAX_COLUMNS),
        last=column_letters(MAX_COLUMNS),
    )
    if extent.declared_rows > MAX_ROWS or extent.declared_columns > MAX_COLUMNS:
        corner = f"{column_letters(extent.declared_columns)}{extent.declared_rows}"
        return Problem(
            f"{sheet_location}!{corner}",
            _(
                "refused: the sheet says it is used down to row {rows} and across to column {column} ({cells} cells); "
                "{limits}. Delete the rows and columns past your data (select them, Delete) and save again"
            ).format(
                rows=format_count(extent.declared_rows),
                column=column_letters(extent.declared_columns),
                cells=format_count(extent.declared_rows * extent.declared_columns),
                limits=limits,
            ),
        )
    if extent.far_cell:
        return Problem(
            f"{sheet_location}!{extent.far_cell}",
            _(
                "refused: this cell is too far down or right ({limits}); "
                "delete it, or the rows and columns past your data, and save again"
            ).format(limits=limits),
        )
    return None
