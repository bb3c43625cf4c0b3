"""Running an automated step's action in the worker: a ``bash`` command, a ``python`` callable of
the plan's folder, ``sql`` on a database connection, an ``http`` call (issue 28; SSH is to come).

A command is the catalogue's fixed text, run by Airflow's ``SubprocessHook`` in the plan's folder,
with the arguments as ``TRANSITION_ARG_<NAME>`` variables (:mod:`transition.plan.action_arguments`)
in an environment of their own: the worker's (Airflow's database URL, its secrets) is not handed
down. A callable is loaded from its file in the plan's folder and called with the arguments as
keyword arguments. SQL runs through the connection's own hook (common.sql), the arguments bound
as ``%(name)s`` parameters; a check measures the first column of the first row. An HTTP call sends
the arguments as a JSON body (as the query for GET); a check measures the response's body. What
went wrong is an :class:`Outcome`, never an exception: the step's holder is asked to take over.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow.providers.standard.hooks.subprocess import SubprocessHook

from transition.i18n import _
from transition.plan.action_arguments import Value, environment, measured
from transition.plan.actions import Action

# What a command keeps of the worker's environment: where programs are, the locale, the zone.
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    said: str  # the last line printed, the value returned, or what went wrong
    value: float | None = None  # a check's measured value


def run_action(
    action: Action, arguments: dict[str, Value], folder: Path, check: bool = False
) -> Outcome:
    """Run ``action`` with ``arguments`` (already for the dry run) in the plan's ``folder``;
    ``check``: read its measured value too."""
    if action.kind == "bash":
        return _command(action.spec["command"], arguments, folder, check)
    if action.kind == "python":
        return _callable(action.spec["callable"], arguments, folder, check)
    try:
        if action.kind == "sql":
            return _sql(action, arguments, check)
        if action.kind == "http":
            return _http(action, arguments, check)
    except Exception as error:  # the connection, the database, the server: said to the holder
        return Outcome(False, _first_line(f"{type(error).__name__}: {error}"))
    return Outcome(
        False,
        _("actions of kind {kind} are not run yet (bash, python, sql and http are)").format(
            kind=action.kind
        ),
    )


def _command(command: str, arguments: dict[str, Value], folder: Path, check: bool) -> Outcome:
    env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
    env["HOME"] = str(folder)
    env.update(environment(arguments))
    result = SubprocessHook().run_command(["bash", "-c", command], env=env, cwd=str(folder))
    if result.exit_code != 0:
        return Outcome(
            False,
            _("the command ended with code {code}: {line}").format(
                code=result.exit_code, line=result.output or _("it printed nothing")
            ),
        )
    return _measured(result.output, result.output, check)


def _callable(name: str, arguments: dict[str, Value], folder: Path, check: bool) -> Outcome:
    module_name, _colon, function_name = name.partition(":")
    path = folder.joinpath(*module_name.split(".")).with_suffix(".py")
    try:
        spec = importlib.util.spec_from_file_location(f"transition_action_{module_name}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise FileNotFoundError(_("no file {path}").format(path=path.relative_to(folder)))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        returned = getattr(module, function_name)(**arguments)
    except Exception as error:  # the action's own failure, said to the person who takes over
        return Outcome(False, f"{type(error).__name__}: {error}")
    return _measured(returned, repr(returned), check)


def _measured(output: Any, said: str, check: bool) -> Outcome:
    if not check:
        return Outcome(True, said)
    try:
        return Outcome(True, said, measured(output))
    except ValueError as error:
        return Outcome(False, str(error))


def _first_line(text: str, limit: int = 300) -> str:
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _sql(action: Action, arguments: dict[str, Value], check: bool) -> Outcome:
    # deferred: Airflow's connections and the providers' hooks, only in a worker
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(str(action.connection)).get_hook()
    if not isinstance(hook, DbApiHook):
        return Outcome(
            False,
            _("connection {connection} is not a database's").format(connection=action.connection),
        )
    sql = action.spec["sql"]
    if check:
        row = hook.get_first(sql, parameters=arguments)
        if not row:
            return Outcome(False, _("the query returned no row"))
        value = float(row[0]) if isinstance(row[0], Decimal) else row[0]
        return _measured(value, str(row[0]), check)
    hook.run(sql, autocommit=True, parameters=arguments)
    return Outcome(True, _("the SQL ran"))


def _http(action: Action, arguments: dict[str, Value], check: bool) -> Outcome:
    # deferred: the HTTP provider, only in a worker
    from airflow.providers.http.hooks.http import HttpHook

    method = action.spec.get("method", "POST")
    hook = HttpHook(method=method, http_conn_id=str(action.connection))
    data: Any = arguments if method == "GET" else json.dumps(arguments)
    response = hook.run(
        action.spec["endpoint"],
        data=data,
        headers={} if method == "GET" else {"Content-Type": "application/json"},
        extra_options={"check_response": False},
    )
    said = _first_line(response.text) or _("an empty answer")
    if response.status_code >= 400:
        return Outcome(
            False,
            _("the server answered {code}: {line}").format(code=response.status_code, line=said),
        )
    return _measured(response.text, said, check)
