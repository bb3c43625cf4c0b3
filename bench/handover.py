"""Where a handover's time goes, against Airflow's own floor, measured in the same run.

One owner walks a chain of steps of a sample plan, one step at a time: answers Start the moment the
step asks, then Close the moment it asks again, then waits for the dependent to ask. Interleaved
with it, the same person walks a chain of the same length in a bare DAG of Airflow's stock
``HITLOperator`` (no plan, no e-mail, no ledger: the floor of a human-in-the-loop handover on this
Airflow), answering Close the moment each task asks. From Airflow's own timestamps (nothing is polled
fast, so the measurement does not load the machine)::

    Close answered → closed step queued → closed step done
                   → dependent scheduled → queued → started → asking (its HITL request written)

so a handover splits into the scheduler's share (answered → queued; done → dependent scheduled and
queued), the executor's (queued → started) and the tasks' own (a new process, the DAG file, our
code). Nothing else moves meanwhile. Usage::

    .venv/bin/python bench/handover.py --steps 500 --handovers 15 [--set AIRFLOW__SECTION__KEY=VALUE ...] [--flavour postgres-celery] [--write BENCHMARKS.md]

``--set`` tries an Airflow setting on top of ``transition.local.standalone``'s. ``bench/dryrun.py`` is
the whole-run measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from airflow_server import AirflowServer
from dryrun import root_pids, scheduler_process, stamp, write_plan
from parse import write_section
from smtp_server import SmtpServer
from transition.local.standalone import airflow_users

MARKS = (
    "closed queued",
    "closed done",
    "dependent scheduled",
    "dependent queued",
    "dependent started",
    "dependent asking",
)


def ti(client: httpx.Client, run_url: str, step: str) -> dict:
    return client.get(f"{run_url}/taskInstances/{step}").json()


def request(client: httpx.Client, run_url: str, step: str) -> dict | None:
    answer = client.get(f"{run_url}/hitlDetails", params={"task_id": step}).json()
    return answer["hitl_details"][0] if answer["hitl_details"] else None


def asked(client: httpx.Client, run_url: str, step: str) -> bool:
    detail = request(client, run_url, step)
    return detail is not None and not detail["response_received"]


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise TimeoutError(what)


def answer(client: httpx.Client, run_url: str, step: str, option: str) -> None:
    for _ in range(20):  # SQLite may refuse under load: give the answer again
        response = client.patch(
            f"{run_url}/taskInstances/{step}/-1/hitlDetails", json={"chosen_options": [option]}
        )
        if response.status_code == 200:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{step} {option}: {response.status_code} {response.text[:300]}")


BARE_DAG_ID = "bare_hitl_chain"
CHAIN_DAG = """
import datetime as dt

from airflow.sdk import DAG
IMPORTS

with DAG(
    "DAG_ID",
    schedule=None,
    start_date=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
    max_active_tasks=32,
) as dag:
    tasks = [TASK for n in range(LENGTH)]
    for before, after in zip(tasks, tasks[1:]):
        before >> after
"""


def chain_dag(dag_id: str, imports: str, task: str, length: int) -> str:
    """A DAG file's text: a chain of ``length`` tasks, each ``task`` (an expression of ``n``)."""
    text = CHAIN_DAG.replace("DAG_ID", dag_id).replace("IMPORTS", imports)
    return text.replace("TASK", task).replace("LENGTH", str(length))


def bare_bundle(folder: Path, length: int) -> dict[str, str]:
    """A bundle holding the bare chain's DAG file, beside the plan's; the settings that add it."""
    hitl = "from airflow.providers.standard.operators.hitl import HITLOperator"
    task = 'HITLOperator(task_id=f"T{n:03d}", subject=f"Step {n}", options=["Close"])'
    return bundle_with(folder, f"{BARE_DAG_ID}.py", chain_dag(BARE_DAG_ID, hitl, task, length))


def bundle_with(folder: Path, name: str, text: str) -> dict[str, str]:
    """A DAG bundle of its own (``folder/bare``) holding the file ``name`` (``text``), beside the
    plan's; the settings that add it."""
    path = folder / "bare"
    path.mkdir()
    (path / name).write_text(text)
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "bare",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        },
    ]
    return {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles)}


def handover_moments(
    admin: httpx.Client, run_url: str, step: str, dependent: str
) -> dict[str, float]:
    """Seconds from the step's last answer to each mark of the handover (Airflow's timestamps)."""
    closed, following = ti(admin, run_url, step), ti(admin, run_url, dependent)
    answered = stamp(request(admin, run_url, step)["responded_at"])
    moments = {
        "closed queued": stamp(closed["queued_when"]),
        "closed done": stamp(closed["end_date"]),
        "dependent scheduled": stamp(following["scheduled_when"]),
        "dependent queued": stamp(following["queued_when"]),
        "dependent started": stamp(following["start_date"]),
        "dependent asking": stamp(request(admin, run_url, dependent)["created_at"]),
    }
    if closed["try_number"] > 1 or following["try_number"] > 1:
        print(f"(a retry: tries {closed['try_number']}, {following['try_number']})")
    return {k: v - answered for k, v in moments.items() if v is not None and answered is not None}


def walk(
    owner: httpx.Client,
    admin: httpx.Client,
    run_url: str,
    step: str,
    dependent: str,
    options: tuple[str, ...],
    settle: float,
) -> dict[str, float]:
    """Answer ``options`` to ``step``, each the moment it asks (after ``settle``); then wait for
    ``dependent`` to ask; the handover's moments."""
    for option in options:
        wait(lambda: asked(admin, run_url, step), 120, f"{step} asked to {option}")
        time.sleep(settle)
        answer(owner, run_url, step, option)
    wait(lambda: asked(admin, run_url, dependent), 120, f"{dependent} asked")
    return handover_moments(admin, run_url, step, dependent)


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: statistics.median([r[key] for r in rows if key in r])
        for key in MARKS
        if any(key in r for r in rows)
    }


