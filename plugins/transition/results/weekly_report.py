"""The weekly report: a scheduled DAG that e-mails the cutover managers where each running dry run stands.

One DAG per plan, ``<plan>_weekly_report``, on the cron of ``weekly_report`` in ``config.yaml``
(default ``0 8 * * 1``, Monday 08:00, in the plan's time zone; ``null``: no weekly report), active
from the start (not paused). Its one task asks Airflow's REST API, as the user of the Airflow
connection ``transition_api`` (type http: host, port, login, password; an Airflow 3 task may not
read the metadata database), for every running run of the plan's dry runs, and sends one e-mail
per run (``[Transition-DR1] Weekly report ...``): steps per state and per phase, the Overdue and
Late steps with their owners, the open defects, the planned and forecast end; with the results
workbook (:mod:`transition.results.workbook`: every step, the defects, the comparison) attached.
No running dry run: no e-mail. The DAG is not built when the plan has no cutover manager. The e-mail
and its workbook go out once per language among the cutover managers, in that language.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.errors import ApiError, ConfigError, NotFound
from transition.i18n import _, format_moment, use_language
from transition.notifications.addressing import (
    airflow_base_url,
    manager_emails,
    managers_by_language,
)
from transition.notifications.mail import attach, compose, render, send
from transition.plan.config import load_config
from transition.plan.cron import DEFAULT_CRON
from transition.plan.model import Plan, dag_id_for
from transition.results.api_client import API_CONN_ID, ApiClient, Credentials
from transition.results.data import compare_dry_runs, run_results, running_run_ids
from transition.results.workbook import SEVERITIES, results_bytes
from transition.runs.states import state_name
from transition.vocabulary import DefectStatus, subject_prefix

log = logging.getLogger(__name__)

TASK_ID = "send_weekly_report"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def weekly_report_dag_id(plan: Plan) -> str:
    return dag_id_for(plan.name, "weekly_report")


def weekly_cron(plan: Plan) -> str | None:
    """``weekly_report`` of the plan's configuration (the default when it cannot be read now)."""

    if not plan.source.config:
        return DEFAULT_CRON
    try:
        return load_config(plan.source.config).weekly_report
    except ConfigError:
        return DEFAULT_CRON  # the configuration is broken now: its problems show as the plan's import error


def weekly_report_dags(plan: Plan, only_dag_id: str | None = None) -> dict[str, Any]:
    """``{dag_id: DAG}`` of the weekly report, or nothing (no cron, no cutover manager, another DAG asked)."""
    dag_id = weekly_report_dag_id(plan)
    if only_dag_id is not None and only_dag_id != dag_id:
        return {}
    if dag_id in {plan.dag_id(d) for d in plan.schedules}:
        log.warning("No weekly report DAG: a dry run's DAG is called %s", dag_id)
        return {}
    recipients = manager_emails(plan)
    cron = weekly_cron(plan)
    if cron is None or not recipients:
        return {}
    return {dag_id: build_weekly_report_dag(plan, cron, recipients)}


def build_weekly_report_dag(plan: Plan, cron: str, recipients: list[str]) -> Any:
    # deferred: Airflow's DAG classes and connections, only where the report's DAG is built or runs
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, CronTriggerTimetable

    dry_run_dag_ids = [plan.dag_id(d) for d in plan.schedules]
    dag = DAG(
        dag_id=weekly_report_dag_id(plan),
        # The first run is the next cron time: no start_date (with one, Airflow runs the latest
        # past cron time as soon as the DAG appears, a "weekly" report on a Wednesday), and
        # run_immediately=0 (its default takes the past time within a tenth of the interval:
        # 16.8 hours for a weekly report, so a plan that appears on Monday at 09:00 reported at once).
        schedule=CronTriggerTimetable(
            cron, timezone=plan.timezone, run_immediately=dt.timedelta(0)
        ),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # configured in config.yaml: it runs without a click
        tags=["transition-report", plan.name],
        description=f"Transition plan {plan.name}: the weekly report to the cutover managers ({cron}, {plan.timezone})",
        doc_md=(
            f"## {plan.name} — weekly report\n\nAt `{cron}` ({plan.timezone}), e-mails {', '.join(recipients)} "
            "where each running dry run stands, with the results workbook attached. Reads Airflow's REST API as "
            "the user of the connection `transition_api`. Trigger it to send the report now."
        ),
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    )

    with dag:
        PythonOperator(
            task_id=TASK_ID,
            python_callable=partial(
                send_weekly_reports,
                plan.name,
                dry_run_dag_ids,
                recipients,
                by_language=managers_by_language(plan),
            ),
            owner="transition",
        )
    return dag


