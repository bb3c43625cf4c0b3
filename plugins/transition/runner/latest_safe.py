"""A gate's latest safe decision, as the recap computes it, read by the gate's task.

The figure rests on the plan's finished runs and on where every step of the run stands, which
only the api-server reads (an Airflow 3 task reads no database): the task asks it for the run's
recap JSON (``confidence.gates``), logged in as the user of the connection ``transition_api`` (as
the weekly report does). Without that connection, no warning (said once in the task's log).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from transition.results.api_client import API_CONN_ID, ApiClient, Credentials

log = logging.getLogger(__name__)


def read_latest_safe(gate_id: str, context: Any) -> dict[str, Any] | None:
    """The gate's entry of the run's ``confidence.gates`` (``latest_safe``,
    ``fallback_p95_minutes``), or None when the recap has none (no End, the run ended)."""
    # deferred: Airflow's connections, only where the gate runs
    from airflow.sdk import BaseHook

    try:
        credentials = Credentials.from_connection(BaseHook.get_connection(API_CONN_ID))
    except Exception as exc:  # not defined (AirflowNotFoundException), or incomplete
        log.warning(
            "No warning before the latest safe decision of %s: it is read from the recap through "
            "the Airflow connection '%s', which is missing or incomplete (%s)",
            gate_id,
            API_CONN_ID,
            exc,
        )
        return None
    ti = context["ti"]
    path = (
        f"/transition/api/dags/{quote(ti.dag_id, safe='')}/runs/{quote(ti.run_id, safe='')}/steps"
    )
    with ApiClient(credentials, timeout=60) as client:
        view = client.get(path)
    confidence = view.get("confidence") or {}
    return next((g for g in confidence.get("gates") or [] if g.get("gate") == gate_id), None)
