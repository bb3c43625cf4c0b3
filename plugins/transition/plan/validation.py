"""Raw workbook rows -> validated plan entities, every problem collected with its cell.

Each ``_read_*`` function reads one sheet and appends to a shared problem list; cross-sheet checks
(owners, prerequisites, cycles, DST) come after, so one pass reports everything. Messages are in the
current language (:mod:`transition.i18n`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable

from transition.errors import Problem
from transition.i18n import _, format_count, languages, ngettext, pgettext
from transition.plan.config import PlanConfig
from transition.plan.graph import find_cycles
from transition.plan.model import Actor, DryRun, Environment, Step, dag_id_for
from transition.plan.schedule import NonExistentLocalTime, localize
from transition.vocabulary import WATCH_TASK_ID
from transition.workbook.cells import (
    RelativeStart,
    as_text,
    describe_character,
    first_control_character,
    is_blank,
    is_valid_email,
    normalise_key,
    parse_date,
    parse_duration,
    parse_local_datetime,
    parse_start,
    split_ids,
    visible,
)
from transition.workbook.reader import RawRow, RawSheet, RawWorkbook

STEP_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
ACTOR_ID = re.compile(r"^[A-Za-z0-9_.@-]+$")
MAX_ID_LENGTH = 200  # Airflow task ids may have 250 characters; keep room for prefixes
LANGUAGES = languages()  # those with a catalogue (transition.i18n)
ALL = "ALL"
MAX_LABEL_LENGTH = 300
SUGGESTION_LIMIT = (
    300  # suggestions cost a scan of the names each; stop offering them after this many
)
# The Kind column's values (compared without case, accents or spaces) and the kind each means.
KINDS = {"step": "step", "gate": "gate", "etape": "step", "porte": "gate"}
WHOLE_NUMBER = re.compile(r"^\+?\d+(?:\.0*)?$")  # 2, 2.0, +2


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
        return " " + _("(did you mean '{name}'?)").format(name=close[0]) if close else ""


def _listing(names: Iterable[str], limit: int = 12) -> str:
    items = list(names)
    shown = ", ".join(items[:limit])
    if not items:
        return _("none")
    return shown + (
        ", … (" + _("{count} in all").format(count=len(items)) + ")" if len(items) > limit else ""
    )


def _either(choices: Iterable[str]) -> str:
    """``en or fr``; ``de, en or fr``."""
    items = list(choices)
    if len(items) < 2:
        return "".join(items)
    return _("{some} or {last}").format(some=", ".join(items[:-1]), last=items[-1])


# The Actors sheet's names and IDs besides the actor's own ID (checked for control characters).
_ACTOR_NAMES = {
    "name": lambda: pgettext("what a cell holds", "name"),
    "email": lambda: pgettext("what a cell holds", "e-mail address"),
    "team": lambda: pgettext("what a cell holds", "team"),
    "team_leader": lambda: pgettext("what a cell holds", "team leader"),
    "department_head": lambda: pgettext("what a cell holds", "department head"),
    "language": lambda: pgettext("what a cell holds", "language"),
}


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
        self._prerequisites: dict[
            str, tuple[str, ...]
        ] = {}  # every row with a usable ID, valid or not

    # -- helpers ---------------------------------------------------------------------------
    def error(self, location: str, message: str) -> None:
        self.problems.append(
            Problem(location, visible(message))
        )  # a cell's line break stays out of the report

    def warn(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, visible(message), "warning"))

    def plain(self, location: str, what: str, text: str) -> bool:
        """True when an ID or name is one line of plain text; else False and a problem.

        Line breaks, tabs, U+2028/U+2029/U+0085 and other control or format characters (Unicode Cc, Cf,
        Zl, Zp) are refused in IDs and names: they end up in task ids, e-mail headers and calendars.
        Free text (descriptions) keeps them."""
        character = first_control_character(text)
        if character is None:
            return True
        self.error(
            location,
            _(
                "{what} '{value}' holds a line break, tab or other invisible character ({character}); "
                "IDs and names must be one line of plain text: retype the cell"
            ).format(what=what, value=text, character=describe_character(character)),
        )
        return False

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
                self.error(where, _("missing environment code"))
                continue
            if not self.plain(where, pgettext("what a cell holds", "environment code"), code):
                continue
            self.plain(
                sheet.cell("name", row.number),
                pgettext("what a cell holds", "environment name"),
                as_text(row.values.get("name")),
            )
            if code in first_row:
                self.error(
                    where,
                    _("duplicate environment code '{code}' (first used in row {row})").format(
                        code=code, row=first_row[code]
                    ),
                )
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
                self.error(where, _("missing actor ID (the person's login)"))
                continue
            if not self.plain(where, pgettext("what a cell holds", "actor ID"), actor_id):
                continue
            if not ACTOR_ID.match(actor_id):
                self.error(
                    where,
                    _(
                        "actor ID '{actor}' may only hold letters, digits, '.', '_', '-' and '@'"
                    ).format(actor=actor_id),
                )
                continue
            if actor_id in first_row:
                self.error(
                    where,
                    _("duplicate actor ID '{actor}' (first used in row {row})").format(
                        actor=actor_id, row=first_row[actor_id]
                    ),
                )
                continue
            first_row[actor_id] = row.number
            fields = {
                k: as_text(row.values.get(k))
                for k in ("name", "email", "team", "team_leader", "department_head", "language")
            }
            for (
                key,
                what,
            ) in (
                _ACTOR_NAMES.items()
            ):  # reported; the actor is kept so its steps are not reported too
                self.plain(sheet.cell(key, row.number), what(), fields[key])
            if not fields["name"]:
                self.error(
                    sheet.cell("name", row.number),
                    _("missing name for actor '{actor}'").format(actor=actor_id),
                )
            if not fields["email"]:
                self.error(
                    sheet.cell("email", row.number),
                    _("missing e-mail address for actor '{actor}'").format(actor=actor_id),
                )
            elif not is_valid_email(fields["email"]):
                self.error(
                    sheet.cell("email", row.number),
                    _("'{email}' is not a valid e-mail address").format(email=fields["email"]),
                )
            language = fields["language"].lower() or self.config.language
            if language not in LANGUAGES:
                self.error(
                    sheet.cell("language", row.number),
                    _("unknown language '{language}' (use {languages})").format(
                        language=fields["language"], languages=_either(LANGUAGES)
                    ),
                )
                language = self.config.language
            fields["language"] = language
            pending.append((row.number, fields))
            self.actors[actor_id] = Actor(
                actor_id,
                fields["name"],
                fields["email"],
                fields["team"],
                fields["team_leader"] or None,
                fields["department_head"] or None,
                language,
            )
        unknown = {
            "team_leader": lambda: _("unknown team leader '{actor}'{hint}; name an actor ID"),
            "department_head": lambda: _(
                "unknown department head '{actor}'{hint}; name an actor ID"
            ),
        }
        for number, fields in pending:
            for key, message in unknown.items():
                value = fields[key]
                if value and value not in self.actors:
                    hint = self.suggest.hint(value, self.actors)
                    self.error(sheet.cell(key, number), message().format(actor=value, hint=hint))

    # -- DryRuns ------------------------------------------------------------------------------
    def _read_dry_runs(self, sheet: RawSheet) -> None:
        by_key: dict[str, tuple[str, int]] = {}
        by_dag_id: dict[str, tuple[str, int]] = {}
        for row in sheet.rows:
            name = as_text(row.values.get("name"))
            where = sheet.cell("name", row.number)
            if not name:
                self.error(where, _("missing dry-run name"))
                continue
            if not self.plain(where, pgettext("what a cell holds", "dry-run name"), name):
                continue
            if name.upper() == ALL:
                self.error(
                    where,
                    _(
                        "'{all}' cannot name a dry run: in the Steps sheet it means every dry run"
                    ).format(all=ALL),
                )
                continue
            if name.casefold() in by_key:
                self.error(
                    where,
                    _("duplicate dry run '{name}' (first used in row {row})").format(
                        name=name, row=by_key[name.casefold()][1]
                    ),
                )
                continue
            dag_id = dag_id_for(self.config.name, name)
            if dag_id in by_dag_id:
                other, other_row = by_dag_id[dag_id]
                self.error(
                    where,
                    _(
                        "dry run '{name}' gives the same DAG id '{dag}' as '{other}' (row {row}); rename one"
                    ).format(name=name, dag=dag_id, other=other, row=other_row),
                )
                continue
            by_key[name.casefold()] = (name, row.number)
            by_dag_id[dag_id] = (name, row.number)
            d_day = self._parse(
                sheet,
                "d_day",
                row.number,
                row.values.get("d_day"),
                parse_date,
                required=_("missing D-day"),
            )
            end = self._dry_run_end(sheet, row.number, row.values.get("end"), name, d_day)
            environment = as_text(row.values.get("environment")) or None
            if environment and self.plain(
                sheet.cell("environment", row.number),
                pgettext("what a cell holds", "environment code"),
                environment,
            ):
                self._check_environment(sheet.cell("environment", row.number), environment)
            if d_day is not None:
                self.dry_runs[name] = DryRun(name, d_day, end, environment)
                self.dry_run_rows[name] = row.number

    def _dry_run_end(
        self, sheet: RawSheet, number: int, value: object, name: str, d_day: dt.date | None
    ) -> dt.datetime | None:
        if is_blank(value):  # type: ignore[arg-type]  # any cell value
            return None
        where = sheet.cell("end", number)
        local = self._parse(sheet, "end", number, value, parse_local_datetime)
        if local is None:
            return None
        try:
            aware, _ambiguous = localize(local, self.zone)
        except NonExistentLocalTime as exc:
            self.error(
                where,
                _("end of dry run '{name}': {reason}; choose another time").format(
                    name=name, reason=exc
                ),
            )
            return None
        if d_day is not None and local.date() < d_day:
            self.warn(
                where,
                _("dry run '{name}' ends ({end}) before its D-day ({d_day})").format(
                    name=name, end=f"{local:%Y-%m-%d %H:%M}", d_day=d_day
                ),
            )
        return aware

    def _parse(
        self, sheet: RawSheet, field: str, number: int, value, parser, required: str | None = None
    ):
        """``parser(value)``, or None and a problem; an empty cell is one only if ``required`` (its message)."""
        if is_blank(value):
            if required:
                self.error(sheet.cell(field, number), required)
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
            self.error(
                where,
                _("unknown environment '{code}' (the workbook has no Environments sheet)").format(
                    code=code
                ),
            )
        else:
            hint = (
                self.suggest.hint(code, self.environments)
                or " (" + _("environments: {names}").format(names=_listing(self.environments)) + ")"
            )
            self.error(where, _("unknown environment '{code}'{hint}").format(code=code, hint=hint))
        return False

    def _check_cutover_managers(self) -> None:
        source = self.config.source.name if self.config.source else _("configuration")
        where = f"{source}: cutover_managers"
        for manager in self.config.cutover_managers:
            if self.actors and manager not in self.actors:
                self.error(
                    where,
                    _("unknown actor '{actor}'{hint}").format(
                        actor=manager, hint=self.suggest.hint(manager, self.actors)
                    ),
                )

    # -- Steps --------------------------------------------------------------------------------
    def _read_steps(self, sheet: RawSheet) -> None:
        """Every row of the Steps sheet: a :class:`Step`, or its problems (all of them, in one pass)."""
        phases = {normalise_key(code): code for code in self.config.phase_codes}
        dry_run_keys = {name.casefold(): name for name in self.dry_runs}
        if not sheet.rows:
            self.error(
                sheet.ref,
                _("no step-actions below the header row ({row})").format(row=sheet.header_row),
            )
        for row in sheet.rows:
            step_id = self._step_id(sheet, row)
            if step_id is None:
                continue
            v = row.values
            self._step_rows[step_id] = row.number
            prerequisites = tuple(dict.fromkeys(split_ids(v.get("prerequisites"))))
            self._prerequisites[step_id] = prerequisites
            label = self._step_label(sheet, row.number, step_id, as_text(v.get("label")))
            phase = self._step_phase(sheet, row.number, as_text(v.get("phase")), phases)
            dry_runs = self._step_dry_runs(sheet, row.number, v.get("dry_runs"), dry_run_keys)
            owner = self._step_owner(sheet, row.number, as_text(v.get("owner")))
            environment = as_text(v.get("environment")) or None
            environment_ok = environment is None or self._step_environment(
                sheet, row.number, environment
            )
            start = self._parse(sheet, "start", row.number, v.get("start"), parse_start)
            start_ok = is_blank(v.get("start")) or start is not None
            duration: dt.timedelta | None = self.config.default_duration_delta
            if not is_blank(v.get("duration")):
                duration = self._parse(
                    sheet, "duration", row.number, v.get("duration"), parse_duration
                )
            if start is not None:  # also on rows with other problems: every problem in one pass
                self._check_start_exists(sheet, row.number, step_id, start, dry_runs or ())
            kind = self._step_kind(sheet, row.number, v.get("kind"))
            approvals = self._step_approvals(sheet, row.number, step_id, kind, owner, v)
            if (
                label is None
                or phase is None
                or dry_runs is None
                or owner is None
                or not environment_ok
                or not start_ok
                or duration is None
                or kind is None
                or approvals is None
            ):
                continue
            self.steps[step_id] = Step(
                id=step_id,
                label=label,
                phase=phase,
                dry_runs=tuple(dry_runs),
                prerequisites=prerequisites,
                owner=owner,
                start=start,
                duration=duration,
                environment=environment,
                description=as_text(v.get("description")),
                extra={k: as_text(x) for k, x in row.extras.items()},
                row=row.number,
                kind=kind,
                approvals=approvals,
            )

    def _step_id(self, sheet: RawSheet, row: RawRow) -> str | None:
        """The row's step ID, or None with the reason recorded (missing, not plain, a character a
        task id cannot hold, reserved, too long, a duplicate)."""
        step_id = as_text(row.values.get("id"))
        where = sheet.cell("id", row.number)
        if not step_id:
            self.error(where, _("missing step ID"))
            return None
        if not self.plain(where, pgettext("what a cell holds", "step ID"), step_id):
            return None
        if not STEP_ID.match(step_id):
            problem = _("step ID '{step}' may only hold letters, digits, '-', '_' and '.'")
        elif step_id == WATCH_TASK_ID:
            problem = _(
                "step ID '{step}' is reserved (it names the run's watch task); choose another"
            )
        elif len(step_id) > MAX_ID_LENGTH:
            problem = _("step ID is {length} characters long; use at most {most}")
        elif step_id in self._step_rows:
            problem = _("duplicate step ID '{step}' (first used in row {row})")
        else:
            return step_id
        self.error(
            where,
            problem.format(
                step=step_id,
                length=format_count(len(step_id)),
                most=MAX_ID_LENGTH,
                row=self._step_rows.get(step_id),
            ),
        )
        return None

    def _step_label(self, sheet: RawSheet, number: int, step_id: str, label: str) -> str | None:
        where = sheet.cell("label", number)
        if label and not self.plain(where, pgettext("what a cell holds", "label"), label):
            return None
        if not label:
            self.error(where, _("missing label for step '{step}'").format(step=step_id))
            return None
        if len(label) > MAX_LABEL_LENGTH:
            self.error(
                where,
                _(
                    "label of step '{step}' is {length} characters long; a label is a short title "
                    "(at most {most}): put the rest in Description"
                ).format(step=step_id, length=format_count(len(label)), most=MAX_LABEL_LENGTH),
            )
            return None
        return label

    def _step_phase(
        self, sheet: RawSheet, number: int, text: str, phases: dict[str, str]
    ) -> str | None:
        where = sheet.cell("phase", number)
        if not text:
            self.error(
                where,
                _("missing phase (phases: {phases})").format(
                    phases=_listing(self.config.phase_codes)
                ),
            )
            return None
        phase = phases.get(normalise_key(text))
        if phase is None:
            hint = self.suggest.hint(text, self.config.phase_codes)
            self.error(
                where,
                _("unknown phase '{phase}'{hint} (phases: {phases})").format(
                    phase=text, hint=hint, phases=_listing(self.config.phase_codes)
                ),
            )
        return phase

    def _step_owner(self, sheet: RawSheet, number: int, owner: str) -> str | None:
        where = sheet.cell("owner", number)
        if owner and not self.plain(where, pgettext("what a cell holds", "owner"), owner):
            return None
        if not owner:
            self.error(where, _("missing owner (an actor ID from the Actors sheet)"))
            return None
        if owner not in self.actors:
            hint = self.suggest.hint(owner, self.actors)
            self.error(where, _("unknown owner '{owner}'{hint}").format(owner=owner, hint=hint))
            return None
        return owner

    def _step_environment(self, sheet: RawSheet, number: int, environment: str) -> bool:
        where = sheet.cell("environment", number)
        return self.plain(
            where, pgettext("what a cell holds", "environment code"), environment
        ) and self._check_environment(where, environment)

    def _step_kind(self, sheet: RawSheet, number: int, value: object) -> str | None:
        """``step`` (also blank) or ``gate``, in English or French; None and an error otherwise."""
        text = as_text(value)  # type: ignore[arg-type]  # any cell value
        if not text:
            return "step"
        kind = KINDS.get(normalise_key(text))
        if kind is None:
            self.error(
                sheet.cell("kind", number),
                _(
                    "unknown kind '{kind}': write step for an ordinary step-action or gate for a "
                    "go/no-go decision (in French: étape or porte); empty means step"
                ).format(kind=text),
            )
        return kind

    def _step_approvals(
        self,
        sheet: RawSheet,
        number: int,
        step_id: str,
        kind: str | None,
        owner: str | None,
        values: dict,
    ) -> int | None:
        """How many Go answers a gate needs: 1 when blank; None and an error when not a whole
        number of at least 1, or more than the people who may answer the gate."""
        value = values.get("approvals")
        where = sheet.cell("approvals", number)
        if is_blank(value):
            return 1
        text = as_text(value)
        if kind == "step":
            self.warn(
                where,
                _(
                    "step '{step}' is not a gate, so its Approvals ({approvals}) is ignored; "
                    "write gate in Kind if it is a go/no-go decision, or empty the cell"
                ).format(step=step_id, approvals=text),
            )
            return 1
        if isinstance(value, bool) or not WHOLE_NUMBER.match(text) or int(float(text)) < 1:
            self.error(
                where,
                _(
                    "Approvals '{approvals}' is not a number of people: write how many different "
                    "people must say Go (a whole number, 1 or more); empty means 1"
                ).format(approvals=text),
            )
            return None
        approvals = int(float(text))
        if kind == "gate" and owner is not None:
            people = self._gate_people(owner)
            if approvals > len(people):
                self.error(
                    where,
                    ngettext(
                        "gate '{step}' needs {approvals} Go answers, but only {count} person may "
                        "answer it ({people}: its owner, the owner's team leader and department "
                        "head, and the cutover managers); write at most {count} in Approvals",
                        "gate '{step}' needs {approvals} Go answers, but only {count} people may "
                        "answer it ({people}: its owner, the owner's team leader and department "
                        "head, and the cutover managers); write at most {count} in Approvals",
                        len(people),
                    ).format(
                        step=step_id,
                        approvals=approvals,
                        count=len(people),
                        people=", ".join(people),
                    ),
                )
                return None
        return approvals

    def _gate_people(self, owner: str) -> list[str]:
        """Who may answer a gate: its owner, the owner's team leader and department head (when
        they are actors), and the cutover managers who are actors; without repeats."""
        actor = self.actors[owner]
        people = [owner, actor.team_leader, actor.department_head, *self.config.cutover_managers]
        return list(dict.fromkeys(p for p in people if p and p in self.actors))

    def _step_dry_runs(
        self, sheet: RawSheet, number: int, value, dry_run_keys: dict[str, str]
    ) -> list[str] | None:
        where = sheet.cell("dry_runs", number)
        names = [n for n in re.split(r"[,;\s]+", as_text(value)) if n]
        if not names:
            self.error(
                where,
                _("no dry run given (name dry runs from the DryRuns sheet, or {all})").format(
                    all=ALL
                ),
            )
            return None
        if any(n.upper() == ALL for n in names):
            return list(self.dry_runs)
        resolved: list[str] = []
        for name in names:
            actual = dry_run_keys.get(name.casefold())
            if actual is None:
                if (
                    "dry_runs" in self.raw.sheets
                ):  # a missing DryRuns sheet is reported once, as such
                    hint = (
                        self.suggest.hint(name, self.dry_runs)
                        or " ("
                        + _("dry runs: {names}, or {all}").format(
                            names=_listing(self.dry_runs), all=ALL
                        )
                        + ")"
                    )
                    self.error(
                        where, _("unknown dry run '{name}'{hint}").format(name=name, hint=hint)
                    )
                return None
            resolved.append(actual)
        return list(dict.fromkeys(resolved))

    def _check_start_exists(
        self,
        sheet: RawSheet,
        number: int,
        step_id: str,
        start: RelativeStart,
        dry_runs: Iterable[str],
    ) -> None:
        for name in dry_runs:
            local = start.local_datetime(self.dry_runs[name].d_day)
            try:
                _aware, ambiguous = localize(local, self.zone)
            except NonExistentLocalTime:
                self.error(
                    sheet.cell("start", number),
                    _(
                        "start '{start}' is {time} in dry run {dry_run}, a time that does not exist "
                        "in {zone} (clocks go forward); choose another time"
                    ).format(
                        start=start.text(),
                        time=f"{local:%Y-%m-%d %H:%M}",
                        dry_run=name,
                        zone=self.zone.key,
                    ),
                )
                continue
            if ambiguous:
                self.warn(
                    sheet.cell("start", number),
                    _(
                        "start '{start}' is {time} in dry run {dry_run}, which happens twice in "
                        "{zone} (clocks go back); the first one is used"
                    ).format(
                        start=start.text(),
                        time=f"{local:%Y-%m-%d %H:%M}",
                        dry_run=name,
                        zone=self.zone.key,
                    ),
                )

    def _check_prerequisites(self, sheet: RawSheet) -> None:
        rows = self._step_rows
        for step_id, prerequisites in self._prerequisites.items():
            where = sheet.cell("prerequisites", rows[step_id])
            for prereq in prerequisites:
                if prereq == step_id:
                    self.error(
                        where,
                        _("step '{step}' cannot be its own prerequisite").format(step=step_id),
                    )
                elif prereq not in rows:
                    hint = self.suggest.hint(prereq, (r for r in rows if r != step_id))
                    self.error(
                        where,
                        _("unknown prerequisite '{prerequisite}'{hint}").format(
                            prerequisite=prereq, hint=hint
                        ),
                    )
        graph = {
            step_id: [p for p in prerequisites if p in rows and p != step_id]
            for step_id, prerequisites in self._prerequisites.items()
        }
        for cycle in find_cycles(graph):
            cycle_rows = ", ".join(str(rows[s]) for s in cycle[:-1])
            self.error(
                sheet.cell("prerequisites", rows[cycle[0]]),
                _(
                    "prerequisite cycle: {path} (rows {rows}); each step waits for the one before it, so none can "
                    "ever start"
                ).format(path=" → ".join(cycle), rows=cycle_rows),
            )
