"""The plan of record: the version of the plan a run uses, recorded with the run when it starts.

The run's watch writes it once (an Airflow Variable ``transition.plan_of_record/<dag>/<run>``,
kept when the run ends): the workbook's and the configuration's SHA-256, the compiled plan's format
and content key, Airflow's DAG version, and the compiled plan itself (zlib, base64), so that what
changed while the run ran (steps added, removed, durations) can be said later (:func:`plan_changes`).
The workbook's and the configuration's bytes as they were are kept beside it, in
``transition.plan_files/<dag>/<run>`` (zlib, base64; a file above :data:`KEEP_LIMIT` compressed is
not, and the record says why), so that reading the record stays quick. Since when the plan
differs: :func:`when_changed`; docs/evidence.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transition.plan.model import Plan
from transition.plan.serial import FORMAT_VERSION, plan_from_json, plan_to_json
from transition.runs.variable_keys import bounded_key
from transition.runs.views import PlanOfRecordView

log = logging.getLogger(__name__)

PREFIX = "transition.plan_of_record/"
DESCRIPTION = "transition: the plan a dry run's run used (its plan of record)"
FILES_PREFIX = "transition.plan_files/"
FILES_DESCRIPTION = "transition: the workbook and configuration a dry run's run started with"
KEEP_LIMIT = 20 * 1024 * 1024  # compressed bytes: a bigger file is not kept (the record says so)
ROLES = ("workbook", "config")
# Why a file is not kept with the record (a file's "why").
TOO_BIG, UNREADABLE, NOT_STORED = "too-big", "unreadable", "not-stored"


def record_key(dag_id: str, run_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}")


def files_key(dag_id: str, run_id: str) -> str:
    return bounded_key(f"{FILES_PREFIX}{dag_id}/{run_id}")


def file_sha256(path: str | None) -> str | None:
    """The SHA-256 of the file as it is now; None without a file or when it cannot be read."""
    if not path:
        return None
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def pack_plan(plan: Plan) -> str:
    data = json.dumps(plan_to_json(plan), sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def unpack_plan(text: str) -> dict[str, Any]:
    return json.loads(zlib.decompress(base64.b64decode(text)))


def read_kept(
    path: str | None, limit: int = KEEP_LIMIT
) -> tuple[dict[str, Any] | None, str | None]:
    """The file as it is now: what the record says of it (name, size, SHA-256, ``kept``, ``why``
    not), and its bytes packed (zlib, base64); None when not kept (more than ``limit`` bytes
    compressed, or it cannot be read). (None, None) without a file."""
    if not path:
        return None, None
    about: dict[str, Any] = {"name": Path(path).name, "size": 0, "sha256": None}
    digest, packer, packed = hashlib.sha256(), zlib.compressobj(), io.BytesIO()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                about["size"] += len(chunk)
                if packed.tell() <= limit:  # past the limit: only counted and hashed
                    packed.write(packer.compress(chunk))
    except OSError:
        return {**about, "size": None, "kept": False, "why": UNREADABLE}, None
    about["sha256"] = digest.hexdigest()
    if packed.tell() <= limit:
        packed.write(packer.flush())
    if packed.tell() > limit:
        return {**about, "kept": False, "why": TOO_BIG}, None
    return {**about, "kept": True, "why": None}, base64.b64encode(packed.getvalue()).decode()


def kept_files(plan: Plan, limit: int = KEEP_LIMIT) -> tuple[dict[str, Any], dict[str, str]]:
    """The workbook's and the configuration's entries in the record (the configuration's None
    for a bare workbook), and the bytes of those kept, packed."""
    about: dict[str, Any] = {}
    packed: dict[str, str] = {}
    for role, path in zip(ROLES, (plan.source.workbook, plan.source.config), strict=True):
        about[role], data = read_kept(path, limit)
        if data is not None:
            packed[role] = data
    return about, packed


def unpack_file(text: str) -> bytes:
    """A file's bytes as :func:`read_kept` packed them."""
    return zlib.decompress(base64.b64decode(text))


def plan_record(
    plan: Plan,
    dry_run: str,
    run_after: dt.datetime,
    now: dt.datetime,
    dag_version_id: str | None = None,
    files: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the run records when it starts (the compiled plan under ``plan``); ``files``: the
    workbook's and the configuration's entries (:func:`kept_files`), their bytes kept apart."""
    config = (files or {}).get("config")
    record = {
        "run_after": run_after.isoformat(),
        "recorded_at": now.isoformat(),
        "dry_run": dry_run,
        "workbook": plan.source.workbook,
        "workbook_sha256": plan.source.workbook_sha256,
        "config": plan.source.config,
        # the file as the watch read it; the content key covers the one compiled
        "config_sha256": config["sha256"] if config else file_sha256(plan.source.config),
        "format": FORMAT_VERSION,
        "key": plan.source.key,
        "compiled_at": plan.source.compiled_at.isoformat(),
        "dag_version_id": dag_version_id,
        "plan": pack_plan(plan),
    }
    if files is not None:
        record["files"] = dict(files)
    return record


def same_run(record: Any, run_after: dt.datetime) -> bool:
    """Whether ``record`` is this run instance's (not a deleted run's of the same id)."""
    try:
        return dt.datetime.fromisoformat(record["run_after"]) == run_after
    except (TypeError, KeyError, ValueError):
        return False


def loaded(raw: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its compiled plan."""
    return {k: v for k, v in record.items() if k != "plan"}


@functools.lru_cache(maxsize=8)
def recorded_plan(packed: str) -> Plan:
    """The plan a record holds, read once: the recap compares it with the plan now at each look."""
    return plan_from_json(unpack_plan(packed))


