"""The Steps sheet's Kind auto / check, Action and Expect cells (issue 28), on real workbooks with a
real catalogue: every problem at its cell in words, the bound arguments in the compiled plan, and
the step's action kept through the compiled plan's JSON."""

from __future__ import annotations

import json
from typing import Any

import openpyxl
import pytest
import yaml

from conftest import STEPS_HEADER, base_sheets, write_config, write_xlsx
from transition.plan.actions import parse_catalogue
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.plan.serial import plan_from_json, plan_to_json

CATALOGUE = """
actions:
  export_ean:
    kind: bash
    command: ./export.sh
    parameters:
      region: {type: choice, choices: [LIEGE, NAMUR]}
      day: {type: date, default: D-1}
  count_rows:
    kind: sql
    connection: billing_db
    sql: SELECT count(*) FROM ean WHERE region = %(region)s
    parameters:
      region: {type: text}
"""
# Steps columns: ... H Owner, I Environment, J Description, K Kind, L Approvals, M Action, N Expect.
# Rows: 2 PP-010, 3 PP-020, 4 CO-100, 5 CO-110, 6 HO-010.
ROWS = {"PP-010": 2, "PP-020": 3, "CO-100": 4, "CO-110": 5, "HO-010": 6}


def sheets_with(**cells: tuple[Any, Any, Any]) -> dict[str, list[list[Any]]]:
    """The base plan with Kind, Action and Expect columns; ``cells``: step ID (``-`` as ``_``) ->
    (kind, action, expect)."""
    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[0] = [*STEPS_HEADER, "Kind", "Approvals", "Action", "Expect"]
    for row in steps[1:]:
        kind, action, expect = cells.get(row[0].replace("-", "_"), (None, None, None))
        row.extend([kind, None, action, expect])
    return sheets


def compiled(tmp_path, sheets, catalogue: str | None = CATALOGUE):
    """Compile ``sheets``; an Expect cell starting with ``=`` is text, as typed after an apostrophe
    in Excel (openpyxl would make it a formula)."""
    settings = {}
    if catalogue is not None:
        (tmp_path / "actions.yaml").write_text(catalogue, encoding="utf-8")
        settings["actions"] = "actions.yaml"
    path = write_xlsx(tmp_path / "plan.xlsx", sheets)
    book = openpyxl.load_workbook(path)
    for cell in book["Steps"]["N"]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"
    book.save(path)
    result = compile_plan(
        load_config(write_config(tmp_path / "config.yaml", "plan.xlsx", **settings))
    )
    errors = [str(p) for p in result.problems if p.severity == "error"]
    warnings = [
        str(p).replace(": warning:", ":", 1) for p in result.problems if p.severity == "warning"
    ]
    return errors, warnings, result.plan


def test_an_auto_step_and_a_check_compile_with_their_arguments_bound(tmp_path):
    errors, warnings, plan = compiled(
        tmp_path,
        sheets_with(
            PP_020=("auto", "export_ean(region=liege)", None),
            CO_110=("contrôle", 'count_rows(region="LIEGE")', ">= 1 200 000"),
        ),
    )
    assert errors == [] and plan is not None
    export, count = plan.steps["PP-020"], plan.steps["CO-110"]
    assert export.kind == "auto" and count.kind == "check"
    assert export.action.name == "export_ean"
    assert export.action.arguments == {"region": "LIEGE", "day": "D-1"}  # choice's case, default
    assert export.action.expect is None
    assert count.action.arguments == {"region": "LIEGE"}
    assert count.action.expect.operator == ">=" and count.action.expect.low == 1_200_000
    assert count.action.expect.holds(1_250_000) and not count.action.expect.holds(1_000)
    assert plan.steps["CO-100"].action is None
    assert warnings == []  # bash and sql run
    # The compiled plan carries the actions its steps run, as they were compiled.
    assert plan.actions == parse_catalogue(yaml.safe_load(CATALOGUE), "actions.yaml")
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.steps["PP-020"].action == export.action
    assert again.steps["CO-110"].action == count.action
    assert again.steps["CO-100"].action is None
    assert again.actions == plan.actions
    # Every kind of the catalogue runs: a check on an SSH command compiles without a warning.
    ssh = CATALOGUE.replace(
        "kind: sql\n    connection: billing_db\n    sql:",
        "kind: ssh\n    connection: billing_db\n    command:",
    )
    errors, warnings, plan = compiled(
        tmp_path, sheets_with(CO_110=("check", 'count_rows(region="LIEGE")', "> 0")), ssh
    )
    assert (errors, warnings) == ([], [])
    assert plan.actions["count_rows"].kind == "ssh"


