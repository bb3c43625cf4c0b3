"""A gate's evidence in words: each check it rests on, what it measured against what was expected,
and its verdict (passed; failed and accepted, by whom and why; marked done; not settled). Shown in
the gate's request and in its Ready e-mail, in the reader's language."""

from __future__ import annotations

from typing import Any

from transition.i18n import _
from transition.plan.check_rules import evidence
from transition.plan.model import Plan
from transition.runs import step_records


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


def check_line(plan: Plan, check: str, record: dict[str, Any] | None) -> str:
    """``CO-110 · Count the EANs: measured 1190, expected >= 1000: passed``."""
    step = plan.steps[check]
    head = f"{check} · {step.label}"
    expect = step.action.expect_text if step.action is not None else ""
    if not record:
        return _("{check}: not settled yet (expected {expect})").format(check=head, expect=expect)
    if not isinstance(record.get("value"), int | float):
        return _("{check}: closed without a measure (expected {expect})").format(
            check=head, expect=expect
        )
    measured = _("measured {value}, expected {expect}").format(
        value=_number(record["value"]), expect=expect
    )
    if record.get("verdict") == "passed":
        return _("{check}: {measured}: passed").format(check=head, measured=measured)
    if record.get("taken_over"):
        who = plan.actors.get(str(record.get("by")))
        return _("{check}: {measured}: failed, accepted by {person}: {reason}").format(
            check=head,
            measured=measured,
            person=who.name if who else record.get("by"),
            reason=record.get("comment") or "",
        )
    return _("{check}: {measured}: failed").format(check=head, measured=measured)


def evidence_lines(plan: Plan, dry_run: str, gate: str, ti: Any) -> list[str]:
    """One line per check ``gate`` rests on in ``dry_run``, from their records in the run (XCom
    ``closed``), in the current language; none for a gate without checks."""
    checks = evidence(plan, dry_run, gate)
    if not checks:
        return []
    return [
        check_line(plan, check, ti.xcom_pull(task_ids=check, key=step_records.CLOSED))
        for check in checks
    ]
