"""Raw workbook rows -> validated plan entities, every problem collected with its cell.

Each ``_read_*`` function reads one sheet and appends to a shared problem list; cross-sheet checks
(owners, prerequisites, cycles, DST) come after, so one pass reports everything. Messages are in the
current language (:mod:`transition.i18n`). Here: the Environments, Actors and DryRuns sheets; the
Steps sheet in :mod:`transition.plan.step_rows`, the checks they share in
:mod:`transition.plan.row_checks`.
"""

from __future__ import annotations

import datetime as dt

from transition.i18n import _, pgettext
from transition.plan.model import Actor, DryRun, Environment, dag_id_for
from transition.plan.row_checks import (
    ACTOR_ID,
    ALL,
    E164,
    LANGUAGES,
    PHONE_SEPARATORS,
    either,
    known_zone,
    zone_names,
)
from transition.plan.schedule import NonExistentLocalTime, localize
from transition.plan.step_rows import StepRows
from transition.workbook.cells import (
    as_text,
    is_blank,
    is_valid_email,
    parse_date,
    parse_local_datetime,
)
from transition.workbook.reader import RawRow, RawSheet

# The Actors sheet's names and IDs besides the actor's own ID (checked for control characters).
_ACTOR_NAMES = {
    "name": lambda: pgettext("what a cell holds", "name"),
    "email": lambda: pgettext("what a cell holds", "e-mail address"),
    "team": lambda: pgettext("what a cell holds", "team"),
    "team_leader": lambda: pgettext("what a cell holds", "team leader"),
    "department_head": lambda: pgettext("what a cell holds", "department head"),
    "language": lambda: pgettext("what a cell holds", "language"),
    "timezone": lambda: pgettext("what a cell holds", "time zone"),
    "phone": lambda: pgettext("what a cell holds", "phone number"),
}


class PlanBuilder(StepRows):
    """Builds the entities of a plan from a read workbook; ``problems`` holds what went wrong."""

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
            self._check_expectations(sheets["steps"])

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
            pending.append((row.number, self._read_actor(sheet, row, actor_id)))
        self._check_leaders(sheet, pending)

    def _read_actor(self, sheet: RawSheet, row: RawRow, actor_id: str) -> dict[str, str]:
        """One actor's row, kept even with problems (so its steps are not reported too)."""
        fields = {
            k: as_text(row.values.get(k))
            for k in (
                "name",
                "email",
                "team",
                "team_leader",
                "department_head",
                "language",
                "timezone",
                "phone",
            )
        }
        for key, what in _ACTOR_NAMES.items():
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
                    language=fields["language"], languages=either(LANGUAGES)
                ),
            )
            language = self.config.language
        fields["language"] = language
        self._check_reach(sheet, row.number, fields)
        self.actors[actor_id] = Actor(
            actor_id,
            fields["name"],
            fields["email"],
            fields["team"],
            fields["team_leader"] or None,
            fields["department_head"] or None,
            language,
            fields["timezone"],
            fields["phone"],
        )
        return fields

    def _check_reach(self, sheet: RawSheet, number: int, fields: dict[str, str]) -> None:
        """An actor's Time zone (an IANA name; empty: the plan's) and Phone (E.164, spaces, dots,
        dashes and brackets dropped), each emptied when wrong, its cell named."""
        zone = fields["timezone"]
        if zone and not known_zone(zone):
            hint = self.suggest.hint(zone, zone_names())
            self.error(
                sheet.cell("timezone", number),
                _("unknown time zone '{zone}'{hint}; use an IANA name such as {example}").format(
                    zone=zone, hint=hint, example="Europe/Brussels"
                ),
            )
            fields["timezone"] = ""
        phone = PHONE_SEPARATORS.sub("", fields["phone"])
        if phone and not E164.match(phone):
            self.error(
                sheet.cell("phone", number),
                _(
                    "'{phone}' is not a phone number in international form: '+', the country "
                    "code and the number, e.g. {example}"
                ).format(phone=fields["phone"], example="+32470123456"),
            )
            phone = ""
        fields["phone"] = phone

    def _check_leaders(self, sheet: RawSheet, pending: list[tuple[int, dict[str, str]]]) -> None:
        """Team leaders and department heads are actors of the sheet."""
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
