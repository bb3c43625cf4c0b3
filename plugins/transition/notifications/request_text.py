"""What a step's owner reads: the HITL subject and its Markdown body (in the owner's language)."""

from __future__ import annotations

import datetime as dt

from transition.i18n import _, format_moment, use_language, with_their_time
from transition.plan.model import Actor, Plan, ScheduledStep, StepAction
from transition.runs.step_records import ActionRun
from transition.workbook.cells import format_duration


def how_to() -> str:
    return _(
        "1. Press **Start** when you begin this step.\n"
        "2. Press **Close** when it is done: the steps waiting for it then move on."
    )


def gate_how_to(approvals: int) -> str:
    text = _(
        "This is a **go / no-go gate**.\n"
        "1. Press **Go** when the plan may go on: the fallback steps are then skipped.\n"
        "2. Press **No-go** to go back: the steps ahead are skipped and the fallback starts."
    )
    if approvals > 1:
        text += "\n\n" + _(
            "Go counts once {count} different people have said it; one No-go decides."
        ).format(count=approvals)
    return text


def automated_how_to(action: StepAction, check: bool) -> str:
    """What an automated step or check does, and what its holder may be asked, in words."""
    text = _("This step runs by itself: the action `{action}`.").format(action=action.text)
    if check:
        text += " " + _("It passes when its value is {expect}.").format(expect=action.expect_text)
    if action.confirm_first:
        text += "\n\n" + _("1. Press **Start** when it may run: the action then runs.")
    if check:
        return (
            text
            + "\n\n"
            + _(
                "If it fails you are asked: **Retry** runs it again; **Accept** (with a reason) "
                "closes it as it is."
            )
        )
    return (
        text
        + "\n\n"
        + _(
            "If it fails you are asked: **Retry** runs it again; **Done by hand** (with a comment) "
            "closes it as done by you."
        )
    )


def action_failure(action: str, run: ActionRun) -> str:
    """What went wrong with ``run`` of ``action``, in a sentence."""
    if "ended" not in run:
        return _(
            "The action {action} was interrupted (its process ended while it ran): "
            "whether it did its work is not known."
        ).format(action=action)
    return _("The action {action} failed: {said}").format(action=action, said=run.get("said", ""))


def action_failure_markdown(action: str, run: ActionRun, check: bool) -> str:
    """The top of a failed action's request: what went wrong, its last lines, what to answer."""
    text = f"**{action_failure(action, run)}**\n\n"
    if lines := run.get("tail"):
        text += _("Its last lines:") + "\n\n" + "\n".join(f"    {line}" for line in lines) + "\n\n"
    if check:
        return text + _("Retry runs it again; Accept (with a reason) closes the check as it is.")
    return text + _(
        "Retry runs it again; Done by hand (with a comment) closes the step as done by you."
    )


def subject(plan: Plan, step_id: str) -> str:
    return f"{step_id} · {plan.steps[step_id].label}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip() or "—"


def when(moment: dt.datetime | None, zone: str | None = None) -> str:
    """A planned time in the current language (the reader's ``zone``'s time beside it when it
    differs), or what an unanchored step waits for."""
    return with_their_time(moment, zone) if moment else _("as soon as the prerequisites are closed")


def d_day(plan: Plan, dry_run: str) -> str:
    """``DR1 (D-day Sat 16 Jan 2027)`` in the current language."""
    return _("{dry_run} (D-day {date})").format(
        dry_run=dry_run, date=format_moment(plan.dry_runs[dry_run].d_day, "date")
    )


def planned_end(scheduled: ScheduledStep, duration: dt.timedelta, zone: str | None = None) -> str:
    if scheduled.planned_end:
        return _("{end} (duration {duration})").format(
            end=when(scheduled.planned_end, zone), duration=format_duration(duration)
        )
    return _("{duration} after it starts").format(duration=format_duration(duration))


def _person(actor: Actor | None) -> str:
    if actor is None:
        return "—"
    team = f", {actor.team}" if actor.team else ""
    return f"{actor.name} ({actor.email}{team})"


def body(plan: Plan, dry_run: str, scheduled: ScheduledStep) -> str:
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    with use_language(owner.language):
        environment = plan.environments.get(step.environment or "")
        env_text = (
            f"{environment.code} — {environment.name}" if environment else (step.environment or "—")
        )
        prerequisites = ", ".join(f"{p} · {plan.steps[p].label}" for p in scheduled.upstream) or _(
            "none"
        )
        start = when(scheduled.planned_start)
        if step.start:
            start = _("{start} (not before {relative})").format(
                start=start, relative=step.start.text()
            )
        rows = [
            (_("Dry run"), d_day(plan, dry_run)),
            (_("Phase"), f"{step.phase} — {plan.phases.get(step.phase, '')}"),
            (_("Planned start"), start),
            (_("Planned end"), planned_end(scheduled, step.duration)),
            (_("Environment"), env_text),
            (_("Owner"), _person(owner)),
            (_("Team leader"), _person(plan.actors.get(owner.team_leader or ""))),
            (_("Department head"), _person(plan.actors.get(owner.department_head or ""))),
            (_("Waits for"), prerequisites),
        ]
        rows += [(key, value) for key, value in step.extra.items()]
        table = "| | |\n|---|---|\n" + "\n".join(
            f"| **{_cell(k)}** | {_cell(v)} |" for k, v in rows
        )
        description = step.description.strip() or _("_No instructions in the plan._")
        what, how = (
            _("What to do"),
            _("How"),
        )  # not inside an f-string: the extractor would not see them
        times = _("Times are in {timezone}.").format(timezone=plan.timezone)
        if step.is_gate:
            steps = gate_how_to(step.approvals)
        elif step.action is not None:
            steps = automated_how_to(step.action, step.kind == "check")
        else:
            steps = how_to()
        return f"{table}\n\n### {what}\n\n{description}\n\n### {how}\n\n{steps}\n\n{times}"
