"""A dry run in motion: a whole sample plan run to its end on a real Airflow, owners simulated.

A ``transition sample`` plan (Start times stripped, so nothing waits for the clock; every dry run's
End days ahead, so no deadline fires) is run on a real Airflow (``tests/airflow_server.py``):

* ``standalone``: ``airflow standalone`` as ``make run`` starts it (its embedded PostgreSQL,
  LocalExecutor); ``standalone-sqlite``: the same on SQLite (``make run ARGS=--sqlite``);
* ``postgres-celery``: PostgreSQL, the CeleryExecutor on Redis, each component on its own.

E-mails go to a local SMTP catcher. Owners are played through Airflow's REST API: a polling loop
answers each request (``Start``, then ``Close``) ``--answer-delay`` seconds after it first sees it,
or after a random 0 to ``--answer-within`` seconds (a gate is answered Go, and the fallback it
skips is not waited for), logged in as the step's owner. With ``--once`` (implied by
``--answer-within``) each answer is given once, as people do: never again after a refusal, never
to a repeated request; the requests per step are then counted from Airflow's records (the steps'
task logs) against the answers given. ``--runs N`` plays the dry run N times in a row on the same
Airflow. Measured:

* **handover latency**: from the Close answer of a step's last prerequisite (the answer's time,
  as Airflow records it) to the step asking its owner (its HITL request's creation time);
* **run time** from the trigger to the last step's success, against the critical-path floor:
  the steps on the longest chain × the simulated owner's answer time per step (2 × delay);
* **worker slots busy while steps wait for people**: once a third of the steps are closed and 6
  wait at once (or two thirds are closed), the owners pause until the work they already answered
  has drained and 3 s more (at most ``--hold`` seconds; the pause is taken off the run time),
  sampling once a second the task processes (``airflow worker --``, one per busy worker slot), the
  task instances ``running``/``queued``/``scheduled`` and the steps waiting (``awaiting_input``);
  the same is sampled every 2 s over the whole run;
* **scheduler CPU seconds and peak RSS** (the scheduler's own process: its CPU during the run,
  ``VmHWM``), and the CPU of every Airflow process, per component;
* **failed tries** (retries, e.g. from the answer race), and answers Airflow refused (HTTP 5xx).

About 15 minutes per configuration at 500 steps on 2 cores (the longest chain, 63 steps, sets
the pace). ``--set AIRFLOW__SECTION__KEY=VALUE`` tries a setting on top of
``transition.local.standalone.airflow_environment`` (before/after comparisons). Usage::

    .venv/bin/python bench/dryrun.py [--steps 500] [--config standalone|standalone-sqlite|postgres-celery|both|all]
                                     [--answer-delay 3 | --answer-within 1] [--once] [--runs 3]
                                     [--set ...] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))
from airflow_server import ALL_FLAVOURS, FLAVOURS, AirflowServer
from parse import commit, write_section
from smtp_server import SmtpServer
from transition.local.standalone import airflow_users
from transition.plan.gates import branch_only, gate_branches
from transition.store.plan_store import load_plan
from transition.workbook.sample import sample_plan
from transition.workbook.writer import write_plan_workbook

LABELS = {
    "standalone": "make run (embedded PostgreSQL, LocalExecutor)",
    "standalone-sqlite": "make run --sqlite (SQLite, LocalExecutor)",
    "postgres-celery": "PostgreSQL + Celery + Redis",
}
STATES = (
    "scheduled",
    "queued",
    "running",
    "awaiting_input",
    "deferred",
    "up_for_retry",
    "success",
    "failed",
    "upstream_failed",
)
TASK_PROCESS = re.compile(
    r"^airflow worker -- [0-9a-f]{8}-"
)  # a task running (task_runner's process title)
DB_ERROR = re.compile(
    r"(?:sqlite3|sqlalchemy\.exc|psycopg2(?:\.errors)?)\.\w+(?:Error|Exception)\b[^\n]*"
)
WATCH_RECHECK_SECONDS = "60"
HOLD_WHEN_WAITING = 6  # the owners pause when this many steps wait at once (a third of the run done)  # the production default (the tests use 5 s)


# -- the plan -----------------------------------------------------------------------------------------
def write_plan(folder: Path, steps: int, seed: int, chain: int = 0) -> Any:
    """A sample plan with no Start times and every End days ahead; its config; the compiled plan.
    ``chain``: the first steps of the workbook are made a chain (each with the one before as its
    only prerequisite; bench/handover.py walks it)."""
    data = sample_plan(steps, seed)
    for index, row in enumerate(data["steps"]):
        row["start"] = ""
        if index < chain:
            row["prerequisites"] = data["steps"][index - 1]["id"] if index else ""
            row["dry_runs"] = "ALL"
    today = dt.date.today()
    for dry_run in data["dry_runs"]:
        dry_run["d_day"] = today
        dry_run["end"] = dt.datetime.combine(today + dt.timedelta(days=4), dt.time(18, 0))
    write_plan_workbook(folder / "plan.xlsx", **data)
    (folder / "config.yaml").write_text("name: bench\nworkbook: plan.xlsx\n", encoding="utf-8")
    os.environ["TRANSITION_CACHE_DIR"] = str(folder / "compiled-here")
    loaded = load_plan(folder / "config.yaml")
    assert loaded.plan is not None, loaded.problems
    return loaded.plan


def longest_chain(upstream: dict[str, tuple[str, ...]]) -> int:
    """Number of steps on the longest chain of prerequisites."""
    depth: dict[str, int] = {}
    for step in upstream:
        stack = [step]
        while stack:
            current = stack[-1]
            missing = [u for u in upstream[current] if u not in depth]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            depth[current] = 1 + max((depth[u] for u in upstream[current]), default=0)
    return max(depth.values(), default=0)


# -- processes ----------------------------------------------------------------------------------------
def title(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.Error, OSError):
        return ""


def root_pids(server: AirflowServer) -> list[int]:
    """The processes AirflowServer started: ``airflow standalone``, or one per component."""
    components = getattr(server, "components", None) or {"airflow": server.process}
    return [process.pid for process in components.values()]


def tree(roots: list[int]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in roots:
        try:
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
        except psutil.Error:
            pass
    return found


def scheduler_process(roots: list[int]) -> psutil.Process:
    """The scheduler's main process (AirflowServer knows the processes it started, not theirs)."""
    for process in tree(roots):
        words = title(process).split()
        if "scheduler" in words[:4] and any(w.endswith("airflow") for w in words[:2]):
            return process
    raise RuntimeError("no scheduler process found under the Airflow process")


