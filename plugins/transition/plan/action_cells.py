"""The workbook's ``Action`` and ``Expect`` cells (issue 28), read without ever running them.

``Action`` names an action of the catalogue (:mod:`transition.plan.actions`) with its arguments:
``export_ean(region=LIEGE, day=D-1)``; values are bare words or text in double quotes (a comma,
a space or a decimal comma needs them). :func:`bind` checks them against the action's typed
parameters. ``Expect`` says what a check's measured value must be: ``= 0``, ``>= 1200000``,
``between 10 and 20``, ``= CO-110`` (what check CO-110 measured), ``between 99.5% and 100.5% of
CO-110`` (French ``entre … et … de …``). The grammar: docs/automation.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from transition.i18n import _
from transition.plan.actions import NUMBER, Action, number_text, typed_value

CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)
ARGUMENT = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_.+:/%-]+))\s*(,|$)',
    re.DOTALL,
)
STEP_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+$")
OPERATORS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
COMPARISON = re.compile(r"^\s*(==|=|!=|<>|<=|>=|<|>)\s*(.+?)\s*$")
BETWEEN = re.compile(
    r"^\s*(?:between|entre)\s+(.+?)\s+(?:and|et)\s+(.+?)(?:\s+(?:of|de|du)\s+(\S+))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ActionCall:
    """An ``Action`` cell: the action's name and its arguments as written."""

    name: str
    arguments: dict[str, str] = field(default_factory=dict)


def parse_action_cell(text: str) -> ActionCall:
    """``name`` or ``name(key=value, ...)``; ValueError says what is wrong."""
    match = CALL.match(text)
    if match is None:
        raise ValueError(
            _(
                "'{text}' is not an action: write its name, then its arguments in brackets, "
                "e.g. export_ean(region=LIEGE, day=D-1)"
            ).format(text=text)
        )
    name, inside = match.group(1), match.group(2)
    arguments: dict[str, str] = {}
    position = 0
    inside = inside or ""
    while inside[position:].strip():
        argument = ARGUMENT.match(inside, position)
        if argument is None:
            raise ValueError(
                _(
                    "cannot read the arguments from '{rest}': write key=value, separated by commas; "
                    "put text with spaces or commas in double quotes"
                ).format(rest=inside[position:].strip())
            )
        key = argument.group(1)
        if key in arguments:
            raise ValueError(_("argument '{key}' is given twice").format(key=key))
        quoted, bare = argument.group(2), argument.group(3)
        arguments[key] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        position = argument.end()
        if argument.group(4) == "," and not inside[position:].strip():
            raise ValueError(_("an argument is missing after the last comma"))
    return ActionCall(name, arguments)


def bind(call: ActionCall, actions: dict[str, Action]) -> dict[str, str | int | float | bool]:
    """The arguments of ``call`` as the action's typed parameters, defaults filled in; ValueError
    with every problem of the cell, in one sentence each."""
    action = actions.get(call.name)
    if action is None:
        raise ValueError(
            _("unknown action '{name}' (the catalogue has {known})").format(
                name=call.name, known=", ".join(sorted(actions)) or _("none")
            )
        )
    problems: list[str] = []
    bound: dict[str, str | int | float | bool] = {}
    for key, text in call.arguments.items():
        parameter = action.parameters.get(key)
        if parameter is None:
            problems.append(
                _("'{name}' has no parameter '{key}' (it has {known})").format(
                    name=action.name, key=key, known=", ".join(action.parameters) or _("none")
                )
            )
            continue
        try:
            bound[key] = typed_value(parameter, text)
        except ValueError as error:
            problems.append(f"{key}: {error}")
    for parameter in action.parameters.values():
        if parameter.name in call.arguments:
            continue
        if parameter.required:
            problems.append(
                _("'{name}' needs {key}=…").format(name=action.name, key=parameter.name)
            )
        else:
            bound[parameter.name] = typed_value(parameter, parameter.default or "")
    if problems:
        raise ValueError("; ".join(problems))
    return bound


@dataclass(frozen=True, slots=True)
class Expectation:
    """An ``Expect`` cell. ``operator`` is one of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
    ``between``; the bounds are numbers, or, with ``of_step``, either the value that check
    measured (``= CO-110``: no bound) or percentages of it (``between 99.5% and 100.5% of
    CO-110``)."""

    operator: str
    low: float | None = None  # a comparison's number; between's lower bound
    high: float | None = None  # between's upper bound
    of_step: str | None = None
    percent: bool = False

    def holds(self, value: float, reference: float | None = None) -> bool:
        """Whether the measured ``value`` meets it (``reference``: what ``of_step`` measured)."""
        if self.of_step is not None and reference is None:
            raise ValueError(f"the value {self.of_step} measured is needed")
        low, high = self.low, self.high
        if self.of_step is not None and reference is not None:
            if low is None:
                low = reference
            elif self.percent:
                low, high = reference * low / 100, reference * (high or 0) / 100
        if self.operator == "between":
            assert low is not None and high is not None
            return min(low, high) <= value <= max(low, high)
        assert low is not None
        return {
            "=": value == low,
            "!=": value != low,
            "<": value < low,
            "<=": value <= low,
            ">": value > low,
            ">=": value >= low,
        }[self.operator]


def parse_expect(text: str) -> Expectation:
    """An ``Expect`` cell; ValueError says what to write."""
    between = BETWEEN.match(text)
    if between is not None:
        low, high, of_step = between.groups()
        low_percent, high_percent = low.endswith("%"), high.endswith("%")
        if of_step is not None and not (low_percent and high_percent):
            raise ValueError(
                _(
                    "with 'of {step}', write both bounds in percent: between 99.5% and 100.5% of {step}"
                ).format(step=of_step)
            )
        if of_step is None and (low_percent or high_percent):
            raise ValueError(
                _("percent of what? write: between 99.5% and 100.5% of CO-110 (a check's ID)")
            )
        if of_step is not None and not STEP_REFERENCE.match(of_step):
            raise ValueError(_("'{step}' is not a step ID").format(step=of_step))
        return Expectation(
            "between",
            _number(low.rstrip("%").strip(), text),
            _number(high.rstrip("%").strip(), text),
            of_step=of_step,
            percent=of_step is not None,
        )
    comparison = COMPARISON.match(text)
    if comparison is not None:
        operator, operand = OPERATORS[comparison.group(1)], comparison.group(2)
        if NUMBER.match(number_text(operand)):
            return Expectation(operator, float(number_text(operand)))
        if STEP_REFERENCE.match(operand) and any(c.isalpha() for c in operand):
            return Expectation(operator, of_step=operand)
    raise ValueError(
        _(
            "cannot read the expectation '{text}': write = 0, >= 1200000, between 10 and 20, "
            "= CO-110 (what check CO-110 measured) or between 99.5% and 100.5% of CO-110"
        ).format(text=text)
    )


def _number(text: str, cell: str) -> float:
    if not NUMBER.match(number_text(text)):
        raise ValueError(_("'{value}' in '{text}' is not a number").format(value=text, text=cell))
    return float(number_text(text))
