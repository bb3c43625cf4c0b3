"""What happened in dry runs, read through Airflow's REST API and the plugin's JSON endpoints.

Used by ``transition report`` and by the weekly report DAG, both logged in as an Airflow user
(neither reads Airflow's metadata database). Everything comes back as frozen dataclasses; times are
aware, in the plan's time zone; a refused login is :class:`ApiRefused`, an unknown run
:class:`NotFound`.

How it works: docs/architecture.md, "results/data.py".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from transition.errors import ApiError, NotFound
from transition.i18n import _
from transition.results.api_client import ApiClient
from transition.runs.views import RunView
from transition.vocabulary import AUTOMATION, DefectStatus

DONE = ("Terminated", "Skipped")


# -- what a run holds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Defect:
    id: int
    step: str  # "": on the run as a whole
    title: str
    severity: str
    status: str
    description: str = ""
    created_by: str = ""
    created_at: dt.datetime | None = None
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None
    after_close: bool = False  # recorded on its step once the step was closed

    @property
    def on_run(self) -> bool:
        return not self.step


@dataclass(frozen=True)
class Transfer:
    id: int
    step: str
    from_user: str
    to_user: str
    message: str = ""
    created_at: dt.datetime | None = None


def forced_text(forced: Any) -> str:
    """A forced close in one line: ``mia, 2027-01-16T23:10+01:00 (it was deferred, not asking): reason``."""
    if not isinstance(forced, dict):
        return ""
    why = f" ({forced['why']})" if forced.get("why") else ""
    return f"{forced.get('by', '')}, {forced.get('at', '')}{why}: {forced.get('reason', '')}"


@dataclass(frozen=True)
class StepResult:
    id: str
    label: str
    phase: str
    state: str
    owner: str
    owner_name: str
    team: str = ""
    planned_start: dt.datetime | None = None
    planned_end: dt.datetime | None = None
    due: dt.datetime | None = None  # Late from then on (transition.runs.states.due_at)
    actual_start: dt.datetime | None = None
    actual_end: dt.datetime | None = None
    started_by: str | None = None
    closed_by: str | None = None
    comment: str = ""
    forced_close: str = ""  # a cutover manager closed it outside the rules: who, when, why
    transfers: tuple[Transfer, ...] = ()
    defects: tuple[Defect, ...] = ()
    link: str = ""
    kind: str = "step"  # or "gate", "auto", "check"
    decision: Mapping[str, Any] | None = None  # a decided gate: decision, by, at, comment, go
    skipped_by: str | None = None  # the gate whose decision skipped this step
    automation: Mapping[str, Any] | None = None  # an automated step's action (views.AutomationView)

    @property
    def planned_duration(self) -> dt.timedelta | None:
        return _span(self.planned_start, self.planned_end)

    @property
    def actual_duration(self) -> dt.timedelta | None:
        return _span(self.actual_start, self.actual_end)

    @property
    def open_defects(self) -> tuple[Defect, ...]:
        return tuple(d for d in self.defects if d.status == DefectStatus.OPEN.value)


@dataclass(frozen=True)
class RunResults:
    plan: str
    dry_run: str
    dag_id: str
    run_id: str
    run_state: str
    timezone: str
    now: dt.datetime
    steps: tuple[StepResult, ...]
    defects: tuple[Defect, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    run_start: dt.datetime | None = None
    run_end: dt.datetime | None = None
    planned_end: dt.datetime | None = None
    forecast_end: dt.datetime | None = None
    must_end_by: dt.datetime | None = None
    forecast_late: bool = False
    gates_ahead: tuple[Mapping[str, Any], ...] = ()  # gates not decided yet (RunView.gates_ahead)
    critical_path: tuple[str, ...] = ()
    forecast_critical_path: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # state -> steps, every state
    counts_by_phase: Mapping[str, Mapping[str, int]] = field(
        default_factory=dict
    )  # phase -> state -> steps
    actors: Mapping[str, str] = field(default_factory=dict)  # actor ID -> name
    plan_of_record: Mapping[str, Any] | None = None  # RunView.plan_of_record

    @property
    def phases(self) -> list[str]:
        """Phase codes in plan order (those with steps in this dry run)."""
        order = list(self.counts_by_phase)
        return order + [p for p in dict.fromkeys(s.phase for s in self.steps) if p not in order]

    @property
    def first_planned_start(self) -> dt.datetime | None:
        starts = [s.planned_start for s in self.steps if s.planned_start]
        return min(starts) if starts else None

    def in_state(self, *states: str) -> list[StepResult]:
        return [s for s in self.steps if s.state in states]

    def name_of(self, actor: str | None) -> str:
        """The actor's name; an automated step's action: "the automation" (in the language of use)."""
        if actor == AUTOMATION:
            return _("the automation")
        return self.actors.get(actor or "", actor or "")


def _span(start: dt.datetime | None, end: dt.datetime | None) -> dt.timedelta | None:
    return end - start if start is not None and end is not None else None


def _when(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _in(zone: Any, value: Any) -> dt.datetime | None:
    moment = _when(value)
    return moment.astimezone(zone) if moment is not None and zone is not None else moment


def defect_from_json(row: Mapping[str, Any], zone: Any = None) -> Defect:
    return Defect(
        id=int(row["id"]),
        step=str(row.get("task_id") or ""),
        title=str(row.get("title", "")),
        severity=str(row.get("severity", "")),
        status=str(row.get("status", "")),
        description=str(row.get("description") or ""),
        created_by=str(row.get("created_by") or ""),
        created_at=_in(zone, row.get("created_at")),
        resolved_by=row.get("resolved_by"),
        resolved_at=_in(zone, row.get("resolved_at")),
        after_close=bool(row.get("after_close")),
    )


def transfer_from_json(row: Mapping[str, Any], zone: Any = None) -> Transfer:
    return Transfer(
        id=int(row["id"]),
        step=str(row.get("task_id", "")),
        from_user=str(row.get("from_user", "")),
        to_user=str(row.get("to_user", "")),
        message=str(row.get("message") or ""),
        created_at=_in(zone, row.get("created_at")),
    )


def _recap_defects(recap: RunView | Mapping[str, Any]) -> tuple[Defect, ...]:
    """The defects the recap names (each step's, and the run's), in the order they were recorded."""
    on_steps = [(str(s["id"]), d) for s in recap.get("steps", []) for d in s.get("defects", [])]
    on_run = [("", d) for d in recap.get("run_defects", [])]
    return tuple(
        Defect(
            id=int(d["id"]),
            step=step_id,
            title=str(d.get("title", "")),
            severity=str(d.get("severity", "")),
            status=str(d.get("status", "")),
            created_by=str(d.get("created_by") or ""),
            after_close=bool(d.get("after_close")),
        )
        for step_id, d in sorted(on_steps + on_run, key=lambda found: int(found[1]["id"]))
    )


def run_results_from_json(
    recap: RunView | Mapping[str, Any],
    run: Mapping[str, Any] | None = None,
    defects: Iterable[Mapping[str, Any]] = (),
    transfers: Iterable[Mapping[str, Any]] = (),
) -> RunResults:
    """A run's results from the plugin's recap JSON (``.../steps``), Airflow's run, and the records."""

    zone = zoneinfo.ZoneInfo(str(recap.get("timezone") or "UTC"))

    def local(value: Any) -> dt.datetime | None:
        return _in(zone, value)

    all_defects = tuple(defect_from_json(d, zone) for d in defects)
    all_transfers = tuple(transfer_from_json(t, zone) for t in transfers)
    if not all_defects:  # the recap alone still names each step's defects, and the run's
        all_defects = _recap_defects(recap)
    steps = tuple(
        StepResult(
            id=str(s["id"]),
            label=str(s.get("label", "")),
            phase=str(s.get("phase", "")),
            state=str(s.get("state", "")),
            owner=str(s.get("owner", "")),
            owner_name=str(s.get("owner_name", "")),
            team=str(s.get("team") or ""),
            planned_start=local(s.get("planned_start")),
            planned_end=local(s.get("planned_end")),
            due=local(s.get("due")),
            actual_start=local(s.get("actual_start")),
            actual_end=local(s.get("actual_end")),
            started_by=s.get("started_by"),
            closed_by=s.get("closed_by"),
            comment=str(s.get("comment") or ""),
            forced_close=forced_text(s.get("forced_close")),
            transfers=tuple(t for t in all_transfers if t.step == s["id"])
            or tuple(Transfer(0, str(s["id"]), "", to) for to in s.get("transferred_to", [])),
            defects=tuple(d for d in all_defects if d.step == s["id"]),
            link=str(s.get("link") or ""),
            kind=str(s.get("kind") or "step"),
            decision=s.get("decision") if isinstance(s.get("decision"), dict) else None,
            skipped_by=s.get("skipped_by"),
            automation=s.get("automation") if isinstance(s.get("automation"), dict) else None,
        )
        for s in recap.get("steps", [])
    )
    run = run or {}
    return RunResults(
        plan=str(recap.get("plan", "")),
        dry_run=str(recap.get("dry_run", "")),
        dag_id=str(recap.get("dag_id", "")),
        run_id=str(recap.get("run_id", "")),
        run_state=str(run.get("state") or ""),
        timezone=str(zone),
        now=local(recap.get("now")) or dt.datetime.now(zone),
        steps=steps,
        defects=all_defects,
        transfers=all_transfers,
        run_start=local(run.get("start_date")),
        run_end=local(run.get("end_date")),
        planned_end=local(recap.get("planned_end")),
        forecast_end=local(recap.get("forecast_end")),
        must_end_by=local(recap.get("must_end_by")),
        forecast_late=bool(recap.get("forecast_late")),
        gates_ahead=tuple(g for g in recap.get("gates_ahead") or [] if isinstance(g, dict)),
        critical_path=tuple(recap.get("critical_path") or ()),
        forecast_critical_path=tuple(recap.get("forecast_critical_path") or ()),
        counts=dict(recap.get("counts") or {}),
        counts_by_phase={p: dict(c) for p, c in (recap.get("counts_by_phase") or {}).items()},
        actors=dict(recap.get("actors") or {}),
        plan_of_record=recap.get("plan_of_record") or None,
    )


