"""Running an automated step's action in the worker: a ``bash`` command or a ``python`` callable
of the plan's folder (issue 28; the SQL, HTTP and SSH kinds are to come).

A command is the catalogue's fixed text, run by Airflow's ``SubprocessHook`` in the plan's folder,
with the arguments as ``TRANSITION_ARG_<NAME>`` variables (:mod:`transition.plan.action_arguments`)
in an environment of their own: the worker's (Airflow's database URL, its secrets) is not handed
down. A callable is loaded from its file in the plan's folder and called with the arguments as
keyword arguments. What went wrong is an :class:`Outcome`, never an exception: the step's holder
is then asked to take over (to come), with the last line the action said.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
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
    return Outcome(
        False,
        _("actions of kind {kind} are not run yet (bash and python are)").format(kind=action.kind),
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
