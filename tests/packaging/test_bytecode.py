"""The venv ``make install`` leaves holds Airflow's bytecode (``uv pip install --compile-bytecode``).

Every Airflow component and every task is a new process that imports Airflow; where
``PYTHONDONTWRITEBYTECODE`` is set (as on CI's machines) nothing is cached at run time, and without
the install's bytecode each of them compiled Airflow again: an Airflow start took twice the CPU
(bench/startup.py, BENCHMARKS.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODULES = (
    "airflow",
    "airflow.models.taskinstance",
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.standard.operators.hitl",
    "airflow.api_fastapi.core_api.app",
    "sqlalchemy.orm",
    "pendulum",
)


def test_airflow_and_what_it_imports_are_installed_with_their_bytecode():
    missing = []
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        cached = Path(importlib.util.cache_from_source(spec.origin))
        if not cached.is_file():
            missing.append(f"{name}: no {cached}")
    assert missing == [], "installed without bytecode (make install's --compile-bytecode):\n" + (
        "\n".join(missing)
    )
