"""Limits checked before work: the workbook's kind, size, sheets and used area; settings' ranges;
control characters in IDs and names. Each refusal is a problem with its place, in plain words."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import base_sheets, compile_sheets, write_config, write_xlsx
from transition.errors import ConfigError, WorkbookError
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.store.plan_store import load_plan
from transition.workbook.limits import MAX_COLUMNS, MAX_ROWS

TRANSITION = os.path.join(os.path.dirname(sys.executable), "transition")


def rewrite_sheet(path: Path, sheet: str, change) -> Path:
    """Rewrite one sheet's XML inside a workbook written by openpyxl (``change(xml) -> xml``)."""
    with zipfile.ZipFile(path) as source:
        book = source.read("xl/workbook.xml").decode()
        index = re.findall(r'<sheet [^>]*name="([^"]+)"', book).index(sheet) + 1
        members = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename == f"xl/worksheets/sheet{index}.xml":
                data = change(data)
            target.writestr(info, data)
    return path


def far_cell(xml: bytes) -> bytes:
    """One more cell, at the last row and column Excel has: a 5 KB file whose grid is 17 billion cells."""
    return xml.replace(
        b"</sheetData>",
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
    )


def problems_of(path: Path) -> list[str]:
    with pytest.raises(WorkbookError) as caught:
        compile_plan(load_config(path))
    return [str(p) for p in caught.value.problems]


def test_a_cell_at_xfd1048576_is_refused_with_its_cell_and_no_crash(tmp_path):
    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", base_sheets()), "Actors", far_cell)
    assert path.stat().st_size < 10_000
    result = compile_plan(load_config(path))
    assert result.plan is None
    assert [str(p) for p in result.problems if p.location.startswith("Actors")] == [
        f"Actors!XFD1048576: refused: this cell is too far down or right (a plan sheet may have at most "
        f"{MAX_ROWS:,} rows and {MAX_COLUMNS} columns (up to column GR)); delete it, or the rows and columns past "
        f"your data, and save again"
    ]


