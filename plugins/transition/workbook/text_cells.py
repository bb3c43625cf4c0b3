"""People's text written into a workbook we produce: always text, never a formula.

openpyxl makes a string that starts with ``=`` a live formula (``=HYPERLINK(...)`` opens a link when
clicked) and one that looks like an error code (``#N/A``) an error; it refuses control characters with
an exception, and Excel repairs a file whose cell holds more than 32,767 characters (counted in
UTF-16 units, so an emoji counts twice). :func:`put` writes a value so that none of that happens:

* every string cell is a text cell (``data_type`` ``s``), whatever it starts with;
* one that a spreadsheet would read as a formula if typed or exported to CSV (``=``, ``+``, ``-``,
  ``@``, a tab, CR or line feed first) also gets Excel's "quote prefix", so editing the cell keeps it text;
* control characters Excel does not allow become U+FFFD;
* text over Excel's limit is cut, ending with a visible mark that says how long it was.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.worksheet.worksheet import Worksheet

from transition.i18n import _, format_count

EXCEL_CELL_LIMIT = 32_767  # characters of a cell, in UTF-16 code units
FORMULA_LEADS = frozenset("=+-@\t\r\n")


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Excel counts."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _within(text: str, units: int) -> str:
    """The longest start of ``text`` that fits in ``units`` UTF-16 code units."""
    used = 0
    for index, character in enumerate(text):
        used += 2 if ord(character) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def cell_text(value: str) -> str:
    """``value`` as a cell may hold it: no forbidden control character, within Excel's limit."""
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if _units(text) <= EXCEL_CELL_LIMIT:
        return text
    mark = " " + _("… [cut: {count} characters]").format(count=format_count(len(value)))
    return _within(text, EXCEL_CELL_LIMIT - _units(mark)) + mark


def looks_like_formula(text: str) -> bool:
    return text[:1] in FORMULA_LEADS


def set_value(cell: Cell, value: Any) -> Cell:
    """Write ``value`` into ``cell``; a string always as text (see the module's docstring)."""
    if not isinstance(value, str):
        cell.value = value
        return cell
    text = cell_text(value)
    cell.value = text
    cell.data_type = "s"  # not "f" (a leading "=") nor "e" (an error code's look)
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell


def put(sheet: Worksheet, row: int, column: int, value: Any) -> Cell:
    return set_value(sheet.cell(row=row, column=column), value)


def put_row(sheet: Worksheet, row: int, values: list[Any], first_column: int = 1) -> None:
    for offset, value in enumerate(values):
        put(sheet, row, first_column + offset, value)
