"""Compiling a changed workbook in a child process, so that nothing in it can take Airflow down.

:func:`compile_in_child` starts a fresh interpreter that limits its own memory (:data:`MEMORY_MB`)
and time (:data:`TIMEOUT_SECONDS`), compiles, and writes the result as JSON on its standard output;
its death comes back as a problem that :mod:`transition.store.plan_store` caches like any other.
The parent runs ``python -P -m transition.store.isolated_compile CONFIG_OR_WORKBOOK LANGUAGE``.

How it works: docs/architecture.md, "store/isolated_compile.py".
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transition import settings
from transition.errors import Problem, ProblemsError
from transition.i18n import _, format_count, use_language
from transition.locations import PLUGINS_DIR as PACKAGE_ROOT  # the folder holding the package
from transition.plan.compiler import compile_plan, content_key
from transition.plan.config import load_config
from transition.plan.serial import plan_to_json
from transition.workbook.cells import visible

MEMORY_MB = 2048  # a 20 MB workbook of 1,100 steps with 32,000-character descriptions compiles in about 500 MB
TIMEOUT_SECONDS = 20.0  # a 5,000-step plan compiles in well under a second


@dataclass
class ChildResult:
    """What the child said: the compiled plan (JSON) and the problems, or why it could not say."""

    key: str | None
    plan: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    transient: bool = (
        False  # timed out or could not start: worth trying again later, unlike a crash
    )
    entry: bytes = (
        b""  # ``{"plan": ..., "problems": [...]}`` as the child wrote it: the cache entry, as is
    )


def memory_limit_mb() -> int:
    return settings.positive(settings.COMPILE_MEMORY, MEMORY_MB)


def timeout_seconds() -> float:
    return float(settings.positive(settings.COMPILE_TIMEOUT, TIMEOUT_SECONDS))


def compile_in_child(config_path: Path, language: str, location: str) -> ChildResult:
    """Compile ``config_path`` in a fresh interpreter under memory and time limits."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PACKAGE_ROOT), environment.get("PYTHONPATH")])
    )
    command = [
        sys.executable,
        "-P",
        "-m",
        "transition.store.isolated_compile",
        os.fsdecode(config_path),
        language,
    ]
    timeout = timeout_seconds()
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=environment,
            close_fds=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ChildResult(
            None,
            None,
            [
                _unreadable(
                    location,
                    _(
                        "reading it took more than {seconds} s, far longer than a plan; it is damaged or far bigger than a plan"
                    ).format(seconds=f"{timeout:g}"),
                )
            ],
            transient=True,
        )
    except OSError as exc:
        return ChildResult(
            None,
            None,
            [
                _unreadable(
                    location,
                    _("no process could be started to read it ({reason})").format(
                        reason=exc.strerror or type(exc).__name__
                    ),
                )
            ],
            transient=True,
        )
    if done.returncode == 0:
        key, _newline, entry = done.stdout.partition(b"\n")
        try:
            data = json.loads(entry)
            return ChildResult(
                key.decode("ascii") or None,
                data["plan"],
                [Problem.from_json(p) for p in data["problems"]],
                entry=entry,
            )
        except (ValueError, KeyError, TypeError):
            pass  # reported below, with what the child said
    return ChildResult(None, None, [_unreadable(location, _death(done.returncode, done.stderr))])


def _death(returncode: int, stderr: bytes) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGXCPU:
            return _(
                "reading it took more than {seconds} s of processor time, far longer than a plan; it is damaged or "
                "far bigger than a plan"
            ).format(seconds=f"{timeout_seconds():g}")
        return _(
            "the reader stopped ({signal}), most likely out of memory (it may use {memory} MB); the file is damaged "
            "or far bigger than a plan"
        ).format(signal=name, memory=format_count(memory_limit_mb()))
    last = next(
        (line for line in reversed(stderr.decode("utf-8", "replace").splitlines()) if line.strip()),
        "",
    )
    return _("the reader stopped (exit code {code}): {reason}").format(
        code=returncode, reason=_one_line(last) or "-"
    )


def _unreadable(location: str, reason: str) -> Problem:
    return Problem(location, _("the workbook could not be read: {reason}").format(reason=reason))


def _one_line(text: str) -> str:
    return visible(text.strip())[:300]


# -- the child -----------------------------------------------------------------------------------


def _limit_self() -> None:
    memory = memory_limit_mb() * 1024 * 1024
    cpu = int(timeout_seconds()) + 5
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu)):
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))


def child_main(argv: list[str]) -> int:
    """Print the content key, a new line, and ``{"plan", "problems"}`` as JSON (the cache entry); problems when
    the file cannot be read."""
    _limit_self()

    config_argument, language = argv[0], argv[1]
    output: dict[str, Any]
    with use_language(language):
        location = os.path.basename(config_argument)
        try:
            config = load_config(config_argument)
            location = config.workbook_path.name
            key, workbook_sha256 = content_key(config)
            result = compile_plan(config, key, workbook_sha256)
            output = {
                "key": key,
                "plan": plan_to_json(result.plan) if result.plan is not None else None,
                "problems": [p.to_json() for p in result.problems],
            }
        except ProblemsError as exc:
            output = {"key": None, "plan": None, "problems": [p.to_json() for p in exc.problems]}
        except MemoryError:
            output = {
                "key": None,
                "plan": None,
                "problems": [
                    _unreadable(
                        location,
                        _(
                            "it needs more than {memory} MB of memory, far more than a plan; it is damaged or far bigger than a plan"
                        ).format(memory=format_count(memory_limit_mb())),
                    ).to_json()
                ],
            }
        except RecursionError as exc:
            output = {
                "key": None,
                "plan": None,
                "problems": [_unreadable(location, _one_line(repr(exc))).to_json()],
            }
        except (
            BaseException
        ) as exc:  # a bug, a reader's error or panic we did not foresee: a problem, not a crash
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            output = {
                "key": None,
                "plan": None,
                "problems": [
                    _unreadable(location, _one_line(f"{type(exc).__name__}: {exc}")).to_json()
                ],
            }
        key = output.pop("key") or ""
        text = json.dumps(
            output, separators=(",", ":")
        )  # ASCII: also for file names that are not UTF-8
    sys.stdout.write(key + "\n" + text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
