"""``transition template OUT.xlsx``: a blank workbook in the contract, ready to fill in."""

from __future__ import annotations

from pathlib import Path

from transition.config import DEFAULT_PHASES
from transition.workbook_writer import write_plan_workbook

INSTRUCTIONS = [
    "Transition plan: how to fill in this workbook",
    "Steps: one row per step-action. ID (letters, digits, - _ .; it becomes the Airflow task id), Label, "
    "Phase, Dry runs and Owner are required.",
    "Phases: " + ", ".join(f"{code} = {name}" for code, name in DEFAULT_PHASES.items())
    + ". FB-RB steps only run if the go/no-go decides a fallback.",
    "Dry runs: names from the DryRuns sheet separated by commas (DR1, DR2), or ALL.",
    "Prerequisites: step IDs separated by commas, semicolons, spaces or new lines. When a prerequisite "
    "is not part of a dry run, the step waits for that prerequisite's own prerequisites instead.",
    "Start: not-before time relative to the dry run's D-day, local time: D-3 08:00, D+0 22:30, D+1 "
    "(midnight). J works like D. Empty: as soon as the prerequisites are done.",
    "Duration: 45m, 2h, 1h30, 1d, 01:30 or a number of minutes. Empty: the plan's default.",
    "Owner: an ID from the Actors sheet. Environment: a code from the Environments sheet.",
    "Description: what the owner must do (Markdown). Any extra column is kept and shown to the owner.",
    "Actors: ID is the person's login; Team leader and Department head are actor IDs; Language is fr or en.",
    "DryRuns: Name (DR1, DR2, LIVE...), D-day (a date), End (the date and time the run must be finished by), "
    "Environment.",
    "Check the workbook with: transition validate path/to/config.yaml",
]


def write_template(path: Path) -> Path:
    return write_plan_workbook(path, phases=list(DEFAULT_PHASES), instructions=INSTRUCTIONS)
