"""The rules of go / no-go gates that need each dry run's projected graph (:mod:`transition.plan.gates`).

In every dry run: a step in a conditional (fallback) phase must follow a gate, or it would run as if
every gate had said No-go; a gate needs a forward branch (what a Go starts) and a fallback branch
(what a No-go starts); a gate in a conditional phase must itself follow a gate, or it would be asked
in every run. A problem found in several dry runs is reported once, naming them.
"""

from __future__ import annotations

from collections.abc import Callable

from transition.errors import Problem
from transition.i18n import _, ngettext
from transition.plan.gates import gate_branches, led_by_a_gate
from transition.plan.model import Plan
from transition.workbook.reader import RawSheet

# (step, rule) -> dry runs where it happens, in the plan's order
_Found = dict[tuple[str, str], list[str]]


def gate_problems(plan: Plan, sheet: RawSheet) -> list[Problem]:
    """Every gate problem of the plan's dry runs, located in the Steps ``sheet``; all errors."""
    conditional = set(plan.conditional_phases)
    found: _Found = {}
    for name in plan.schedules:
        branches = gate_branches(plan, name)
        led = led_by_a_gate(plan, name)
        fallbacks = {s for b in branches.values() for s in b.fallback}
        schedule = plan.schedules[name]
        unled = {
            s
            for s in schedule.steps
            if plan.steps[s].phase in conditional and s not in led and s not in fallbacks
        }
        for step_id in schedule.steps:
            if step_id not in unled:
                continue
            if plan.steps[step_id].is_gate:
                found.setdefault((step_id, "unled gate"), []).append(name)
            # Only the first of a run of such steps: a gate before it leads to the others too.
            elif not any(
                up in unled and not plan.steps[up].is_gate
                for up in schedule.steps[step_id].upstream
            ):
                found.setdefault((step_id, "unled step"), []).append(name)
        for gate, branch in branches.items():
            if not conditional and not branch.fallback:
                rule = "no fallback"  # nothing can be a fallback: the configuration's problem
            elif not branch.forward and not branch.fallback:
                rule = "no branch"
            elif not branch.forward:
                rule = "no forward"
            elif not branch.fallback:
                rule = "no fallback"
            else:
                continue
            found.setdefault((gate, rule), []).append(name)
    ordered = sorted(found.items(), key=lambda item: plan.steps[item[0][0]].row)
    return [
        Problem(
            sheet.cell(_COLUMN[rule], plan.steps[step_id].row),
            _message(plan, step_id, rule, runs),
        )
        for (step_id, rule), runs in ordered
    ]


_COLUMN = {  # the cell where the fix goes
    "unled step": "prerequisites",
    "unled gate": "prerequisites",
    "no branch": "kind",
    "no forward": "kind",
    "no fallback": "kind",
}


def _message(plan: Plan, step_id: str, rule: str, runs: list[str]) -> str:
    step = plan.steps[step_id]
    where = ngettext("in dry run {dry_runs}", "in dry runs {dry_runs}", len(runs)).format(
        dry_runs=", ".join(runs)
    )
    phases = ", ".join(plan.conditional_phases)
    messages: dict[str, Callable[[], str]] = {
        "unled step": lambda: _(
            "step '{step}' is in phase {phase}, which only runs when a gate says No-go, but no gate "
            "comes before it {where}: it would always run, as if the fallback had been decided "
            "(and so would the steps of {phase} after it); "
            "put a gate before it (name the gate, or a step after the gate, in its Prerequisites), "
            "or move it out of phase {phase}"
        ),
        "unled gate": lambda: _(
            "gate '{step}' is in phase {phase}, which only runs when a gate says No-go, but no "
            "other gate comes before it {where}: it would be asked every time; put the gate "
            "whose No-go leads to it (or a step of that gate's fallback) in its Prerequisites, or "
            "move it out of phase {phase}"
        ),
        "no branch": lambda: _(
            "gate '{step}' has no step after it {where}: a gate needs a forward branch (steps "
            "outside {phases} that name it in their Prerequisites, started on Go) and a fallback "
            "branch (steps in {phases} that name it, started on No-go); name '{step}' in the "
            "Prerequisites of the first step of each, or write step in its Kind"
        ),
        "no forward": lambda: _(
            "gate '{step}' has no forward branch {where}: no step of the run outside {phases} names it in its "
            "Prerequisites, so a Go would start nothing; name '{step}' in the Prerequisites of the "
            "step that comes after a Go"
        ),
        "no fallback": lambda: (
            _(
                "gate '{step}' has no fallback branch {where}: no step of the run in {phases} names it in its "
                "Prerequisites, so a No-go would start nothing; name '{step}' in the Prerequisites "
                "of the first fallback step (in {phases}), or write step in its Kind if it is not "
                "a go/no-go decision"
            )
            if phases
            else _(
                "gate '{step}' has no fallback branch {where}: the configuration has no "
                "conditional phase (conditional: true in config.yaml, for the fallback steps), so "
                "a No-go would start nothing; mark the fallback phase conditional, or write step in "
                "its Kind"
            )
        ),
    }
    return messages[rule]().format(step=step_id, phase=step.phase, where=where, phases=phases)