def test_a_number_in_expect_means_equal_to_it(tmp_path):
    """What Excel keeps of ``= 0`` typed in a cell: a formula whose value is 0."""
    for cell, value in ((0, 0.0), (1200000, 1_200_000.0), (99.5, 99.5)):
        errors, _warnings, plan = compiled(
            tmp_path, sheets_with(CO_110=("check", "count_rows(region=LIEGE)", cell))
        )
        assert errors == [], cell
        expect = plan.steps["CO-110"].action.expect
        assert (expect.operator, expect.low, expect.of_step) == ("=", value, None)


# A cell of an automated step that cannot run, and what is said at it.
WRONG_CELLS = [
    (
        {"PP_020": ("auto", None, None)},
        "Steps!M3: step 'PP-020' is automated (auto) but names no action: write the action "
        "of the catalogue it runs, e.g. export_ean(region=LIEGE, day=D-1)",
    ),
    (
        {"PP_020": ("auto", "export_eam(region=LIEGE)", None)},
        "Steps!M3: unknown action 'export_eam' (the catalogue has count_rows, export_ean)",
    ),
    (
        {"PP_020": ("auto", "export_ean(region=GENT, dy=D-1)", None)},
        "Steps!M3: region: 'GENT' is not one of LIEGE, NAMUR; 'export_ean' has no parameter "
        "'dy' (it has region, day)",
    ),
    (
        {"PP_020": ("auto", "export_ean", None)},
        "Steps!M3: 'export_ean' needs region=…",
    ),
    (
        {"PP_020": ("auto", "export_ean(region=LIEGE; rm -rf /)", None)},
        "Steps!M3: cannot read the arguments from 'region=LIEGE; rm -rf /': write key=value, "
        "separated by commas; put text with spaces or commas in double quotes",
    ),
    (
        {"CO_110": ("check", "count_rows(region=LIEGE)", None)},
        "Steps!N5: check 'CO-110' has no expectation: write what its value must be in Expect "
        "(= 0, >= 1200000, between 99.5% and 100.5% of CO-110)",
    ),
    (
        {"CO_110": ("check", "count_rows(region=LIEGE)", "about 12")},
        "Steps!N5: cannot read the expectation 'about 12': write = 0, >= 1200000, between 10 "
        "and 20, = CO-110 (what check CO-110 measured) or between 99.5% and 100.5% of CO-110",
    ),
]


# An expectation on another check's value that cannot be measured first.
WRONG_REFERENCES = [
    (  # not a check
        {"CO_110": ("check", "count_rows(region=LIEGE)", "= CO-100")},
        "Steps!N5: 'CO-100' is not a check of the plan: an expectation may use the value "
        "another check measured",
    ),
    (  # unknown, with a suggestion
        {
            "PP_020": ("check", "count_rows(region=LIEGE)", "> 0"),
            "CO_110": ("check", "count_rows(region=LIEGE)", "= PP-02"),
        },
        "Steps!N5: 'PP-02' is not a check of the plan (did you mean 'PP-020'?): an "
        "expectation may use the value another check measured",
    ),
    (  # after it, not before
        {
            "PP_020": ("check", "count_rows(region=LIEGE)", "= HO-010"),
            "HO_010": ("check", "count_rows(region=LIEGE)", "> 0"),
        },
        "Steps!N3: check 'PP-020' compares with what 'HO-010' measured, so 'HO-010' must "
        "come before it: add it to the Prerequisites (or to one of theirs)",
    ),
    (  # itself
        {"CO_110": ("check", "count_rows(region=LIEGE)", "= CO-110")},
        "Steps!N5: check 'CO-110' compares with what 'CO-110' measured, so 'CO-110' must "
        "come before it: add it to the Prerequisites (or to one of theirs)",
    ),
]


@pytest.mark.parametrize(("cells", "expected"), WRONG_CELLS + WRONG_REFERENCES)
def test_a_wrong_action_or_expectation_is_refused_at_its_cell(tmp_path, cells, expected):
    errors, _warnings, plan = compiled(tmp_path, sheets_with(**cells))
    assert plan is None
    assert errors == [expected]


def test_every_wrong_cell_is_reported_in_one_pass(tmp_path):
    errors, _warnings, plan = compiled(
        tmp_path,
        sheets_with(
            PP_020=("auto", "nothing()", None),
            CO_100=("auto", None, None),
            CO_110=("check", "count_rows(region=LIEGE)", "> lots"),
        ),
    )
    assert plan is None
    assert [e.split(":")[0] for e in errors] == ["Steps!M3", "Steps!M4", "Steps!N5"]


def test_an_action_without_a_catalogue_says_where_to_name_one(tmp_path):
    errors, _warnings, plan = compiled(
        tmp_path, sheets_with(PP_020=("auto", "export_ean(region=LIEGE)", None)), catalogue=None
    )
    assert plan is None
    assert errors == [
        "Steps!M3: the plan has no actions catalogue: name its file in config.yaml "
        "(actions: actions.yaml) to run 'export_ean'"
    ]


