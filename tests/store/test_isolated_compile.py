"""Reading isolated: a workbook that kills its reader becomes a cached problem; Airflow's process lives on."""

from __future__ import annotations

import json
import zipfile

from conftest import base_sheets, write_xlsx
from transition.store.plan_store import load_plan


def widen(path, cell: str = "GR50000") -> None:
    """Add one cell at the far corner the limits allow: calamine then holds a 10-million-cell grid."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info.filename)) for info in source.infolist()]
    row = cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>",
                    f'<row r="{row}"><c r="{cell}" t="inlineStr"><is><t>x</t>'
                    f"</is></c></row></sheetData>".encode(),
                )
            target.writestr(info, data)


def test_a_workbook_that_kills_its_reader_is_a_cached_problem_and_the_last_good_plan_stays(
    plan_dir, monkeypatch
):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    good = load_plan(plan_dir / "config.yaml")
    assert good.plan is not None and not good.problems

    widen(write_xlsx(plan_dir / "plan.xlsx", base_sheets()))
    monkeypatch.setenv(
        "TRANSITION_COMPILE_MEMORY_MB", "200"
    )  # less than that grid needs, more than Python
    first = load_plan(plan_dir / "config.yaml")  # we are still here: only the child died
    assert not first.from_cache
    assert [str(p) for p in first.errors] == [
        "plan.xlsx: the workbook could not be read: the reader stopped (SIGABRT), most likely out of memory "
        "(it may use 200 MB); the file is damaged or far bigger than a plan"
    ]
    assert first.plan is not None and list(first.plan.steps) == list(
        good.plan.steps
    )  # the last good plan

    monkeypatch.setenv(
        "TRANSITION_COMPILE_MEMORY_MB", "4096"
    )  # the cache answers: no child is asked again
    second = load_plan(plan_dir / "config.yaml")
    assert second.from_cache and second.problems == first.problems and second.plan is not None


def test_the_same_workbook_compiles_with_the_usual_limit(plan_dir):
    widen(write_xlsx(plan_dir / "plan.xlsx", base_sheets()))
    loaded = load_plan(plan_dir / "config.yaml")
    assert [str(p) for p in loaded.errors] == ["Steps!A50000: missing step ID"]  # read, then judged


def test_a_reader_that_takes_too_long_is_a_problem_tried_again_later(plan_dir, monkeypatch):
    write_xlsx(plan_dir / "plan.xlsx", base_sheets())
    monkeypatch.setenv("TRANSITION_COMPILE_TIMEOUT_S", "0.001")
    loaded = load_plan(plan_dir / "config.yaml")
    assert loaded.plan is None
    assert [str(p) for p in loaded.errors] == [
        "plan.xlsx: the workbook could not be read: reading it took more than 0.001 s, far longer than a plan; "
        "it is damaged or far bigger than a plan"
    ]
    assert load_plan(plan_dir / "config.yaml").from_cache  # cached like any problem...
    [entry] = (plan_dir / "cache" / "config").glob("errors-*.json")
    data = json.loads(entry.read_text())
    assert data["retry_after"] > 0  # ...but a timeout may be the machine's load: tried again later
    data["retry_after"] = 0
    entry.write_text(json.dumps(data))
    monkeypatch.delenv("TRANSITION_COMPILE_TIMEOUT_S")
    again = load_plan(plan_dir / "config.yaml")
    assert not again.from_cache and again.plan is not None and not again.problems


def test_problems_come_back_in_the_plans_language(plan_dir):
    (plan_dir / "config.yaml").write_text("name: resa\nworkbook: plan.xlsx\nlanguage: fr\n")
    sheets = base_sheets()
    sheets["Steps"][2][4] = "PP-999"
    write_xlsx(plan_dir / "plan.xlsx", sheets)
    assert [str(p) for p in load_plan(plan_dir / "config.yaml").errors] == [
        "Steps!E3: prérequis 'PP-999' inconnu"
    ]
