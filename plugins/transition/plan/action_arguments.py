"""What an automated step's action receives in one dry run, and what a check's run measured.

The arguments were bound to the action's typed parameters when the plan was compiled
(:mod:`transition.plan.automation_rows`); here a day counted from D-day (``D-1``) becomes that dry
run's date, and the values take the form each kind of action gets them in: a command's environment
(``TRANSITION_ARG_REGION=LIEGE``), never its text. A check's measured value is the last line a
command printed, or what a callable returned, read as a number.
"""

from __future__ import annotations

import datetime as dt
import re

from transition.i18n import _
from transition.plan.actions import NUMBER, RELATIVE_DAY, Action, number_text

Value = str | int | float | bool
ENVIRONMENT_PREFIX = "TRANSITION_ARG_"


def for_dry_run(arguments: dict[str, Value], action: Action, d_day: dt.date) -> dict[str, Value]:
    """``arguments`` with each ``date`` parameter's day from D-day (``D-1``, ``D``, ``D+2``) as
    the dry run's date (ISO); other values as they are."""
    resolved = dict(arguments)
    for name, value in arguments.items():
        parameter = action.parameters.get(name)
        if parameter is None or parameter.type != "date" or not isinstance(value, str):
            continue
        if RELATIVE_DAY.match(value):
            offset = int(value[1:] or 0)
            resolved[name] = (d_day + dt.timedelta(days=offset)).isoformat()
    return resolved


def environment(arguments: dict[str, Value]) -> dict[str, str]:
    """The arguments as environment variables of a command: ``TRANSITION_ARG_<NAME>`` (upper
    case); yes/no as ``true``/``false``."""
    return {
        f"{ENVIRONMENT_PREFIX}{name.upper()}": _text(value) for name, value in arguments.items()
    }


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def measured(output: object) -> float:
    """A check's value: a number returned, or the last non-empty line of what its command printed
    read as a number (``1 200 000``, ``99,5``); ValueError in words otherwise."""
    if isinstance(output, int | float) and not isinstance(output, bool):
        return float(output)
    if not isinstance(output, str):
        got = _("it returned {value}").format(value=repr(output)[:80])
    else:
        lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
        if lines and NUMBER.match(number_text(lines[-1])):
            return float(number_text(lines[-1]))
        got = (
            _("its last line was '{line}'").format(line=lines[-1][:80])
            if lines
            else _("it printed nothing")
        )
    raise ValueError(
        _(
            "the check measured no number: its action must print the value on its last line, "
            "or return it; {got}"
        ).format(got=got)
    )