def cpu_of_tree(roots: list[int]) -> float:
    """CPU seconds of the live processes and of the children they have reaped (RUSAGE_CHILDREN)."""
    total = 0.0
    for process in tree(roots):
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


COMPONENT_TITLES = [  # (what a process title contains, the component it counts for), first match wins
    ("airflow worker -- ", "tasks"),
    ("supervisor", "tasks"),
    ("scheduler", "scheduler"),
    ("dag-processor", "dag-processor"),
    ("triggerer", "triggerer"),
    ("api_server", "api-server"),
    ("api-server", "api-server"),
    ("celery", "celery worker"),
]
COMPONENTS = (
    "scheduler",
    "dag-processor",
    "triggerer",
    "api-server",
    "celery worker",
    "tasks",
    "other",
)


def cpu_by_component(roots: list[int]) -> dict[str, float]:
    """CPU seconds of the live processes and of the children each has reaped, per component; a process
    whose title says nothing (a fork) counts for its parent's component."""
    processes = tree(roots)
    parents: dict[int, int] = {}
    kinds: dict[int, str | None] = {}
    for process in processes:
        text = title(process)
        kinds[process.pid] = next((k for needle, k in COMPONENT_TITLES if needle in text), None)
        try:
            parents[process.pid] = process.ppid()
        except psutil.Error:
            pass
    totals = dict.fromkeys(COMPONENTS, 0.0)
    for process in processes:
        pid, kind = process.pid, None
        while kind is None and pid in kinds:
            kind, pid = kinds[pid], parents.get(pid, -1)
        kind = kind or "other"
        try:
            times = process.cpu_times()
            totals[kind] += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return totals


def component_roots(roots: list[int]) -> dict[int, str]:
    """The main process of each Airflow component (not the tasks): a process whose title names a
    component its parent's title does not. A component that dies is not restarted by ``airflow
    standalone``, and its CPU then moves to its parent's account: the benchmark says so."""
    processes = tree(roots)
    kinds = {
        p.pid: next((k for needle, k in COMPONENT_TITLES if needle in title(p)), None)
        for p in processes
    }
    found: dict[int, str] = {}
    for process in processes:
        kind = kinds[process.pid]
        try:
            parent_kind = kinds.get(process.ppid())
        except psutil.Error:
            continue
        if kind not in (None, "tasks") and kind != parent_kind:
            found[process.pid] = kind
    return found


def stopped(components: dict[int, str]) -> list[str]:
    """Which of these components' processes are gone (or zombies)."""
    gone = []
    for pid, kind in components.items():
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            pass
        gone.append(kind)
    return sorted(gone)


