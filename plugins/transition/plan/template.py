"""``transition template OUT.xlsx``: a blank workbook in the contract, ready to fill in.

Its instructions sheet is in the current language (``transition template --lang fr``); the headers
are the contract's English names, which every language's plan may use (French aliases are accepted too).
"""

from __future__ import annotations

from pathlib import Path

from transition.i18n import _
from transition.plan.config import DEFAULT_PHASES
from transition.workbook.writer import write_plan_workbook


def phase_names() -> dict[str, str]:
    """The default phases' names in the current language."""
    names = {
        "PP": _("Preparation"),
        "AC": _("Controlled stop"),
        "CO": _("Cut over"),
        "DC": _("Controlled start"),
        "HO": _("Hand over"),
        "FB-RB": _("Fallback / roll back"),
    }
    return {code: names.get(code, name) for code, name in DEFAULT_PHASES.items()}


def instructions() -> list[str]:
    """The lines of the template's instructions sheet, in the current language."""
    return [
        _("Transition plan: how to fill in this workbook"),
        _(
            "Steps: one row per step-action. ID (letters, digits, - _ .; it becomes the Airflow task id), Label, "
            "Phase, Dry runs and Owner are required."
        ),
        _("Phases: {phases}. FB-RB steps only run if the go/no-go decides a fallback.").format(
            phases=", ".join(f"{code} = {name}" for code, name in phase_names().items())
        ),
        _("Dry runs: names from the DryRuns sheet separated by commas (DR1, DR2), or ALL."),
        _(
            "Prerequisites: step IDs separated by commas, semicolons, spaces or new lines. When a prerequisite "
            "is not part of a dry run, the step waits for that prerequisite's own prerequisites instead."
        ),
        _(
            "Start: not-before time relative to the dry run's D-day, local time: D-3 08:00, D+0 22:30, D+1 "
            "(midnight). J works like D. Empty: as soon as the prerequisites are done."
        ),
        _("Duration: 45m, 2h, 1h30, 1d, 01:30 or a number of minutes. Empty: the plan's default."),
        _("Owner: an ID from the Actors sheet. Environment: a code from the Environments sheet."),
        _(
            "Description: what the owner must do (Markdown). Any extra column is kept and shown to the owner."
        ),
        _(
            "Kind: step (or empty) for a step-action, gate for a go/no-go decision, answered Go or "
            "No-go in Airflow by its owner, the owner's team leader or department head, or a cutover "
            "manager. Approvals (gates only): how many different people must say Go (empty: 1); one "
            "No-go decides. The steps that name a gate in their Prerequisites are its branches: those "
            "in FB-RB run only on No-go, the others only on Go. Every FB-RB step must come "
            "after a gate; a step after both branches runs once either is done."
        ),
        _(
            "Kind auto: the step runs the action named in Action, e.g. export_ean(region=LIEGE, "
            "day=D-1), an action of the catalogue named in config.yaml (actions:); kind check: it "
            "also compares the value measured with Expect (= 0, >= 1200000, between 99.5% and "
            "100.5% of CO-110). Not run yet by this version: such a step asks its owner."
        ),
        _(
            "Actors: ID is the person's login; Team leader and Department head are actor IDs; Language is fr or en "
            "(empty: the plan's default language, used for the e-mails and requests the person receives)."
        ),
        _(
            "Actors: Time zone is the person's IANA time zone, e.g. America/New_York (empty: the "
            "plan's), their time is shown beside the plan's; Phone is their mobile number in "
            "international form, e.g. +32470123456, for the SMS of a channel with to: people."
        ),
        _(
            "DryRuns: Name (DR1, DR2, LIVE...), D-day (a date), End (the date and time the run must be finished by), "
            "Environment."
        ),
        _("Check the workbook with: transition validate path/to/config.yaml"),
    ]


def write_template(path: Path) -> Path:
    return write_plan_workbook(path, phases=list(DEFAULT_PHASES), instructions=instructions())
