"""``transition calibrate``'s rules and its workbook, from the JSON the plugin serves (no Airflow needed).

The plan is a real workbook written with openpyxl (text, clock, number, typed and empty Duration
cells; an extra column; a sheet of notes); the runs are the recap JSON the REST client reads. The
copy is opened again with openpyxl and checked with the validator. The REST client against a real
Airflow is in ``tests/e2e/test_e2e_results.py``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from copy import copy
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Font, PatternFill

from conftest import BASE_SHEETS, write_config
from run_samples import step
from transition.i18n import use_language
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.results.calibration import Outcome, Verdict, calibrate, round_duration
from transition.results.calibration_workbook import write_calibrated
from transition.results.data import run_results_from_json
from transition.workbook.reader import read_workbook
from transition.workbook.sheets import sheet_specs

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
HEADER = ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Start", "Duration", "Owner"]
HEADER += ["Kind", "Runbook ref"]
DURATION = 7  # column G
# S ─► G (gate) ─► F1 ─► F2 ─► J ─► K ─► M ─► N;  G ─► B1 (fallback) ─► J;  O in LIVE only
STEPS = [
    ["S", "Stop the gateway", "CO", "DR1", "", "D+0 08:00", "1h", "alice", "", "RB-1"],
    ["G", "Go / no-go", "CO", "DR1", "S", "", "30m", "carol", "gate", ""],
    ["F1", "Migrate the register", "CO", "DR1", "G", "", "01:30", "bob", "", "RB-2"],
    ["F2", "Check the counts", "CO", "DR1", "F1", "", 45, "bob", "", ""],
    ["B1", "Roll back", "FB-RB", "DR1", "G", "", "1h", "carol", "", ""],
    ["J", "Replay the backlog", "DC", "DR1", "F2, B1", "", 20 * H, "alice", "", ""],
    ["K", "Smoke test", "DC", "DR1", "J", "", None, "alice", "", ""],
    ["M", "Watch the queues", "HO", "DR1", "K", "", 2 * H, "dave", "", ""],
    ["N", "Sign off", "HO", "DR1", "M", "", "15m", "dave", "", ""],
    ["O", "Announce", "HO", "LIVE", "", "D-1 09:00", "1d", "dave", "", ""],
]


def write_plan(folder: Path, steps=STEPS, header=HEADER, sheet_name="Steps", title_row=None):
    """The plan workbook with its cells typed and formatted as a person would have them."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    sheet = book.create_sheet(sheet_name)
    if title_row:
        sheet.append([title_row])
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="1F4E78")
    for row in steps:
        sheet.append(row)
    first = sheet.max_row - len(steps) + 1
    for offset, row in enumerate(steps):
        cell = sheet.cell(first + offset, DURATION)
        if isinstance(row[6], dt.timedelta):
            cell.number_format = "h:mm" if row[0] == "J" else "[h]:mm"
    sheet.cell(first, len(header)).fill = PatternFill("solid", fgColor="FFFF00")
    sheet.column_dimensions["B"].width = 33
    for name in ("Actors", "DryRuns", "Environments"):
        target = book.create_sheet(name)
        for row in BASE_SHEETS[name]:
            target.append(row)
    notes = book.create_sheet("Notes")
    notes["A1"], notes["A2"] = "Keep me", dt.datetime(2027, 1, 2, 9, 30)
    notes["A1"].font = Font(bold=True, color="C00000")
    notes["A2"].number_format = "dd/mm/yyyy hh:mm"
    book.save(folder / "plan.xlsx")
    write_config(folder / "config.yaml", "plan.xlsx")
    return folder / "config.yaml"


def look(cell) -> tuple:
    """A cell's value and how it is shown (openpyxl's style proxies compare by their copies)."""
    return (cell.value, cell.number_format, copy(cell.font), copy(cell.fill), copy(cell.border))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> str:
    return dt.datetime(2027, 1, day, hour, minute, second).isoformat() + "+01:00"


def done(id_, start, end, state="Terminated", kind="step"):
    return {**step(id_, "CO", state, "alice", None, None, start, end), "kind": kind}


def run_json(run_id: str, steps: list[dict], dry_run="DR1") -> dict:
    return {
        "plan": "resa",
        "dry_run": dry_run,
        "dag_id": f"resa_{dry_run.lower()}",
        "run_id": run_id,
        "timezone": "Europe/Brussels",
        "now": at(20, 12),
        "steps": steps,
    }