def report(
    ours: list[dict[str, float]],
    bare: list[dict[str, float]],
    args: argparse.Namespace,
    idle: float,
) -> str:
    """The comparison as Markdown: medians of each mark, ours and the floor, and their ratio."""
    mine, floor = medians(ours), medians(bare)
    pairs = [
        o["dependent asking"] / b["dependent asking"]
        for o, b in zip(ours, bare)
        if "dependent asking" in o and b.get("dependent asking")
    ]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    lines = [
        f"Measured {dt.date.today()} at commit {commit} on {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}; load average "
        f"{os.getloadavg()[0]:.1f} when it started. Command: `.venv/bin/python bench/handover.py "
        f"--steps {args.steps} --handovers {args.handovers}"
        + "".join(f" --set {item}" for item in args.set)
        + ("" if args.flavour == "standalone" else f" --flavour {args.flavour}")
        + " --write BENCHMARKS.md`",
        "",
        f"| seconds after the Close answer (median of {len(ours)} handovers) | our step "
        f"({args.steps}-step plan) | Airflow's bare `HITLOperator` chain | ours / bare |",
        "|---|---:|---:|---:|",
    ]
    for key in MARKS:
        if key in mine and key in floor:
            ratio = mine[key] / floor[key] if floor[key] else float("nan")
            lines.append(f"| {key} | {mine[key]:.2f} | {floor[key]:.2f} | {ratio:.2f}x |")
    if pairs:
        lines.append(
            f"| **Close → the next step asking**, median of the ratios pair by pair | | | "
            f"**{statistics.median(pairs):.2f}x** |"
        )
    lines += [
        "",
        f"Scheduler CPU while the run is open and nobody answers: {idle:.0%} of a core.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--handovers", type=int, default=15)
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds between a request appearing and its answer (default: at once)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="AIRFLOW__SECTION__KEY=VALUE")
    parser.add_argument(
        "--flavour",
        default="standalone",
        choices=("standalone", "postgres-celery"),
        help="make run's Airflow (default) or production's (PostgreSQL, CeleryExecutor on Redis)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=30.0,
        help="seconds, after the chain, with the run open and nobody answering: the scheduler's CPU",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (Airflow's logs) and say where"
    )
    parser.add_argument("--write", type=Path, help="put the table in this Markdown file")
    args = parser.parse_args()
    keep = contextlib.nullcontext(tempfile.mkdtemp(prefix="handover-")) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="handover-") as folder_name:
        folder = Path(folder_name)
        if args.keep:
            print(f"work folder: {folder}", flush=True)
        plan = write_plan(folder, args.steps, 7, chain=args.handovers + 1)
        dry_run = next(iter(plan.schedules))
        dag_id = plan.dag_id(dry_run)
        schedule = plan.schedules[dry_run]
        chain = list(schedule.steps)[: args.handovers + 1]
        assert all(schedule.steps[b].upstream == (a,) for a, b in zip(chain, chain[1:])), chain
        bare_chain = [f"T{n:03d}" for n in range(args.handovers + 1)]
        walker = plan.steps[chain[0]].owner
        smtp = SmtpServer().start()
        extra = {"AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection()}
        extra.update(bare_bundle(folder, len(bare_chain)))
        extra.update(dict(item.split("=", 1) for item in args.set))
        server = AirflowServer(
            folder / "airflow",
            folder / "config.yaml",
            airflow_users(plan),
            extra_env=extra,
            flavour=args.flavour,
        )
        ours: list[dict[str, float]] = []
        bare: list[dict[str, float]] = []
        try:
            with server:
                server.wait_for_dag(dag_id, timeout=300)
                server.wait_for_dag(BARE_DAG_ID, timeout=300)
                run_url = f"/api/v2/dags/{dag_id}/dagRuns/{server.trigger(dag_id)}"
                bare_url = f"/api/v2/dags/{BARE_DAG_ID}/dagRuns/{server.trigger(BARE_DAG_ID)}"
                admin = server.client("admin")
                clients = {o: server.client(o) for o in {plan.steps[s].owner for s in chain}}
                for number in range(args.handovers):
                    step, dependent = chain[number], chain[number + 1]
                    owner = clients[plan.steps[step].owner]
                    ours.append(
                        walk(
                            owner, admin, run_url, step, dependent, ("Start", "Close"), args.settle
                        )
                    )
                    before, after = bare_chain[number], bare_chain[number + 1]
                    bare.append(
                        walk(
                            clients[walker], admin, bare_url, before, after, ("Close",), args.settle
                        )
                    )
                    print(
                        f"{step} → {dependent}: {ours[-1].get('dependent asking', float('nan')):.2f} s"
                        f"; bare {before} → {after}: {bare[-1].get('dependent asking', float('nan')):.2f} s",
                        flush=True,
                    )
                scheduler = scheduler_process(root_pids(server))
                before_cpu = sum(scheduler.cpu_times()[:2])
                time.sleep(args.idle)
                idle_cpu = (sum(scheduler.cpu_times()[:2]) - before_cpu) / args.idle
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
            smtp.stop()
    text = report(ours, bare, args, idle_cpu)
    print("\n" + text)
    if args.write:
        write_section(args.write, "handover", text)


if __name__ == "__main__":
    main()
