"""A database of its own on the machine's PostgreSQL (127.0.0.1:5432, trust), dropped after."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def psql(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def throwaway_database(prefix: str) -> Iterator[sa.Engine]:
    """An engine on a new database named ``prefix_<random>``; the database is dropped after. A
    PostgreSQL that does not answer is a failure, never a skip."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    made = psql(f'CREATE DATABASE "{name}"')
    assert made.returncode == 0, f"PostgreSQL at 127.0.0.1:5432 is needed: {made.stderr}"
    engine = sa.create_engine(f"{POSTGRES}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        psql(f'DROP DATABASE "{name}" WITH (FORCE)')
