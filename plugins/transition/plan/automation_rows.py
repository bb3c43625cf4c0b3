"""The Steps sheet's ``Action`` and ``Expect`` cells (issue 28), checked with their cells.

A step of kind ``auto`` names an action of the catalogue (config.yaml's ``actions:``) with its
arguments; a ``check`` also says in ``Expect`` what its measured value must be, possibly against
what an earlier check measured (``between 99.5% and 100.5% of CO-110``). The arguments are bound
to the action's typed parameters here, once, so a wrong one is the plan's problem with its cell,
not a failure at 3 a.m. Nothing here runs an action (:mod:`transition.plan.action_cells`).
"""

from __future__ import annotations

from transition.i18n import _
from transition.plan.action_cells import (
    ActionCall,
    Expectation,
    bind,
    parse_action_cell,
    parse_expect,
)
from transition.plan.actions import Action
from transition.plan.graph import ancestors
from transition.plan.model import StepAction
from transition.plan.row_checks import RowChecks
from transition.workbook.cells import CellValue, as_text
from transition.workbook.reader import RawSheet

AUTOMATED = ("auto", "check")  # the kinds that run an action
# Approvals of an automated step: its holder answers Start before the action runs.
CONFIRM_FIRST = ("before", "avant")


def expectation(value: CellValue) -> Expectation:
    """An Expect cell's expectation. A number means equal to it: Excel keeps ``= 0`` typed in a
    cell as a formula and shows its value, 0 (``'= CO-110``, with an apostrophe, stays text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_expect(f"= {as_text(value)}")
    return parse_expect(as_text(value))


class AutomationRows(RowChecks):
    """The Action and Expect cells of the Steps sheet's rows."""

    #: The catalogue's actions; None when config.yaml names none, or when it could not be read
    #: (its own problems are then the plan's, and the cells' arguments are not bound).
    catalogue: dict[str, Action] | None = None

    def _step_action(
        self, sheet: RawSheet, number: int, step_id: str, kind: str | None, values: dict
    ) -> tuple[bool, StepAction | None]:
        """(cells usable, the step's action): an ``auto`` or ``check`` step's action, bound; None
        for a step done by a person, whose Action and Expect are ignored with a warning."""
        action_text, expect_text = as_text(values.get("action")), as_text(values.get("expect"))
        if kind not in AUTOMATED:
            self._ignored(sheet, number, step_id, action_text, expect_text)
            return True, None
        where = sheet.cell("action", number)
        if not action_text:
            self.error(
                where,
                _(
                    "step '{step}' is automated ({kind}) but names no action: write the action "
                    "of the catalogue it runs, e.g. export_ean(region=LIEGE, day=D-1)"
                ).format(step=step_id, kind=kind),
            )
            return False, None
        try:
            call = parse_action_cell(action_text)
        except ValueError as error:
            self.error(where, str(error))
            return False, None
        arguments = self._bound(where, call)
        expect = None
        if kind == "check":
            expect = self._parse(
                sheet,
                "expect",
                number,
                values.get("expect"),
                expectation,
                required=_(
                    "check '{step}' has no expectation: write what its value must be in "
                    "Expect (= 0, >= 1200000, between 99.5% and 100.5% of CO-110)"
                ).format(step=step_id),
            )
            if expect is None:
                return False, None
        elif expect_text:
            self._expect_ignored(sheet, number, step_id, expect_text)
        if arguments is None:
            return False, None
        confirm = as_text(values.get("approvals")).strip().lower() in CONFIRM_FIRST
        return True, StepAction(call.name, arguments, action_text, expect, expect_text, confirm)

    def _bound(self, where: str, call: ActionCall) -> dict[str, str | int | float | bool] | None:
        """The call's arguments bound to its action's parameters; None with an error."""
        if self.config.actions_path is None:
            self.error(
                where,
                _(
                    "the plan has no actions catalogue: name its file in config.yaml "
                    "(actions: actions.yaml) to run '{name}'"
                ).format(name=call.name),
            )
            return None
        if self.catalogue is None:  # unreadable: its problems are reported with the file
            return None
        try:
            return bind(call, self.catalogue)
        except ValueError as error:
            self.error(where, str(error))
            return None

    def _ignored(
        self, sheet: RawSheet, number: int, step_id: str, action_text: str, expect_text: str
    ) -> None:
        if action_text:
            self.warn(
                sheet.cell("action", number),
                _(
                    "step '{step}' is done by a person, so its Action ({action}) is ignored; "
                    "write auto in Kind to run it, or empty the cell"
                ).format(step=step_id, action=action_text),
            )
        if expect_text:
            self._expect_ignored(sheet, number, step_id, expect_text)

    def _expect_ignored(self, sheet: RawSheet, number: int, step_id: str, expect_text: str) -> None:
        self.warn(
            sheet.cell("expect", number),
            _(
                "step '{step}' is not a check, so its Expect ({expect}) is ignored; write "
                "check in Kind if its action measures a value, or empty the cell"
            ).format(step=step_id, expect=expect_text),
        )

    def _check_expectations(self, sheet: RawSheet) -> None:
        """An expectation against another check's value names a check of the plan that comes
        before it (a prerequisite, or one of theirs) in every dry run the step is in."""
        graph = {s: list(p) for s, p in self._prerequisites.items()}
        for step in self.steps.values():
            other = step.action.expect.of_step if step.action and step.action.expect else None
            if other is None:
                continue
            where = sheet.cell("expect", step.row)
            measured = self.steps.get(other)
            if measured is None or measured.kind != "check":
                hint = (
                    ""
                    if measured is not None
                    else self.suggest.hint(
                        other, (s.id for s in self.steps.values() if s.kind == "check")
                    )
                )
                self.error(
                    where,
                    _(
                        "'{other}' is not a check of the plan{hint}: an expectation may use the "
                        "value another check measured"
                    ).format(other=other, hint=hint),
                )
            elif other == step.id or other not in ancestors(graph, step.id):
                self.error(
                    where,
                    _(
                        "check '{step}' compares with what '{other}' measured, so '{other}' must "
                        "come before it: add it to the Prerequisites (or to one of theirs)"
                    ).format(step=step.id, other=other),
                )
            elif missing := [d for d in step.dry_runs if d not in measured.dry_runs]:
                self.error(
                    where,
                    _(
                        "check '{step}' compares with what '{other}' measured, but '{other}' is "
                        "not in dry run(s) {dry_runs}"
                    ).format(step=step.id, other=other, dry_runs=", ".join(missing)),
                )
