"""Raw workbook rows -> validated plan entities, every problem collected with its cell.

Each ``_read_*`` function reads one sheet and appends to a shared problem list; cross-sheet checks
(owners, prerequisites, cycles, DST) come after, so one pass reports everything.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable

from transition.cell_values import (
    RelativeStart,
    as_text,
    is_blank,
    is_valid_email,
    normalise_key,
    parse_date,
    parse_duration,
    parse_local_datetime,
    parse_start,
    split_ids,
)
from transition.config import PlanConfig
from transition.errors import Problem
from transition.graph import find_cycles
from transition.model import Actor, DryRun, Environment, Step, dag_id_for
from transition.schedule import NonExistentLocalTime, localize
from transition.workbook_reader import RawSheet, RawWorkbook

WATCH_TASK_ID = "_watch"  # transition.watch_operator.WATCH_TASK_ID (kept here to stay free of Airflow)
STEP_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
ACTOR_ID = re.compile(r"^[A-Za-z0-9_.@-]+$")
MAX_ID_LENGTH = 200  # Airflow task ids may have 250 characters; keep room for prefixes
LANGUAGES = ("en", "fr")
ALL = "ALL"
MAX_LABEL_LENGTH = 300
SUGGESTION_LIMIT = 300  # suggestions cost a scan of the names each; stop offering them after this many


class _Suggester:
    def __init__(self) -> None:
        self.used = 0

    def hint(self, word: str, candidates: Iterable[str]) -> str:
        if self.used >= SUGGESTION_LIMIT:
            return ""
        self.used += 1
        pool = list(candidates)
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if not close:
            lowered = {c.casefold(): c for c in pool}
            close = [lowered[word.casefold()]] if word.casefold() in lowered else []
        return f" (did you mean '{close[0]}'?)" if close else ""


def _listing(names: Iterable[str], limit: int = 12) -> str:
    items = list(names)
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "") if items else "none"


class PlanBuilder:
    """Builds the entities of a plan from a read workbook; ``problems`` holds what went wrong."""

    def __init__(self, raw: RawWorkbook, config: PlanConfig) -> None:
        self.raw = raw
        self.config = config
        self.zone = config.zone
        self.problems: list[Problem] = []
        self.suggest = _Suggester()
        self.environments: dict[str, Environment] = {}
        self.actors: dict[str, Actor] = {}
        self.dry_runs: dict[str, DryRun] = {}
        self.dry_run_rows: dict[str, int] = {}
        self.steps: dict[str, Step] = {}
        self._step_rows: dict[str, int] = {}
        self._prerequisites: dict[str, tuple[str, ...]] = {}  # every row with a usable ID, valid or not

    # -- helpers ---------------------------------------------------------------------------
    def error(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    def warn(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message, "warning"))

    # -- the whole pass ----------------------------------------------------------------------
    def build(self) -> None:
        sheets = self.raw.sheets
        if "environments" in sheets:
            self._read_environments(sheets["environments"])
        if "actors" in sheets:
            self._read_actors(sheets["actors"])
        if "dry_runs" in sheets:
            self._read_dry_runs(sheets["dry_runs"])
        self._check_cutover_managers()
        if "steps" in sheets:
            self._read_steps(sheets["steps"])
            self._check_prerequisites(sheets["steps"])

    # -- Environments --------------------------------------------------------------------------
    def _read_environments(self, sheet: RawSheet) -> None:
        first_row: dict[str, int] = {}
        for row in sheet.rows:
            code = as_text(row.values.get("code"))
            where = sheet.cell("code", row.number)
            if not code:
                self.error(where, "missing environment code")
                continue
            if code in first_row:
                self.error(where, f"duplicate environment code '{code}' (first used in row {first_row[code]})")
                continue
            first_row[code] = row.number
            self.environments[code] = Environment(
                code, as_text(row.values.get("name")), as_text(row.values.get("description"))
            )

    # -- Actors -------------------------------------------------------------------------------
    def _read_actors(self, sheet: RawSheet) -> None:
        first_row: dict[str, int] = {}
        pending: list[tuple[int, dict[str, str]]] = []
        for row in sheet.rows:
            actor_id = as_text(row.values.get("id"))
            where = sheet.cell("id", row.number)
            if not actor_id:
                self.error(where, "missing actor ID (the person's login)")
                continue
            if not ACTOR_ID.match(actor_id):
                self.error(where, f"actor ID '{actor_id}' may only hold letters, digits, '.', '_', '-' and '@'")
                continue
            if actor_id in first_row:
                self.error(where, f"duplicate actor ID '{actor_id}' (first used in row {first_row[actor_id]})")
                continue
            first_row[actor_id] = row.number
            fields = {k: as_text(row.values.get(k)) for k in
                      ("name", "email", "team", "team_leader", "department_head", "language")}
            if not fields["name"]:
                self.error(sheet.cell("name", row.number), f"missing name for actor '{actor_id}'")
            if not fields["email"]:
                self.error(sheet.cell("email", row.number), f"missing e-mail address for actor '{actor_id}'")
            elif not is_valid_email(fields["email"]):
                self.error(sheet.cell("email", row.number), f"'{fields['email']}' is not a valid e-mail address")
            language = fields["language"].lower() or self.config.language
            if language not in LANGUAGES:
                self.error(
                    sheet.cell("language", row.number),
                    f"unknown language '{fields['language']}' (use {' or '.join(LANGUAGES)})",
                )
                language = self.config.language
            fields["language"] = language
            pending.append((row.number, fields))
            self.actors[actor_id] = Actor(
                actor_id, fields["name"], fields["email"], fields["team"],
                fields["team_leader"] or None, fields["department_head"] or None, language,
            )
        for number, fields in pending:
            for key, title in (("team_leader", "team leader"), ("department_head", "department head")):
                value = fields[key]
                if value and value not in self.actors:
                    hint = self.suggest.hint(value, self.actors)
                    self.error(sheet.cell(key, number), f"unknown {title} '{value}'{hint}; name an actor ID")

    # -- DryRuns ------------------------------------------------------------------------------
    def _read_dry_runs(self, sheet: RawSheet) -> None:
        by_key: dict[str, tuple[str, int]] = {}
        by_dag_id: dict[str, tuple[str, int]] = {}
        for row in sheet.rows:
            name = as_text(row.values.get("name"))
            where = sheet.cell("name", row.number)
            if not name:
                self.error(where, "missing dry-run name")
                continue
            if name.upper() == ALL:
                self.error(where, "'ALL' cannot name a dry run: in the Steps sheet it means every dry run")
                continue
            if name.casefold() in by_key:
                self.error(where, f"duplicate dry run '{name}' (first used in row {by_key[name.casefold()][1]})")
                continue
            dag_id = dag_id_for(self.config.name, name)
            if dag_id in by_dag_id:
                other, other_row = by_dag_id[dag_id]
                self.error(where, f"dry run '{name}' gives the same DAG id '{dag_id}' as '{other}' (row {other_row}); rename one")
                continue
            by_key[name.casefold()] = (name, row.number)
            by_dag_id[dag_id] = (name, row.number)
            d_day = self._parse(sheet, "d_day", row.number, row.values.get("d_day"), parse_date, "D-day", required=True)
            end = self._dry_run_end(sheet, row.number, row.values.get("end"), name, d_day)
            environment = as_text(row.values.get("environment")) or None
            if environment:
                self._check_environment(sheet.cell("environment", row.number), environment)
            if d_day is not None:
                self.dry_runs[name] = DryRun(name, d_day, end, environment)
                self.dry_run_rows[name] = row.number

    def _dry_run_end(self, sheet: RawSheet, number: int, value: object, name: str, d_day: dt.date | None) -> dt.datetime | None:
        if is_blank(value):  # type: ignore[arg-type]
            return None
        where = sheet.cell("end", number)
        local = self._parse(sheet, "end", number, value, parse_local_datetime, "end")
        if local is None:
            return None
        try:
            aware, _ = localize(local, self.zone)
        except NonExistentLocalTime as exc:
            self.error(where, f"end of dry run '{name}': {exc}; choose another time")
            return None
        if d_day is not None and local.date() < d_day:
            self.warn(where, f"dry run '{name}' ends ({local:%Y-%m-%d %H:%M}) before its D-day ({d_day})")
        return aware

    def _parse(self, sheet: RawSheet, field: str, number: int, value, parser, title: str, required: bool = False):
        if is_blank(value):
            if required:
                self.error(sheet.cell(field, number), f"missing {title}")
            return None
        try:
            return parser(value)
        except ValueError as exc:
            self.error(sheet.cell(field, number), str(exc))
            return None

    def _check_environment(self, where: str, code: str) -> bool:
        if code in self.environments:
            return True
        if not self.environments and "environments" not in self.raw.sheets:
            self.error(where, f"unknown environment '{code}' (the workbook has no Environments sheet)")
        else:
            hint = self.suggest.hint(code, self.environments) or f" (environments: {_listing(self.environments)})"
            self.error(where, f"unknown environment '{code}'{hint}")
        return False

    def _check_cutover_managers(self) -> None:
        where = f"{self.config.source.name if self.config.source else 'configuration'}: cutover_managers"
        for manager in self.config.cutover_managers:
            if self.actors and manager not in self.actors:
                self.error(where, f"unknown actor '{manager}'{self.suggest.hint(manager, self.actors)}")

    # -- Steps --------------------------------------------------------------------------------
    def _read_steps(self, sheet: RawSheet) -> None:
        phases = {normalise_key(code): code for code in self.config.phase_codes}
        dry_run_keys = {name.casefold(): name for name in self.dry_runs}
        default_duration = self.config.default_duration_delta
        if not sheet.rows:
            self.error(sheet.ref, f"no step-actions below the header row ({sheet.header_row})")
        for row in sheet.rows:
            v = row.values
            step_id = as_text(v.get("id"))
            where_id = sheet.cell("id", row.number)
            if not step_id:
                self.error(where_id, "missing step ID")
                continue
            if not STEP_ID.match(step_id):
                self.error(where_id, f"step ID '{step_id}' may only hold letters, digits, '-', '_' and '.'")
                continue
            if step_id == WATCH_TASK_ID:
                self.error(where_id, f"step ID '{step_id}' is reserved (it names the run's watch task); choose another")
                continue
            if len(step_id) > MAX_ID_LENGTH:
                self.error(where_id, f"step ID is {len(step_id)} characters long; use at most {MAX_ID_LENGTH}")
                continue
            if step_id in self._step_rows:
                self.error(where_id, f"duplicate step ID '{step_id}' (first used in row {self._step_rows[step_id]})")
                continue
            self._step_rows[step_id] = row.number
            prerequisites = tuple(dict.fromkeys(split_ids(v.get("prerequisites"))))
            self._prerequisites[step_id] = prerequisites
            ok = True

            label = as_text(v.get("label"))
            if not label:
                self.error(sheet.cell("label", row.number), f"missing label for step '{step_id}'")
                ok = False
            elif len(label) > MAX_LABEL_LENGTH:
                self.error(sheet.cell("label", row.number),
                           f"label of step '{step_id}' is {len(label):,} characters long; a label is a short title "
                           f"(at most {MAX_LABEL_LENGTH}): put the rest in Description")
                ok = False

            phase_text = as_text(v.get("phase"))
            phase = phases.get(normalise_key(phase_text)) if phase_text else None
            if not phase_text:
                self.error(sheet.cell("phase", row.number), f"missing phase (phases: {_listing(self.config.phase_codes)})")
                ok = False
            elif phase is None:
                hint = self.suggest.hint(phase_text, self.config.phase_codes)
                self.error(
                    sheet.cell("phase", row.number),
                    f"unknown phase '{phase_text}'{hint} (phases: {_listing(self.config.phase_codes)})",
                )
                ok = False

            dry_runs = self._step_dry_runs(sheet, row.number, v.get("dry_runs"), dry_run_keys)
            ok = ok and dry_runs is not None

            owner = as_text(v.get("owner"))
            if not owner:
                self.error(sheet.cell("owner", row.number), "missing owner (an actor ID from the Actors sheet)")
                ok = False
            elif owner not in self.actors:
                hint = self.suggest.hint(owner, self.actors)
                self.error(sheet.cell("owner", row.number), f"unknown owner '{owner}'{hint}")
                ok = False

            environment = as_text(v.get("environment")) or None
            if environment and not self._check_environment(sheet.cell("environment", row.number), environment):
                ok = False

            start = self._parse(sheet, "start", row.number, v.get("start"), parse_start, "start")
            if not is_blank(v.get("start")) and start is None:
                ok = False
            duration = default_duration
            if not is_blank(v.get("duration")):
                parsed = self._parse(sheet, "duration", row.number, v.get("duration"), parse_duration, "duration")
                ok = ok and parsed is not None
                duration = parsed if parsed is not None else duration

            if start is not None:  # also on rows with other problems: every problem in one pass
                self._check_start_exists(sheet, row.number, step_id, start, dry_runs or ())
            if ok:
                self.steps[step_id] = Step(
                    id=step_id,
                    label=label,
                    phase=phase or "",
                    dry_runs=tuple(dry_runs or ()),
                    prerequisites=prerequisites,
                    owner=owner,
                    start=start,
                    duration=duration,
                    environment=environment,
                    description=as_text(v.get("description")),
                    extra={k: as_text(x) for k, x in row.extras.items()},
                    row=row.number,
                )

    def _step_dry_runs(self, sheet: RawSheet, number: int, value, dry_run_keys: dict[str, str]) -> list[str] | None:
        where = sheet.cell("dry_runs", number)
        names = [n for n in re.split(r"[,;\s]+", as_text(value)) if n]
        if not names:
            self.error(where, f"no dry run given (name dry runs from the DryRuns sheet, or {ALL})")
            return None
        if any(n.upper() == ALL for n in names):
            return list(self.dry_runs)
        resolved: list[str] = []
        for name in names:
            actual = dry_run_keys.get(name.casefold())
            if actual is None:
                if "dry_runs" in self.raw.sheets:  # a missing DryRuns sheet is reported once, as such
                    hint = self.suggest.hint(name, self.dry_runs) or f" (dry runs: {_listing(self.dry_runs)}, or {ALL})"
                    self.error(where, f"unknown dry run '{name}'{hint}")
                return None
            resolved.append(actual)
        return list(dict.fromkeys(resolved))

    def _check_start_exists(self, sheet: RawSheet, number: int, step_id: str, start: RelativeStart, dry_runs: Iterable[str]) -> None:
        for name in dry_runs:
            local = start.local_datetime(self.dry_runs[name].d_day)
            try:
                _, ambiguous = localize(local, self.zone)
            except NonExistentLocalTime:
                self.error(
                    sheet.cell("start", number),
                    f"start '{start}' is {local:%Y-%m-%d %H:%M} in dry run {name}, a time that does not exist "
                    f"in {self.zone.key} (clocks go forward); choose another time",
                )
                continue
            if ambiguous:
                self.warn(
                    sheet.cell("start", number),
                    f"start '{start}' is {local:%Y-%m-%d %H:%M} in dry run {name}, which happens twice in "
                    f"{self.zone.key} (clocks go back); the first one is used",
                )

    def _check_prerequisites(self, sheet: RawSheet) -> None:
        rows = self._step_rows
        for step_id, prerequisites in self._prerequisites.items():
            where = sheet.cell("prerequisites", rows[step_id])
            for prereq in prerequisites:
                if prereq == step_id:
                    self.error(where, f"step '{step_id}' cannot be its own prerequisite")
                elif prereq not in rows:
                    hint = self.suggest.hint(prereq, (r for r in rows if r != step_id))
                    self.error(where, f"unknown prerequisite '{prereq}'{hint}")
        graph = {
            step_id: [p for p in prerequisites if p in rows and p != step_id]
            for step_id, prerequisites in self._prerequisites.items()
        }
        for cycle in find_cycles(graph):
            cycle_rows = ", ".join(str(rows[s]) for s in cycle[:-1])
            self.error(
                sheet.cell("prerequisites", rows[cycle[0]]),
                f"prerequisite cycle: {' → '.join(cycle)} (rows {cycle_rows}); "
                "each step waits for the one before it, so none can ever start",
            )
