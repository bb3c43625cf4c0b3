"""What the api-server could not post, kept for the run's watch to tell the cutover managers.

One Airflow Variable per failure, ``transition.failures/<dag_id>/<run_id>/<unique>``, written once
and never updated; the run's watch (:mod:`transition.runner.watch_operator`) puts them in its
summary and deletes them when the run ends. A failure on a run that is not going any more is only
logged.

How it works: docs/architecture.md, "runs/server_failures.py".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from transition.runs.step_holder import run_instant, same_run
from transition.runs.variable_keys import bounded_key

log = logging.getLogger(__name__)

PREFIX = "transition.failures/"
GOING = ("queued", "running")  # a run whose watch is there to read them


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


def failure_key(dag_id: str, run_id: str) -> str:
    """A new Variable key under the run's prefix (unique even when ``bounded_key`` cuts it)."""
    return bounded_key(f"{run_prefix(dag_id, run_id)}{uuid.uuid4().hex}")


def record_server_failure(
    session: Any, dag_id: str, run_id: str, *, step: str, mail: str, to: str, error: str
) -> bool:
    """On the api-server, in the request's database session: keep a channel's failure for the
    run's watch (``step``: the step or steps it was about; ``mail``: the kind of message; ``to``:
    the channel's connection). False when the run is not going (nobody would read it)."""
    # deferred: Airflow's ORM models, on the api-server only
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable

    row = session.execute(
        sa.select(DagRun.state, DagRun.run_after).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id
        )
    ).first()
    state = str(getattr(row.state, "value", row.state)) if row is not None else None
    if row is None or state not in GOING:
        log.warning(
            "Run %s of %s is not going (%s): the failure of channel %s is only logged",
            run_id,
            dag_id,
            state,
            to,
        )
        return False
    failure = {
        "step": step,
        "mail": mail,
        "to": to,
        "error": error,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "channel": True,
        "run_after": run_instant(row.run_after),
    }
    with session.begin_nested():  # a write that fails leaves the request's own work whole
        Variable.set(
            failure_key(dag_id, run_id),
            json.dumps(failure, sort_keys=True),
            description="transition: a chat message the api-server could not post, for the run's watch",
            session=session,
        )
    return True


def read_server_failures(dag_id: str, run_id: str, run_after: Any) -> list[tuple[str, dict]]:
    """In the run's watch: (Variable key, failure) of each failure kept for this run instance,
    oldest first."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    found = []
    for key in Variable.keys(prefix=run_prefix(dag_id, run_id)):
        raw = Variable.get(key, default=None)
        try:
            failure = json.loads(raw) if raw else None
        except ValueError:
            continue
        if isinstance(failure, dict) and same_run(failure.pop("run_after", None), run_after):
            found.append((key, failure))
    return sorted(found, key=lambda item: str(item[1].get("at", "")))


def server_failure_recorder(
    session: Any, dag_id: str, run_id: str, *, step: str
) -> Callable[..., None]:
    """The recorder of :func:`transition.notifications.deliver.deliver` in the api-server,
    ``(mail, to, error, channel=False)``: a channel's failure is kept for the run's watch; an
    e-mail's is kept by the caller with what it was about (the transfer, the defect) and said in
    its answer."""

    def record(mail: str, to: str, error: str, *, channel: bool = False) -> None:
        if channel:
            record_server_failure(session, dag_id, run_id, step=step, mail=mail, to=to, error=error)

    return record
