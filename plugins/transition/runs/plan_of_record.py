"""The plan of record: the version of the plan a run uses, recorded with the run when it starts.

The run's watch writes it once (an Airflow Variable ``transition.plan_of_record/<dag>/<run>``,
kept when the run ends): the workbook's and the configuration's SHA-256, the compiled plan's format
and content key, Airflow's DAG version, and the compiled plan itself (zlib, base64), so that what
changed while the run ran (steps added, removed, durations) can be said later (:func:`plan_changes`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from transition.plan.model import Plan
from transition.plan.serial import FORMAT_VERSION, plan_from_json, plan_to_json
from transition.runs.variable_keys import bounded_key

PREFIX = "transition.plan_of_record/"
DESCRIPTION = "transition: the plan a dry run's run used (its plan of record)"


def record_key(dag_id: str, run_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}")


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


def plan_record(
    plan: Plan,
    dry_run: str,
    run_after: dt.datetime,
    now: dt.datetime,
    dag_version_id: str | None = None,
) -> dict[str, Any]:
    """What the run records when it starts (the compiled plan under ``plan``)."""
    return {
        "run_after": run_after.isoformat(),
        "recorded_at": now.isoformat(),
        "dry_run": dry_run,
        "workbook": plan.source.workbook,
        "workbook_sha256": plan.source.workbook_sha256,
        "config": plan.source.config,
        # the file as the watch read it; the content key covers the one compiled
        "config_sha256": file_sha256(plan.source.config),
        "format": FORMAT_VERSION,
        "key": plan.source.key,
        "compiled_at": plan.source.compiled_at.isoformat(),
        "dag_version_id": dag_version_id,
        "plan": pack_plan(plan),
    }


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
        before = plan_from_json(unpack_plan(str(record["plan"])))
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


def record_run(context: Any, plan: Plan, dry_run: str) -> bool:
    """Write the run's plan of record unless this run instance has one (the watch's first look,
    and again after a retry: written once). True when written now."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    ti, run_after = context["ti"], context["dag_run"].run_after
    key = record_key(ti.dag_id, ti.run_id)
    if same_run(loaded(Variable.get(key, default=None)), run_after):
        return False
    version = getattr(ti, "dag_version_id", None)
    record = plan_record(
        plan, dry_run, run_after, dt.datetime.now(dt.UTC), str(version) if version else None
    )
    Variable.set(key, json.dumps(record, sort_keys=True), description=DESCRIPTION)
    return True
