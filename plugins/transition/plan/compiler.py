"""Workbook + configuration -> validated :class:`Plan`, or every problem found.

This is the slow path (reads Excel); :mod:`transition.store.plan_store` caches its result so DAG parsing
never comes here when nothing changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass

from transition.errors import ConfigError, Problem, WorkbookError, errors_only
from transition.i18n import _, ngettext
from transition.plan.actions import catalogue_bytes, read_catalogue
from transition.plan.config import PlanConfig
from transition.plan.gate_rules import gate_problems
from transition.plan.graph import project
from transition.plan.model import Channel, DryRunPlan, Plan, PlanSource
from transition.plan.schedule import schedule_dry_run
from transition.plan.validation import PlanBuilder
from transition.workbook.limits import MAX_WORKBOOK_BYTES, open_workbook_file, too_big_message
from transition.workbook.reader import read_workbook, sheet_ref
from transition.workbook.sheets import sheet_specs

# Bump when the compiled form or the validation rules change: old cache entries are then ignored.
# 2: limits, control characters; 3: gates; 4: channels; 5: escalation; 6: more channel messages
# (a channel's ``all`` is written out in the compiled plan); 7: seconds in a Start, the actions
# catalogue checked; 8: kinds auto and check, their Action and Expect
COMPILER_VERSION = "9"


@dataclass
class CompileResult:
    plan: Plan | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.plan is not None


def content_key(config: PlanConfig) -> tuple[str, str]:
    """(key, workbook sha256): what the compiled plan depends on.

    The workbook must be a regular file under the size limit (:mod:`transition.workbook.limits`),
    checked on the open file before a byte is read: ``workbook: /dev/zero`` is refused, not read.
    """
    location = str(config.workbook_path)
    digest = hashlib.sha256()
    with open_workbook_file(config.workbook_path, location) as handle:
        read = 0
        while chunk := handle.read(1024 * 1024):
            read += len(chunk)
            if read > MAX_WORKBOOK_BYTES:  # it grew since it was checked
                raise WorkbookError([Problem(location, too_big_message(read))])
            digest.update(chunk)
    workbook_hash = digest.hexdigest()
    # repr and fsencode: a file name need not be valid UTF-8
    config_bytes = (
        config.source.read_bytes()
        if config.source
        else repr(config.model_dump()).encode("utf-8", "backslashreplace")
    )
    key = hashlib.sha256(
        b"\0".join(
            [
                COMPILER_VERSION.encode(),
                config_bytes,
                workbook_hash.encode(),
                os.fsencode(config.workbook_path),
                _catalogue_hash(config).encode(),
            ]
        )
    ).hexdigest()
    return key, workbook_hash


def _catalogue_hash(config: PlanConfig) -> str:
    """The actions catalogue's SHA-256 (``none``: no catalogue; ``unreadable``: compiling says
    why)."""
    if config.actions_path is None:
        return "none"
    try:
        return hashlib.sha256(catalogue_bytes(config.actions_path)).hexdigest()
    except ConfigError:
        return "unreadable"


def compile_plan(
    config: PlanConfig, key: str | None = None, workbook_sha256: str | None = None
) -> CompileResult:
    """Read, validate and schedule; raises WorkbookError only when the file cannot be opened."""
    if key is None or workbook_sha256 is None:
        key, workbook_sha256 = content_key(config)
    raw, problems = read_workbook(config.workbook_path, sheet_specs(config.sheets))
    builder = PlanBuilder(raw, config)
    if config.actions_path is not None:  # its problems are the plan's
        try:
            builder.catalogue = read_catalogue(config.actions_path)
        except ConfigError as error:
            problems.extend(error.problems)
    builder.build()
    problems.extend(builder.problems)
    problems.sort(key=_reading_order)
    if errors_only(problems):
        return CompileResult(None, problems)

    schedules: dict[str, DryRunPlan] = {}
    prerequisites = {s.id: s.prerequisites for s in builder.steps.values()}
    for name, dry_run in builder.dry_runs.items():
        included = [s.id for s in builder.steps.values() if name in s.dry_runs]
        upstream = project(prerequisites, included)
        schedules[name] = DryRunPlan(
            dry_run, schedule_dry_run(dry_run, builder.steps, upstream, config.zone)
        )

    steps_sheet = sheet_ref(raw.sheets["steps"].name)
    problems.extend(_schedule_warnings(builder, schedules, raw.sheets["steps"]))
    for name, schedule in schedules.items():
        if not schedule.steps:
            problems.append(
                Problem(
                    steps_sheet,
                    _("dry run '{name}' has no step-actions").format(name=name),
                    "warning",
                )
            )

    plan = Plan(
        name=config.name,
        timezone=config.timezone,
        language=config.language,
        phases={p.code: p.name for p in config.phases},
        lock_window=dt.timedelta(days=config.lock_window_days),
        cutover_managers=tuple(config.cutover_managers),
        channels=tuple(Channel(c.connection, c.kinds, c.to) for c in config.channels),
        escalation=config.ladder,
        steps=builder.steps,
        actors=builder.actors,
        dry_runs=builder.dry_runs,
        environments=builder.environments,
        schedules=schedules,
        source=PlanSource(
            workbook=str(config.workbook_path),
            workbook_sha256=workbook_sha256,
            config=str(config.source) if config.source else None,
            key=key,
            compiled_at=dt.datetime.now(dt.UTC),
        ),
        warnings=tuple(str(p) for p in problems if p.severity == "warning"),
        conditional_phases=tuple(p.code for p in config.phases if p.conditional),
        actions={
            name: builder.catalogue[name]
            for name in dict.fromkeys(s.action.name for s in builder.steps.values() if s.action)
        }
        if builder.catalogue
        else {},
    )
    # Gates need the projected graphs (and the plan's conditional phases): checked last.
    gate_errors = gate_problems(plan, raw.sheets["steps"])
    if gate_errors:
        problems.extend(gate_errors)
        problems.sort(key=_reading_order)
        return CompileResult(None, problems)
    return CompileResult(plan, problems)


_CELL = re.compile(r"^(?P<sheet>.+)!(?P<column>[A-Z]+)(?P<row>\d+)$")


def _reading_order(problem: Problem) -> tuple:
    """Whole-workbook and whole-sheet problems first, then sheet by sheet, row by row, column by column."""
    match = _CELL.match(problem.location)
    if match is None:
        return (0, problem.location, 0, 0)
    column = match.group("column")
    return (1, match.group("sheet"), int(match.group("row")), len(column), column)


def _schedule_warnings(
    builder: PlanBuilder, schedules: dict[str, DryRunPlan], sheet
) -> list[Problem]:
    """Steps planned to start before a prerequisite is planned to end; steps ending after the run's End."""
    early: dict[
        str, dict[str, list[str]]
    ] = {}  # step -> prerequisite -> dry runs where it ends late
    problems: list[Problem] = []
    for name, schedule in schedules.items():
        for scheduled in schedule.steps.values():
            if scheduled.not_before is None:
                continue
            for up in scheduled.upstream:
                up_end = schedule.steps[up].planned_end
                if up_end is not None and scheduled.not_before < up_end:
                    early.setdefault(scheduled.step_id, {}).setdefault(up, []).append(name)
        end = schedule.dry_run.end
        _first, last = schedule.planned_window
        if end is not None and last is not None and last > end:
            latest = max(
                (s for s in schedule.steps.values() if s.planned_end),
                key=lambda s: s.planned_end,  # type: ignore[arg-type, return-value]  # only steps with an end
            )
            problems.append(
                Problem(
                    builder.raw.sheets["dry_runs"].cell("end", builder.dry_run_rows[name]),
                    _(
                        "dry run '{name}' must end by {end} but step '{step}' is planned to end at {planned_end}"
                    ).format(
                        name=name,
                        end=f"{end:%Y-%m-%d %H:%M}",
                        step=latest.step_id,
                        planned_end=f"{latest.planned_end:%Y-%m-%d %H:%M}",
                    ),
                    "warning",
                )
            )
    for step_id in sorted(early, key=lambda s: builder.steps[s].row):
        late = early[step_id]
        step = builder.steps[step_id]
        every_run = len(schedules)
        names = ", ".join(
            f"'{p}'"
            + (
                ""
                if len(runs) == every_run
                else " (" + _("in {dry_runs}").format(dry_runs=", ".join(runs)) + ")"
            )
            for p, runs in late.items()
        )
        problems.append(
            Problem(
                sheet.cell("start", step.row),
                ngettext(
                    "step '{step}' is planned to start at {start}, before the step it waits for is planned to end: "
                    "{steps}; it will start late",
                    "step '{step}' is planned to start at {start}, before these steps it waits for are planned to end: "
                    "{steps}; it will start late",
                    len(late),
                ).format(step=step_id, start=step.start.text() if step.start else "", steps=names),
                "warning",
            )
        )
    return problems