def database_processes(server: AirflowServer) -> list[psutil.Process]:
    """The embedded PostgreSQL's processes (``standalone``): the postmaster and its children."""
    pid = server.embedded.running_pid() if server.embedded else None
    if pid is None:
        return []
    try:
        postmaster = psutil.Process(pid)
        return [postmaster, *postmaster.children()]
    except psutil.Error:
        return []


def database_cpu(server: AirflowServer) -> float:
    """CPU seconds of the embedded PostgreSQL: its live processes, and the sessions it has reaped
    (counted in the postmaster's children times); NaN when it is not ours to measure."""
    processes = database_processes(server)
    if not processes:
        return float("nan")
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
            if process is processes[0]:
                total += times.children_user + times.children_system
    return total


def database_memory_mb(server: AirflowServer) -> float:
    """Memory of the embedded PostgreSQL at the end: its processes' own pages (USS) plus its shared
    memory once (the postmaster's shared pages)."""
    processes = database_processes(server)
    if not processes:
        return float("nan")
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            total += info.uss + (info.shared if process is processes[0] else 0)
    return total / 2**20


def own_cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def peak_rss_mb(process: psutil.Process) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return process.memory_info().rss / 2**20


def busy_task_processes(roots: list[int]) -> int:
    return sum(1 for p in tree(roots) if TASK_PROCESS.match(title(p)))


# -- the run ------------------------------------------------------------------------------------------
def stamp(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text).timestamp() if text else None


def paged(client: httpx.Client, url: str, key: str, **params: Any) -> list[dict]:
    items: list[dict] = []
    while True:
        for _attempt in range(10):
            page = get_json(client, url, **params, limit=100, offset=len(items))
            if page is not None:
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"GET {url} kept failing")
        batch = page[key]
        items += batch
        if len(batch) < 100:
            return items


def get_json(client: httpx.Client, url: str, **params: Any) -> dict | None:
    """A GET that may fail while Airflow is busy (SQLite locked, a timeout): None, and the loop goes on."""
    try:
        answer = client.get(url, params=params)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def state_counts(admin: httpx.Client, run_url: str) -> dict[str, int] | None:
    counts = {}
    for state in STATES:
        page = get_json(admin, f"{run_url}/taskInstances", state=state, limit=1)
        if page is None:
            return None
        counts[state] = page["total_entries"]
    return counts


@dataclass
class Answers:
    """What the simulated owners did and saw during a run (the owners answer as people would)."""

    steps: set[str]
    answered: dict[str, list[str]] = field(default_factory=dict)
    first_asked: dict[str, float] = field(default_factory=dict)  # server time of the first request
    seen_at: dict[tuple[str, int], float] = field(default_factory=dict)  # (step, answers) -> seen
    start_answered_at: dict[str, float] = field(default_factory=dict)
    close_asked_seen: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    closed: int = 0
    open_requests: int = 0
    failed_reads: int = 0
    repeated: list[str] = field(default_factory=list)  # requests for what was already answered
    refused: set[tuple[str, int]] = field(default_factory=set)  # answers Airflow did not take
    waits: dict[tuple[str, int], float] = field(default_factory=dict)  # this answer's own delay

    def __post_init__(self) -> None:
        self.answered = {s: [] for s in self.steps}


@dataclass
class Samples:
    """The run's task states every second or two, and the owners' pause (``hold``)."""

    taken: list[dict] = field(default_factory=list)
    while_holding: list[dict] = field(default_factory=list)
    hold_window: list[float] = field(default_factory=list)  # [start, end] of the owners' pause

    @property
    def holding(self) -> bool:
        return len(self.hold_window) == 1


def take_sample(
    admin: httpx.Client,
    run_url: str,
    root: list[int],
    samples: Samples,
    answers: Answers,
    hold: float,
) -> str | None:
    """One sample of the run; the run's end state when it has ended (or stalled), else None."""
    counts = state_counts(admin, run_url)
    if counts is None:
        answers.failed_reads += 1
        return None
    counts["task_processes"] = busy_task_processes(root)
    counts["at"] = time.time()
    samples.taken.append(counts)
    if samples.holding:
        samples.while_holding.append(counts)
        recent = samples.while_holding[-3:]
        drained = len(samples.while_holding) >= 3 and not any(busy(c) for c in recent)
        if drained or time.time() - samples.hold_window[0] >= hold:
            samples.hold_window.append(time.time())
    if counts["failed"] or counts["upstream_failed"]:
        return "failed"
    if counts["success"] >= len(answers.steps) and all_done(admin, run_url, answers.steps):
        return "done"
    return None