# -- reading runs through the API ----------------------------------------------------------------


def _q(text: str) -> str:
    return quote(text, safe="")


def split_run(text: str) -> tuple[str, str]:
    """``DAG_ID/RUN_ID`` -> (dag_id, run_id); ValueError in words otherwise."""
    dag_id, _, run_id = text.partition("/")
    if not dag_id or not run_id:
        raise ValueError(
            f"'{text}': give the run as DAG_ID/RUN_ID, e.g. resa_dr1/manual__2027-01-16T08:00:00+00:00"
        )
    return dag_id, run_id


def recent_run_ids(client: ApiClient, dag_id: str, limit: int = 5) -> list[str]:
    try:
        runs = client.get(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns", {"order_by": "-run_after", "limit": limit}
        )
    except ApiError:
        return []
    return [r["dag_run_id"] for r in runs.get("dag_runs", [])]


def run_results(client: ApiClient, dag_id: str, run_id: str, *, records: bool = True) -> RunResults:
    """Every step of one run, with its defects and transfers (``records=False``: the recap's summary only)."""
    try:
        client.get(f"/api/v2/dags/{_q(dag_id)}")
    except NotFound:
        raise NotFound(f"no DAG '{dag_id}' in Airflow at {client.credentials.url}") from None
    try:
        run = client.get(f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
    except NotFound:
        recent = recent_run_ids(client, dag_id)
        hint = f" (latest runs: {', '.join(recent)})" if recent else " (it has no runs yet)"
        raise NotFound(f"no run '{run_id}' of DAG '{dag_id}'{hint}") from None
    base = f"/transition/api/dags/{_q(dag_id)}/runs/{_q(run_id)}"
    try:
        recap = client.get(f"{base}/steps")
    except NotFound as exc:
        raise NotFound(f"'{dag_id}' is not a dry run of the transition plan: {exc}") from None
    defects = client.get(f"{base}/defects")["defects"] if records else ()
    transfers = client.get(f"{base}/transfers")["transfers"] if records else ()
    return run_results_from_json(recap, run, defects, transfers)


def dry_run_dags(client: ApiClient, plan: str) -> list[str]:
    """The DAG ids of the plan's dry runs, as Airflow knows them (tags ``transition`` and the plan's name)."""
    dags = client.pages(
        "/api/v2/dags", "dags", {"tags": ["transition", plan], "tags_match_mode": "all"}
    )
    return sorted(
        d["dag_id"]
        for d in dags
        if {"transition", plan}
        <= {t["name"] if isinstance(t, dict) else t for t in d.get("tags", [])}
    )


def latest_run_id(client: ApiClient, dag_id: str) -> str | None:
    """The newest run of a dry-run DAG (the plugin's list); None without runs or for a DAG not of the plan."""
    try:
        runs = client.get(f"/transition/api/dags/{_q(dag_id)}/runs")["runs"]
    except NotFound:
        return None
    return runs[0]["run_id"] if runs else None


def running_run_ids(client: ApiClient, dag_id: str) -> list[str]:
    runs = client.pages(f"/api/v2/dags/{_q(dag_id)}/dagRuns", "dag_runs", {"state": ["running"]})
    return [r["dag_run_id"] for r in runs]


# -- the comparison of dry runs ------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseResult:
    """A phase in one run: from the first start to the last end of its steps, planned and actual
    (a step started and not closed counts as ending now: the actual time so far)."""

    phase: str
    steps: int
    closed: int
    planned: dt.timedelta | None
    actual: dt.timedelta | None  # so far, while a step of the phase is open

    @property
    def finished(self) -> bool:
        return self.closed == self.steps


@dataclass(frozen=True)
class DryRunComparison:
    dry_run: str
    dag_id: str
    run_id: str
    run_state: str
    first_planned_start: dt.datetime | None
    phases: tuple[PhaseResult, ...]

    def phase(self, code: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.phase == code), None)


