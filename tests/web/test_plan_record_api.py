"""The plan of record as the api-server reads it (transition.web.plan_record_api), on Airflow's
tables in SQLite: the run view's record and since when the plan changed (Airflow's DAG versions,
else the compile), the workbook and configuration given back byte for byte on request, and a
record or files left by a deleted run of the same id not taken for this run's.

The same on a real Airflow, a run and a change of its workbook: tests/e2e/test_e2e_evidence.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from conftest import plan_before_and_after
from transition.runs.plan_of_record import (
    files_key,
    kept_files,
    plan_record,
    record_key,
)
from transition.web import permissions
from transition.web.plan_record_api import plan_of_record, run_plan_of_record

RUN = "manual__1"
RUN_AFTER = dt.datetime(2027, 1, 14, 8, 0, tzinfo=dt.UTC)
RECORDED = RUN_AFTER + dt.timedelta(seconds=3)


@pytest.fixture(scope="module")
def engine() -> Any:
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    Base.metadata.create_all(engine)
    return engine


@pytest.fixture
def session(engine: Any) -> Any:
    with Session(engine) as session:
        yield session
        session.rollback()


@pytest.fixture
def plans(tmp_path: Path) -> SimpleNamespace:
    """The plan the run started with (``before``, in a/) and the plan now (``after``, in b/:
    CO-110 30 min -> 90 min, HO-010 removed, CO-120 added)."""
    before, after = plan_before_and_after(tmp_path)
    return SimpleNamespace(before=before, after=after, folder=tmp_path / "a")


def a_run(session: Any, plan: Any, ended: dt.datetime | None = None, versions: tuple = ()) -> str:
    """A run of DR1 with its record and files as the watch writes them, and DAG versions made
    at ``versions`` (times)."""
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable

    dag_id = plan.dag_id("DR1")
    session.execute(
        sa.insert(DagRun.__table__).values(
            dag_id=dag_id,
            run_id=RUN,
            run_after=RUN_AFTER,
            end_date=ended,
            run_type="manual",
            clear_number=0,
            state="running" if ended is None else "success",
        )
    )
    for number, made in enumerate(versions, start=2):
        session.execute(
            sa.insert(DagVersion.__table__).values(
                id=uuid.uuid4(),
                version_number=number,
                dag_id=dag_id,
                bundle_name="dags-folder",
                created_at=made,
                last_updated=made,
            )
        )
    files, packed = kept_files(plan)
    record = plan_record(plan, "DR1", RUN_AFTER, RECORDED, "0195-v1", files)
    session.add(Variable(key=record_key(dag_id, RUN), val=json.dumps(record)))
    kept = {"run_after": RUN_AFTER.isoformat(), **packed}
    session.add(Variable(key=files_key(dag_id, RUN), val=json.dumps(kept)))
    session.flush()
    return dag_id


def test_the_run_view_says_since_the_first_dag_version_after_the_record(session, plans):
    changed_at = RUN_AFTER + dt.timedelta(hours=2)
    a_run(session, plans.before, versions=(RUN_AFTER - dt.timedelta(days=1), changed_at))
    view = run_plan_of_record(session, plans.after, "DR1", RUN)
    assert view is not None
    assert view["workbook"] == "plan.xlsx" and view["recorded_at"] == "2027-01-14T09:00:03+01:00"
    assert view["workbook_sha256"] == plans.before.source.workbook_sha256
    assert view["changes"] == {
        "changed": True,
        "compared": True,
        "added": ["CO-120"],
        "removed": ["HO-010"],
        "durations": [{"step": "CO-110", "before_minutes": 30.0, "after_minutes": 90.0}],
        "since": "2027-01-14T11:00:00+01:00",  # the first DAG version made after the record
        "since_from": "dag_version",
        "since_version": 3,
        "while_running": True,
    }
    assert run_plan_of_record(session, plans.before, "DR1", RUN)["changes"]["changed"] is False


def test_a_change_after_the_run_ended_says_so(session, plans):
    ended = RUN_AFTER + dt.timedelta(hours=1)
    a_run(session, plans.before, ended=ended, versions=(ended + dt.timedelta(days=2),))
    changes = run_plan_of_record(session, plans.after, "DR1", RUN)["changes"]
    assert changes["while_running"] is False and changes["since_version"] == 2


def test_without_a_dag_version_after_the_record_since_the_compile(session, plans):
    a_run(session, plans.before)  # Airflow has not parsed the change yet; the api-server has
    changes = run_plan_of_record(session, plans.after, "DR1", RUN)["changes"]
    assert changes["since_from"] == "compiled_at" and changes["since_version"] is None
    compiled = plans.after.source.compiled_at
    assert dt.datetime.fromisoformat(changes["since"]) == compiled


def test_the_files_on_request_byte_for_byte(session, plans, monkeypatch):
    dag_id = a_run(session, plans.before)
    monkeypatch.setattr(permissions, "current_plan", lambda: plans.after)
    user = SimpleNamespace(get_id=lambda: "admin", name="admin")
    quick = plan_of_record(dag_id, RUN, session, user)
    assert quick["recorded"] and "files" not in quick and "plan" not in quick
    assert "plan" not in quick["record"] and quick["record"]["files"]["workbook"]["kept"]
    assert quick["changes"]["since_from"] == "compiled_at"
    answer = plan_of_record(dag_id, RUN, session, user, files=True)
    for role, name in (("workbook", "plan.xlsx"), ("config", "config.yaml")):
        kept = answer["files"][role]
        original = (plans.folder / name).read_bytes()
        assert kept["name"] == name and base64.b64decode(kept["content_base64"]) == original
        assert kept["sha256"] == answer["record"]["files"][role]["sha256"]


def test_a_deleted_runs_record_and_files_are_not_this_runs(session, plans, monkeypatch):
    from airflow.models.variable import Variable

    dag_id = a_run(session, plans.before)
    session.execute(sa.delete(Variable).where(Variable.key == record_key(dag_id, RUN)))
    monkeypatch.setattr(permissions, "current_plan", lambda: plans.after)
    user = SimpleNamespace(get_id=lambda: "admin", name="admin")
    assert run_plan_of_record(session, plans.after, "DR1", RUN) is None  # an older run: none
    assert plan_of_record(dag_id, RUN, session, user, files=True) == {
        "recorded": False,
        "record": None,
        "changes": None,
    }
    row = session.scalar(sa.select(Variable).where(Variable.key == files_key(dag_id, RUN)))
    kept = json.loads(row.val)
    row.val = json.dumps({**kept, "run_after": (RUN_AFTER - dt.timedelta(days=1)).isoformat()})
    files, _packed = kept_files(plans.before)
    record = plan_record(plans.before, "DR1", RUN_AFTER, RECORDED, None, files)
    session.add(Variable(key=record_key(dag_id, RUN), val=json.dumps(record)))
    session.flush()
    assert plan_of_record(dag_id, RUN, session, user, files=True)["files"] == {}