def answer_requests(
    server: AirflowServer,
    plan: Any,
    admin: httpx.Client,
    run_url: str,
    people: dict[str, httpx.Client],
    answers: Answers,
    *,
    delay: float,
    holding: bool,
    within: float | None = None,
    rng: random.Random | None = None,
    once: bool = False,
) -> None:
    """Each step asking for an answer: its owner answers Start, then Close, ``delay`` s after seeing
    it (``within``: after a random 0 to ``within`` s instead). ``once``: each answer is given once,
    as people do: a request for what was already answered is counted as repeated and not
    answered, and an answer Airflow refuses is counted and not given again (else it is given again
    at the next look, as on SQLite under load)."""
    asking = get_json(
        admin, f"{run_url}/hitlDetails", response_received=False, state="awaiting_input", limit=100
    )
    if asking is None:
        answers.failed_reads += 1
        asking = {"hitl_details": []}
    answers.open_requests = len(asking["hitl_details"])
    for detail in asking["hitl_details"]:
        step = detail["task_instance"]["task_id"]
        answers.first_asked.setdefault(step, stamp(detail["created_at"]))
        seen = answers.seen_at.setdefault((step, len(answers.answered[step])), time.time())
        if answers.answered[step] == ["Start"]:
            answers.close_asked_seen.setdefault(step, seen)
        if once and (step, len(answers.answered[step])) in answers.refused:
            continue  # refused once: not given again (it stays asking, and the run never ends)
        if once and len(answers.answered[step]) >= (1 if plan.steps[step].is_gate else 2):
            if step not in answers.repeated:  # asked again after its last answer: not answered
                answers.repeated.append(step)
            continue
        wait = answers.waits.setdefault(
            (step, len(answers.answered[step])),
            rng.uniform(0, within) if within is not None and rng is not None else delay,
        )
        if holding or time.time() - seen < wait:
            continue
        if plan.steps[step].is_gate:
            option = "Go"  # the go / no-go gate: the plan goes on, its fallback is skipped
        else:
            option = "Close" if "Start" in answers.answered[step] else "Start"
        owner = plan.steps[step].owner
        if owner not in people:
            people[owner] = server.client(owner)
        try:
            answer = people[owner].patch(
                f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                json={"chosen_options": [option], "params_input": {}},
            )
        except httpx.HTTPError as error:
            answers.errors.append(f"{step} {option}: {error!r}")
            if once:
                answers.refused.add((step, len(answers.answered[step])))
            continue
        if answer.status_code != 200:
            answers.errors.append(f"{step} {option}: {answer.status_code} {answer.text[:120]}")
            if once:
                answers.refused.add((step, len(answers.answered[step])))
            continue
        answers.answered[step].append(option)
        if option == "Start":
            answers.start_answered_at[step] = time.time()
        else:
            answers.closed += 1


def should_hold(samples: Samples, answers: Answers, hold: float) -> bool:
    """Pause the owners once a third of the steps are closed and enough wait, or two thirds are
    closed: the worker-slot check reads the counts while nobody answers."""
    total = len(answers.steps)
    return (
        not samples.hold_window
        and hold > 0
        and (
            answers.closed >= total // 3
            and answers.open_requests >= HOLD_WHEN_WAITING
            or answers.closed >= 2 * total // 3
        )
    )


def wait_for_run_end(admin: httpx.Client, run_url: str) -> str:
    """The run itself ends when its watch next looks (every WATCH_RECHECK_SECONDS)."""
    run_state = admin.get(run_url).json()["state"]
    end_by = time.monotonic() + float(WATCH_RECHECK_SECONDS) + 90
    while run_state not in ("success", "failed") and time.monotonic() < end_by:
        time.sleep(2)
        run_state = admin.get(run_url).json()["state"]
    return run_state