# Run 1: most of it measured; J takes 26 h; M left open; N closed straight from Ready (the step
# operator then records the Close as the Start too, as the e2e test's real run shows).
RUN_1 = run_json(
    "manual__1",
    [
        done("S", at(16, 8), at(16, 8, 50)),
        done("G", None, at(16, 9), kind="gate"),
        done("F1", at(16, 9), at(16, 11, 10)),
        done("F2", at(16, 11, 10), at(16, 11, 50)),
        done("B1", None, None, state="Skipped"),
        done("J", at(16, 12), at(17, 14)),
        done("K", at(17, 14), at(17, 14, 12, 20)),
        done("M", at(17, 14, 15), None, state="Late"),
        done("N", at(17, 15), at(17, 15)),  # closed from Ready: its Close recorded as its Start
    ],
)
# Run 2 of the same dry run: F1 closed without a Start, J still open, K not reached.
RUN_2 = run_json(
    "manual__2",
    [
        done("S", at(18, 8), at(18, 9, 4)),
        done("G", None, at(18, 9, 10), kind="gate"),
        done("F1", None, at(18, 11)),  # marked done in Airflow: no Start recorded
        done("F2", at(18, 11), at(18, 11, 58)),
        done("B1", None, None, state="Skipped"),
        done("J", at(18, 12), None, state="Open"),
        done("K", None, None, state="Ready"),
        done("M", None, None, state="Planned"),
        done("N", None, None, state="Planned"),
    ],
)


def valid_plan(config: Path, workbook: Path | None = None):
    settings = load_config(config)
    if workbook is not None:
        settings = settings.model_copy(update={"workbook": workbook})
    result = compile_plan(settings)
    assert result.plan is not None, [str(p) for p in result.problems]
    return result.plan


def calibrated(config: Path, out: Path, *runs: dict):
    settings = load_config(config)
    plan = valid_plan(config)
    calibration = calibrate(plan, [run_results_from_json(r) for r in runs])
    raw, _problems = read_workbook(settings.workbook_path, sheet_specs(settings.sheets))
    write_calibrated(settings.workbook_path, out, raw.sheets["steps"], calibration)
    return calibration


@pytest.mark.parametrize(
    ("measured", "proposed"),
    [
        (dt.timedelta(0), 5 * M),  # never below 5 minutes
        (7 * M + dt.timedelta(seconds=29), 5 * M),
        (7 * M + dt.timedelta(seconds=30), 10 * M),  # a half rounds up
        (57 * M, 55 * M),
        (58 * M, H),
        (H + 7 * M + dt.timedelta(seconds=29), H),  # by 15 minutes from 1 h
        (H + 7 * M + dt.timedelta(seconds=30), H + 15 * M),
        (3 * H + 52 * M, 3 * H + 45 * M),
        (3 * H + 53 * M, 4 * H),
        (4 * H + 14 * M, 4 * H),  # by 30 minutes from 4 h
        (4 * H + 15 * M, 4 * H + 30 * M),
        (26 * H + 10 * M, 26 * H),
        (dt.timedelta(days=400), dt.timedelta(days=366)),  # the longest Duration a plan accepts
    ],
)
def test_rounding(measured, proposed):
    assert round_duration(measured) == proposed


