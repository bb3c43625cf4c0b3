"""The plan's configuration (``plan/config.yaml``): validated, with messages that say where.

Which file: the argument given, else ``$TRANSITION_CONFIG``, else ``plan/config.yaml`` of the
repository. A bare ``.xlsx`` given instead of a configuration is read with the defaults.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from transition import settings
from transition.errors import ConfigError, Problem
from transition.i18n import _, languages
from transition.locations import REPO_ROOT
from transition.plan.cron import check_cron
from transition.plan.escalation import Ladder
from transition.plan.escalation_config import EscalationConfig
from transition.regular_files import NotARegularFile, TooBig, read_regular_file
from transition.vocabulary import ALL_CHANNEL_MESSAGES, CHANNEL_MESSAGES
from transition.workbook.cells import (
    describe_character,
    first_control_character,
    parse_duration,
    visible,
)
from transition.workbook.sheets import known_fields

DEFAULT_CONFIG_PATH = REPO_ROOT / "plan" / "config.yaml"

# Ranges of the numeric settings (a number past them is a typing error, and overflows dates).
MAX_LOCK_WINDOW_DAYS = 365
MAX_CONFIG_BYTES = 1024 * 1024  # a configuration is a few hundred bytes

DEFAULT_PHASES: dict[str, str] = {
    "PP": "Preparation",
    "AC": "Controlled stop",
    "CO": "Cut over",
    "DC": "Controlled start",
    "HO": "Hand over",
    "FB-RB": "Fallback / roll back",
}


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(max_length=200)
    conditional: bool = False  # only executed if the go/no-go says so (fallback)

    @field_validator("code", "name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        character = first_control_character(value)
        if character is not None:
            raise ValueError(
                _(
                    "'{value}' holds a line break, tab or other invisible character ({character}); "
                    "write it on one line"
                ).format(value=visible(value), character=describe_character(character))
            )
        return value


class SheetOverride(BaseModel):
    """Sheet name, header row and extra column aliases for one sheet."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    header_row: int | None = Field(default=None, ge=1, le=1000)
    columns: dict[str, list[str]] = Field(default_factory=dict)


class Channel(BaseModel):
    """A chat channel (Slack, Teams, ...) that also gets some messages: an Airflow connection
    (``slackwebhook`` or ``apprise``) and the kinds of messages it gets, or ``all``; ``to:
    people`` sends each person concerned their own (an SMS gateway through Apprise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    connection: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    messages: list[str] | str
    # room: one message per event (Slack, Teams...); people: each person concerned, by SMS
    to: Literal["room", "people"] = "room"

    @field_validator("messages")
    @classmethod
    def _known_messages(cls, value: list[str] | str) -> list[str] | str:
        if value == ALL_CHANNEL_MESSAGES:
            return value
        if isinstance(value, str):
            value = [value]  # one kind written alone
        if not value:
            raise ValueError(
                _("list at least one message, or write all ({known})").format(
                    known=", ".join(CHANNEL_MESSAGES)
                )
            )
        for kind in value:
            if kind not in CHANNEL_MESSAGES:
                close = difflib.get_close_matches(kind, CHANNEL_MESSAGES, n=1, cutoff=0.6)
                hint = _(" (did you mean {kind}?)").format(kind=close[0]) if close else ""
                raise ValueError(
                    _("unknown message '{kind}'{hint}; known: {known}, or all").format(
                        kind=visible(kind), hint=hint, known=", ".join(CHANNEL_MESSAGES)
                    )
                )
        return list(dict.fromkeys(value))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of messages this channel gets (``all`` written out)."""
        return CHANNEL_MESSAGES if self.messages == ALL_CHANNEL_MESSAGES else tuple(self.messages)


class PlanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")
    workbook: Path
    timezone: str = "Europe/Brussels"
    language: str = "en"  # a language with a catalogue (transition.i18n): en, fr
    phases: list[Phase] = Field(
        default_factory=lambda: [
            Phase(code=c, name=n, conditional=(c == "FB-RB")) for c, n in DEFAULT_PHASES.items()
        ]
    )
    lock_window_days: float = 5
    default_duration: str = "30m"
    cutover_managers: list[str] = Field(default_factory=list)
    weekly_report: str | None = (
        "0 8 * * 1"  # cron of the weekly report e-mail, in the plan's time zone; null: none
    )
    channels: list[Channel] = Field(default_factory=list)  # chat channels; e-mail is always sent
    sheets: dict[Literal["steps", "actors", "dry_runs", "environments"], SheetOverride] = Field(
        default_factory=dict
    )
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    actions: Path | None = None  # the actions catalogue (issue 28), relative to this file
    # Where the configuration was read from; set by load_config, not by the file.
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                _("unknown time zone '{zone}' (use an IANA name like Europe/Brussels)").format(
                    zone=value
                )
            ) from None
        return value

    @field_validator("lock_window_days")
    @classmethod
    def _lock_window_in_range(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 <= value <= MAX_LOCK_WINDOW_DAYS):
            raise ValueError(
                _("{value} is out of range; use a number of days from 0 to {most}").format(
                    value=f"{value:g}", most=MAX_LOCK_WINDOW_DAYS
                )
            )
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in languages():
            raise ValueError(
                _("unknown language '{language}' (use {languages})").format(
                    language=value, languages=", ".join(languages())
                )
            )
        return value

    @field_validator("default_duration")
    @classmethod
    def _readable_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("weekly_report")
    @classmethod
    def _readable_cron(cls, value: str | None) -> str | None:
        return check_cron(value)

    @field_validator("escalation", mode="before")
    @classmethod
    def _escalation_off(cls, value: Any) -> Any:
        """``escalation: off`` (YAML reads it as false): no reminders at all; null: the defaults."""
        if value is None:
            return {}
        if value is False or value == "off":
            return {"not_started": [], "overrun": [], "gate_warning": None}
        return value

    @field_validator("phases", mode="before")
    @classmethod
    def _phases_shorthand(cls, value: Any) -> Any:
        """Accept ``[PP, AC]`` or ``{PP: Preparation}`` as well as full phase mappings."""
        if isinstance(value, dict):
            return [
                {"code": k, "name": v} if isinstance(v, str) else {"code": k, **v}
                for k, v in value.items()
            ]
        if isinstance(value, list):
            return [
                {"code": v, "name": DEFAULT_PHASES.get(v, v)} if isinstance(v, str) else v
                for v in value
            ]
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> PlanConfig:
        codes = [p.code for p in self.phases]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(_("phases listed twice: {codes}").format(codes=", ".join(duplicates)))
        if not self.phases:
            raise ValueError(_("at least one phase is needed"))
        connections = [c.connection for c in self.channels]
        twice = sorted({c for c in connections if connections.count(c) > 1})
        if twice:
            raise ValueError(
                _("channels: connection(s) listed twice: {connections}").format(
                    connections=", ".join(twice)
                )
            )
        for key, override in self.sheets.items():
            unknown = sorted(set(override.columns) - known_fields(key))
            if unknown:
                raise ValueError(
                    _(
                        "sheets.{sheet}.columns: unknown column key(s) {keys}; known: {known}"
                    ).format(
                        sheet=key,
                        keys=", ".join(unknown),
                        known=", ".join(sorted(known_fields(key))),
                    )
                )
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def default_duration_delta(self) -> dt.timedelta:
        return parse_duration(self.default_duration)

    def _beside(self, path: Path) -> Path:
        """``path`` as written in the configuration, relative to the configuration's folder."""
        base = self.source.parent if self.source else Path.cwd()
        return (base / path).resolve()

    @property
    def workbook_path(self) -> Path:
        return self._beside(self.workbook)

    @property
    def actions_path(self) -> Path | None:
        return None if self.actions is None else self._beside(self.actions)

    @property
    def ladder(self) -> Ladder:
        return self.escalation.ladder

    @property
    def phase_codes(self) -> list[str]:
        return [p.code for p in self.phases]


def resolve_config_path(argument: str | os.PathLike[str] | None = None) -> Path:
    """The configuration to read: ``argument``, else ``$TRANSITION_CONFIG``, else the sample's
    ``plan/config.yaml`` of the checkout the package runs from."""
    if argument:
        return Path(argument)
    return settings.path(settings.CONFIG) or DEFAULT_CONFIG_PATH


def load_config(argument: str | os.PathLike[str] | None = None) -> PlanConfig:
    """Load and validate a configuration file, or wrap a bare workbook in the defaults."""
    path = resolve_config_path(argument)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        name = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem) or "plan"
        if not name[0].isalpha():
            name = f"plan_{name}"
        return PlanConfig(name=name[:50], workbook=path.resolve(), source=None)
    location = str(path)
    if not path.exists():
        if argument is None and not settings.text(
            settings.CONFIG
        ):  # e.g. installed, outside a checkout
            raise ConfigError(
                [
                    Problem(
                        location,
                        _(
                            "configuration file not found; name the plan's configuration (or its "
                            "workbook), e.g. transition validate plan/config.yaml, or set {variable}"
                        ).format(variable=settings.CONFIG),
                    )
                ]
            )
        raise ConfigError([Problem(location, _("configuration file not found"))])
    raw = _parsed(path, location)
    if not isinstance(raw, dict):
        raise ConfigError(
            [Problem(location, _("expected a mapping of settings (name: ..., workbook: ...)"))]
        )
    try:
        config = PlanConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            [_problem_from_pydantic(location, error) for error in exc.errors()]
        ) from None
    config.source = path.resolve()
    return config


def _parsed(path: Path, location: str) -> Any:
    """The YAML of the configuration file, if it is a regular file of at most
    :data:`MAX_CONFIG_BYTES` (a FIFO or a device is refused, not read); ConfigError otherwise."""
    try:
        text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except NotARegularFile as exc:
        raise ConfigError(
            [
                Problem(
                    location,
                    _("refused: this is {kind}, not a configuration file").format(kind=exc.kind),
                )
            ]
        ) from None
    except TooBig:
        raise ConfigError(
            [
                Problem(
                    location,
                    _(
                        "refused: the file is larger than {most} KB; a configuration is a few "
                        "lines of YAML"
                    ).format(most=MAX_CONFIG_BYTES // 1024),
                )
            ]
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            [Problem(location, _("cannot read the configuration: {reason}").format(reason=reason))]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(location, _("not UTF-8 text"))]) from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{location}:{mark.line + 1}" if mark else location
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [Problem(where, _("not valid YAML: {reason}").format(reason=reason))]
        ) from None


def _problem_from_pydantic(location: str, error: Any) -> Problem:
    key = visible(".".join(str(part) for part in error["loc"]))
    message = visible(str(error["msg"]).removeprefix("Value error, "))
    if error["type"] == "missing":
        message = _("missing setting")
    elif error["type"] == "extra_forbidden":
        message = _("unknown setting (check its spelling)")
    return Problem(f"{location}: {key}" if key else location, message)


def config_language(argument: str | os.PathLike[str] | None = None) -> str | None:
    """The plan's default language as its configuration says, without checking the rest (None: not said)."""
    path = resolve_config_path(argument)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return None
    try:
        raw = yaml.safe_load(read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # NotARegularFile, TooBig are OSErrors
        return None
    language = raw.get("language") if isinstance(raw, dict) else None
    return language if isinstance(language, str) and language in languages() else None
