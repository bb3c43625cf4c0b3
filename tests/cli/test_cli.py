"""The installed ``transition`` command, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from conftest import base_sheets, write_config, write_xlsx

TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert TRANSITION, "the transition console script is not installed in this venv"
    return subprocess.run([TRANSITION, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def valid_plan(tmp_path) -> Path:
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    return write_config(tmp_path / "config.yaml", "plan.xlsx")


def test_validate_a_good_plan(valid_plan):
    done = run("validate", str(valid_plan))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Plan 'resa' (plan.xlsx) is valid: 5 step-actions (PP 2, CO 2, HO 1), 4 actors in 3 teams, "
        "2 environments, 2 dry runs: DR1 (5 steps, D-day 2027-01-16, planned 2027-01-14 08:00 to 2027-01-17 09:15); "
        "LIVE (5 steps, D-day 2027-05-08"
    )


def test_validate_a_bad_plan_lists_problems_without_a_traceback(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][3][7] = "nobody"
    sheets["Steps"][4][4] = "CO-100, ZZ-1"
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    done = run("validate", str(write_config(tmp_path / "config.yaml", "plan.xlsx")))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "The plan has 2 problems:",
        "Steps!H4: unknown owner 'nobody'",
        "Steps!E5: unknown prerequisite 'ZZ-1'",
    ]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"PK\x03\x04 not really a zip", "cannot be opened as an Excel workbook"),
        (None, "workbook not found"),
    ],
)
def test_validate_unreadable_workbooks(tmp_path, content, expected):
    if content is not None:
        (tmp_path / "plan.xlsx").write_bytes(content)
    done = run("validate", str(tmp_path / "plan.xlsx"))
    assert done.returncode == 1 and expected in done.stderr and "Traceback" not in done.stderr


def test_validate_a_bare_workbook_with_the_default_configuration(tmp_path):
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    done = run("validate", str(tmp_path / "plan.xlsx"))
    assert done.returncode == 0 and "Plan 'plan' (plan.xlsx) is valid" in done.stdout


def test_usage_errors_exit_2(valid_plan):
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    done = run("graph", str(valid_plan), "--dry-run", "DR7")
    assert done.returncode == 2 and "unknown dry run 'DR7' (dry runs: DR1, LIVE)" in done.stderr
    assert run("template", "out.csv").returncode == 2


def test_graph_json_after_projection(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"].append(["DR2", "2027-03-13", "", ""])
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    done = run(
        "graph",
        str(write_config(tmp_path / "config.yaml", "plan.xlsx")),
        "--dry-run",
        "dr2",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["dry_run"] == "DR2" and document["dag_id"] == "resa_dr2"
    assert [s["id"] for s in document["steps"]] == ["PP-010", "CO-100", "CO-110", "HO-010"]
    assert document["edges"] == [["PP-010", "CO-100"], ["CO-100", "CO-110"], ["CO-110", "HO-010"]]
    assert document["steps"][1]["planned_start"] == "2027-03-13T22:00:00+01:00"


def test_template_is_a_workbook_in_the_contract(tmp_path):
    done = run("template", str(tmp_path / "blank.xlsx"))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(tmp_path / "blank.xlsx")
    assert book.sheetnames == ["Instructions", "Steps", "Actors", "DryRuns", "Environments"]
    steps = book["Steps"]
    assert [c.value for c in steps[1]] == [
        "ID",
        "Label",
        "Phase",
        "Dry runs",
        "Prerequisites",
        "Start",
        "Duration",
        "Owner",
        "Environment",
        "Description",
        "Kind",
        "Approvals",
        "Action",
        "Expect",
    ]
    assert steps.freeze_panes == "A2"
    assert steps.column_dimensions["J"].width > steps.column_dimensions["C"].width
    lists = {str(v.sqref): v.formula1 for v in steps.data_validations.dataValidation}
    assert lists["C2:C2000"] == '"PP,AC,CO,DC,HO,FB-RB"'
    assert lists["H2:H2000"] == "Actors!$A$2:$A$2000"
    assert lists["D2:D2000"] == "DryRuns!$A$2:$A$2000"
    assert lists["I2:I2000"] == "Environments!$A$2:$A$2000"
    assert lists["K2:K2000"] == '"step,gate,auto,check"'
    # Filled in by hand (here: by the test), the template validates.
    sheets = {
        name: [[c.value for c in row] for row in book[name].iter_rows()]
        for name in book.sheetnames[1:]
    }
    for name, rows in base_sheets().items():
        sheets[name] = [sheets[name][0]] + rows[1:]
    write_xlsx(tmp_path / "filled.xlsx", sheets)
    assert run("validate", str(tmp_path / "filled.xlsx")).returncode == 0


def test_sample_is_valid_deterministic_and_has_dry_run_subsets_and_a_fallback(tmp_path):
    assert run("sample", "--steps", "300", "--seed", "7", str(tmp_path / "a.xlsx")).returncode == 0
    assert run("sample", "--steps", "300", "--seed", "7", str(tmp_path / "b.xlsx")).returncode == 0
    read = lambda p: [[c.value for c in r] for r in openpyxl.load_workbook(p)["Steps"].iter_rows()]  # noqa: E731
    assert read(tmp_path / "a.xlsx") == read(tmp_path / "b.xlsx")
    done = run("validate", str(tmp_path / "a.xlsx"))
    assert done.returncode == 0, done.stderr
    rows = read(tmp_path / "a.xlsx")[1:]
    assert len(rows) == 300
    assert [r[2] for r in rows] == sorted(
        (r[2] for r in rows), key=["PP", "AC", "CO", "DC", "HO", "FB-RB"].index
    )
    assert {r[3] for r in rows} >= {"ALL", "DR2, LIVE"}
    assert "warning" not in done.stdout
    assert run("sample", "--steps", "0", str(tmp_path / "c.xlsx")).returncode == 2


def test_users_for_the_simple_auth_manager(tmp_path):
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    done = run(
        "users", str(write_config(tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"]))
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin,alice:user,bob:user,carol:user,dave:admin"
    )