def test_each_rule_of_the_calibration(tmp_path):
    plan = valid_plan(write_plan(tmp_path))
    calibration = calibrate(plan, [run_results_from_json(r) for r in (RUN_1, RUN_2)])
    steps = {s.step.id: s for s in calibration.steps}
    assert list(steps) == ["S", "G", "F1", "F2", "B1", "J", "K", "M", "N", "O"]  # workbook order
    verdicts = {k: s.verdict for k, s in steps.items()}
    assert verdicts == {
        "S": Verdict.CALIBRATED,
        "G": Verdict.GATE,
        "F1": Verdict.CALIBRATED,
        "F2": Verdict.CALIBRATED,
        "B1": Verdict.NOT_RUN,
        "J": Verdict.CALIBRATED,
        "K": Verdict.CALIBRATED,
        "M": Verdict.NOT_CLOSED,
        "N": Verdict.NO_START,
        "O": Verdict.NOT_RUN,
    }
    # the median of the measures (two: their mean), rounded
    assert (steps["S"].median, steps["S"].proposed) == (57 * M, 55 * M)
    assert (steps["F2"].median, steps["F2"].proposed) == (49 * M, 50 * M)
    # one run measured, the other closed it without a Start: the one measure
    assert [m.outcome for m in steps["F1"].measures] == [Outcome.MEASURED, Outcome.NO_START]
    assert (steps["F1"].median, steps["F1"].proposed) == (2 * H + 10 * M, 2 * H + 15 * M)
    assert steps["J"].proposed == 26 * H
    assert [m.outcome for m in steps["K"].measures] == [Outcome.MEASURED, Outcome.NOT_REACHED]
    assert (steps["K"].planned, steps["K"].proposed) == (30 * M, 10 * M)  # the default, measured
    # kept: a gate (closed without a Start like every gate), not closed, no Start, not run
    for kept, planned in (("G", 30 * M), ("M", 2 * H), ("N", 15 * M), ("B1", H), ("O", 24 * H)):
        assert (steps[kept].proposed, steps[kept].median, steps[kept].changed) == (
            planned,
            None,
            False,
        )
    assert [m.outcome for m in steps["O"].measures] == [Outcome.ABSENT, Outcome.ABSENT]
    assert [m.outcome for m in steps["B1"].measures] == [Outcome.SKIPPED, Outcome.SKIPPED]
    assert [s.step.id for s in calibration.changed] == ["S", "F1", "F2", "J", "K"]


def test_runs_of_another_plan_are_refused(tmp_path):
    plan = valid_plan(write_plan(tmp_path))
    other = run_results_from_json({**RUN_1, "plan": "billing", "dag_id": "billing_dr1"})
    with pytest.raises(ValueError) as refused:
        calibrate(plan, [run_results_from_json(RUN_1), other])
    assert str(refused.value) == (
        "run billing_dr1/manual__1 is a dry run of plan 'billing', not of 'resa': give runs of the "
        "plan to calibrate"
    )


def test_the_copy_changes_only_the_durations_and_the_validator_accepts_it(tmp_path):
    config = write_plan(tmp_path)
    source = tmp_path / "plan.xlsx"
    before = source.read_bytes()
    out = tmp_path / "next" / "DR2.xlsx"
    calibrated(config, out, RUN_1, RUN_2)
    assert source.read_bytes() == before  # the source is only read

    copy, original = openpyxl.load_workbook(out), openpyxl.load_workbook(source)
    assert copy.sheetnames == [*original.sheetnames, "Calibration"]
    durations = {row[0].value: row[DURATION - 1] for row in copy["Steps"].iter_rows(min_row=2)}
    # written as each cell held it: text, clock text, minutes, a typed duration, text in an empty cell
    assert durations["S"].value == "55m"
    assert durations["F1"].value == "02:15"
    assert durations["F2"].value == 50
    assert durations["J"].value == 26 * H and durations["J"].number_format == "[h]:mm"
    assert durations["K"].value == "10m"
    assert durations["M"].value == 2 * H and durations["M"].number_format == "[h]:mm"
    assert [durations[k].value for k in ("G", "B1", "N", "O")] == ["30m", "1h", "15m", "1d"]
    changed = {durations[k].coordinate for k in ("S", "F1", "F2", "J", "K")}
    for name in original.sheetnames:  # everything else as it was: values, formats, fonts, fills
        for old_row, new_row in zip(original[name].iter_rows(), copy[name].iter_rows()):
            for old, new in zip(old_row, new_row):
                if name == "Steps" and old.coordinate in changed:
                    continue
                assert look(new) == look(old), f"{name}!{old.coordinate}"
        assert copy[name].max_row == original[name].max_row
        assert copy[name].max_column == original[name].max_column
    assert copy["Steps"].column_dimensions["B"].width == 33
    assert copy["Steps"]["J2"].fill.fgColor.rgb == "00FFFF00"

    # The validator reads the copy: the proposed Durations, every other step as planned
    plan = valid_plan(config, out)
    expected = {"S": 55 * M, "F1": 2 * H + 15 * M, "F2": 50 * M, "J": 26 * H, "K": 10 * M}
    expected |= {"G": 30 * M, "B1": H, "M": 2 * H, "N": 15 * M, "O": 24 * H}
    assert {k: s.duration for k, s in plan.steps.items()} == expected
    assert plan.steps["S"].extra == {"Runbook ref": "RB-1"}


