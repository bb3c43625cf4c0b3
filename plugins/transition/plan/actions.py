"""The plan's actions catalogue (issue 28): what an automated step may run, reviewed like code.

A YAML file beside the plan defines each action once: its kind (``sql``, ``http``, ``ssh``,
``bash``, ``python``), the Airflow connection it uses, what it runs (fixed text: SQL, an endpoint,
a command, a callable) and its typed parameters. The workbook's ``Action`` cell only names an
action and gives its arguments (:mod:`transition.plan.action_cells`), which reach the action as
values (bound SQL parameters, a JSON body, environment variables, keyword arguments), never as
text it runs. The format: docs/automation.md. Not run yet: the catalogue named in
``config.yaml`` (``actions:``) is checked with the plan; the steps that run actions are to come.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transition.errors import ConfigError, Problem
from transition.i18n import _
from transition.regular_files import NotARegularFile, TooBig, read_regular_file

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CONNECTION = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
CALLABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# kind -> (the fields it needs, the fields it may have)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sql": (("connection", "sql"), ()),
    "http": (("connection", "endpoint"), ("method",)),
    "ssh": (("connection", "command"), ()),
    "bash": (("command",), ()),
    "python": (("callable",), ()),
}
COMMON = ("kind", "parameters", "description")
TYPES = ("text", "integer", "number", "boolean", "date", "choice")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
INTEGER = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
RELATIVE_DAY = re.compile(r"^[DJ]([+-]\d{1,4})?$", re.IGNORECASE)
MAX_CATALOGUE_BYTES = 1024 * 1024  # a catalogue is a few hundred lines of YAML
BOOLEANS = {"yes": True, "true": True, "oui": True, "no": False, "false": False, "non": False}


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str  # one of TYPES
    choices: tuple[str, ...] = ()  # a choice's values
    default: str | None = None  # given: the argument may be left out

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    kind: str  # one of KINDS
    parameters: dict[str, Parameter] = field(default_factory=dict)
    connection: str | None = None  # an Airflow connection id (sql, http, ssh)
    spec: dict[str, str] = field(
        default_factory=dict
    )  # sql / endpoint, method / command / callable
    description: str = ""


def catalogue_bytes(path: Path) -> bytes:
    """The catalogue's bytes if it is a regular file of at most :data:`MAX_CATALOGUE_BYTES`,
    checked on the file opened without blocking: ``actions: /dev/zero`` or a FIFO is refused,
    not read."""
    where = path.name
    try:
        return read_regular_file(path, MAX_CATALOGUE_BYTES)
    except NotARegularFile:
        message = _("not a regular file; the actions catalogue is a YAML file")
    except TooBig:
        message = _("refused: the file is larger than {most} KB").format(
            most=MAX_CATALOGUE_BYTES // 1024
        )
    except OSError as error:
        message = _("cannot read the actions catalogue: {error}").format(
            error=error.strerror or type(error).__name__
        )
    raise ConfigError([Problem(where, message)])


def read_catalogue(path: Path) -> dict[str, Action]:
    """The actions of the catalogue at ``path``; every problem at once (:class:`ConfigError`),
    each with where it is (``actions.yaml: actions.export_ean.sql``)."""
    where = path.name
    data = catalogue_bytes(path)
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(
            [Problem(where, _("not a YAML file: {error}").format(error=error))]
        ) from None
    return parse_catalogue(raw, where)


def parse_catalogue(raw: Any, where: str) -> dict[str, Action]:
    """:func:`read_catalogue` on the YAML already read (``where``: the file's name)."""
    problems: list[Problem] = []
    if not isinstance(raw, dict) or not isinstance(raw.get("actions"), dict):
        raise ConfigError(
            [Problem(where, _("expected 'actions:' followed by one entry per action"))]
        )
    unknown = sorted(str(k) for k in raw if k != "actions")
    if unknown:
        problems.append(
            Problem(
                where,
                _("unknown setting(s) {keys}; only 'actions'").format(keys=", ".join(unknown)),
            )
        )
    actions: dict[str, Action] = {}
    for name, body in raw["actions"].items():
        action = _action(str(name), body, f"{where}: actions.{name}", problems)
        if action is not None:
            actions[action.name] = action
    if problems:
        raise ConfigError(problems)
    return actions


def _action(name: str, body: Any, where: str, problems: list[Problem]) -> Action | None:
    found = len(problems)
    if not NAME.match(name):
        problems.append(
            Problem(where, _("an action's name is a word of letters, digits and '_' (at most 64)"))
        )
    if not isinstance(body, dict):
        problems.append(Problem(where, _("expected the action's settings (kind: ..., ...)")))
        return None
    kind = body.get("kind")
    if kind not in KINDS:
        problems.append(
            Problem(
                f"{where}.kind",
                _("unknown kind '{kind}'; use {kinds}").format(kind=kind, kinds=", ".join(KINDS)),
            )
        )
        return None
    needed, optional = KINDS[kind]
    for key in sorted(set(body) - set(needed) - set(optional) - set(COMMON), key=str):
        problems.append(
            Problem(
                f"{where}.{key}",
                _("not a setting of a {kind} action (it has {keys})").format(
                    kind=kind, keys=", ".join((*needed, *optional, "parameters", "description"))
                ),
            )
        )
    spec: dict[str, str] = {}
    for key in (*needed, *optional):
        value = body.get(key)
        if value is None and key in optional:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(
                Problem(
                    f"{where}.{key}",
                    _("a {kind} action needs its {key}, as text").format(kind=kind, key=key),
                )
            )
            continue
        spec[key] = value.strip()
    parameters = _parameters(body.get("parameters"), f"{where}.parameters", problems)
    _check_spec(kind, spec, parameters, where, problems)
    if len(problems) > found:
        return None
    connection = spec.pop("connection", None)
    description = body.get("description")
    return Action(
        name=name,
        kind=kind,
        parameters=parameters,
        connection=connection,
        spec=spec,
        description=description if isinstance(description, str) else "",
    )


def _check_spec(
    kind: str,
    spec: dict[str, str],
    parameters: dict[str, Parameter],
    where: str,
    problems: list[Problem],
) -> None:
    if "connection" in spec and not CONNECTION.match(spec["connection"]):
        problems.append(
            Problem(
                f"{where}.connection",
                _("a connection id holds letters, digits, '_', '.' and '-'"),
            )
        )
    if kind == "sql" and "sql" in spec:
        used = set(PLACEHOLDER.findall(spec["sql"]))
        for name in sorted(used - set(parameters)):
            problems.append(
                Problem(
                    f"{where}.sql",
                    _("%({name})s is not one of the action's parameters ({known})").format(
                        name=name, known=", ".join(parameters) or _("none")
                    ),
                )
            )
        for name in sorted(set(parameters) - used):
            problems.append(
                Problem(
                    f"{where}.parameters.{name}",
                    _("the SQL never uses it: write %({name})s where its value goes").format(
                        name=name
                    ),
                )
            )
    if kind == "http":
        method = spec.get("method", "POST").upper()
        if method not in METHODS:
            problems.append(
                Problem(
                    f"{where}.method",
                    _("unknown method '{method}'; use {methods}").format(
                        method=spec["method"], methods=", ".join(METHODS)
                    ),
                )
            )
        spec["method"] = method
        if "endpoint" in spec and not spec["endpoint"].startswith("/"):
            problems.append(
                Problem(
                    f"{where}.endpoint",
                    _("an endpoint is a path on the connection's host, starting with '/'"),
                )
            )
    if kind == "python" and "callable" in spec and not CALLABLE.match(spec["callable"]):
        problems.append(
            Problem(
                f"{where}.callable",
                _("write module:function (a module of the plan's folder, then its function)"),
            )
        )


def _parameters(raw: Any, where: str, problems: list[Problem]) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(where, _("expected one entry per parameter (name: type)")))
        return {}
    found: dict[str, Parameter] = {}
    for name, body in raw.items():
        here = f"{where}.{name}"
        if not NAME.match(str(name)):
            problems.append(
                Problem(here, _("a parameter's name is a word of letters, digits and '_'"))
            )
            continue
        settings = {"type": body} if isinstance(body, str) else body
        if not isinstance(settings, dict) or settings.get("type") not in TYPES:
            problems.append(
                Problem(
                    here,
                    _("give its type: {types}").format(types=", ".join(TYPES)),
                )
            )
            continue
        parameter = _parameter(str(name), settings, here, problems)
        if parameter is not None:
            found[parameter.name] = parameter
    return found


