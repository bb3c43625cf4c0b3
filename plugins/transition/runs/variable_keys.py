"""Keys of the Airflow Variables in which a running dry run keeps its records (ledgers, holders,
answers): ``transition.<what>/<dag_id>/<run_id>/<task_id>``, cut to what Airflow's column holds."""

from __future__ import annotations

import hashlib

MAX_KEY = 250  # Airflow's Variable key column


def bounded_key(key: str) -> str:
    """``key`` as an Airflow Variable can hold it: a long one cut, with a digest of the whole."""
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY - 17]}~{digest}"
