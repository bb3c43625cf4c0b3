"""The sample plan's dry runs, dated from the day ``make run`` starts.

``transition standalone`` runs a dated copy of the sample workbook in ``HOME/sample-plan/``, with
only the DryRuns sheet's D-day and End changed: the first dry run can be played at once (no step
Overdue, :data:`FIRST_MARGIN`), the others follow every :data:`SPACING`; its actions catalogue is
copied beside it (its actions run in that folder). Any other workbook, or one whose D-days are no
longer the marked ones, is run as it is.

How it works: docs/architecture.md, "local/sample_dates.py".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import yaml

from transition.plan.model import Plan

MARK = "transition-sample-plan"
FOLDER = "sample-plan"  # in make run's home
STATE_FILE = "dates.json"
FIRST_MARGIN = dt.timedelta(minutes=15)
SPACING = dt.timedelta(weeks=2)
DRY_RUNS_SHEET, NAME, D_DAY, END = "DryRuns", "Name", "D-day", "End"
SEARCH_DAYS = 120  # D-days tried from the first dry run's earliest possible one


@dataclass(frozen=True)
class DatedRun:
    d_day: dt.date
    end: dt.datetime | None  # wall-clock, in the plan's time zone (the sheet's End)


def marked_d_days(workbook: Path) -> dict[str, dt.date] | None:
    """The D-days the sample's Keywords record, or None: not the sample."""
    try:
        book = openpyxl.load_workbook(workbook, read_only=True)
    except Exception:
        return None  # the validator says what is wrong with it
    try:
        words = str(book.properties.keywords or "").split()
    finally:
        book.close()
    if not words or words[0] != MARK:
        return None
    days: dict[str, dt.date] = {}
    for word in words[1:]:
        name, _, day = word.partition("=")
        try:
            days[name] = dt.date.fromisoformat(day)
        except ValueError:
            return None
    return days


def first_d_day(plan: Plan, dry_run: str, now: dt.datetime) -> dt.date:
    """The earliest D-day for ``dry_run`` at which every step that waits for another is planned
    to start at least FIRST_MARGIN after ``now``."""
    schedule = plan.schedules[dry_run]
    zone = ZoneInfo(plan.timezone)
    offsets = [
        _after_midnight(step.planned_start, schedule.dry_run.d_day, zone)
        for step in schedule.steps.values()
        if step.upstream and step.planned_start is not None
    ]
    if not offsets:
        return now.astimezone(zone).date()
    earliest = min(offsets)
    after = now.astimezone(zone) + FIRST_MARGIN
    day = (after.replace(tzinfo=None) - earliest).date() - dt.timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        start = (dt.datetime.combine(day, dt.time()) + earliest).replace(tzinfo=zone)
        if start >= after:
            return day
        day += dt.timedelta(days=1)
    raise AssertionError("unreachable: a D-day SEARCH_DAYS later always fits")


def dated_runs(plan: Plan, now: dt.datetime) -> dict[str, DatedRun]:
    """Every dry run's new D-day and End: the first playable now, the others SPACING apart."""
    names = list(plan.schedules)
    first = first_d_day(plan, names[0], now)
    zone = ZoneInfo(plan.timezone)
    dated = {}
    for index, name in enumerate(names):
        run = plan.schedules[name].dry_run
        d_day = first + index * SPACING
        if not _planned(plan, name):  # played whenever it is triggered (DEMO): dated today
            d_day = now.astimezone(zone).date()
        end = None
        if run.end is not None:
            end = dt.datetime.combine(d_day, dt.time()) + _after_midnight(run.end, run.d_day, zone)
        dated[name] = DatedRun(d_day, end)
    return dated


def _planned(plan: Plan, dry_run: str) -> bool:
    """Whether any step of ``dry_run`` has a planned time."""
    return any(s.planned_start is not None for s in plan.schedules[dry_run].steps.values())


def _after_midnight(moment: dt.datetime, day: dt.date, zone: ZoneInfo) -> dt.timedelta:
    """How far ``moment`` is from ``day``'s midnight on the wall clock of ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None) - dt.datetime.combine(day, dt.time())


def write_dated_copy(workbook: Path, out: Path, dated: dict[str, DatedRun]) -> None:
    """``workbook`` as it is but for the DryRuns sheet's D-day and End, written to ``out``."""
    book = openpyxl.load_workbook(workbook)
    sheet = book[DRY_RUNS_SHEET]
    header = [cell.value for cell in sheet[1]]
    name_col, day_col = header.index(NAME), header.index(D_DAY)
    end_col = header.index(END) if END in header else None
    for row in sheet.iter_rows(min_row=2):
        run = dated.get(str(row[name_col].value or "").strip())
        if run is None:
            continue
        row[day_col].value = dt.datetime.combine(run.d_day, dt.time())
        if end_col is not None and run.end is not None:
            row[end_col].value = run.end
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".new")
    book.save(partial)
    partial.replace(out)


