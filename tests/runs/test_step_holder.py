"""The holders the api-server writes on a transfer, on a real PostgreSQL: each step's Variable and the
run's map (step -> holder) that the calendar follows, kept whole when two transfers run at once.

Airflow's own ``variable`` table (its ORM model, with the ``team`` table it refers to); ``dag_run``
reduced to the columns read.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from throwaway_postgres import throwaway_database
from transition.runs.step_holder import holder_key, run_holders_key, write_holder

DAG, RUN = "resa_dr1", "manual__2027-01-10T09:00:00+00:00"
RUN_AFTER = dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine():
    from airflow.models.variable import Variable

    with throwaway_database("transition_holders") as engine:
        tables = Variable.metadata.tables
        Variable.metadata.create_all(engine, tables=[tables["team"], tables["variable"]])
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE dag_run (id serial PRIMARY KEY, dag_id varchar(250),"
                    " run_id varchar(250), run_after timestamptz)"
                )
            )
            conn.execute(
                sa.text("INSERT INTO dag_run (dag_id, run_id, run_after) VALUES (:d, :r, :a)"),
                {"d": DAG, "r": RUN, "a": RUN_AFTER},
            )
        yield engine


def value(engine: sa.Engine, key: str) -> dict:
    from airflow.models.variable import Variable

    with Session(engine) as session:
        row = session.scalar(sa.select(Variable).where(Variable.key == key))
        assert row is not None, key
        return json.loads(row.val)


def test_a_transfer_writes_the_steps_holder_and_the_runs_map(engine):
    with Session(engine) as session:
        write_holder(session, DAG, RUN, "A", "frank", ["frank"])
        write_holder(session, DAG, RUN, "B", "gina", ["gina"])
        session.commit()
    with Session(engine) as session:
        handed = [("alice", "frank"), ("frank", "gina")]  # handed on: who to whom (four eyes)
        write_holder(session, DAG, RUN, "A", "gina", ["frank", "gina"], handed)
        session.commit()
    assert value(engine, holder_key(DAG, RUN, "A")) == {
        "holder": "gina",
        "transferees": ["frank", "gina"],
        "handed": [["alice", "frank"], ["frank", "gina"]],
        "run_after": RUN_AFTER.isoformat(),
    }
    assert value(engine, run_holders_key(DAG, RUN)) == {
        "run_after": RUN_AFTER.isoformat(),
        "steps": {"A": "gina", "B": "gina"},
    }


def test_a_run_triggered_again_starts_a_new_map(engine):
    with Session(engine) as session:
        write_holder(session, DAG, RUN, "A", "frank", ["frank"])
        session.commit()
    later = RUN_AFTER + dt.timedelta(days=1)  # deleted and triggered again under the same id
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE dag_run SET run_after = :a"), {"a": later})
    with Session(engine) as session:
        write_holder(session, DAG, RUN, "B", "gina", ["gina"])
        session.commit()
    assert value(engine, run_holders_key(DAG, RUN)) == {
        "run_after": later.isoformat(),
        "steps": {"B": "gina"},
    }


def test_two_first_transfers_at_once_both_stay_in_the_runs_map(engine):
    """The first transfer has written (the map's row is new, not committed) when the second starts:
    the second waits for the row, then reads the first's map and adds to it."""
    first = Session(engine)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with Session(engine) as session:
                write_holder(session, DAG, RUN, "B", "gina", ["gina"])
                session.commit()
        except BaseException as exc:  # seen by the test thread
            errors.append(exc)

    try:
        write_holder(first, DAG, RUN, "A", "frank", ["frank"])
        thread = threading.Thread(target=second)
        thread.start()
        with engine.connect() as watcher:  # the second is waiting for a lock the first holds
            for _ in range(300):
                waiting = watcher.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
                if waiting or not thread.is_alive():
                    break
                time.sleep(0.1)
        assert waiting, "the second transfer did not wait for the first"
        first.commit()
    finally:
        first.close()
    thread.join(60)
    assert not thread.is_alive() and not errors, errors
    assert value(engine, run_holders_key(DAG, RUN))["steps"] == {"A": "frank", "B": "gina"}
