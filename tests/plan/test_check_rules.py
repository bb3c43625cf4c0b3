"""A gate's evidence (the checks it waits for in each dry run) and a check's verdict, on a plan
compiled from a real workbook and catalogue."""

from __future__ import annotations

import pytest

from conftest import STEPS_HEADER, base_sheets, compile_sheets
from transition.plan.check_rules import evidence, not_settled, passes

CATALOGUE = """
actions:
  count_rows:
    kind: bash
    command: ./count.sh
"""


def plan_with_checks(tmp_path):
    """The base plan (PP-010 → PP-020 → CO-100 → CO-110 → HO-010; PP-020 only in DR1 and LIVE)
    with PP-020 and CO-110 as checks, and a gate G after CO-110, before HO-010 (on Go) and B (on
    No-go); K, a check after the gate, is not its evidence."""
    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[0] = [*STEPS_HEADER, "Kind", "Approvals", "Action", "Expect"]
    for row in steps[1:]:
        row.extend([None, None, None, None])
    steps[2][10:14] = ["check", None, "count_rows", "> 0"]  # PP-020
    steps[4][10:14] = ["check", None, "count_rows", "between 99% and 101% of PP-020"]  # CO-110
    steps[5][4] = "G"  # HO-010 after the gate
    steps.append(["G", "Go / no-go", "CO", "ALL", "CO-110", "", "15m", "alice"])
    steps[-1] += ["", "", "gate", None, None, None]
    steps.append(["B", "Roll back", "FB-RB", "ALL", "G", "", "1h", "carol"])  # the No-go branch
    steps[-1] += ["", "", None, None, None, None]
    steps.append(["K", "Count after", "HO", "ALL", "G", "", "15m", "bob"])
    steps[-1] += ["", "", "check", None, "count_rows", 0]  # Excel keeps "= 0" as 0
    (tmp_path / "actions.yaml").write_text(CATALOGUE, encoding="utf-8")
    result = compile_sheets(tmp_path, sheets, actions="actions.yaml")
    assert [p for p in result.problems if p.severity == "error"] == []
    return result.plan


def test_a_gates_evidence_is_the_checks_it_waits_for_in_each_dry_run(tmp_path):
    plan = plan_with_checks(tmp_path)
    assert evidence(plan, "DR1", "G") == ["PP-020", "CO-110"]
    assert evidence(plan, "LIVE", "G") == ["PP-020", "CO-110"]
    assert evidence(plan, "DR1", "HO-010") == ["PP-020", "CO-110"]  # any step's, through the gate
    assert evidence(plan, "DR1", "CO-100") == ["PP-020"]


def test_a_checks_verdict_against_a_number_or_another_checks_value(tmp_path):
    plan = plan_with_checks(tmp_path)
    first, second = plan.steps["PP-020"].action, plan.steps["CO-110"].action
    assert passes(first, 1, {}) and not passes(first, 0, {})
    assert passes(second, 1000, {"PP-020": 1005}) and not passes(second, 900, {"PP-020": 1005})
    with pytest.raises(ValueError) as caught:
        passes(second, 1000, {})
    assert str(caught.value) == (
        "PP-020 has measured nothing yet: 'between 99% and 101% of PP-020' compares with its value"
    )


def test_go_waits_for_each_check_not_passed_nor_accepted():
    """A check settles the gate's Go once it passed, was accepted with a reason, was marked done by
    a cutover manager (a forced close: no record) or was skipped; not while it runs or asks its
    holder, nor when closed failed without an Accept."""
    checks = ["K1", "K2", "K3", "K4", "K5", "K6", "K7"]
    states = {
        "K1": "success",
        "K2": "success",
        "K3": "success",
        "K4": "skipped",
        "K5": "awaiting_input",  # failed: its holder is asked
        "K6": "running",
        "K7": "success",
    }
    closed = {
        "K1": {"by": "automation", "verdict": "passed", "value": 3.0},
        "K2": {"by": "bob", "verdict": "failed", "taken_over": "Accept", "comment": "late batch"},
        # K3: marked done by a cutover manager (a forced close, recorded with its reason)
        "K7": {"by": "bob", "verdict": "failed"},  # closed failed, not accepted
    }
    assert not_settled(checks, states, closed) == ["K5", "K6", "K7"]
    assert not_settled([], states, closed) == []
