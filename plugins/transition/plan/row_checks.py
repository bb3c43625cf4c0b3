"""What every sheet's rows are checked with: the problems found so far (each with its cell), IDs
and names as one line of plain text, a cell parsed or reported, an environment known, and the
suggestions ("did you mean …?") the messages offer."""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Iterable

from transition.errors import Problem
from transition.i18n import _, languages
from transition.plan.config import PlanConfig
from transition.plan.model import Actor, DryRun, Environment, Step
from transition.workbook.cells import (
    describe_character,
    first_control_character,
    is_blank,
    visible,
)
from transition.workbook.reader import RawSheet, RawWorkbook

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
KINDS = {
    "step": "step",
    "gate": "gate",
    "auto": "auto",
    "automatic": "auto",
    "check": "check",
    "etape": "step",
    "porte": "gate",
    "automatique": "auto",
    "controle": "check",
}
WHOLE_NUMBER = re.compile(r"^\+?\d+(?:\.0*)?$")  # 2, 2.0, +2
E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # an Actor's Phone: +, the country code, the number
PHONE_SEPARATORS = re.compile(r"[\s.()/-]")  # written between digits, dropped: +32 470 12.34.56


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA time zones this machine knows (for "did you mean")."""
    return frozenset(zoneinfo.available_timezones())


def known_zone(name: str) -> bool:
    """An IANA time zone name (``Europe/Brussels``, ``UTC``) this machine can convert to."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


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


def listing(names: Iterable[str], limit: int = 12) -> str:
    items = list(names)
    shown = ", ".join(items[:limit])
    if not items:
        return _("none")
    return shown + (
        ", … (" + _("{count} in all").format(count=len(items)) + ")" if len(items) > limit else ""
    )


def either(choices: Iterable[str]) -> str:
    """``en or fr``; ``de, en or fr``."""
    items = list(choices)
    if len(items) < 2:
        return "".join(items)
    return _("{some} or {last}").format(some=", ".join(items[:-1]), last=items[-1])


class RowChecks:
    """The state of one pass over a workbook (what was read, what went wrong) and the checks
    every sheet's rows share."""

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
                or " (" + _("environments: {names}").format(names=listing(self.environments)) + ")"
            )
            self.error(where, _("unknown environment '{code}'{hint}").format(code=code, hint=hint))
        return False