def test_a_broken_catalogue_is_reported_once_not_at_every_cell(tmp_path):
    errors, _warnings, plan = compiled(
        tmp_path,
        sheets_with(PP_020=("auto", "export_ean(region=LIEGE)", None)),
        catalogue=CATALOGUE.replace("kind: bash", "kind: telnet"),
    )
    assert plan is None
    assert len(errors) == 1 and errors[0].startswith("actions.yaml: actions.export_ean.kind:")


def test_only_the_actions_steps_run_are_kept_in_the_compiled_plan(tmp_path):
    errors, _warnings, plan = compiled(
        tmp_path, sheets_with(PP_020=("auto", "export_ean(region=LIEGE)", None))
    )
    assert errors == [] and list(plan.actions) == ["export_ean"]
    errors, _warnings, plan = compiled(tmp_path, sheets_with())
    assert errors == [] and plan.actions == {}


def test_an_action_or_expectation_on_a_persons_step_is_ignored_with_a_warning(tmp_path):
    errors, warnings, plan = compiled(
        tmp_path,
        sheets_with(
            PP_020=(None, "export_ean(region=LIEGE)", None),
            CO_100=("auto", "export_ean(region=NAMUR)", "= 0"),
        ),
    )
    assert errors == [] and plan is not None
    assert plan.steps["PP-020"].action is None
    assert plan.steps["CO-100"].action.expect is None
    assert (
        "Steps!M3: step 'PP-020' is done by a person, so its Action (export_ean(region=LIEGE)) is "
        "ignored; write auto in Kind to run it, or empty the cell"
    ) in warnings
    assert (
        "Steps!N4: step 'CO-100' is not a check, so its Expect (= 0) is ignored; write check in "
        "Kind if its action measures a value, or empty the cell"
    ) in warnings


def test_approvals_before_on_an_automated_step_asks_its_holder_first(tmp_path):
    """``before`` (French ``avant``, any case): its holder answers Start, then the action runs;
    a number is ignored with a warning that says what to write; kept through the JSON round trip."""
    sheets = sheets_with(
        PP_020=("auto", "export_ean(region=LIEGE)", None),
        CO_110=("check", "count_rows(region=LIEGE)", "> 0"),
    )
    sheets["Steps"][ROWS["PP-020"] - 1][11] = 2  # L3: Approvals
    sheets["Steps"][ROWS["CO-110"] - 1][11] = " Avant"  # L5
    errors, warnings, plan = compiled(tmp_path, sheets)
    assert errors == [] and plan.steps["PP-020"].approvals == 1
    assert warnings == [
        "Steps!L3: step 'PP-020' runs its action by itself, so its Approvals (2) is ignored; "
        "write before to have its holder answer Start before it runs"
    ]
    assert not plan.steps["PP-020"].action.confirm_first
    assert plan.steps["CO-110"].action.confirm_first
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.steps["CO-110"].action.confirm_first
    # On a person's step, before is no number of Go answers: ignored, with the gate's warning.
    sheets = sheets_with()
    sheets["Steps"][ROWS["CO-100"] - 1][11] = "before"
    errors, warnings, plan = compiled(tmp_path, sheets)
    assert errors == [] and any(
        w.startswith("Steps!L4: step 'CO-100' is not a gate") for w in warnings
    )


def test_an_expectation_may_use_what_an_earlier_check_measured(tmp_path):
    count = ("check", "count_rows(region=LIEGE)", "> 0")
    errors, _warnings, plan = compiled(
        tmp_path,
        sheets_with(
            PP_020=count,  # HO-010 waits for it through CO-100 and CO-110
            HO_010=("check", "count_rows(region=NAMUR)", "between 99,5% and 100.5% of PP-020"),
        ),
    )
    assert errors == [] and plan is not None
    expect = plan.steps["HO-010"].action.expect
    assert expect.of_step == "PP-020" and expect.holds(1000, reference=1001)
    assert not expect.holds(900, reference=1001)


def test_the_measured_check_must_be_in_every_dry_run_of_the_step(tmp_path):
    sheets = sheets_with(
        PP_020=("check", "count_rows(region=LIEGE)", "> 0"),  # DR1 and LIVE
        HO_010=("check", "count_rows(region=LIEGE)", "= PP-020"),
    )
    sheets["DryRuns"].append(["DR2", "2027-03-13", None, "ACC"])
    errors, _warnings, plan = compiled(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "Steps!N6: check 'HO-010' compares with what 'PP-020' measured, but 'PP-020' is not in "
        "dry run(s) DR2"
    ]