class WeeklyReportError(RuntimeError):
    """The report could not be made; the message says what to set up."""


def send_weekly_reports(
    plan_name: str,
    dag_ids: Sequence[str],
    recipients: Sequence[str],
    by_language: dict[str, list[str]] | None = None,
) -> list[str]:
    """The task: one e-mail per running run of the plan's dry runs and language among the recipients
    (``by_language``: language -> addresses; default all in English); returns the subjects sent."""
    # deferred: Airflow's DAG classes and connections, only where the report's DAG is built or runs
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(API_CONN_ID)
        credentials = Credentials.from_connection(connection)
    except Exception as exc:  # not defined (AirflowNotFoundException), or incomplete
        raise WeeklyReportError(
            f"the weekly report reads the dry runs through Airflow's REST API and needs the Airflow connection "
            f"'{API_CONN_ID}' (type http: host and port of the api-server, login and password of a user who may "
            f"read the dry runs): {exc}"
        ) from None
    base_url = airflow_base_url(fallback=credentials.url)
    sent: list[str] = []
    try:
        with ApiClient(credentials) as client:
            for dag_id in dag_ids:
                try:
                    running = running_run_ids(client, dag_id)
                except NotFound:
                    continue  # not in Airflow (yet)
                for run_id in running:
                    results = run_results(client, dag_id, run_id)
                    comparison = compare_dry_runs(client, results, dag_ids)
                    for language, addresses in (by_language or {"en": list(recipients)}).items():
                        with use_language(language):
                            message = weekly_message(results, comparison, addresses, base_url)
                        send(message)  # a MailError fails the task: it is retried
                        sent.append(str(message["Subject"]))
                        log.info("Weekly report sent: %s to %s", message["Subject"], message["To"])
    except ApiError as exc:
        raise WeeklyReportError(
            f"the weekly report of plan {plan_name} could not read the dry runs: {exc}"
        ) from None
    if not sent:
        log.info("No dry run of plan %s is running: no weekly report to send", plan_name)
    return sent


# -- the e-mail ----------------------------------------------------------------------------------


def _at(moment: dt.datetime | None) -> str:
    return format_moment(moment) if moment else "—"


def _local(results: Any, value: Any) -> dt.datetime | None:
    """An ISO time of the run view, in the plan's zone."""
    if not isinstance(value, str):
        return None
    return dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(results.timezone))


def weekly_subject(results: Any) -> str:
    """``[Transition-DR1] Weekly report 18 Jan 2027``, in the current language."""
    return subject_prefix(results.dry_run) + _("Weekly report {date}").format(
        date=format_moment(results.now, "day")
    )


def _people(results: Any, step: Any) -> str:
    names = f"{step.owner_name or step.owner} ({step.owner})"
    taken = [t.to_user for t in step.transfers if t.to_user]
    if not taken:
        return names
    return _("{people}, transferred to {others}").format(
        people=names, others=", ".join(results.name_of(t) for t in taken)
    )


def _started(results: Any, step: Any) -> str:
    if step.actual_start is None:
        return _("not started")
    if step.started_by:
        return _("started {time} by {person}").format(
            time=_at(step.actual_start), person=results.name_of(step.started_by)
        )
    return _("started {time}").format(time=_at(step.actual_start))


