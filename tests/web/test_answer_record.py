"""The answers record the api-server writes with each answer to a step, on a real PostgreSQL with
Airflow's own tables: written in the answer's transaction (both or neither), for the plan's steps
only, never for the clearing of an answer when a step asks again."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from throwaway_postgres import throwaway_database
from transition.runs.answers import answers_key
from transition.web import answer_record

DAG, RUN = "resa_dr1", "manual__2027-01-10T09:00:00+00:00"
RUN_AFTER = dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine():
    """A database with Airflow's tables, a run of DAG, and three task instances waiting for an
    answer: S01 and G (the plan's operators) and X (another operator)."""
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()

    with throwaway_database("transition_answers") as engine:
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO dag_run (dag_id, run_id, run_after, run_type, log_template_id,"
                    " clear_number, state) VALUES (:d, :r, :a, 'manual', NULL, 0, 'running')"
                ),
                {"d": DAG, "r": RUN, "a": RUN_AFTER},
            )
            for task, operator in (("S01", "StepOperator"), ("G", "GateOperator"), ("X", "Bash")):
                ti_id = uuid.uuid4()
                conn.execute(
                    sa.text(
                        "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index,"
                        " try_number, max_tries, pool, pool_slots, span_status, operator, state)"
                        " VALUES (:i, :t, :d, :r, -1, 2, 3, 'default_pool', 1, 'not_started', :o,"
                        " 'awaiting_input')"
                    ),
                    {"i": ti_id, "t": task, "d": DAG, "r": RUN, "o": operator},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO hitl_detail (ti_id, options, subject, params, created_at,"
                        " params_input) VALUES (:i, '[\"Start\", \"Close\"]', 's', '{}', now(), '{}')"
                    ),
                    {"i": ti_id},
                )
        answer_record.listen()
        yield engine


def answer(engine: sa.Engine, task: str, option: str | None, comment: object = None) -> None:
    """What Airflow's answer route does to the request's row (or, with None, what a step asking
    again does), committed."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance

    with Session(engine) as session:
        ti = session.scalar(sa.select(TaskInstance).where(TaskInstance.task_id == task))
        detail = session.scalar(sa.select(HITLDetail).where(HITLDetail.ti_id == ti.id))
        if option is None:
            detail.responded_by = None
            detail.responded_at = None
            detail.chosen_options = None
        else:
            detail.responded_by = {"id": "alice", "name": "alice"}
            detail.responded_at = dt.datetime(2027, 1, 10, 9, 5, tzinfo=dt.UTC)
            detail.chosen_options = [option]
            detail.params_input = {"comment": comment}
        session.commit()


def record(engine: sa.Engine, task: str) -> dict | None:
    from airflow.models.variable import Variable

    with Session(engine) as session:
        row = session.scalar(sa.select(Variable).where(Variable.key == answers_key(DAG, RUN, task)))
        return json.loads(row.val) if row is not None else None


def test_each_answer_is_recorded_with_its_try(engine):
    answer(engine, "S01", "Start", "on my way")
    answer(engine, "S01", None)  # the step asks again, for Close: its request is cleared
    answer(engine, "S01", "Close", 12345)
    assert record(engine, "S01") == {
        "run_after": RUN_AFTER.isoformat(),
        "answers": [
            {
                "option": "Start",
                "by": "alice",
                "at": "2027-01-10T09:05:00+00:00",
                "comment": "on my way",
                "try": 2,
            },
            {
                "option": "Close",
                "by": "alice",
                "at": "2027-01-10T09:05:00+00:00",
                "comment": 12345,
                "try": 2,
            },
        ],
    }
    answer(engine, "G", "Go")
    assert [a["option"] for a in record(engine, "G")["answers"]] == ["Go"]


def test_only_the_plans_steps_are_recorded(engine):
    answer(engine, "X", "Start")
    assert record(engine, "X") is None


def test_the_answer_and_its_record_are_one_transaction(engine):
    """When the record cannot be written, the answer is not taken either (Airflow answers 500 and
    the person may answer again): there is never an answer without its record."""
    from airflow.models.hitl import HITLDetail

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "ALTER TABLE variable ADD CONSTRAINT no_answers CHECK (key NOT LIKE 'transition.answers/%')"
            )
        )
    with pytest.raises(sa.exc.IntegrityError):
        answer(engine, "S01", "Close")
    with Session(engine) as session:
        assert (
            session.scalar(
                sa.select(HITLDetail.chosen_options).where(HITLDetail.chosen_options.is_not(None))
            )
            is None
        )
    assert record(engine, "S01") is None
