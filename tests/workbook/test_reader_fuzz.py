"""Fuzzing the workbook reader (hypothesis): whatever the .xlsx, it compiles or returns problems.

Generated files: valid workbooks with random cell contents and types put anywhere near the plan,
corrupt zips (bytes flipped), truncated files, huge declared dimensions, far cells, cells without
positions, many sheets. The property: ``compile_plan`` returns a result or raises
:class:`WorkbookError` (problems), never anything else, and never kills the process running it.

``make test`` runs a few dozen examples per test (seconds); ``make fuzz`` runs many more
(``TRANSITION_FUZZ_EXAMPLES``, default 25 here).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import base_sheets, write_config, write_xlsx
from transition.errors import WorkbookError
from transition.plan.compiler import CompileResult, compile_plan
from transition.plan.config import load_config
from transition.store.plan_store import load_plan

EXAMPLES = int(os.environ.get("TRANSITION_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
SHEETS = ["Steps", "Actors", "DryRuns", "Environments"]
_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")  # what openpyxl (and XML) cannot hold

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).map(
    lambda t: _ILLEGAL.sub("", t)
)
cell_values = st.one_of(
    st.none(),
    texts,
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(min_value=dt.date(1900, 3, 1)),
    st.datetimes(min_value=dt.datetime(1900, 3, 1)),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9000)),
    st.sampled_from(
        [
            "D-3 08:00",
            "D+0 22:30",
            "J+1",
            "1h30",
            "ALL",
            "DR1, LIVE",
            "PP-010",
            "alice",
            "=1+1",
            "FB-RB",
            "gate",
            "2027-03-28 02:30",
            "\u2028",
            "a\nb",
            "x" * 400,
        ]
    ),
)
edits = st.lists(
    st.tuples(st.sampled_from(SHEETS), st.integers(0, 12), st.integers(0, 14), cell_values),
    max_size=25,
)


def compiles_or_problems(path: Path) -> CompileResult | WorkbookError:
    """The property itself: a result, or WorkbookError; any other exception fails the test."""
    try:
        return compile_plan(load_config(path))
    except WorkbookError as refused:
        assert refused.problems and all(p.location and p.message for p in refused.problems)
        return refused


def workbook_bytes(edit_list) -> bytes:
    sheets = base_sheets()
    for sheet, row, column, value in edit_list:
        rows = sheets[sheet]
        while len(rows) <= row:
            rows.append([])
        rows[row].extend([None] * (column + 1 - len(rows[row])))
        rows[row][column] = value
    buffer = io.BytesIO()
    write_xlsx(buffer, sheets)  # type: ignore[arg-type]  (openpyxl saves to a file object too)
    return buffer.getvalue()


@FUZZ
@given(edit_list=edits)
def test_random_cells_compile_or_give_problems(tmp_path_factory, edit_list):
    path = tmp_path_factory.mktemp("fuzz") / "plan.xlsx"
    path.write_bytes(workbook_bytes(edit_list))
    outcome = compiles_or_problems(path)
    if isinstance(outcome, CompileResult):
        assert outcome.plan is not None or outcome.problems


@FUZZ
@given(
    edit_list=edits,
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
)
def test_truncated_and_corrupt_files_give_problems(tmp_path_factory, edit_list, cut, flips):
    data = bytearray(workbook_bytes(edit_list))
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    data = data[: max(0, int(len(data) * cut))] if cut < 0.9 else data
    path = tmp_path_factory.mktemp("fuzz") / "plan.xlsx"
    path.write_bytes(bytes(data))
    compiles_or_problems(path)


xml_changes = st.lists(
    st.one_of(
        st.tuples(
            st.just("dimension"),
            st.sampled_from(["A1:XFD1048576", "A1", "A1:GR50000", "", "ZZZZ9", "B2:A1"]),
        ),
        st.tuples(st.just("no-dimension"), st.just("")),
        st.tuples(
            st.just("far"),
            st.sampled_from(
                ["XFD1048576", "GR50000", "GS1", "A50001", "A0", "$A$1", "1A", "AAAA1"]
            ),
        ),
        st.tuples(st.just("no-positions"), st.just("")),
        st.tuples(st.just("bare-cells"), st.integers(0, 400).map(str)),
    ),
    max_size=4,
)


def change_xml(xml: bytes, change: tuple[str, str]) -> bytes:
    kind, value = change
    if kind == "dimension":
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + value.encode() + b'"', xml)
    if kind == "no-dimension":
        return re.sub(rb"<dimension [^>]*/>", b"", xml)
    if kind == "far":
        row = re.sub(r"[^0-9]", "", value) or "1"
        cell = f'<row r="{row}"><c r="{value}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()
        return xml.replace(b"</sheetData>", cell + b"</sheetData>")
    if kind == "no-positions":
        return re.sub(rb' r="[A-Z0-9$]+"', b"", xml)
    return xml.replace(
        b"</sheetData>", b"<row>" + b"<c><v>1</v></c>" * int(value) + b"</row></sheetData>"
    )


@FUZZ
@given(sheet=st.integers(1, 4), changes=xml_changes, extra_sheets=st.integers(0, 210))
def test_dimensions_far_cells_and_many_sheets_give_problems(
    tmp_path_factory, sheet, changes, extra_sheets
):
    sheets = base_sheets() | {f"S{n}": [["x"]] for n in range(extra_sheets)}
    source = tmp_path_factory.mktemp("fuzz") / "source.xlsx"
    write_xlsx(source, sheets)
    path = source.with_name("plan.xlsx")
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == f"xl/worksheets/sheet{sheet}.xml":
                for change in changes:
                    data = change_xml(data, change)
            target.writestr(info, data)
    outcome = compiles_or_problems(path)
    far = [
        value
        for kind, value in changes
        if kind == "far" and value in ("XFD1048576", "GS1", "A50001")
    ]
    if far and not any(
        kind == "no-positions" for kind, _value in changes
    ):  # a cell past the limits: refused
        problems = outcome.problems
        assert any("refused" in p.message for p in problems), [str(p) for p in problems]


@settings(
    max_examples=max(3, EXAMPLES // 8),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(edit_list=edits, cut=st.floats(0, 1))
def test_through_the_isolated_reader_problems_come_back(tmp_path_factory, edit_list, cut):
    """The path Airflow takes (a child process): a plan, or problems; the last good plan kept."""
    folder = tmp_path_factory.mktemp("fuzz")
    os.environ["TRANSITION_CACHE_DIR"] = str(folder / "cache")
    try:
        write_config(folder / "config.yaml", "plan.xlsx")
        write_xlsx(folder / "plan.xlsx", base_sheets())
        assert load_plan(folder / "config.yaml").plan is not None
        data = workbook_bytes(edit_list)
        (folder / "plan.xlsx").write_bytes(
            data[: max(0, int(len(data) * cut))] if cut < 0.5 else data
        )
        loaded = load_plan(folder / "config.yaml")
        assert loaded.plan is not None  # this one, or the last good one
        assert not any("could not be read" in p.message for p in loaded.problems), [
            str(p) for p in loaded.problems
        ]
    finally:
        os.environ.pop("TRANSITION_CACHE_DIR", None)
