"""Is Airflow running on a database? What ``transition restore`` asks before it overwrites one.

Airflow's long-running components (scheduler, triggerer, dag-processor) each keep a row in the
``job`` table while they run: ``state`` ``running`` and a ``latest_heartbeat`` written every few
seconds (``[scheduler] job_heartbeat_sec``, 5 s by default). A component that stops cleanly ends its
row; one that was killed leaves it running with a heartbeat that ages. So "a running job whose
heartbeat is under :data:`LIVE_WITHIN` old" is Airflow running on that database, whatever the
backend, the host or the deployment (standalone, docker-compose, Helm). A database without that table
(new, empty) has nothing running on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import make_url

LIVE_WITHIN = dt.timedelta(
    minutes=2
)  # heartbeats come every 5 s; a scheduler's loop may take longer
COMPONENTS = {
    "SchedulerJob": "scheduler",
    "TriggererJob": "triggerer",
    "DagProcessorJob": "dag-processor",
}


@dataclass(frozen=True)
class LiveComponent:
    component: str
    hostname: str
    seconds_ago: int


def live_components(url: str, now: dt.datetime | None = None) -> list[LiveComponent]:
    """The Airflow components with a recent heartbeat in the database at ``url`` (none: not running)."""
    # deferred: Airflow's models, only when a restore checks its database
    from airflow.jobs.job import Job, JobState

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return []  # not there yet: nothing runs on it (and connecting would create it)
    now = now or dt.datetime.now(dt.UTC)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(Job.__tablename__):
                return []
            rows = connection.execute(
                select(Job.job_type, Job.hostname, Job.latest_heartbeat).where(
                    Job.state == JobState.RUNNING, Job.end_date.is_(None)
                )
            ).all()
    finally:
        engine.dispose()
    live = []
    for job_type, hostname, heartbeat in rows:
        if heartbeat is None:
            continue
        if heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=dt.UTC)  # Airflow writes UTC
        age = now - heartbeat
        if age < LIVE_WITHIN:
            live.append(
                LiveComponent(
                    COMPONENTS.get(str(job_type), str(job_type)),
                    hostname or "",
                    max(0, int(age.total_seconds())),
                )
            )
    return live


def end_running_jobs(url: str, now: dt.datetime | None = None) -> int:
    """Mark every ``running`` job of the database at ``url`` as failed; how many there were.

    For a database just restored: its running jobs are those of the Airflow the backup was taken
    from, and none of those processes runs on it. Left running, their recent heartbeats make the new
    scheduler think the old one alive, so it leaves the tasks that were queued or running at backup
    time to it, for ``[scheduler] orphaned_tasks_check_interval`` (5 minutes), and the new triggerer
    leaves it the deferred ones. Ended, they are reset or adopted at once when the new one starts.
    """
    # deferred: Airflow's models, only when a restore ends the old jobs
    from airflow.jobs.job import Job, JobState
    from sqlalchemy import update

    now = now or dt.datetime.now(dt.UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if not inspect(connection).has_table(Job.__tablename__):
                return 0
            ended = connection.execute(
                update(Job)
                .where(Job.state == JobState.RUNNING)
                .values(state=JobState.FAILED, end_date=now)
            )
            return int(ended.rowcount or 0)
    finally:
        engine.dispose()
