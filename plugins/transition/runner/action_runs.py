"""Running an automated step's action in the worker: a ``bash`` command, a ``python`` callable of
the plan's folder, ``sql`` on a database connection, an ``http`` call, an ``ssh`` command.

A command runs through Airflow's ``SubprocessHook`` in the plan's folder, the arguments as
``TRANSITION_ARG_<NAME>`` variables in an environment of its own (not the worker's secrets); a
callable is loaded from its file there, the arguments as keyword arguments. SQL runs through the
connection's hook (common.sql), the arguments bound as ``%(name)s``, its statements in one
transaction; a check measures the first column of the first row. HTTP sends them as a JSON body
(GET: the query); a check measures the body. SSH runs the command on the connection's machine,
the arguments exported before it, quoted for its POSIX shell. What went wrong is an
:class:`Outcome`, never an exception, with its last lines: the holder is asked to take over.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import traceback
from collections import deque
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
TAIL_LINES = 12  # of what a failed action printed, for the person who takes over


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    said: str  # the last line printed, the value returned, or what went wrong
    value: float | None = None  # a check's measured value
    tail: tuple[
        str, ...
    ] = ()  # a failure's last lines printed, or its error's (at most TAIL_LINES)


def run_action(
    action: Action, arguments: dict[str, Value], folder: Path, check: bool = False
) -> Outcome:
    """Run ``action`` with ``arguments`` (already for the dry run) in the plan's ``folder``;
    ``check``: read its measured value too."""
    if action.kind == "bash":
        return _command(action.spec["command"], arguments, folder, check)
    if action.kind == "python":
        return _callable(action.spec["callable"], arguments, folder, check)
    remote = {"sql": _sql, "http": _http, "ssh": _ssh}[action.kind]
    try:
        return remote(action, arguments, check)
    except Exception as error:  # the connection, the database, the server: said to the holder
        return Outcome(False, _line(f"{type(error).__name__}: {error}"), tail=_error_tail(error))


def _command(command: str, arguments: dict[str, Value], folder: Path, check: bool) -> Outcome:
    env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
    env["HOME"] = str(folder)
    env.update(environment(arguments))
    hook = SubprocessHook()
    printed = _Printed(hook.log)
    hook._log = printed  # the hook logs each line the command prints; the last ones are kept
    result = hook.run_command(["bash", "-c", command], env=env, cwd=str(folder))
    if result.exit_code != 0:
        return Outcome(
            False,
            _("the command ended with code {code}: {line}").format(
                code=result.exit_code, line=result.output or _("it printed nothing")
            ),
            tail=tuple(printed.lines),
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
        return Outcome(False, f"{type(error).__name__}: {error}", tail=_error_tail(error))
    return _measured(returned, repr(returned), check)


def _measured(output: Any, said: str, check: bool) -> Outcome:
    if not check:
        return Outcome(True, said)
    try:
        return Outcome(True, said, measured(output))
    except ValueError as error:
        return Outcome(False, str(error))


class _Printed:
    """A hook's logger that keeps the last lines a ``SubprocessHook`` logs as the command's output
    (each as ``log.info("%s", line)``), and logs everything as before."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)

    def info(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "%s" and len(args) == 1:
            self.lines.append(_cut(str(args[0])))
        return self.log.info(event, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def _tail(lines: list[str]) -> tuple[str, ...]:
    return tuple(_cut(line) for line in lines if line.strip())[-TAIL_LINES:]


def _error_tail(error: BaseException) -> tuple[str, ...]:
    """The last lines of ``error``'s traceback (where in the action's file, and what)."""
    return _tail("".join(traceback.format_exception(error)).splitlines())


def _cut(line: str, limit: int = 300) -> str:
    line = line.rstrip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _line(text: str, last: bool = False) -> str:
    """The first (or ``last``) line of ``text`` that is not blank, cut."""
    lines = text.splitlines()
    return _cut(next((x.strip() for x in (reversed(lines) if last else lines) if x.strip()), ""))


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
    # Its statements one by one (a driver may refuse several at once), in one transaction.
    hook.run(sql, autocommit=False, parameters=arguments, split_statements=True)
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
    said = _line(response.text) or _("an empty answer")
    if response.status_code >= 400:
        return Outcome(
            False,
            _("the server answered {code}: {line}").format(code=response.status_code, line=said),
            tail=_tail(response.text.splitlines()),
        )
    return _measured(response.text, said, check)


def _ssh(action: Action, arguments: dict[str, Value], check: bool) -> Outcome:
    # deferred: the SSH provider, only in a worker
    from airflow.providers.ssh.hooks.ssh import SSHHook

    # No time limit, as a local command (the task's own limits apply); the arguments are exported
    # in the command itself: an SSH server accepts few environment variables (OpenSSH: AcceptEnv).
    hook = SSHHook(ssh_conn_id=str(action.connection), cmd_timeout=None)
    exports = "".join(
        f"export {name}={shlex.quote(value)}; " for name, value in environment(arguments).items()
    )
    with hook.get_conn() as client:
        code, out, err = hook.exec_ssh_client_command(
            client, exports + action.spec["command"], get_pty=False, environment=None
        )
    output = out.decode("utf-8", "replace")
    if code != 0:
        said = _line(err.decode("utf-8", "replace"), last=True) or _line(output, last=True)
        return Outcome(
            False,
            _("the command ended with code {code}: {line}").format(
                code=code, line=said or _("it printed nothing")
            ),
            tail=_tail(output.splitlines() + err.decode("utf-8", "replace").splitlines()),
        )
    return _measured(output, _line(output, last=True), check)