def plan_changes(record: dict[str, Any], current: Plan | None, dry_run: str) -> dict[str, Any]:
    """What changed in the dry run's plan since the run recorded it: ``changed`` (the content key
    differs), and when the recorded plan could be read, the steps ``added``, ``removed`` and the
    ``durations`` changed (step, minutes before, minutes after)."""
    changes: dict[str, Any] = {
        "current_key": current.source.key if current is not None else None,
        "changed": current is not None and current.source.key != record.get("key"),
    }
    if not changes["changed"] or current is None:
        return changes
    try:
        before = recorded_plan(str(record["plan"]))
    except (KeyError, ValueError, TypeError, zlib.error):
        changes["compared"] = False  # another format: only the key says it changed
        return changes
    old = before.schedules[dry_run].steps if dry_run in before.schedules else {}
    new = current.schedules[dry_run].steps if dry_run in current.schedules else {}
    changes["compared"] = True
    changes["added"] = [s for s in new if s not in old]
    changes["removed"] = [s for s in old if s not in new]
    changes["durations"] = [
        {
            "step": s,
            "before_minutes": before.steps[s].duration.total_seconds() / 60,
            "after_minutes": current.steps[s].duration.total_seconds() / 60,
        }
        for s in new
        if s in old and before.steps[s].duration != current.steps[s].duration
    ]
    return changes


def when_changed(
    current: Plan, version: tuple[dt.datetime, int] | None, ended: dt.datetime | None
) -> dict[str, Any]:
    """When the plan first differed from the recorded one: ``since`` the first DAG ``version``
    Airflow made after the record (``since_from`` "dag_version", its ``since_version`` number),
    else when the plan now was compiled ("compiled_at": it differed by then at the latest);
    ``while_running``: before the run ``ended`` (None: it runs)."""
    if version is not None:
        since, source, number = version[0], "dag_version", version[1]
    else:
        since, source, number = current.source.compiled_at, "compiled_at", None
    return {
        "since": since.isoformat(),
        "since_from": source,
        "since_version": number,
        "while_running": ended is None or since < ended,
    }


def record_view(
    record: Mapping[str, Any], changes: Mapping[str, Any], zone: dt.tzinfo
) -> PlanOfRecordView:
    """The run view's plan of record: the record's summary (times in ``zone``) and what changed
    since (:func:`plan_changes`, :func:`when_changed`). A record changed by hand gives blanks."""
    files = record.get("files") if isinstance(record.get("files"), dict) else {}
    number = changes.get("since_version")
    return {
        "workbook": Path(_text(record.get("workbook")) or "").name,
        "workbook_sha256": _text(record.get("workbook_sha256")) or "",
        "config": Path(config).name if (config := _text(record.get("config"))) else None,
        "config_sha256": _text(record.get("config_sha256")),
        "format": record["format"] if isinstance(record.get("format"), int) else None,
        "dag_version_id": _text(record.get("dag_version_id")),
        "recorded_at": _local(record.get("recorded_at"), zone),
        "files": {
            role: {
                "name": _text(about.get("name")) or "",
                "size": about["size"] if isinstance(about.get("size"), int) else None,
                "sha256": _text(about.get("sha256")),
                "kept": about.get("kept") is True,
                "why": _text(about.get("why")),
            }
            for role, about in (files or {}).items()
            if role in ROLES and isinstance(about, dict)
        },
        "changes": {
            "changed": changes.get("changed") is True,
            "compared": changes.get("compared") is True,
            "added": [str(s) for s in changes.get("added") or []],
            "removed": [str(s) for s in changes.get("removed") or []],
            "durations": list(changes.get("durations") or []),
            "since": _local(changes.get("since"), zone),
            "since_from": _text(changes.get("since_from")),
            "since_version": number if isinstance(number, int) else None,
            "while_running": changes.get("while_running") is True,
        },
    }


def _text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _local(value: Any, zone: dt.tzinfo) -> str | None:
    """An ISO time of the record in ``zone``; None when it is none or not one."""
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(zone).isoformat()
    except (TypeError, ValueError):
        return None


def record_run(context: Any, plan: Plan, dry_run: str) -> bool:
    """Write the run's plan of record unless this run instance has one (the watch's first look,
    and again after a retry: written once), the workbook and configuration kept beside it when
    they can be. True when written now."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    ti, run_after = context["ti"], context["dag_run"].run_after
    key = record_key(ti.dag_id, ti.run_id)
    if same_run(loaded(Variable.get(key, default=None)), run_after):
        return False
    version = getattr(ti, "dag_version_id", None)
    files, packed = kept_files(plan)
    if packed and not keep_files(files_key(ti.dag_id, ti.run_id), run_after, packed):
        files = {
            role: {**about, "kept": False, "why": NOT_STORED} if role in packed else about
            for role, about in files.items()
        }
    record = plan_record(
        plan, dry_run, run_after, dt.datetime.now(dt.UTC), str(version) if version else None, files
    )
    Variable.set(key, json.dumps(record, sort_keys=True), description=DESCRIPTION)
    return True


def keep_files(key: str, run_after: dt.datetime, packed: Mapping[str, str]) -> bool:
    """Write the files' Variable; False when Airflow would not (the run goes on without it)."""
    from airflow.sdk import Variable  # deferred: only inside a running task

    value = json.dumps({"run_after": run_after.isoformat(), **packed}, sort_keys=True)
    try:
        Variable.set(key, value, description=FILES_DESCRIPTION)
    except Exception:  # a value too big for the database's column, ...: the record says so
        log.exception("The workbook and configuration could not be kept with the plan of record")
        return False
    return True