def _parameter(name: str, settings: dict, where: str, problems: list[Problem]) -> Parameter | None:
    unknown = sorted(set(settings) - {"type", "choices", "default"}, key=str)
    if unknown:
        problems.append(
            Problem(
                where,
                _("unknown setting(s) {keys}; a parameter has type, choices and default").format(
                    keys=", ".join(map(str, unknown))
                ),
            )
        )
        return None
    choices: tuple[str, ...] = ()
    if settings["type"] == "choice":
        raw = settings.get("choices")
        if not isinstance(raw, list) or not raw or not all(isinstance(c, (str, int)) for c in raw):
            problems.append(Problem(f"{where}.choices", _("a choice lists its values")))
            return None
        choices = tuple(str(c) for c in raw)
    elif "choices" in settings:
        problems.append(Problem(f"{where}.choices", _("only a choice has choices")))
        return None
    parameter = Parameter(name, settings["type"], choices)
    if settings.get("default") is not None:
        default = str(settings["default"])
        try:
            typed_value(parameter, default)
        except ValueError as error:
            problems.append(Problem(f"{where}.default", str(error)))
            return None
        parameter = Parameter(name, settings["type"], choices, default)
    return parameter


def typed_value(parameter: Parameter, text: str) -> str | int | float | bool:
    """``text`` as ``parameter``'s type (a date stays as written: ``2027-01-16``, or ``D-1``
    counted from each dry run's D-day); ValueError in words."""
    kind = parameter.type
    if kind == "text":
        return text
    if kind == "integer" and INTEGER.match(number_text(text)):
        return int(number_text(text))
    if kind == "number" and NUMBER.match(number_text(text)):
        return float(number_text(text))
    if kind == "boolean" and text.casefold() in BOOLEANS:
        return BOOLEANS[text.casefold()]
    if kind == "date":
        if RELATIVE_DAY.match(text):
            return text.upper().replace("J", "D")
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    if kind == "choice":
        chosen = {c.casefold(): c for c in parameter.choices}.get(text.casefold())
        if chosen is not None:
            return chosen
        raise ValueError(
            _("'{value}' is not one of {choices}").format(
                value=text, choices=", ".join(parameter.choices)
            )
        )
    words = {
        "integer": _("a whole number"),
        "number": _("a number"),
        "boolean": _("yes or no"),
        "date": _("a date (2027-01-16) or a day from D-day (D-1, D, D+2)"),
    }
    raise ValueError(_("'{value}' is not {what}").format(value=text, what=words[kind]))


def number_text(text: str) -> str:
    """``1 200 000``, ``1_200_000``, ``1'200'000`` and ``99,5`` as Python reads numbers."""
    compact = re.sub(r"[\s_'\u202f\u00a0]", "", text)
    return compact.replace(",", ".") if "." not in compact else compact
