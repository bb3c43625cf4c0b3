"""Go / no-go gates in the workbook contract (issue 17): the Kind and Approvals columns, and the
rules that need each dry run's projected graph, on real workbooks; exact place and words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import STEPS_HEADER, base_sheets, compile_sheets
from transition.plan.gates import gate_branches, join_steps
from transition.plan.serial import plan_from_json, plan_to_json

# Steps columns: A ID ... E Prerequisites ... H Owner, I Environment, J Description, K Kind, L Approvals.
# Rows: 2 PP-010, 3 PP-020, 4 CO-100, 5 CO-110, 6 CO-120 (the gate), 7 HO-010, 8 FB-010, 9 FB-020.
GATE_ROW = 6


def gate_sheets(kind: Any = "gate", approvals: Any = None) -> dict[str, list[list[Any]]]:
    """The base plan with a go/no-go after the smoke test: Go hands over, No-go rolls back."""
    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[0] = [*STEPS_HEADER, "Kind", "Approvals"]
    for row in steps[1:]:
        row.extend([None, None])
    gate = ["CO-120", "Go/no-go on the cut over", "CO", "ALL", "CO-110", "", "15m", "alice"]
    steps.insert(GATE_ROW - 1, [*gate, "", "Decide with the business.", kind, approvals])
    hand_over = steps[GATE_ROW]
    assert hand_over[0] == "HO-010"
    hand_over[4] = "CO-120"
    steps.append(
        ["FB-010", "Switch the gateway back", "FB-RB", "ALL", "CO-120", "", "1h", "carol"]
        + [None] * 4
    )
    steps.append(
        ["FB-020", "Restart billing runs", "FB-RB", "ALL", "FB-010", "", "30m", "bob"] + [None] * 4
    )
    return sheets


def row_of(sheets, step_id: str) -> list[Any]:
    return next(r for r in sheets["Steps"] if r[0] == step_id)


def check(tmp_path: Path, sheets, **settings) -> tuple[list[str], list[str], Any]:
    result = compile_sheets(tmp_path, sheets, **settings)
    errors = [str(p) for p in result.problems if p.severity == "error"]
    warnings = [str(p) for p in result.problems if p.severity == "warning"]
    return errors, warnings, result.plan


# -- a valid plan with a gate ----------------------------------------------------------------------


def test_a_gate_with_both_branches_compiles(tmp_path):
    sheets = gate_sheets(approvals=2)
    sheets["Steps"].append(
        ["HO-020", "Close the cutover", "HO", "ALL", "HO-010, FB-020", "", "15m", "dave"]
        + [None] * 4
    )
    errors, warnings, plan = check(tmp_path, sheets)
    assert errors == [] and warnings == []
    gate = plan.steps["CO-120"]
    assert gate.kind == "gate" and gate.is_gate and gate.approvals == 2
    assert plan.steps["CO-110"].kind == "step" and plan.steps["CO-110"].approvals == 1
    assert plan.conditional_phases == ("FB-RB",)
    for dry_run in ("DR1", "LIVE"):
        branches = gate_branches(plan, dry_run)
        assert list(branches) == ["CO-120"]
        assert branches["CO-120"].forward == ("HO-010",)
        assert branches["CO-120"].fallback == ("FB-010",)
        assert join_steps(plan, dry_run) == {"HO-020"}


def test_branches_are_taken_after_projection(tmp_path):
    """FB-010 is only rehearsed in LIVE: in DR1, FB-020 waits for the gate and is the fallback."""
    sheets = gate_sheets()
    row_of(sheets, "FB-010")[3] = "LIVE"
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert gate_branches(plan, "DR1")["CO-120"].fallback == ("FB-020",)
    assert gate_branches(plan, "LIVE")["CO-120"].fallback == ("FB-010",)


def test_the_compiled_plan_round_trips_with_its_gates(tmp_path):
    errors, _, plan = check(tmp_path, gate_sheets(approvals=3), cutover_managers=["bob"])
    assert errors == []
    again = plan_from_json(json.loads(json.dumps(plan_to_json(plan))))
    assert again.steps["CO-120"].kind == "gate" and again.steps["CO-120"].approvals == 3
    assert again.steps["FB-010"].kind == "step" and again.steps["FB-010"].approvals == 1
    assert again.conditional_phases == ("FB-RB",)
    assert again.steps == plan.steps
    assert gate_branches(again, "DR1") == gate_branches(plan, "DR1")


def test_french_headers_and_values(tmp_path):
    sheets = gate_sheets(kind="Porte", approvals=" 2 ")
    sheets["Steps"][0][10:12] = ["Type", "Validations"]
    row_of(sheets, "FB-010")[10] = "Étape"
    row_of(sheets, "FB-020")[10] = "etape"
    row_of(sheets, "CO-110")[10] = "STEP"
    errors, warnings, plan = check(tmp_path, sheets)
    assert errors == [] and warnings == []
    assert {s.id for s in plan.steps.values() if s.is_gate} == {"CO-120"}
    assert plan.steps["CO-120"].approvals == 2


# -- Kind and Approvals cells ----------------------------------------------------------------------


def test_an_unknown_kind_is_refused_at_its_cell(tmp_path):
    errors, _, plan = check(tmp_path, gate_sheets(kind="decision"))
    assert plan is None
    assert errors == [
        "Steps!K6: unknown kind 'decision': write step for an ordinary step-action, gate for a "
        "go/no-go decision, auto for a step that runs its action, or check for an action that "
        "measures a value (in French: étape, porte, auto, contrôle); empty means step"
    ]


def test_approvals_must_be_a_whole_number_of_people(tmp_path):
    for good in (2, 2.0, "2", "2.0", " 2 "):
        errors, _, plan = check(tmp_path, gate_sheets(approvals=good))
        assert errors == [], good
        assert plan.steps["CO-120"].approvals == 2
    for bad, shown in (("two", "two"), (0, "0"), (1.5, "1.5"), ("-1", "-1"), (True, "TRUE")):
        errors, _, plan = check(tmp_path, gate_sheets(approvals=bad))
        assert plan is None
        assert errors == [
            f"Steps!L6: Approvals '{shown}' is not a number of people: write how many different "
            "people must say Go (a whole number, 1 or more); empty means 1"
        ], bad


def test_approvals_cannot_exceed_the_people_who_may_answer(tmp_path):
    # alice's gate: alice, her team leader carol, her department head dave.
    errors, _, plan = check(tmp_path, gate_sheets(approvals=3))
    assert errors == [] and plan.steps["CO-120"].approvals == 3
    errors, _, plan = check(tmp_path, gate_sheets(approvals=5))
    assert plan is None
    assert errors == [
        "Steps!L6: gate 'CO-120' needs 5 Go answers, but only 3 people may answer it (alice, "
        "carol, dave: its owner, the owner's team leader and department head, and the cutover "
        "managers); write at most 3 in Approvals"
    ]
    # A cutover manager who is an actor may answer too; one who is only a team leader counts once.
    errors, _, plan = check(tmp_path, gate_sheets(approvals=4), cutover_managers=["bob", "carol"])
    assert errors == [] and plan.steps["CO-120"].approvals == 4


def test_approvals_on_an_ordinary_step_is_ignored_with_a_warning(tmp_path):
    sheets = gate_sheets()
    row_of(sheets, "CO-100")[11] = 3
    errors, warnings, plan = check(tmp_path, sheets)
    assert errors == []
    assert warnings == [
        "Steps!L4: warning: step 'CO-100' is not a gate, so its Approvals (3) is ignored; write "
        "gate in Kind if it is a go/no-go decision, or empty the cell"
    ]
    assert plan.steps["CO-100"].approvals == 1


# -- rules on each dry run's graph -----------------------------------------------------------------


def test_a_fallback_step_without_a_gate_before_it(tmp_path):
    errors, _, plan = check(tmp_path, gate_sheets(kind=None))
    assert plan is None
    # FB-020 follows FB-010: a gate before FB-010 settles both, so only FB-010 is reported.
    assert errors == [
        "Steps!E8: step 'FB-010' is in phase FB-RB, which only runs when a gate says No-go, but no "
        "gate comes before it in dry runs DR1, LIVE: it would always run, as if the fallback had "
        "been decided (and so would the steps of FB-RB after it); put a gate before it (name the "
        "gate, or a step after the gate, in its Prerequisites), or move it out of phase FB-RB"
    ]


def test_a_gate_without_a_fallback_branch_names_the_dry_run(tmp_path):
    sheets = gate_sheets()
    row_of(sheets, "FB-010")[3] = "LIVE"
    row_of(sheets, "FB-020")[3] = "LIVE"
    errors, _, plan = check(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "Steps!K6: gate 'CO-120' has no fallback branch in dry run DR1: no step of the run in "
        "FB-RB names it in its Prerequisites, so a No-go would start nothing; name 'CO-120' in "
        "the Prerequisites of the first fallback step (in FB-RB), or write step in its Kind if it "
        "is not a go/no-go decision"
    ]


def test_a_gate_without_a_forward_branch(tmp_path):
    sheets = gate_sheets()
    row_of(sheets, "HO-010")[4] = "CO-110"
    errors, _, plan = check(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "Steps!K6: gate 'CO-120' has no forward branch in dry runs DR1, LIVE: no step of the run "
        "outside FB-RB names it in its Prerequisites, so a Go would start nothing; name 'CO-120' "
        "in the Prerequisites of the step that comes after a Go"
    ]


def test_a_gate_with_nothing_after_it(tmp_path):
    sheets = gate_sheets()
    sheets["Steps"] = sheets["Steps"][:-2]
    row_of(sheets, "HO-010")[4] = "CO-110"
    errors, _, plan = check(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "Steps!K6: gate 'CO-120' has no step after it in dry runs DR1, LIVE: a gate needs a "
        "forward branch (steps outside FB-RB that name it in their Prerequisites, started on Go) "
        "and a fallback branch (steps in FB-RB that name it, started on No-go); name 'CO-120' in "
        "the Prerequisites of the first step of each, or write step in its Kind"
    ]


def test_without_a_conditional_phase_a_gate_cannot_have_a_fallback(tmp_path):
    sheets = gate_sheets()
    phases = [{"code": c, "name": c} for c in ("PP", "AC", "CO", "DC", "HO", "FB-RB")]
    errors, _, plan = check(tmp_path, sheets, phases=phases)
    assert plan is None
    assert errors == [
        "Steps!K6: gate 'CO-120' has no fallback branch in dry runs DR1, LIVE: the configuration "
        "has no conditional phase (conditional: true in config.yaml, for the fallback steps), so "
        "a No-go would start nothing; mark the fallback phase conditional, or write step in its Kind"
    ]


def test_a_gate_in_a_fallback_phase_needs_a_gate_before_it(tmp_path):
    sheets = gate_sheets()
    # A second decision in FB-RB, hung off the smoke test instead of the first gate's fallback.
    steps = sheets["Steps"]
    steps.append(
        ["FB-030", "Go/no-go on a full restore", "FB-RB", "ALL", "CO-110", "", "15m", "bob"]
        + [None, None, "gate", None]
    )
    steps.append(
        ["FB-040", "Restore the database", "FB-RB", "ALL", "FB-030", "", "2h", "bob"] + [None] * 4
    )
    steps.append(
        ["HO-030", "Report the partial roll back", "HO", "ALL", "FB-030", "", "15m", "dave"]
        + [None] * 4
    )
    errors, _, plan = check(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "Steps!E10: gate 'FB-030' is in phase FB-RB, which only runs when a gate says No-go, but "
        "no other gate comes before it in dry runs DR1, LIVE: it would be asked every time; put "
        "the gate whose No-go leads to it (or a step of that gate's fallback) in its "
        "Prerequisites, or move it out of phase FB-RB"
    ]
    # After the first gate's fallback, it is a nested decision: valid.
    row_of(sheets, "FB-030")[4] = "FB-020"
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert gate_branches(plan, "DR1")["FB-030"].fallback == ("FB-040",)
    assert gate_branches(plan, "DR1")["FB-030"].forward == ("HO-030",)


def test_four_eyes_a_transfer_is_not_a_second_pair():
    """Go counts once per pair of eyes: whoever a gate was handed to is the same pair as whoever
    handed it to them (issue 25: an owner handing the gate to an engineer of their team, then both
    saying Go, decided a gate that needs two)."""
    from transition.plan.gates import said_go

    def go(*people: str) -> list[dict]:
        return [{"by": p, "choice": "Go"} for p in people]

    handed = [("tl", "eng")]  # the team leader owns the gate and hands it to an engineer
    assert said_go(go("tl", "eng"), handed) == ["tl"]
    assert said_go(go("eng", "tl"), handed) == ["eng"]  # named by who said it first
    assert said_go(go("eng", "tl", "dh"), handed) == ["eng", "dh"]  # the department head counts
    # Handed on again (eng -> ops), and back: still one pair of eyes.
    assert said_go(go("tl", "ops"), [("tl", "eng"), ("eng", "ops")]) == ["tl"]
    assert said_go(go("tl", "eng"), [("tl", "eng"), ("eng", "tl")]) == ["tl"]
    # Without transfers every person counts once; No-go is no Go.
    assert said_go(go("tl", "tl", "dh") + [{"by": "x", "choice": "No-go"}]) == ["tl", "dh"]
