"""What a step's owner reads: the HITL subject and its Markdown body."""

from __future__ import annotations

import datetime as dt

from transition.cell_values import format_duration
from transition.model import Actor, Plan, ScheduledStep

HOW_TO = (
    "1. Press **Start** when you begin this step.\n"
    "2. Press **Close** when it is done: the steps waiting for it then move on."
)


def subject(plan: Plan, step_id: str) -> str:
    return f"{step_id} · {plan.steps[step_id].label}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip() or "—"


def when(moment: dt.datetime | None) -> str:
    return f"{moment:%a %d %b %Y %H:%M}" if moment else "as soon as the prerequisites are closed"


def _person(actor: Actor | None) -> str:
    if actor is None:
        return "—"
    team = f", {actor.team}" if actor.team else ""
    return f"{actor.name} ({actor.email}{team})"


def body(plan: Plan, dry_run: str, scheduled: ScheduledStep) -> str:
    step = plan.steps[scheduled.step_id]
    owner = plan.actors[step.owner]
    environment = plan.environments.get(step.environment or "")
    env_text = f"{environment.code} — {environment.name}" if environment else (step.environment or "—")
    prerequisites = ", ".join(f"{p} · {plan.steps[p].label}" for p in scheduled.upstream) or "none"
    rows = [
        ("Dry run", f"{dry_run} (D-day {plan.dry_runs[dry_run].d_day:%a %d %b %Y})"),
        ("Phase", f"{step.phase} — {plan.phases.get(step.phase, '')}"),
        ("Planned start", when(scheduled.planned_start) + (f" (not before {step.start})" if step.start else "")),
        ("Planned end", f"{when(scheduled.planned_end)} (duration {format_duration(step.duration)})"
         if scheduled.planned_end else f"{format_duration(step.duration)} after it starts"),
        ("Environment", env_text),
        ("Owner", _person(owner)),
        ("Team leader", _person(plan.actors.get(owner.team_leader or ""))),
        ("Department head", _person(plan.actors.get(owner.department_head or ""))),
        ("Waits for", prerequisites),
    ]
    rows += [(key, value) for key, value in step.extra.items()]
    table = "| | |\n|---|---|\n" + "\n".join(f"| **{_cell(k)}** | {_cell(v)} |" for k, v in rows)
    description = step.description.strip() or "_No instructions in the plan._"
    return f"{table}\n\n### What to do\n\n{description}\n\n### How\n\n{HOW_TO}\n\nTimes are in {plan.timezone}."
