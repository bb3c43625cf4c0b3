"""Hostile or broken input: clear errors or safe rendering, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import base_sheets, compile_sheets, write_config, write_xlsx
from transition.errors import WorkbookError
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.store.plan_store import load_plan
from transition.workbook.cells import as_text

TRANSITION = os.path.join(os.path.dirname(sys.executable), "transition")


def test_a_zip_bomb_posing_as_xlsx_is_refused_before_reading(tmp_path):
    bomb = tmp_path / "plan.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (16 * 1024 * 1024)
            for _ in range(28):  # 448 MB of zeros, about 0.5 MB packed
                member.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(WorkbookError) as caught:
        compile_plan(load_config(bomb))
    assert "refused: the file would unpack to 448 MB" in str(caught.value)


def test_script_and_html_in_cells_stay_text(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][1] = "<script>alert(1)</script> Freeze"
    sheets["Steps"][1][9] = "<img src=x onerror=alert(1)> **bold**"
    result = compile_sheets(tmp_path, sheets)
    assert (
        result.plan.steps["PP-010"].label == "<script>alert(1)</script> Freeze"
    )  # kept as written, escaped when shown


def test_a_huge_label_is_an_error_and_a_huge_description_is_kept(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][1] = "x" * 32_000
    sheets["Steps"][2][9] = "y" * 32_000
    result = compile_sheets(tmp_path, sheets)
    assert [str(p) for p in result.problems] == [
        "Steps!B2: label of step 'PP-010' is 32,000 characters long; a label is a short title (at most 300): "
        "put the rest in Description"
    ]
    sheets["Steps"][1][1] = "Freeze billing"
    assert len(compile_sheets(tmp_path, sheets).plan.steps["PP-020"].description) == 32_000


def test_formula_cells_read_their_value_or_say_what_is_missing(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][1] = '=CONCAT("Freeze", " billing")'  # written without a cached value
    result = compile_sheets(tmp_path, sheets)
    assert [str(p) for p in result.problems] == ["Steps!B2: missing label for step 'PP-010'"]


def test_a_file_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"plan-\xe9t\xe9.xlsx")  # Latin-1 bytes in a file name
    path = tmp_path / name
    write_xlsx(path, base_sheets())
    done = subprocess.run([TRANSITION, "validate", str(path)], capture_output=True, timeout=120)
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert b"is valid" in done.stdout


def test_the_dag_files_survive_a_bomb(plan_dir):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    assert load_plan(plan_dir / "config.yaml").plan is not None
    with zipfile.ZipFile(plan_dir / "plan.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("junk", b"\0" * (420 * 1024 * 1024))
    loaded = load_plan(plan_dir / "config.yaml")
    assert loaded.plan is not None and "CO-100" in loaded.plan.steps  # the last good plan stays
    assert "refused" in as_text(str(loaded.errors[0]))


def test_a_20_mb_workbook_validates_and_builds_its_dags(tmp_path, monkeypatch):
    """A real 20 MB workbook (1,100 steps, each with a 32,000-character description that does not
    compress): the CLI validates it and the DAG file builds every DAG, without an import error."""
    import random
    import string

    from airflow.dag_processing.dagbag import DagBag

    from transition.locations import REPO_ROOT
    from transition.notifications.request_text import body

    letters = random.Random(20).choices
    sheets = base_sheets()
    for n in range(1_100):
        prerequisite = f"BIG-{n - 1:04d}" if n else "PP-010"
        text = "".join(letters(string.ascii_letters + string.digits + " <>&", k=32_000))
        sheets["Steps"].append(
            [
                f"BIG-{n:04d}",
                f"Bulk step {n} <b>",
                "CO",
                "ALL",
                prerequisite,
                "",
                "5m",
                "bob",
                "",
                text,
            ]
        )
    path = write_xlsx(tmp_path / "plan.xlsx", sheets)
    assert 20 * 1024 * 1024 <= path.stat().st_size <= 40 * 1024 * 1024, path.stat().st_size
    write_config(tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"])

    done = subprocess.run(
        [TRANSITION, "validate", str(tmp_path / "config.yaml")], capture_output=True, timeout=300
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-2000:]
    assert b"1,105 step" in done.stdout or b"1105 step" in done.stdout, done.stdout

    monkeypatch.setenv("TRANSITION_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    dr1 = bag.dags["resa_dr1"]
    assert "BIG-1099" in dr1.task_ids and dr1.get_task("BIG-1099").upstream_task_ids == {"BIG-1098"}
    plan = load_plan(tmp_path / "config.yaml").plan
    text = body(plan, "DR1", plan.schedules["DR1"].steps["BIG-0007"])
    assert len(text) > 32_000  # the whole description reaches the step's request
