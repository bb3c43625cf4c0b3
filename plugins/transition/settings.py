"""The product's own settings from the environment (``TRANSITION_*``), read here and nowhere else.

Each name says what it sets; each reading is fresh (a deployment's environment, a test's), and a
value that is not a positive number where one is expected gives the default. Airflow's own
settings (``AIRFLOW__…``, ``AIRFLOW_CONN_…``) stay Airflow's: read through Airflow, or set by
:mod:`transition.local.standalone` for the processes it starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

CONFIG = "TRANSITION_CONFIG"  # the plan's configuration (or its workbook)
CACHE_DIR = "TRANSITION_CACHE_DIR"  # compiled plans (else .compiled/ beside the configuration)
WATCH_RECHECK = "TRANSITION_WATCH_RECHECK_SECONDS"  # how often a run's watch looks again
COMPILE_MEMORY = "TRANSITION_COMPILE_MEMORY_MB"  # address space of the child compiling a workbook
COMPILE_TIMEOUT = "TRANSITION_COMPILE_TIMEOUT_S"  # its time on the clock
API_URL = "TRANSITION_API_URL"  # Airflow's REST API, for transition report / calendar --holders
API_USER = "TRANSITION_API_USER"
API_PASSWORD = "TRANSITION_API_PASSWORD"
EVIDENCE_KEY = (
    "TRANSITION_EVIDENCE_KEY"  # signs evidence packs (else connection transition_evidence)
)

Number = TypeVar("Number", int, float)


def text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The setting ``name`` as set, or None when unset or empty."""
    return (os.environ if environ is None else environ).get(name) or None


def path(name: str) -> Path | None:
    value = text(name)
    return Path(value) if value else None


def positive(name: str, default: Number) -> Number:
    """The setting ``name`` as a positive number of ``default``'s type, else ``default``."""
    value = text(name)
    try:
        number = type(default)(value) if value else default
    except ValueError:
        return default
    return number if number > 0 else default
