"""The compiled-plan cache: keyed by content, with the last good plan kept beside the errors.

A DAG file calls :func:`load_plan`: when nothing changed it reads one JSON file of the cache folder
(``$TRANSITION_CACHE_DIR``, else ``.compiled/<config name>/``); when the workbook becomes invalid
it gets the last good plan *and* the problems. A changed workbook is compiled in a child process
(:mod:`transition.store.isolated_compile`); only a timeout or a child that could not start is tried
again, after :data:`RETRY_TRANSIENT_SECONDS`.

How it works: docs/architecture.md, "store/plan_store.py".
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from transition import settings
from transition.errors import ConfigError, Problem, WorkbookError, errors_only
from transition.i18n import current_language, use_language
from transition.plan.compiler import content_key
from transition.plan.config import PlanConfig, config_language, load_config, resolve_config_path
from transition.plan.model import Plan
from transition.plan.serial import plan_from_json
from transition.store.isolated_compile import compile_in_child

KEEP_ENTRIES = 4  # cache entries kept besides last-good.json
RETRY_TRANSIENT_SECONDS = 600  # a compile that timed out is tried again after this long


@dataclass
class LoadedPlan:
    """What a DAG file needs: the plan to run (maybe the last good one) and the current problems."""

    plan: Plan | None
    problems: list[Problem] = field(default_factory=list)
    from_cache: bool = False

    @property
    def errors(self) -> list[Problem]:
        return errors_only(self.problems)

    @property
    def is_stale(self) -> bool:
        """True when the plan shown is the last good one because the current workbook is invalid."""
        return bool(self.errors)


def cache_dir_for(config_path: Path) -> Path:
    base = settings.path(settings.CACHE_DIR) or config_path.resolve().parent / ".compiled"
    return base / config_path.stem


def load_plan(config_argument: str | os.PathLike[str] | None = None) -> LoadedPlan:
    """The plan and its problems (written in the plan's default language: the cutover managers read them)."""
    config_path = resolve_config_path(config_argument)
    cache = cache_dir_for(config_path)
    with use_language(config_language(config_path)):
        try:
            config = load_config(config_path)
            key, workbook_sha256 = content_key(config)
        except (ConfigError, WorkbookError) as exc:
            return LoadedPlan(_read_last_good(cache), exc.problems)
        return _load_for_key(config, cache, key, workbook_sha256)


def _load_for_key(config: PlanConfig, cache: Path, key: str, workbook_sha256: str) -> LoadedPlan:
    plan_file, errors_file = cache / f"plan-{key}.json", cache / f"errors-{key}.json"
    cached = _read_json(plan_file)
    if cached is not None:
        try:
            return LoadedPlan(
                plan_from_json(cached["plan"]),
                [Problem.from_json(p) for p in cached["problems"]],
                True,
            )
        except (KeyError, ValueError, TypeError):
            pass  # an entry from another version: compile again
    cached_errors = _read_json(errors_file)
    if cached_errors is not None and time.time() < cached_errors.get("retry_after", float("inf")):
        try:
            return LoadedPlan(
                _read_last_good(cache),
                [Problem.from_json(p) for p in cached_errors["problems"]],
                True,
            )
        except (KeyError, ValueError, TypeError):
            pass

    config_path = config.source or config.workbook_path
    child = compile_in_child(config_path, current_language(), config.workbook_path.name)
    if (
        child.key is not None and child.key != key
    ):  # the file changed while it was read: file it under what was read
        plan_file, errors_file = (
            cache / f"plan-{child.key}.json",
            cache / f"errors-{child.key}.json",
        )
    problems = child.problems
    if child.plan is None:
        entry: dict = {"problems": [p.to_json() for p in problems]}
        if child.transient:
            entry["retry_after"] = time.time() + RETRY_TRANSIENT_SECONDS
        _write_json(errors_file, entry)
        _prune(cache)
        return LoadedPlan(_read_last_good(cache), problems)
    try:
        plan = plan_from_json(child.plan)
    except (KeyError, ValueError, TypeError):
        return LoadedPlan(_read_last_good(cache), problems)
    _write_bytes(plan_file, child.entry)  # the child's JSON as it is: no second encoding
    _write_bytes(cache / "last-good.json", child.entry)
    _prune(cache)
    return LoadedPlan(plan, problems)


def _read_last_good(cache: Path) -> Plan | None:
    data = _read_json(cache / "last-good.json")
    if data is None:
        return None
    try:
        return plan_from_json(data["plan"])
    except (KeyError, ValueError, TypeError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    _write_bytes(
        path, json.dumps(data, separators=(",", ":")).encode("ascii")
    )  # ASCII: any file name


def _write_bytes(path: Path, data: bytes) -> None:
    """Atomic write: readers see the old file or the new one, never half of it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only deployment still works, it only compiles on every parse


def _prune(cache: Path) -> None:
    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    entries = sorted(
        (p for p in cache.glob("*-*.json") if p.name != "last-good.json"),
        key=modified,
        reverse=True,
    )
    for stale in entries[KEEP_ENTRIES:]:
        stale.unlink(missing_ok=True)