def phase_results(results: RunResults) -> DryRunComparison:
    phases = []
    for code in results.phases:
        steps = [s for s in results.steps if s.phase == code]
        planned = _window([s.planned_start for s in steps], [s.planned_end for s in steps])
        actual = _window(
            [s.actual_start or s.actual_end for s in steps],
            [
                s.actual_end
                or (results.now if s.actual_start and s.state not in DONE else s.actual_start)
                for s in steps
            ],
        )
        phases.append(
            PhaseResult(code, len(steps), sum(1 for s in steps if s.state in DONE), planned, actual)
        )
    return DryRunComparison(
        results.dry_run,
        results.dag_id,
        results.run_id,
        results.run_state,
        results.first_planned_start,
        tuple(phases),
    )


def _window(
    starts: Sequence[dt.datetime | None], ends: Sequence[dt.datetime | None]
) -> dt.timedelta | None:
    known_starts, known_ends = [s for s in starts if s], [e for e in ends if e]
    if not known_starts or not known_ends:
        return None
    return max(known_ends) - min(known_starts)


def compare_dry_runs(
    client: ApiClient, current: RunResults, dag_ids: Sequence[str] | None = None
) -> list[DryRunComparison]:
    """The run given, and the latest run of every other dry run of its plan, phase by phase, in D-day order."""
    compared = [phase_results(current)]
    for dag_id in dag_ids if dag_ids is not None else dry_run_dags(client, current.plan):
        if dag_id == current.dag_id:
            continue
        run_id = latest_run_id(client, dag_id)
        if run_id is not None:
            compared.append(phase_results(run_results(client, dag_id, run_id, records=False)))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(compared, key=lambda c: (c.first_planned_start or far, c.dry_run))