def play(
    server: AirflowServer,
    plan: Any,
    dry_run: str,
    *,
    delay: float,
    poll: float,
    hold: float,
    timeout: float,
    within: float | None = None,
    once: bool = False,
    seed: int = 1,
) -> dict:
    """Trigger the dry run, answer every request as its owner, and collect what happened."""
    dag_id = plan.dag_id(dry_run)
    schedule = plan.schedules[dry_run]
    server.wait_for_dag(dag_id, timeout=300)
    root = root_pids(server)
    scheduler = scheduler_process(root)
    admin = server.client("admin")
    people: dict[str, httpx.Client] = {}
    # The steps that run: the gates are answered Go, so what follows only their fallback is skipped.
    skipped = {
        s for gate in gate_branches(plan, dry_run) for s in branch_only(plan, dry_run, gate, "go")
    }
    answers = Answers(set(schedule.steps) - skipped)
    samples = Samples()
    rng = random.Random(seed)

    cpu_tree_before, scheduler_cpu_before = cpu_of_tree(root), own_cpu(scheduler)
    database_cpu_before = database_cpu(server)
    components_before = cpu_by_component(root)
    component_processes = component_roots(root)
    triggered_at = time.time()
    run_id = server.trigger(dag_id)
    run_url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    deadline = time.monotonic() + timeout
    next_sample = 0.0
    polls = 0
    state = "running"
    while time.monotonic() < deadline and polls < timeout / poll * 2:
        polls += 1
        now = time.monotonic()
        if now >= next_sample:
            next_sample = now + (1.0 if samples.holding else 2.0)
            if {"scheduler", "api-server"} & set(stopped(component_processes)):
                state = "stalled"  # nothing moves any more: say so now rather than at the timeout
                break
            ended = take_sample(admin, run_url, root, samples, answers, hold)
            if ended is not None:
                state = "failed" if ended == "failed" else state
                break
        if should_hold(samples, answers, hold):
            samples.hold_window.append(time.time())
        answer_requests(
            server,
            plan,
            admin,
            run_url,
            people,
            answers,
            delay=delay,
            holding=samples.holding,
            within=within,
            rng=rng,
            once=once,
        )
        time.sleep(poll)
    ended_at = time.time()
    scheduler_cpu = own_cpu(scheduler) - scheduler_cpu_before
    cpu_tree = cpu_of_tree(root) - cpu_tree_before
    components_after = cpu_by_component(root)
    components = {k: components_after[k] - components_before[k] for k in COMPONENTS}
    components_stopped = stopped(component_processes)
    scheduler_rss = peak_rss_mb(scheduler)
    database = (database_cpu(server) - database_cpu_before, database_memory_mb(server))
    run_state = wait_for_run_end(admin, run_url) if state == "running" else state
    run_ended = stamp(admin.get(run_url).json().get("end_date"))
    for client in people.values():
        client.close()

    instances = {
        t["task_id"]: t for t in paged(admin, f"{run_url}/taskInstances", "task_instances")
    }
    details = {
        d["task_instance"]["task_id"]: d
        for d in paged(admin, f"{run_url}/hitlDetails", "hitl_details")
    }
    admin.close()
    log_text = "\n".join(path.read_text(errors="replace") for path in server.home.glob("*.log"))
    log_errors = list(dict.fromkeys(found.group(0)[:200] for found in DB_ERROR.finditer(log_text)))[
        :8
    ]
    # The answer race (docs/limitations.md): the executor's late report of a parked try.
    race_in_logs = log_text.count("but the task instance's state attribute is")
    # Requests per step, from Airflow's records (the steps' task logs, every try) against the
    # answers given: a step that asked more often than it was answered repeated a request.
    asked_more = sorted(
        s
        for s in answers.steps
        if instances.get(s, {}).get("state") == "success"
        and server.asks(dag_id, run_id, s) != len(answers.answered[s])
    )
    return {
        "asked_more": asked_more,
        "repeated": sorted(answers.repeated),
        "requests": sum(len(a) for a in answers.answered.values()),
        **summarise(
            components=components,
            components_stopped=components_stopped,
            failed_reads=answers.failed_reads,
            log_errors=log_errors,
            race_in_logs=race_in_logs,
            locked_in_logs=log_text.count("database is locked"),
            schedule=schedule,
            steps=answers.steps,
            instances=instances,
            details=details,
            first_asked=answers.first_asked,
            start_answered_at=answers.start_answered_at,
            close_asked_seen=answers.close_asked_seen,
            samples=samples.taken,
            hold_samples=samples.while_holding,
            hold_window=samples.hold_window,
            triggered_at=triggered_at,
            ended_at=ended_at,
            delay=delay if within is None else within / 2,  # the mean answer time
            run_state=run_state,
            answer_errors=answers.errors,
            scheduler_cpu=scheduler_cpu,
            cpu_tree=cpu_tree,
            scheduler_rss=scheduler_rss,
            run_ended=run_ended,
        ),
        "database_cpu": database[0],
        "database_mb": database[1],
    }


def all_done(admin: httpx.Client, run_url: str, steps: set[str]) -> bool:
    done = {
        t["task_id"]
        for t in paged(admin, f"{run_url}/taskInstances", "task_instances", state="success")
    }
    return steps <= done