def _behind(results: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The Overdue steps and the Late ones: step, people, what is behind."""
    overdue = [
        (
            f"{s.id} · {s.label}",
            _people(results, s),
            _("planned start {time}").format(time=_at(s.planned_start)),
        )
        for s in results.in_state("Overdue")
    ]
    late = [
        (
            f"{s.id} · {s.label}",
            _people(results, s),
            _("{started}, due {time}").format(
                started=_started(results, s), time=_at(s.due or s.planned_end)
            ),
        )
        for s in results.in_state("Late")
    ]
    return overdue, late


def _where(defect: Any) -> str:
    if defect.on_run:
        return _("on the run")
    if defect.after_close:
        return _("step {step}, after its close").format(step=defect.step)
    return _("step {step}").format(step=defect.step)


def _open_defects(results: Any) -> list[tuple[str, str, str, str]]:
    return [
        (
            f"#{d.id} {d.title}",
            _where(d),
            _(SEVERITIES[d.severity]) if d.severity in SEVERITIES else d.severity,
            _("recorded by {person} on {time}").format(
                person=results.name_of(d.created_by) or "—", time=_at(d.created_at)
            )
            if d.created_at
            else "",
        )
        for d in results.defects
        if d.status == DefectStatus.OPEN.value
    ]


def _facts(results: Any, open_defects: int) -> list[tuple[str, str]]:
    """The run in a few lines: steps closed, planned, forecast and must-end times, gates ahead."""
    steps = results.steps
    closed = sum(1 for s in steps if s.state in ("Terminated", "Skipped"))
    forecast = _at(results.forecast_end)
    if results.forecast_late:
        forecast = _("{time} — after the dry run's End").format(time=forecast)
    facts = [
        (
            _("Run"),
            _("{run} (started {time})").format(run=results.run_id, time=_at(results.run_start)),
        ),
        (_("Steps closed"), _("{closed} of {total}").format(closed=closed, total=len(steps))),
        (_("Planned end"), _at(results.planned_end)),
        (_("Forecast end"), forecast),
        (_("Must end by"), _at(results.must_end_by)),
        (_("Open defects"), str(open_defects)),
    ]
    facts += [
        (
            _("Gate ahead: {gate}").format(gate=f"{g.get('gate')} · {g.get('label', '')}"),
            _("on Go the run ends {go}; on No-go (backout now) {no_go}").format(
                go=_at(_local(results, g.get("end_on_go"))),
                no_go=_at(_local(results, g.get("end_on_no_go"))),
            ),
        )
        for g in results.gates_ahead
    ]
    return facts


def weekly_message(
    results: Any, comparison: Sequence[Any], recipients: Sequence[str], base_url: str
) -> EmailMessage:
    """The e-mail about one running run (a :class:`~transition.results.data.RunResults`), workbook attached;
    in the current language."""

    states = [state for state, count in results.counts.items() if count]
    by_phase = [
        (phase, [results.counts_by_phase.get(phase, {}).get(state, 0) for state in states])
        for phase in results.phases
    ]
    overdue, late = _behind(results)
    open_defects = _open_defects(results)
    facts = _facts(results, len(open_defects))
    subject = weekly_subject(results)
    values = {
        "subject": subject,
        "plan": results.plan,
        "dry_run": results.dry_run,
        "facts": facts,
        "states": [state_name(state) for state in states],
        "counts": [(state_name(state), results.counts[state]) for state in states],
        "by_phase": by_phase,
        "overdue": overdue,
        "late": late,
        "open_defects": open_defects,
        "timezone": results.timezone,
        "link": f"{base_url.rstrip('/')}/transition/recap",
        "compared": [c.dry_run for c in comparison if c.dag_id != results.dag_id],
    }
    text, html = render("weekly_report", **values)
    message = compose(
        subject=subject,
        to=list(recipients),
        text=text,
        html=html,
        headers={"X-Transition-Run": f"{results.dag_id}/{results.run_id}"},
    )
    maintype, subtype = XLSX.split("/")
    attach(
        message,
        results_bytes(results, comparison),
        maintype=maintype,
        subtype=subtype,
        filename=f"{results.plan}-{results.dry_run}-results-{results.now:%Y-%m-%d}.xlsx",
    )
    return message
