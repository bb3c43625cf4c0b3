"""A valid plan described: the sentence ``transition validate`` prints (steps, phases, people,
dry runs and their planned windows), and one dry run's steps and edges (``transition graph``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from transition.i18n import _, ngettext
from transition.plan.model import Plan


def summary(plan: Plan, seconds: float | None = None) -> str:
    """One paragraph on a valid plan, in the current language; ``seconds``: how long checking took."""
    phases = Counter(s.phase for s in plan.steps.values())
    phase_text = ", ".join(f"{code} {phases[code]}" for code in plan.phases if phases[code])
    teams = {a.team for a in plan.actors.values() if a.team}
    runs = []
    for name, schedule in plan.schedules.items():
        first, last = schedule.planned_window
        values = {"name": name, "steps": len(schedule.steps), "d_day": schedule.dry_run.d_day}
        if first and last:
            runs.append(
                _("{name} ({steps} steps, D-day {d_day}, planned {first} to {last})").format(
                    **values, first=f"{first:%Y-%m-%d %H:%M}", last=f"{last:%Y-%m-%d %H:%M}"
                )
            )
        else:
            runs.append(_("{name} ({steps} steps, D-day {d_day})").format(**values))
    text = _(
        "Plan '{plan}' ({workbook}) is valid: {steps} step-actions ({phases}), {actors} actors in {teams} teams, "
        "{environments} environments, {dry_runs} dry runs: {runs}. Times are in {timezone}."
    ).format(
        plan=plan.name,
        workbook=Path(plan.source.workbook).name,
        steps=len(plan.steps),
        phases=phase_text,
        actors=len(plan.actors),
        teams=len(teams),
        environments=len(plan.environments),
        dry_runs=len(plan.dry_runs),
        runs="; ".join(runs),
        timezone=plan.timezone,
    )
    if seconds is not None:
        text += " " + _("Checked in {seconds} s.").format(seconds=f"{seconds:.2f}")
    if plan.warnings:
        text += " " + ngettext(
            "{count} warning below.", "{count} warnings below.", len(plan.warnings)
        ).format(count=len(plan.warnings))
    return text


def dry_run_document(plan: Plan, dry_run: str) -> dict[str, Any]:
    """``dry_run``'s steps (planned times in ISO 8601) and edges, as ``transition graph --json``
    prints them."""
    schedule = plan.schedules[dry_run]
    return {
        "dry_run": dry_run,
        "dag_id": plan.dag_id(dry_run),
        "steps": [
            {
                "id": s.step_id,
                "label": plan.steps[s.step_id].label,
                "phase": plan.steps[s.step_id].phase,
                "owner": plan.steps[s.step_id].owner,
                "not_before": s.not_before.isoformat() if s.not_before else None,
                "planned_start": s.planned_start.isoformat() if s.planned_start else None,
                "planned_end": s.planned_end.isoformat() if s.planned_end else None,
            }
            for s in schedule.steps.values()
        ],
        "edges": [list(edge) for edge in schedule.edges()],
    }
