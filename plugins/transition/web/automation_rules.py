"""The guard's rules for automated steps and checks (issue 28), in words.

A person closes an automated step or a check only by answering its request after its action
failed: **Done by hand** or **Accept**, with a comment that says what was done or why it is
accepted (on every route Airflow takes an answer by). Marking it done is for the cutover managers,
as a forced close with its reason. A gate's **Go** waits until each check it rests on passed or was
accepted (:func:`transition.plan.check_rules.not_settled`); No-go stays open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transition.i18n import _
from transition.vocabulary import TAKEN_OVER


def missing_comment(
    chosen: Sequence[str], params_input: Mapping[str, Any] | None, step: str
) -> str:
    """Why an answer that takes a failed action over is refused (no comment), or ""."""
    taken = [option for option in chosen if option in TAKEN_OVER]
    comment = (params_input or {}).get("comment")
    if not taken or (isinstance(comment, str) and comment.strip()):
        return ""
    return _(
        "'{option}' on step {step} needs a comment: say what was done, or why it is accepted. "
        "It is kept with the step."
    ).format(option=taken[0], step=step)


def go_waits_for_checks(gate: str, checks: Sequence[str]) -> str:
    return _(
        "Go on gate {gate} waits for its checks {checks}: each must pass, or be accepted with a "
        "reason by its holder. No-go stays open."
    ).format(gate=gate, checks=", ".join(checks))


def automated_not_marked(step: str) -> str:
    return _(
        "Step {step} runs its action by itself: when it fails, answer its request with Done by "
        "hand or Accept, and a comment. Only a cutover manager may force it, with a reason."
    ).format(step=step)