def plan_to_run(
    config_path: Path, workbook: Path, plan: Plan, home: Path, now: dt.datetime
) -> Path:
    """The configuration ``make run`` gives Airflow: a dated copy's when ``workbook`` is the sample
    with its own D-days, else ``config_path`` itself."""
    marked = marked_d_days(workbook)
    current = {name: s.dry_run.d_day for name, s in plan.schedules.items()}
    if marked is None or marked != current:
        return config_path
    folder = home / FOLDER
    state_path = folder / STATE_FILE
    settings = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    catalogue = config_path.parent / settings["actions"] if settings.get("actions") else None
    catalogue_bytes = catalogue.read_bytes() if catalogue and catalogue.is_file() else b""
    source = hashlib.sha256(
        workbook.read_bytes() + config_path.read_bytes() + catalogue_bytes
    ).hexdigest()
    state = _read_state(state_path)
    dated = _still_current(state, plan, now)
    if dated is None:
        dated = dated_runs(plan, now)
    elif state.get("source") == source and (folder / workbook.name).is_file():
        return folder / config_path.name  # nothing changed: the same copy (and compiled plan)
    folder.mkdir(parents=True, exist_ok=True)
    settings["workbook"] = workbook.name  # beside the copy
    if catalogue is not None and catalogue.is_file():  # its actions run in the copy's folder
        settings["actions"] = catalogue.name
        (folder / catalogue.name).write_bytes(catalogue_bytes)
    (folder / config_path.name).write_text(
        "# Written by make run from "
        + str(config_path)
        + " (transition.local.sample_dates)\n"
        + yaml.safe_dump(settings, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    write_dated_copy(workbook, folder / workbook.name, dated)
    state_path.write_text(
        json.dumps(
            {
                "source": source,
                "runs": {
                    name: {
                        "d_day": run.d_day.isoformat(),
                        "end": run.end.isoformat() if run.end else None,
                    }
                    for name, run in dated.items()
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return folder / config_path.name


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _still_current(state: dict, plan: Plan, now: dt.datetime) -> dict[str, DatedRun] | None:
    """The dates chosen before, while the first dry run's End has not passed; else None."""
    try:
        runs = {
            name: DatedRun(
                dt.date.fromisoformat(value["d_day"]),
                dt.datetime.fromisoformat(value["end"]) if value["end"] else None,
            )
            for name, value in state["runs"].items()
        }
    except (KeyError, TypeError, ValueError):
        return None
    names = list(plan.schedules)
    if set(runs) != set(names):
        return None
    first = runs[names[0]]
    zone = ZoneInfo(plan.timezone)
    end = first.end or dt.datetime.combine(first.d_day + dt.timedelta(days=1), dt.time())
    return runs if end.replace(tzinfo=zone) > now else None


def sample_dates_notice(plan: Plan, folder: Path) -> str:
    """What make run says of the dated copy: each dry run's D-day, the first one's first step, and
    how to try the tool at once (a dry run with no planned time: the sample's DEMO)."""
    zone = ZoneInfo(plan.timezone)
    names = list(plan.schedules)
    first_name = next((n for n in names if _planned(plan, n)), names[0])
    first = plan.schedules[first_name]
    starts = [s.planned_start for s in first.steps.values() if s.planned_start is not None]
    days = [f"{n} on {plan.schedules[n].dry_run.d_day:%a %Y-%m-%d}" for n in names]
    if starts:
        days[names.index(first_name)] += (
            f" (its first step asks from {min(starts).astimezone(zone):%a %Y-%m-%d %H:%M})"
        )
    text = (
        f"The sample plan's dry runs are dated from today ({plan.timezone}; a copy in {folder}): "
        + ", ".join(days)
        + f". Trigger {plan.dag_id(first_name)} to play {first_name} now."
    )
    for name in names:
        if _planned(plan, name):
            continue
        schedule = plan.schedules[name]
        first_steps = [s for s in schedule.steps.values() if not s.upstream]
        owners = sorted({plan.steps[s.step_id].owner for s in schedule.steps.values()})
        automated = sum(1 for s in schedule.steps if plan.steps[s].action is not None)
        by_themselves = f" ({automated} run by themselves)" if automated else ""
        text += (
            f" To try the tool in a few minutes, trigger {plan.dag_id(name)}: "
            f"{len(schedule.steps)} steps with no planned time{by_themselves}, "
            + ", ".join(f"{s.step_id} asking {plan.steps[s.step_id].owner}" for s in first_steps)
            + " at once, each next one when the one before is closed (log in as "
            + ", ".join(owners)
            + ")."
        )
    return text
