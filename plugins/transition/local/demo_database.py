"""The sample plan's demo database: what its SQL steps load and count on ``make run``.

A database of its own (:data:`DEMO_DATABASE`) beside Airflow's on the embedded PostgreSQL, made the
first time and kept: ``register`` holds the test EAN register (1,250 in LIEGE, 400 in NAMUR, the
EANs the sample's export writes), ``mig6_register`` what the DEMO dry run loads into the new
system. :func:`prepare_demo_database` makes it and returns the Airflow connection
(:data:`DEMO_CONNECTION`, ``AIRFLOW_CONN_DEMO_DB``) that ``plan/actions.yaml`` names.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

DEMO_DATABASE = "transition_demo"
DEMO_CONNECTION = "demo_db"
REGISTER = {"LIEGE": (1, 1250), "NAMUR": (1251, 1650)}  # region -> the EANs' numbers (first, last)
SCHEMA = """
CREATE TABLE IF NOT EXISTS register (ean text PRIMARY KEY, region text NOT NULL);
CREATE TABLE IF NOT EXISTS mig6_register (
    ean text PRIMARY KEY, region text NOT NULL, loaded_at timestamptz NOT NULL
);
"""
# The EANs as the sample's export writes them: 5414480000 and the number on five digits.
SEED = """
INSERT INTO register (ean, region)
SELECT '5414480000' || lpad(n::text, 5, '0'), %(region)s FROM generate_series(%(first)s, %(last)s) n
ON CONFLICT (ean) DO NOTHING
"""


def prepare_demo_database(
    host: str, user: str, port: int | None = None, database: str = DEMO_DATABASE
) -> str:
    """Make ``database`` on the PostgreSQL server at ``host`` (a socket folder or a host name) if
    it is missing, with its tables and the register; the ``AIRFLOW_CONN_...`` value that reaches it.
    Raises psycopg2's errors (the caller says them)."""
    # deferred: psycopg2 is only needed once a server runs
    import psycopg2

    where: dict[str, Any] = {"host": host, "user": user, **({"port": port} if port else {})}
    with closing(psycopg2.connect(dbname="postgres", **where)) as server:
        server.autocommit = True
        with server.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{database}"')
    with closing(psycopg2.connect(dbname=database, **where)) as demo:
        with demo, demo.cursor() as cursor:  # one transaction
            cursor.execute(SCHEMA)
            for region, (first, last) in REGISTER.items():
                cursor.execute(SEED, {"region": region, "first": first, "last": last})
    connection: dict[str, Any] = {"conn_type": "postgres", "login": user, "schema": database}
    return json.dumps({**connection, **{k: v for k, v in where.items() if k != "user"}})