def busy(counts: dict) -> bool:
    return bool(
        counts["task_processes"] or counts["running"] or counts["queued"] or counts["scheduled"]
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summarise(
    *,
    schedule: Any,
    steps: set[str],
    instances: dict,
    details: dict,
    first_asked: dict,
    start_answered_at: dict,
    close_asked_seen: dict,
    samples: list,
    hold_samples: list,
    hold_window: list[float],
    triggered_at: float,
    ended_at: float,
    delay: float,
    run_state: str,
    answer_errors: list,
    scheduler_cpu: float,
    cpu_tree: float,
    scheduler_rss: float,
    run_ended: float | None,
    components: dict[str, float],
    components_stopped: list[str],
    locked_in_logs: int,
    failed_reads: int,
    log_errors: list[str],
    race_in_logs: int,
) -> dict:
    closed_at = {
        s: stamp(d["responded_at"])
        for s, d in details.items()
        if s in steps and d["response_received"]
    }
    ended = {
        s: stamp(t["end_date"])
        for s, t in instances.items()
        if s in steps and t["state"] == "success"
    }
    handover, finishing, asking = [], [], []
    for step in steps:
        upstream = schedule.steps[step].upstream
        if not upstream or step not in first_asked or not all(u in closed_at for u in upstream):
            continue
        last = max(upstream, key=lambda u: closed_at[u])
        handover.append(first_asked[step] - closed_at[last])
        if ended.get(last):
            finishing.append(ended[last] - closed_at[last])
            asking.append(first_asked[step] - ended[last])
    restart = [
        close_asked_seen[s] - start_answered_at[s]
        for s in close_asked_seen
        if s in start_answered_at
    ]
    hold_length = hold_window[1] - hold_window[0] if len(hold_window) == 2 else 0.0
    drained = [c for c in hold_samples if not busy(c)]
    last_done = max(ended.values(), default=ended_at)
    chain = longest_chain({s: schedule.steps[s].upstream for s in steps})
    failed_tries = sum(
        max(0, int(t.get("try_number") or 1) - 1) for s, t in instances.items() if s in steps
    )
    failed_tries_by_step = sorted(
        s for s, t in instances.items() if s in steps and int(t.get("try_number") or 1) > 1
    )
    return {
        "steps": len(steps),
        "chain": chain,
        "run_state": run_state,
        "done": sum(1 for s in steps if s in ended),
        "handover_median": statistics.median(handover) if handover else float("nan"),
        "handover_p95": percentile(handover, 0.95),
        "handover_count": len(handover),
        "finishing_median": statistics.median(finishing) if finishing else float("nan"),
        "asking_median": statistics.median(asking) if asking else float("nan"),
        "restart_median": statistics.median(restart) if restart else float("nan"),
        "run_seconds": last_done - triggered_at - hold_length,
        "floor_seconds": chain * 2 * delay,
        "hold_seconds": hold_length,
        "hold_waiting": hold_samples[-1]["awaiting_input"] if hold_samples else 0,
        "hold_busy_processes": min((s["task_processes"] for s in hold_samples), default=-1),
        "hold_running": min(
            (s["running"] + s["queued"] + s["scheduled"] for s in hold_samples), default=-1
        ),
        "hold_drained_after": drained[0]["at"] - hold_window[0] if drained else float("nan"),
        "hold_busy_end": hold_samples[-1]["task_processes"] if hold_samples else -1,
        "hold_running_end": (
            hold_samples[-1]["running"] + hold_samples[-1]["queued"] + hold_samples[-1]["scheduled"]
            if hold_samples
            else -1
        ),
        "max_waiting": max((s["awaiting_input"] for s in samples), default=0),
        "max_busy_processes": max((s["task_processes"] for s in samples), default=0),
        "median_busy_processes": statistics.median(s["task_processes"] for s in samples)
        if samples
        else 0,
        "max_deferred": max((s["deferred"] for s in samples), default=0),
        "failed_tries": failed_tries,
        "failed_tries_steps": failed_tries_by_step[:10],
        "answer_errors": answer_errors[:10],
        "answer_error_count": len(answer_errors),
        "scheduler_cpu": scheduler_cpu,
        "scheduler_rss": scheduler_rss,
        "cpu_tree": cpu_tree,
        "wall_seconds": ended_at - triggered_at,
        "components": components,
        "components_stopped": components_stopped,
        "locked_in_logs": locked_in_logs,
        "failed_reads": failed_reads,
        "log_errors": log_errors,
        "race_in_logs": race_in_logs,
        "run_end_after_last": run_ended - last_done if run_ended else float("nan"),
    }


def measure(
    flavour: str,
    steps: int,
    seed: int,
    dry_run: str,
    delay: float,
    poll: float,
    hold: float,
    timeout: float,
    settings: dict[str, str],
    keep: bool = False,
    within: float | None = None,
    once: bool = False,
    runs: int = 1,
) -> dict:
    """``runs`` runs of the dry run, one after the other on one Airflow; the first one's figures,
    and how every run ended (``runs_once``)."""
    kept = contextlib.nullcontext(tempfile.mkdtemp(prefix=f"dryrun-{flavour}-")) if keep else None
    with kept or tempfile.TemporaryDirectory(prefix=f"dryrun-{flavour}-") as tmp:
        folder = Path(tmp)
        if keep:
            print(f"[{flavour}] work folder (kept): {folder}", flush=True)
        plan = write_plan(folder, steps, seed)
        smtp = SmtpServer().start()
        played: list[dict] = []
        try:
            server = AirflowServer(
                folder / "airflow",
                folder / "config.yaml",
                airflow_users(plan),
                flavour=flavour,
                extra_env={
                    "AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection(),
                    "TRANSITION_WATCH_RECHECK_SECONDS": WATCH_RECHECK_SECONDS,
                    **settings,
                },
            )
            started = time.monotonic()
            with server:
                print(
                    f"[{flavour}] Airflow up in {time.monotonic() - started:.0f} s; "
                    f"running {plan.dag_id(dry_run)}",
                    flush=True,
                )
                for number in range(runs):
                    mails_before = len(smtp.messages)
                    result = play(
                        server,
                        plan,
                        dry_run,
                        delay=delay,
                        poll=poll,
                        hold=hold if number == 0 else 0,
                        timeout=timeout,
                        within=within,
                        once=once,
                        seed=seed + number,
                    )
                    result["mails"] = len(smtp.messages) - mails_before
                    print(f"[{flavour}] run {number + 1}: {result}", flush=True)
                    played.append(result)
                played[0]["parallelism"] = int(
                    server.env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY")
                    or server.env["AIRFLOW__CORE__PARALLELISM"]
                )
        finally:
            smtp.stop()
        result = played[0]
        result["runs_once"] = [
            {
                "ended": r["run_state"],
                "closed": r["done"],
                "steps": r["steps"],
                "repeated": len(r["repeated"]) + len(r["asked_more"]),
                "refused": r["answer_error_count"],
                "failed_tries": r["failed_tries"],
                "mails": r["mails"],
                "requests": r["requests"],
                "handover": r["handover_median"],
            }
            for r in played
        ]
        result["flavour"] = flavour
        return result


# -- the report -----------------------------------------------------------------------------------------
def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count()} cores, {memory:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(results: list[dict], args: argparse.Namespace, load: tuple[float, float, float]) -> str:
    answering = (
        f"--answer-within {args.answer_within:g} --once --runs {args.runs}"
        if args.answer_within is not None
        else f"--answer-delay {args.answer_delay:g}"
        + (" --once" if args.once else "")
        + (f" --runs {args.runs}" if args.runs > 1 else "")
    )
    command = (
        f".venv/bin/python bench/dryrun.py --steps {args.steps} --config {args.config} "
        f"{answering}" + "".join(f" --set {s}" for s in args.set) + " --write BENCHMARKS.md"
    )
    head = "| | " + " | ".join(LABELS[r["flavour"]] for r in results) + " |"
    lines = [
        f"Measured {dt.date.today():%Y-%m-%d} at commit {commit()} on {machine()}; load average {load[0]:.1f} "
        f"when it started (the machine is shared). Command: `{command}`",
        "",
        head,
        "|---" + "|---:" * len(results) + "|",
    ]

    def row(name: str, value) -> None:
        lines.append(f"| {name} | " + " | ".join(value(r) for r in results) + " |")

    row("steps in the dry run / on the longest chain", lambda r: f"{r['steps']:,} / {r['chain']}")
    row(
        "steps done; e-mails sent; the run ended",
        lambda r: f"{r['done']:,}; {r['mails']:,}; {r['run_state']}, "
        f"{r['run_end_after_last']:.0f} s after its last step (the watch looks every {WATCH_RECHECK_SECONDS} s)",
    )
    row(
        "runs in a row, each answer given once: ended; steps closed; requests repeated (seen by the "
        "owners, or more requests than answers in Airflow's task logs); answers refused; failed "
        "tries; e-mails",
        lambda r: "<br>".join(
            f"{o['ended']}; {o['closed']}/{o['steps']}; **{o['repeated']}**; {o['refused']}; "
            f"{o['failed_tries']}; {o['mails']}"
            for o in r["runs_once"]
        ),
    )
    row(
        "**handover latency**, median / p95 (s)",
        lambda r: f"**{r['handover_median']:.1f}** / {r['handover_p95']:.1f}",
    )
    row(
        "… of which the closed step's task finishing (median s)",
        lambda r: f"{r['finishing_median']:.1f}",
    )
    row(
        "… of which the dependent being scheduled, started and asking (median s)",
        lambda r: f"{r['asking_median']:.1f}",
    )
    row(
        "Start answer → Close asked (median s, seen by the owner)",
        lambda r: f"{r['restart_median']:.1f}",
    )
    row("**run time**, trigger → last step done (s)", lambda r: f"**{r['run_seconds']:.0f}**")
    row(
        f"critical-path floor: chain × 2 answers × {args.answer_delay if args.answer_within is None else args.answer_within / 2:g} s (s)",
        lambda r: f"{r['floor_seconds']:.0f}",
    )
    row(
        "run time / floor",
        lambda r: f"{r['run_seconds'] / r['floor_seconds']:.2f}x" if r["floor_seconds"] else "—",
    )
    row(
        "**worker slots busy while steps wait**: owners paused, steps waiting / busy task processes "
        "/ task instances running, queued or scheduled (at the end of the pause, 3 s after the answered work drained "
        "in … s)",
        lambda r: f"{r['hold_waiting']} / **{r['hold_busy_end']}** / {r['hold_running_end']} "
        f"({r['hold_drained_after']:.0f} s)",
    )
    row(
        "over the run: most steps waiting at once / busy task processes, median and max (slots)",
        lambda r: f"{r['max_waiting']} / {r['median_busy_processes']:g}, {r['max_busy_processes']} ({r['parallelism']})",
    )
    row(
        'failed tries (of them, the scheduler\'s "executor reported … finished with state" in its log: '
        "the answer race)",
        lambda r: f"{r['failed_tries']} ({r['race_in_logs']})",
    )
    row(
        'answers refused (HTTP 5xx) and given again / owners\' reads that failed ("database is locked" '
        "in Airflow's logs)",
        lambda r: f"{r['answer_error_count']} / {r['failed_reads']} ({r['locked_in_logs']})",
    )
    row(
        "scheduler: CPU during the run (s) / peak RSS (MB)",
        lambda r: f"{r['scheduler_cpu']:.0f} / {r['scheduler_rss']:.0f}",
    )
    row("all Airflow processes: CPU during the run (s)", lambda r: f"{r['cpu_tree']:.0f}")
    row(
        "embedded PostgreSQL: CPU during the run (s) / memory at the end (MB; — : not embedded)",
        lambda r: "—"
        if r.get("database_cpu") != r.get("database_cpu")  # NaN
        else f"{r['database_cpu']:.0f} / {r['database_mb']:.0f}",
    )
    row(
        "Airflow components that stopped during the run (not restarted by `airflow standalone`; "
        'their CPU then counts as "other")',
        lambda r: ", ".join(r["components_stopped"]) or "none",
    )
    row(
        "… by component: scheduler / dag-processor / triggerer / api-server / celery worker / "
        "tasks (executor workers, supervisors, task processes) (s)",
        lambda r: " / ".join(f"{r['components'][k]:.0f}" for k in COMPONENTS if k != "other"),
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", choices=[*ALL_FLAVOURS, "both", "all"], default="all")
    parser.add_argument("--dry-run", default="LIVE", help="the sample plan's LIVE holds every step")
    parser.add_argument(
        "--answer-delay",
        type=float,
        default=3.0,
        help="seconds a simulated owner takes to answer a request it has seen",
    )
    parser.add_argument(
        "--answer-within",
        type=float,
        help="each answer after a random 0 to this many seconds (seeded); implies --once",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="each answer given once: never again after a refusal, nor to a repeated request",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="runs of the dry run, one after another"
    )
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between the owners' looks")
    parser.add_argument(
        "--hold", type=float, default=60.0, help="longest pause of the owners (s), 0 for none"
    )
    parser.add_argument("--timeout", type=float, default=2400, help="per configuration (s)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="AIRFLOW__SECTION__KEY=VALUE",
        help="an Airflow setting on top of transition.local.standalone's, to try a change",
    )
    parser.add_argument("--write", type=Path)
    parser.add_argument(
        "--keep", action="store_true", help="keep each work folder (Airflow's logs) and say where"
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    load = os.getloadavg()
    flavours = {"both": list(FLAVOURS), "all": list(ALL_FLAVOURS)}.get(args.config, [args.config])
    results = [
        measure(
            f,
            args.steps,
            args.seed,
            args.dry_run,
            args.answer_delay,
            args.poll,
            args.hold,
            args.timeout,
            settings,
            args.keep,
            within=args.answer_within,
            once=args.once or args.answer_within is not None,
            runs=args.runs,
        )
        for f in flavours
    ]
    text = table(results, args, load)
    print(text)
    if args.write:
        write_section(args.write, "dryrun", text)


if __name__ == "__main__":
    main()