def test_the_calibration_sheet(tmp_path):
    config = write_plan(tmp_path)
    out = tmp_path / "next.xlsx"
    calibrated(config, out, RUN_1, RUN_2)
    sheet = openpyxl.load_workbook(out)["Calibration"]
    assert sheet["A1"].value == "Durations proposed for the next dry run of plan resa"
    assert (
        "median" in sheet["A2"].value and "Rounding: to the nearest 5 minutes" in sheet["A3"].value
    )
    assert sheet["A4"].value == "Runs: DR1 = resa_dr1/manual__1; DR1 (2) = resa_dr1/manual__2"
    assert sheet["A5"].value == (
        "5 of 10 durations changed; calibrated: 5, kept without a measure: 2, did not run: 2, gates: 1"
    )
    header = [c.value for c in sheet[7]]
    assert header == [
        "ID",
        "Label",
        "Phase",
        "Planned duration",
        "Measured in DR1",
        "Measured in DR1 (2)",
        "Median measured",
        "Proposed duration",
        "Change (min)",
        "Status",
        "Note",
    ]
    rows = {r[0]: dict(zip(header, r)) for r in sheet.iter_rows(min_row=8, values_only=True)}
    assert list(rows) == ["S", "G", "F1", "F2", "B1", "J", "K", "M", "N", "O"]
    s = rows["S"]
    assert (s["Planned duration"], s["Measured in DR1"], s["Measured in DR1 (2)"]) == (
        H,
        50 * M,
        64 * M,
    )
    assert (s["Median measured"], s["Proposed duration"], s["Change (min)"]) == (57 * M, 55 * M, -5)
    assert (s["Status"], s["Note"]) == (
        "calibrated",
        "the median of the measured Start → Close of 2 runs, rounded",
    )
    f1 = rows["F1"]
    assert (f1["Measured in DR1 (2)"], f1["Change (min)"]) == ("closed without a Start", 45)
    assert f1["Note"] == "the measured Start → Close of 1 run, rounded"
    assert rows["J"]["Change (min)"] == 26 * 60 - 20 * 60
    assert (rows["K"]["Planned duration"], rows["K"]["Measured in DR1 (2)"]) == (
        30 * M,
        "not reached",
    )
    # the steps that did not run, and those kept without a measure, say so
    assert (rows["B1"]["Status"], rows["B1"]["Measured in DR1"]) == ("not run", "skipped")
    assert rows["B1"]["Note"] == "did not run in the runs given: Duration kept"
    assert (rows["O"]["Status"], rows["O"]["Measured in DR1"]) == ("not run", "not in this dry run")
    assert (rows["N"]["Status"], rows["N"]["Proposed duration"], rows["N"]["Change (min)"]) == (
        "kept",
        15 * M,
        0,
    )
    assert rows["N"]["Note"] == "closed without a Start: no measured duration, Duration kept"
    assert rows["M"]["Note"] == "started and not closed: no measured duration, Duration kept"
    assert rows["G"]["Status"] == "gate" and "not calibrated" in rows["G"]["Note"]
    assert sheet["H8"].number_format == "[h]:mm" and sheet["E8"].number_format == "[h]:mm:ss"


def test_a_french_plan_a_title_row_no_duration_column_and_a_second_calibration(tmp_path):
    header = ["Identifiant", "Libellé", "Phase", "Dry run", "Prérequis", "Début", "Exécutant"]
    steps = [
        ["A", "Arrêter", "CO", "DR1", "", "J+0 08:00", "alice"],
        ["B", "Basculer", "CO", "DR1", "A", "", "bob"],
    ]
    config = write_plan(
        tmp_path,
        steps=[[*row[:6], None, row[6]] for row in steps],  # a Durée column added below
        header=[*header[:6], "Remarque", header[6]],
        sheet_name="Etapes",
        title_row="Plan de transition",
    )
    config.write_text(config.read_text() + "language: fr\n")
    run = run_json(
        "manual__1", [done("A", at(16, 8), at(16, 9, 20)), done("B", None, None, "Ready")]
    )
    with use_language("fr"):
        out = tmp_path / "DR2.xlsx"
        calibrated(config, out, run)
        book = openpyxl.load_workbook(out)
        steps_sheet = book["Etapes"]
        # no Duration column: one is added after the last header, the header row found as the reader does
        assert steps_sheet["I2"].value == "Duration" and steps_sheet["I1"].value is None
        assert (steps_sheet["I3"].value, steps_sheet["I4"].value) == ("1h15m", None)
        assert steps_sheet["I2"].font.b and steps_sheet["I2"].fill.fgColor.rgb == "001F4E78"
        sheet = book["Calibration"]
        assert [c.value for c in sheet[7]][:4] == ["ID", "Libellé", "Phase", "Durée prévue"]
        assert sheet["A1"].value.startswith("Durées proposées")
        plan = valid_plan(config, out)
        assert (plan.steps["A"].duration, plan.steps["B"].duration) == (75 * M, 30 * M)

        # The copy calibrated again, after another run: its Calibration sheet is replaced in place
        second = run_json("manual__2", [done("A", at(18, 8), at(18, 9)), done("B", None, None)])
        config.write_text(config.read_text().replace("plan.xlsx", "DR2.xlsx"))
        again = tmp_path / "DR3.xlsx"
        calibrated(config, again, second)
        book = openpyxl.load_workbook(again)
        assert book.sheetnames == [
            "Etapes",
            "Actors",
            "DryRuns",
            "Environments",
            "Notes",
            "Calibration",
        ]
        assert book["Calibration"]["A4"].value == "Exécutions : DR1 = resa_dr1/manual__2"
        assert book["Etapes"]["I3"].value == "1h"


