"""make run's demo database (the sample plan's SQL steps): made on a PostgreSQL server with its
register, made again without a change, and the sample's own SQL actions of plan/actions.yaml run
on it through the connection it returns, as the DEMO dry run runs them."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from throwaway_postgres import POSTGRES, psql
from transition.local.demo_database import prepare_demo_database
from transition.locations import REPO_ROOT
from transition.plan.actions import read_catalogue
from transition.runner.action_runs import run_action


def test_the_demo_database_is_made_once_and_the_samples_sql_steps_run_on_it(tmp_path, monkeypatch):
    name = f"demo_{uuid.uuid4().hex[:10]}"
    try:
        connection = prepare_demo_database("127.0.0.1", "postgres", 5432, database=name)
        assert prepare_demo_database("127.0.0.1", "postgres", 5432, database=name) == connection
        engine = sa.create_engine(f"{POSTGRES}/{name}")
        with engine.connect() as db:
            counts = dict(
                db.execute(sa.text("SELECT region, count(*) FROM register GROUP BY 1")).all()
            )
            first = db.execute(sa.text("SELECT min(ean) FROM register")).scalar()
        assert counts == {"LIEGE": 1250, "NAMUR": 400}  # not twice
        assert first == "541448000000001"  # as the sample's export writes them
        monkeypatch.setenv("AIRFLOW_CONN_DEMO_DB", connection)
        catalogue = read_catalogue(REPO_ROOT / "plan" / "actions.yaml")
        for _ in range(2):  # a dry run played again replaces its load
            loaded = run_action(catalogue["load_register"], {"region": "LIEGE"}, tmp_path)
            assert (loaded.ok, loaded.said) == (True, "the SQL ran"), loaded
        counted = run_action(catalogue["count_loaded"], {"region": "LIEGE"}, tmp_path, check=True)
        assert (counted.ok, counted.value) == (True, 1250.0), counted
        with engine.connect() as db:
            assert db.execute(sa.text("SELECT count(*) FROM mig6_register")).scalar() == 1250
        engine.dispose()
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
