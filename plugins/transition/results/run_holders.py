"""Who holds each step of a running dry run, read through Airflow's REST API.

The api-server keeps one Variable per run, ``transition.holders/<dag>/<run>/@steps`` (step -> the
actor it was last transferred to, by a transfer or a cutover manager's substitute; see
:mod:`transition.runs.step_holder`). The run's watch reads it to put each step in its
holder's calendar; ``transition calendar --holders`` reads the same Variable here, so the file it
writes is the one the holder was sent. Reading it takes a user who may read Airflow's Variables (a
cutover manager: the plan's guard keeps the key from the others).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from transition.errors import ApiError, NotFound
from transition.i18n import _
from transition.results.api_client import ApiClient
from transition.runs.step_holder import holders_of, run_holders_key


def run_holders(client: ApiClient, dag_id: str, run_id: str) -> dict[str, str]:
    """Step -> holder for the steps transferred in the run (empty: none was). NotFound when Airflow
    has no such run; ApiRefused when the user may not read the Variable."""
    run = client.get(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")
    try:
        run_after = dt.datetime.fromisoformat(str(run.get("run_after")))
    except ValueError:
        raise ApiError(
            _("Airflow gave no time for run {run} of {dag}").format(run=run_id, dag=dag_id)
        ) from None
    try:
        kept = client.get(f"/api/v2/variables/{quote(run_holders_key(dag_id, run_id), safe='')}")
    except NotFound:
        return {}  # no step of the run was transferred
    return holders_of(kept.get("value"), run_after)
