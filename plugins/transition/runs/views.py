"""The run view's shape: what ``/transition/api/.../steps`` answers, the recap page draws, and the
results workbook and the weekly report read back through the REST API. One typed structure, so a
field renamed in one place is a type error in the others."""

from __future__ import annotations

from typing_extensions import TypedDict  # pydantic (FastAPI) reads these on Python 3.11


class DefectView(TypedDict):
    id: int
    title: str
    severity: str  # transition.vocabulary.Severity
    status: str  # transition.vocabulary.DefectStatus
    created_by: str
    after_close: bool  # recorded on the step once it was closed: it blocks nothing


class ForcedCloseView(TypedDict):
    by: str
    at: str | None
    reason: str
    state_before: str | None
    why: str


class DecisionView(TypedDict):
    decision: str  # transition.vocabulary.Decision: "go" or "no-go"
    by: str | None
    at: str | None  # ISO 8601, the plan's time zone
    comment: str
    go: list[str]  # who said Go (a gate may need several)


class AutomationView(TypedDict):
    """An automated step's or check's action in a run: how many times it ran, whether its last run
    went right (None while it runs, or when its process died), what it said, a check's measured
    value, expectation and verdict, and how a person closed it when one took over."""

    runs: int
    ok: bool | None
    said: str
    value: float | None
    expect: str
    verdict: str | None  # "passed", "failed"
    taken_over: str | None  # "Done by hand", "Accept"
    taken_over_by: str | None
    log: str  # the task's page in Airflow's UI, with its log


class StepView(TypedDict):
    id: str
    label: str
    phase: str
    state: str  # transition.vocabulary.State
    owner: str
    owner_name: str
    team: str
    responsible: list[str]
    transferred_to: list[str]
    planned_start: str | None  # ISO 8601, the plan's time zone
    planned_end: str | None
    due: str | None  # Late from then on, once it became ready (states.due_at)
    actual_start: str | None
    actual_end: str | None
    forecast_start: str | None  # the forecast's (actual times once known); None when skipped
    forecast_end: str | None
    started_by: str | None
    closed_by: str | None
    comment: str
    forced_close: ForcedCloseView | None
    defects: list[DefectView]
    open_defects: int
    link: str
    kind: str  # "step", "gate" (a go / no-go decision), "auto" or "check" (runs an action)
    decision: DecisionView | None  # a decided gate's decision
    skipped_by: str | None  # the gate whose decision skipped this step
    automation: AutomationView | None  # an automated step's or check's action, once it ran


class GateAheadView(TypedDict):
    """A gate not decided yet, and where the run would end either way (No-go: "backout now")."""

    gate: str
    label: str
    planned_start: str | None
    end_on_go: str | None
    end_on_no_go: str | None
    late_on_go: bool  # after the dry run's End
    late_on_no_go: bool


class GateSafetyView(TypedDict):
    """An undecided gate's backout figures from the draws: how long the run goes on after a No-go
    there in 95% of them (its fallback), and the latest moment to decide so that it ends by the End."""

    gate: str
    label: str
    fallback_p95_minutes: int
    latest_safe: str | None  # None: the dry run has no End


class CriticalityView(TypedDict):
    step: str
    share: float  # how often the step lies on the critical path (0 to 1)


class ConfidenceView(TypedDict):
    """The Monte Carlo forecast of a running run from now (:mod:`transition.runs.run_confidence`):
    the steps left take durations drawn from their laws (rehearsals, else planned)."""

    draws: int
    runs: int  # the finished runs the laws come from
    measured_steps: int  # of the steps left, those measured in them
    p50: str
    p80: str
    p95: str
    chance_by_end: float | None  # of ending by the dry run's End (0 to 1); None without an End
    criticality: list[CriticalityView]  # the steps left most often on the critical path
    gates: list[GateSafetyView]  # the undecided gates, in plan order


class DurationChangeView(TypedDict):
    step: str
    before_minutes: float
    after_minutes: float


class PlanChangesView(TypedDict):
    """What changed in the dry run's plan since the run recorded it, compared with the plan now."""

    changed: bool  # the plan's content key differs
    compared: bool  # the recorded plan could be read: added, removed and durations are known
    added: list[str]
    removed: list[str]
    durations: list[DurationChangeView]
    since: str | None  # when it first differed (ISO 8601, the plan's time zone)
    since_from: str | None  # "dag_version" (Airflow's first after the record), "compiled_at"
    since_version: int | None  # that DAG version's number
    while_running: bool  # since before the run ended


class KeptFileView(TypedDict):
    """The workbook or configuration as the run started with it, kept beside the record or not."""

    name: str
    size: int | None
    sha256: str | None
    kept: bool
    why: str | None  # not kept: "too-big", "unreadable", "not-stored"


class PlanOfRecordView(TypedDict):
    """The plan the run started with (:mod:`transition.runs.plan_of_record`) and what changed."""

    workbook: str  # the file's name
    workbook_sha256: str
    config: str | None
    config_sha256: str | None
    format: int | None  # the compiled plan's
    dag_version_id: str | None  # Airflow's, of the watch's task
    recorded_at: str | None  # ISO 8601, the plan's time zone
    files: dict[str, KeptFileView]  # "workbook", "config" (none in an older record)
    changes: PlanChangesView


class RunView(TypedDict):
    plan: str
    dry_run: str
    dag_id: str
    run_id: str
    timezone: str
    now: str
    states: list[str]
    cutover_managers: list[str]
    actors: dict[str, str]
    counts: dict[str, int]
    planned_end: str | None
    critical_path: list[str]
    forecast_end: str | None
    forecast_critical_path: list[str]
    must_end_by: str | None
    forecast_late: bool
    counts_by_phase: dict[str, dict[str, int]]
    steps: list[StepView]
    run_defects: list[DefectView]  # on the run as a whole, not on one step
    gates_ahead: list[GateAheadView]
    confidence: ConfidenceView | None  # set by the api-server (None: nothing left to draw)
    plan_of_record: PlanOfRecordView | None  # set by the api-server (None: not recorded)
