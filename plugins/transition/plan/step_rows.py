"""The Steps sheet's rows -> :class:`Step` entities, every problem with its cell: IDs, labels,
phases, owners, environments, kinds, a gate's approvals, the dry runs each step is in, starts that
exist in the plan's time zone, prerequisites (known, in the same dry runs, no cycle), and an
automated step's action (:mod:`transition.plan.automation_rows`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from transition.i18n import _, format_count, ngettext, pgettext
from transition.plan.automation_rows import AUTOMATED, CONFIRM_FIRST, AutomationRows
from transition.plan.graph import find_cycles
from transition.plan.model import Step
from transition.plan.row_checks import (
    ALL,
    KINDS,
    MAX_ID_LENGTH,
    MAX_LABEL_LENGTH,
    STEP_ID,
    WHOLE_NUMBER,
    listing,
)
from transition.plan.schedule import NonExistentLocalTime, localize
from transition.vocabulary import WATCH_TASK_ID
from transition.workbook.cells import (
    RelativeStart,
    as_text,
    is_blank,
    normalise_key,
    parse_duration,
    parse_start,
    split_ids,
)
from transition.workbook.reader import RawRow, RawSheet


class StepRows(AutomationRows):
    """Reads the Steps sheet (after the Environments, Actors and DryRuns sheets)."""

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
            action_ok, action = self._step_action(sheet, row.number, step_id, kind, v)
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
                or not action_ok
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
                action=action,
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
                    phases=listing(self.config.phase_codes)
                ),
            )
            return None
        phase = phases.get(normalise_key(text))
        if phase is None:
            hint = self.suggest.hint(text, self.config.phase_codes)
            self.error(
                where,
                _("unknown phase '{phase}'{hint} (phases: {phases})").format(
                    phase=text, hint=hint, phases=listing(self.config.phase_codes)
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
        """``step`` (also blank), ``gate``, ``auto`` or ``check``, in English or French; None and an
        error otherwise."""
        text = as_text(value)  # type: ignore[arg-type]  # any cell value
        if not text:
            return "step"
        kind = KINDS.get(normalise_key(text))
        if kind is None:
            self.error(
                sheet.cell("kind", number),
                _(
                    "unknown kind '{kind}': write step for an ordinary step-action, gate for a "
                    "go/no-go decision, auto for a step that runs its action, or check for an "
                    "action that measures a value (in French: étape, porte, auto, contrôle); "
                    "empty means step"
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
        if kind in AUTOMATED and text.strip().lower() in CONFIRM_FIRST:
            return 1  # its holder confirms before the action runs (automation_rows)
        if kind in AUTOMATED:
            self.warn(
                where,
                _(
                    "step '{step}' runs its action by itself, so its Approvals ({approvals}) is "
                    "ignored; write before to have its holder answer Start before it runs"
                ).format(step=step_id, approvals=text),
            )
            return 1
        if kind in ("step", "auto", "check"):
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
                            names=listing(self.dry_runs), all=ALL
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
