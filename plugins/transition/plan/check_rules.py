"""Checks in a dry run: which a go / no-go gate rests on, and whether a measured value passes.

A gate's **evidence** is every check it waits for in the dry run (directly or through other
steps, after the dry run's projection): their values and verdicts go with the gate's request, and
Go waits while one of them is not settled (:func:`not_settled`). A
check's **verdict** compares its measured value with its expectation, against what another check
measured where the expectation names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transition.i18n import _
from transition.plan.graph import ancestors
from transition.plan.model import Plan, StepAction


def evidence(plan: Plan, dry_run: str, gate: str) -> list[str]:
    """The checks ``gate`` waits for in ``dry_run``, in the plan's order."""
    schedule = plan.schedules[dry_run]
    upstream = {s.step_id: s.upstream for s in schedule.steps.values()}
    before = ancestors(upstream, gate)
    return [s for s in schedule.steps if s in before and plan.steps[s].kind == "check"]


def passes(action: StepAction, value: float, measured: Mapping[str, float]) -> bool:
    """Whether a check's ``value`` meets its expectation; ``measured``: what the run's checks
    measured so far. ValueError in words when the value it compares with is not measured yet."""
    expect = action.expect
    if expect is None:
        raise ValueError(
            _("'{name}' is not a check: it has no expectation").format(name=action.name)
        )
    reference = None
    if expect.of_step is not None:
        reference = measured.get(expect.of_step)
        if reference is None:
            raise ValueError(
                _("{step} has measured nothing yet: '{expect}' compares with its value").format(
                    step=expect.of_step, expect=action.expect_text
                )
            )
    return expect.holds(value, reference)


SETTLED_STATES = ("success", "skipped")  # Airflow's task states of a check that is done with


def not_settled(
    checks: list[str], states: Mapping[str, str | None], closed: Mapping[str, Any]
) -> list[str]:
    """Of a gate's ``checks``, those Go must wait for: not done (``states``: Airflow's, e.g. still
    running, or asking its holder after it failed), or closed with a failed verdict that was not
    accepted (``closed``: their ``closed`` records). A check marked done by a cutover manager (a
    forced close, with its reason) has no record and counts as settled."""
    waiting = []
    for check in checks:
        record = closed.get(check)
        failed = (
            isinstance(record, dict)
            and record.get("verdict") == "failed"
            and record.get("taken_over") != "Accept"
        )
        if states.get(check) not in SETTLED_STATES or failed:
            waiting.append(check)
    return waiting