def test_the_cli_says_so_in_a_child_that_survives(tmp_path):
    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", base_sheets()), "Steps", far_cell)
    done = subprocess.run(
        [TRANSITION, "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Steps!XFD1048576: refused: this cell is too far down or right" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_declared_dimension_past_the_limits_is_refused(tmp_path):
    def declare(xml: bytes) -> bytes:
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', xml)

    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", base_sheets()), "Steps", declare)
    problems = compile_plan(load_config(path)).problems
    assert [str(p) for p in problems if p.location.startswith("Steps")] == [
        "Steps!XFD1048576: refused: the sheet says it is used down to row 1,048,576 and across to column XFD "
        "(17,179,869,184 cells); a plan sheet may have at most 50,000 rows and 200 columns (up to column GR). "
        "Delete the rows and columns past your data (select them, Delete) and save again"
    ]


@pytest.mark.parametrize("how", ["missing", "lying"])
def test_a_dimension_missing_or_lying_does_not_hide_far_cells(tmp_path, how):
    def change(xml: bytes) -> bytes:
        xml = far_cell(xml)
        if how == "missing":
            return re.sub(rb"<dimension [^>]*/>", b"", xml)
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', xml)

    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", base_sheets()), "Steps", change)
    assert any(p.location == "Steps!XFD1048576" for p in compile_plan(load_config(path)).problems)


def test_cells_without_positions_are_counted_where_they_fall(tmp_path):
    """A cell written without ``r=`` is the one after the previous: 300 of them in a row reach past the
    column limit even though no cell names a far column."""

    def change(xml: bytes) -> bytes:
        cells = b"<c><v>1</v></c>" * 300
        return xml.replace(b"</sheetData>", b'<row r="40">' + cells + b"</row></sheetData>")

    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", base_sheets()), "Environments", change)
    problems = compile_plan(load_config(path)).problems
    assert [p.location for p in problems if p.location.startswith("Environments")] == [
        "Environments!GS40"
    ]


def test_cells_far_away_in_a_sheet_the_plan_does_not_read_are_not_its_business(tmp_path):
    sheets = base_sheets() | {"Notes": [["anything"]]}
    path = rewrite_sheet(write_xlsx(tmp_path / "plan.xlsx", sheets), "Notes", far_cell)
    assert compile_plan(load_config(path)).plan is not None


def test_a_plan_starting_further_right_and_down_keeps_its_cell_names(tmp_path):
    sheets = base_sheets()
    sheets["Steps"] = [[None, None] + row for row in [[]] * 3 + sheets["Steps"]]  # header in C4
    sheets["Steps"][5][4 + 2] = "PP-999"  # row 6 (PP-020's prerequisites), column E + 2 = G
    result = compile_sheets(tmp_path, sheets)
    assert [str(p) for p in result.problems] == ["Steps!G6: unknown prerequisite 'PP-999'"]


def test_many_sheets_are_refused(tmp_path):
    sheets = base_sheets() | {f"S{n}": [["x"]] for n in range(201)}
    path = write_xlsx(tmp_path / "plan.xlsx", sheets)
    assert problems_of(path) == [
        "plan.xlsx: refused: the workbook has 205 sheets (213 parts); a plan workbook may have at most 200 sheets"
    ]


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_workbook_that_is_not_a_regular_file_is_refused_unread(tmp_path, plan_dir, kind):
    target = plan_dir / "plan.xlsx"
    if kind == "fifo":
        os.mkfifo(target)  # opening it to read would wait for a writer forever
    elif kind == "folder":
        target.mkdir()
    else:
        write_config(plan_dir / "config.yaml", "/dev/zero")  # endless: reading it whole never ends
    expected = {"fifo": "a pipe (FIFO)", "folder": "a folder", "device": "a device"}[kind]
    loaded = load_plan(plan_dir / "config.yaml")
    assert [p.message for p in loaded.errors] == [
        f"refused: this is {expected}, not a workbook file; point to the .xlsx file of the plan"
    ]
    done = subprocess.run(
        [TRANSITION, "validate", str(plan_dir / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and expected in done.stderr and "Traceback" not in done.stderr


def test_a_workbook_over_the_size_limit_is_refused_unread(plan_dir, monkeypatch):
    from transition.workbook import limits

    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    monkeypatch.setattr(
        limits, "MAX_WORKBOOK_BYTES", 1024
    )  # a real file, a small limit: same code path
    loaded = load_plan(plan_dir / "config.yaml")
    assert [p.message for p in loaded.errors] == [
        "refused: the file is 1 MB, more than the 0 MB a plan workbook may have; it is not a plan workbook, "
        "or it holds pictures or data to move elsewhere"
    ]


def test_a_file_that_is_no_zip_is_refused_in_plain_words(tmp_path):
    (tmp_path / "plan.xlsx").write_bytes(b"\xd0\xcf\x11\xe0 an old .xls file")
    assert problems_of(tmp_path / "plan.xlsx") == [
        "plan.xlsx: cannot be opened as an Excel workbook (.xlsx): it is not an .xlsx file (an .xlsx is a zip "
        "archive; this one is damaged or in another format); save it in Excel as 'Excel Workbook (*.xlsx)'"
    ]


@pytest.mark.parametrize(
    "value, message",
    [
        (".inf", "inf is out of range; use a number of days from 0 to 365"),
        ("1e9", "1e+09 is out of range; use a number of days from 0 to 365"),
        ("-1", "-1 is out of range; use a number of days from 0 to 365"),
        (".nan", "nan is out of range; use a number of days from 0 to 365"),
    ],
)
def test_numeric_settings_have_a_range(tmp_path, value, message):
    (tmp_path / "c.yaml").write_text(f"name: resa\nworkbook: p.xlsx\nlock_window_days: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'c.yaml'}: lock_window_days: {message}"
    ]


def test_a_default_duration_that_would_overflow_is_a_problem(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "name: resa\nworkbook: p.xlsx\ndefault_duration: 99999999999999d\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert "default_duration: duration '99999999999999d' is longer than 366 days" in str(
        caught.value
    )


def test_a_phase_on_two_lines_is_refused(tmp_path):
    (tmp_path / "c.yaml").write_text(
        'name: resa\nworkbook: p.xlsx\nphases: [{code: "PP", name: "Prep\\u2028aration"}]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert [p.message for p in caught.value.problems] == [
        "'Prep\\u2028aration' holds a line break, tab or other invisible character (U+2028 LINE SEPARATOR); "
        "write it on one line"
    ]


def test_a_huge_configuration_file_is_refused_unread(tmp_path):
    (tmp_path / "c.yaml").write_text("name: resa\nworkbook: p.xlsx\n" + "#" * (2 * 1024 * 1024))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert "refused: the file is larger than 1024 KB" in str(caught.value)


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_configuration_that_is_not_a_regular_file_is_refused_unread(tmp_path, kind):
    """TRANSITION_CONFIG (or the argument) naming a FIFO would wait for a writer for ever, and
    /dev/zero never ends: each is refused by what it is, unread, by the command too."""
    target = tmp_path / "config.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to("/dev/zero")
    expected = {"fifo": "a pipe (FIFO)", "folder": "a folder", "device": "a device"}[kind]
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    assert [str(p) for p in caught.value.problems] == [
        f"{target}: refused: this is {expected}, not a configuration file"
    ]
    done = subprocess.run(
        [TRANSITION, "validate", str(target)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and expected in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "character", ["\n", "\r", "\t", "\u2028", "\u2029", "\x85", "\x7f", "\u202e", "\u200b"]
)
def test_control_characters_in_ids_and_names_are_refused_with_their_cell(tmp_path, character):
    sheets = base_sheets()
    sheets["Steps"][1][1] = f"Freeze{character}billing"  # B2 label
    sheets["Steps"][1][9] = f"Stop{character}the batch."  # J2 description: free text, kept
    sheets["Steps"][3][0] = f"CO{character}100"  # A4 step ID
    sheets["Actors"][1][1] = f"Alice{character}Martin"  # B2 name
    sheets["Actors"][2][2] = f"bob@example.com{character}Bcc: eve@example.com"  # C3 e-mail
    sheets["Actors"][3][3] = f"Mar{character}ket"  # D4 team
    sheets["DryRuns"][2][0] = f"LI{character}VE"  # A3 dry-run name
    sheets["Environments"][2][1] = f"Produc{character}tion"  # B3 environment name
    result = compile_sheets(tmp_path, sheets)
    refused = {p.location for p in result.problems if "invisible character" in p.message}
    assert refused == {
        "Steps!B2",
        "Steps!A4",
        "Actors!B2",
        "Actors!C3",
        "Actors!D4",
        "DryRuns!A3",
        "Environments!B3",
    }
    assert all(
        character not in str(p) for p in result.problems
    )  # the report itself stays one line each


def test_a_refused_id_names_the_character_in_plain_words(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][1][0] = "DR\u20281"
    result = compile_sheets(tmp_path, sheets)
    assert (
        "DryRuns!A2: dry-run name 'DR\\u20281' holds a line break, tab or other invisible character "
        "(U+2028 LINE SEPARATOR); IDs and names must be one line of plain text: retype the cell"
        in [str(p) for p in result.problems]
    )


def test_free_text_keeps_its_line_breaks(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][9] = "Stop the batch.\n\nThen\tcheck\u2028the queue."
    result = compile_sheets(tmp_path, sheets)
    assert (
        result.problems == [] and result.plan.steps["PP-010"].description == sheets["Steps"][1][9]
    )


@pytest.mark.parametrize(
    "duration, message",
    [
        (1e300, "is longer than 366 days"),
        ("9" * 400 + "d", "is longer than 366 days"),
        (527041, "duration '527041' is longer than 366 days"),
    ],
)
def test_durations_that_would_overflow_are_problems(tmp_path, duration, message):
    sheets = base_sheets()
    sheets["Steps"][1][6] = duration
    result = compile_sheets(tmp_path, sheets)
    assert len(result.problems) == 1 and result.problems[0].location == "Steps!G2"
    assert message in result.problems[0].message


def test_a_d_day_far_in_the_future_is_a_problem_not_an_overflow(tmp_path):
    import datetime as dt

    sheets = base_sheets()
    sheets["DryRuns"][1][1] = dt.date(9999, 12, 30)
    sheets["DryRuns"][1][2] = None
    result = compile_sheets(tmp_path, sheets)
    assert "DryRuns!B2: date '9999-12-30' is out of range; use a date between 1900 and 2199" in [
        str(p) for p in result.problems
    ]


@pytest.mark.parametrize(
    "value", [float("inf"), float("-inf"), float("nan"), 1e300, "1" * 5000 + "m"]
)
def test_parse_duration_raises_only_value_errors(value):
    from transition.workbook.cells import parse_duration

    with pytest.raises(ValueError):
        parse_duration(value)


def test_a_sheet_whose_compressed_data_is_damaged_is_a_problem(tmp_path):
    """Found by the fuzzer: zlib's own error while the sheet is scanned."""
    path = write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    outcome = None
    try:
        outcome = compile_plan(load_config(path))
    except WorkbookError as refused:
        outcome = refused
    assert outcome.problems and outcome.problems[0].location.startswith(("Steps", "plan.xlsx"))


def test_the_dag_import_error_names_the_far_cell(plan_dir, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from transition.locations import REPO_ROOT

    rewrite_sheet(write_xlsx(plan_dir / "plan.xlsx", base_sheets()), "Steps", far_cell)
    monkeypatch.setenv("TRANSITION_CONFIG", str(plan_dir / "config.yaml"))
    bag = DagBag(
        dag_folder=str(REPO_ROOT / "dags" / "transition_plan_problems.py"), safe_mode=False
    )
    [error] = bag.import_errors.values()
    assert "Steps!XFD1048576: refused: this cell is too far down or right" in error
