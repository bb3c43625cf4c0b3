"""How soon an automated step's action runs once its prerequisite closed, against Airflow's floor.

A chain of automated steps (kind ``auto``), each running a Bash action that prints the moment it
runs (``date +%s.%N``), against a bare DAG of the same length of Airflow's stock ``BashOperator``
running the same command, both on one Airflow (``make run``'s by default), triggered together and
measured in the same run. From Airflow's own timestamps and what each command printed::

    prerequisite done → dependent started (its process) → its action running (the command)

Usage::

    .venv/bin/python bench/automation.py --length 15 [--flavour postgres-celery] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from dryrun import stamp
from handover import bundle_with, chain_dag
from parse import write_section
from people import ACTORS
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

COMMAND = "date +%s.%N"
CATALOGUE = f"""
actions:
  now:
    kind: bash
    command: {COMMAND}
"""
BARE_DAG_ID = "bare_bash_chain"
MARKS = ("dependent started", "action running")


def write_plan(folder: Path, length: int):
    """A plan whose one dry run is a chain of ``length`` automated steps; its compiled plan."""
    header = ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Start", "Duration"]
    rows = [[*header, "Kind", "Action"]]
    for n in range(length):
        before = f"A{n - 1:03d}" if n else ""
        rows.append(
            [f"A{n:03d}", f"Step {n}", "CO", "AUTO", before, "alice", "", "1m", "auto", "now"]
        )
    today = dt.date.today()
    write_xlsx(
        folder / "plan.xlsx",
        {"Steps": rows, "Actors": ACTORS, "DryRuns": [["Name", "D-day"], ["AUTO", today]]},
    )
    (folder / "actions.yaml").write_text(CATALOGUE, encoding="utf-8")
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="bench",
        weekly_report=None,
        actions="actions.yaml",
    )
    os.environ["TRANSITION_CACHE_DIR"] = str(folder / "compiled-here")
    loaded = load_plan(folder / "config.yaml")
    assert loaded.plan is not None, loaded.problems
    return loaded.plan


def bare_bundle(folder: Path, length: int) -> dict[str, str]:
    bash = "from airflow.providers.standard.operators.bash import BashOperator"
    task = f'BashOperator(task_id=f"T{{n:03d}}", bash_command="{COMMAND}")'
    return bundle_with(folder, f"{BARE_DAG_ID}.py", chain_dag(BARE_DAG_ID, bash, task, length))


def moments(admin: httpx.Client, run_url: str, tasks: list[str], ours: bool) -> list[dict]:
    """For each task after the first: seconds from its prerequisite's end to its start and to the
    moment its command ran (what it printed: ours in its ``closed`` record, the bare one in its
    return value)."""
    instances = {
        t["task_id"]: t
        for t in admin.get(f"{run_url}/taskInstances", params={"limit": 1000}).json()[
            "task_instances"
        ]
    }
    rows = []
    for before, after in zip(tasks, tasks[1:]):
        done = stamp(instances[before]["end_date"])
        key = "closed" if ours else "return_value"
        value = admin.get(f"{run_url}/taskInstances/{after}/xcomEntries/{key}").json()["value"]
        printed = float(value["comment"] if ours else value)
        started = stamp(instances[after]["start_date"])
        assert done is not None and started is not None
        rows.append({"dependent started": started - done, "action running": printed - done})
    return rows


def report(ours: list[dict], bare: list[dict], args: argparse.Namespace) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    lines = [
        f"Measured {dt.date.today()} at commit {commit} on {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}; load average "
        f"{os.getloadavg()[0]:.1f} at the end. Command: `.venv/bin/python bench/automation.py "
        f"--length {args.length}"
        + ("" if args.flavour == "standalone" else f" --flavour {args.flavour}")
        + " --write BENCHMARKS.md`",
        "",
        f"| seconds after the prerequisite ended (median of {len(ours)}) | our automated step | "
        "Airflow's bare `BashOperator` chain | ours / bare |",
        "|---|---:|---:|---:|",
    ]
    for key in MARKS:
        mine = statistics.median(r[key] for r in ours)
        floor = statistics.median(r[key] for r in bare)
        lines.append(f"| {key} | {mine:.2f} | {floor:.2f} | {mine / floor:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=15, help="steps in each chain")
    parser.add_argument(
        "--flavour", default="standalone", choices=("standalone", "postgres-celery")
    )
    parser.add_argument("--write", type=Path, help="put the table in this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="automation-") as name:
        folder = Path(name)
        plan = write_plan(folder, args.length)
        dag_id = plan.dag_id("AUTO")
        tasks = [f"A{n:03d}" for n in range(args.length)]
        bare_tasks = [f"T{n:03d}" for n in range(args.length)]
        server = AirflowServer(
            folder / "airflow",
            folder / "config.yaml",
            airflow_users(plan),
            extra_env=bare_bundle(folder, args.length),
            flavour=args.flavour,
        )
        try:
            with server:
                server.wait_for_dag(dag_id, timeout=300)
                server.wait_for_dag(BARE_DAG_ID, timeout=300)
                ours_run = server.trigger(dag_id)
                bare_run = server.trigger(BARE_DAG_ID)
                timeout = 60 + 20 * args.length
                assert server.wait_for_run(dag_id, ours_run, timeout=timeout) == "success"
                assert server.wait_for_run(BARE_DAG_ID, bare_run, timeout=timeout) == "success"
                with server.client("admin") as admin:
                    ours = moments(admin, f"/api/v2/dags/{dag_id}/dagRuns/{ours_run}", tasks, True)
                    bare = moments(
                        admin, f"/api/v2/dags/{BARE_DAG_ID}/dagRuns/{bare_run}", bare_tasks, False
                    )
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    text = report(ours, bare, args)
    print("\n" + text)
    if args.write:
        write_section(args.write, "automation", text)


if __name__ == "__main__":
    main()