def transition(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([TRANSITION, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_command_refuses_to_overwrite_and_says_so(tmp_path):
    config = write_plan(tmp_path)
    source = tmp_path / "plan.xlsx"
    before = source.read_bytes()
    login = ["--user", "mia", "--password", "x", "--url", "http://127.0.0.1:9"]
    run = ["--run", "resa_dr1/manual__1"]
    (tmp_path / "exists.xlsx").write_bytes(b"mine")
    cases = [
        (str(source), "is the plan's workbook: write the calibrated copy to another file"),
        ("plan.xlsx", "is the plan's workbook"),  # relative to where the command runs
        ("next.csv", "'next.csv': the output must be an .xlsx file"),
        ("exists.xlsx", "'exists.xlsx' exists: choose another file, or give --force to replace it"),
    ]
    for out, said in cases:
        refused = transition("calibrate", str(config), *run, "--out", out, *login, cwd=tmp_path)
        assert refused.returncode == 2, (out, refused.stderr)
        assert said in refused.stderr and "Traceback" not in refused.stderr
    twice = transition(
        "calibrate", str(config), *run, *run, "--out", "new.xlsx", *login, cwd=tmp_path
    )
    assert twice.returncode == 2
    assert twice.stderr.strip() == "transition: run given twice: resa_dr1/manual__1"
    # past the checks, Airflow is asked: none here, said in words, exit 1, nothing written
    unreachable = transition(
        "calibrate", str(config), *run, "--out", "exists.xlsx", "--force", *login, cwd=tmp_path
    )
    assert unreachable.returncode == 1, unreachable.stderr
    assert "cannot reach Airflow at http://127.0.0.1:9" in unreachable.stderr
    assert source.read_bytes() == before and (tmp_path / "exists.xlsx").read_bytes() == b"mine"
    assert not (tmp_path / "new.xlsx").exists()


def test_an_automated_step_says_it_runs_by_itself_and_when_a_person_took_over(tmp_path):
    """F2 as a check: in run 1 its action closed it, in run 2 a person took over (Accept): the
    note says so, the durations are measured as any step's."""
    import dataclasses

    from transition.results.calibration_workbook import note

    plan = valid_plan(write_plan(tmp_path))
    plan.steps["F2"] = dataclasses.replace(plan.steps["F2"], kind="check")
    runs = []
    for run, taken_over in ((RUN_1, None), (RUN_2, "Accept")):
        steps = []
        for s in run["steps"]:
            if s["id"] == "F2":
                s = {**s, "kind": "check", "automation": {"runs": 1, "taken_over": taken_over}}
            steps.append(s)
        runs.append(run_results_from_json({**run, "steps": steps}))
    f2 = next(s for s in calibrate(plan, runs).steps if s.step.id == "F2")
    assert [m.taken_over for m in f2.measures] == [False, True]
    assert (f2.median, f2.proposed) == (49 * M, 50 * M)  # as before: measured as any step
    assert note(f2) == (
        "runs by itself; a person took over in 1 run (their work is in its duration); "
        "the median of the measured Start → Close of 2 runs, rounded"
    )
    f2_alone = next(s for s in calibrate(plan, runs[:1]).steps if s.step.id == "F2")
    assert note(f2_alone).startswith("runs by itself; the measured Start → Close of 1 run")
    s = next(s for s in calibrate(plan, runs).steps if s.step.id == "S")
    assert not note(s).startswith("runs by itself")
