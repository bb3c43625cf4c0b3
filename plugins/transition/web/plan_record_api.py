"""``GET /transition/api/dags/{dag_id}/runs/{run_id}/plan-of-record``: the plan the run used.

The record the run's watch wrote when the run started (:mod:`transition.runs.plan_of_record`),
and what changed in the plan since: the current content key, and when it differs the steps added,
removed and the durations changed, and since when (Airflow's first DAG version after the record,
else when the plan now was compiled). ``?plan=true`` adds the compiled plan as it was recorded;
``?files=true`` the workbook and configuration as they were (base64), when they were kept. The
recap's run view holds the same (:func:`run_plan_of_record`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zlib
import zoneinfo
from typing import Any, NamedTuple

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException

from transition.i18n import _, use_language
from transition.plan.model import Plan
from transition.runs.plan_of_record import (
    ROLES,
    files_key,
    loaded,
    plan_changes,
    record_key,
    record_view,
    same_run,
    summary,
    unpack_file,
    unpack_plan,
    when_changed,
)
from transition.runs.views import PlanOfRecordView
from transition.web.app import app, dry_run_or_404, plan_or_404, problems, user_language


class StoredRecord(NamedTuple):
    found: bool  # the run exists
    record: dict[str, Any] | None  # its plan of record
    run_after: dt.datetime | None
    ended: dt.datetime | None  # None: it runs


def stored_record(session: Any, dag_id: str, run_id: str) -> StoredRecord:
    """The run and its plan of record: a record left by a deleted run of the same id is not
    this run's."""
    # deferred: Airflow's ORM models, on the api-server only
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun

    run = session.execute(
        sa.select(DagRun.run_after, DagRun.end_date).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id
        )
    ).first()
    if run is None:
        return StoredRecord(False, None, None, None)
    record = loaded(_variable(session, record_key(dag_id, run_id)))
    mine = record is not None and same_run(record, run.run_after)
    return StoredRecord(True, record if mine else None, run.run_after, run.end_date)


def _variable(session: Any, key: str) -> str | None:
    import sqlalchemy as sa  # deferred: the api-server's database
    from airflow.models.variable import Variable

    row = session.scalar(sa.select(Variable).where(Variable.key == key))
    return row.val if row is not None else None


def first_version_after(session: Any, dag_id: str, after: Any) -> tuple[dt.datetime, int] | None:
    """(created at, number) of the first DAG version Airflow made of ``dag_id`` after ``after``
    (an ISO time); None when there is none, or no time."""
    import sqlalchemy as sa  # deferred: the api-server's database
    from airflow.models.dag_version import DagVersion

    try:
        moment = dt.datetime.fromisoformat(str(after))
    except ValueError:
        return None
    row = session.execute(
        sa.select(DagVersion.created_at, DagVersion.version_number)
        .where(DagVersion.dag_id == dag_id, DagVersion.created_at > moment)
        .order_by(DagVersion.created_at)
        .limit(1)
    ).first()
    return (row.created_at, row.version_number) if row is not None else None


def changes_of(
    session: Any, stored: StoredRecord, current: Plan, dry_run: str, dag_id: str
) -> dict[str, Any]:
    """What changed since the record (:func:`plan_changes`) and, when it changed, since when."""
    assert stored.record is not None
    changes = plan_changes(stored.record, current, dry_run)
    if changes["changed"]:
        version = first_version_after(session, dag_id, stored.record.get("recorded_at"))
        changes.update(when_changed(current, version, stored.ended))
    return changes


def run_plan_of_record(
    session: Any, plan: Plan, dry_run: str, run_id: str
) -> PlanOfRecordView | None:
    """The run view's plan of record (None: the run has none)."""
    dag_id = plan.dag_id(dry_run)
    stored = stored_record(session, dag_id, run_id)
    if stored.record is None:
        return None
    changes = changes_of(session, stored, plan, dry_run, dag_id)
    return record_view(stored.record, changes, zoneinfo.ZoneInfo(plan.timezone))


def stored_files(session: Any, stored: StoredRecord, dag_id: str, run_id: str) -> dict[str, Any]:
    """The workbook and configuration as the run started with them (those kept): name, size,
    SHA-256 and the bytes in base64, by role."""
    kept = loaded(_variable(session, files_key(dag_id, run_id)))
    if kept is None or stored.run_after is None or not same_run(kept, stored.run_after):
        return {}
    named = (stored.record or {}).get("files")
    found: dict[str, Any] = {}
    for role in ROLES:
        try:
            data = unpack_file(str(kept[role]))
        except (KeyError, ValueError, TypeError, zlib.error):
            continue  # not kept (or not readable)
        about = named.get(role) if isinstance(named, dict) else None
        about = about if isinstance(about, dict) else {}
        found[role] = {
            "name": str(about.get("name") or role),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_base64": base64.b64encode(data).decode("ascii"),
        }
    return found


@app.get(
    "/api/dags/{dag_id}/runs/{run_id}/plan-of-record",
    dependencies=[Depends(requires_access_dag("GET"))],
    responses=problems(400, 401, 403, 404),
)
def plan_of_record(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    user: GetUserDep,
    plan: bool = False,
    files: bool = False,
) -> dict[str, Any]:
    with use_language(user_language(user)):
        current = plan_or_404()
        dry_run = dry_run_or_404(current, dag_id)
        stored = stored_record(session, dag_id, run_id)
        if not stored.found:
            raise HTTPException(404, _("no run '{run}' of '{dag}'").format(run=run_id, dag=dag_id))
    if stored.record is None:
        return {"recorded": False, "record": None, "changes": None}
    answer: dict[str, Any] = {
        "recorded": True,
        "record": summary(stored.record),
        "changes": changes_of(session, stored, current, dry_run, dag_id),
    }
    if plan:
        try:
            answer["plan"] = unpack_plan(str(stored.record.get("plan", "")))
        except (ValueError, zlib.error):
            answer["plan"] = None
    if files:
        answer["files"] = stored_files(session, stored, dag_id, run_id)
    return answer
