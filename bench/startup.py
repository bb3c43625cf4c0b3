"""What Python's bytecode cache is worth to Airflow's processes, measured in the same run.

Every Airflow component, and every task it runs, is a new Python process that imports Airflow. An
install that writes no bytecode (``uv pip install`` without ``--compile-bytecode``), on a machine
that sets ``PYTHONDONTWRITEBYTECODE`` (as this project's CI machines do), compiles Airflow's source
again in every one of them. Pairs, interleaved, each with bytecode (the venv as ``make install``
leaves it) and without (``PYTHONPYCACHEPREFIX`` at an empty folder, nothing written):

- ``airflow version``: one Airflow command, start to end;
- ``make run``'s Airflow (``AirflowServer`` standalone, the embedded PostgreSQL, a 7-step plan):
  start until healthy and the plan's DAG is listed, wall time and CPU seconds of its processes.

Usage::

    .venv/bin/python bench/startup.py --rounds 3 [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from parse import write_section
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

DAG_ID = "startup_dr1"
VENV_BIN = Path(sys.executable).parent


def without_bytecode(folder: Path) -> dict[str, str]:
    """Settings under which Python finds no bytecode and writes none."""
    return {"PYTHONPYCACHEPREFIX": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}


def airflow_version(extra: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "airflow"), "version"],
        env={**os.environ, **extra},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def write_plan(folder: Path) -> None:
    today = dt.date.today()
    owners = ("alice", "bob", "carol")
    steps = [["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner"]]
    steps += [
        [f"S{n}", f"Step {n}", "CO", "ALL", f"S{n - 1}" if n > 1 else "", owners[n % 3]]
        for n in range(1, 8)
    ]
    actors = [["ID", "Name", "Email", "Team", "Team leader", "Department head"]]
    actors += [[o, o.title(), f"{o}@example.com", "T", "", ""] for o in owners]
    write_xlsx(
        folder / "plan.xlsx",
        {"Steps": steps, "Actors": actors, "DryRuns": [["Name", "D-day"], ["DR1", today]]},
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="startup")


class CpuOfNewProcesses:
    """CPU seconds of the processes started while it watches (sampled every 0.2 s: a process's last
    figure before it ends counts)."""

    def __init__(self) -> None:
        self.before = {p.pid for p in psutil.process_iter()}
        self.since = time.time()
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopped.is_set():
            for process in psutil.process_iter(["cpu_times", "create_time"]):
                times, created = process.info["cpu_times"], process.info["create_time"]
                if times is None or process.pid in self.before or created < self.since - 1:
                    continue
                self.seen[process.pid] = times.user + times.system
            time.sleep(0.2)

    def stop(self) -> float:
        self.stopped.set()
        self.thread.join()
        return sum(self.seen.values())


def airflow_start(folder: Path, extra: dict[str, str]) -> tuple[float, float]:
    """Seconds until ``make run``'s Airflow is healthy and lists the plan's DAG; CPU seconds."""
    plan = load_plan(folder / "config.yaml").plan
    home = Path(tempfile.mkdtemp(prefix="startup-", dir=folder))
    server = AirflowServer(home, folder / "config.yaml", airflow_users(plan), extra_env=extra)
    cpu = CpuOfNewProcesses()
    started = time.perf_counter()
    try:
        server.start()
        server.wait_for_dag(DAG_ID)
        return time.perf_counter() - started, cpu.stop()
    finally:
        cpu.stopped.set()
        server.stop()
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {
        "with": {"version": [], "start": [], "cpu": []},
        "without": {"version": [], "start": [], "cpu": []},
    }
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        write_plan(work)
        for _ in range(rounds):
            for name in ("without", "with"):
                empty = Path(tempfile.mkdtemp(dir=work))
                extra = without_bytecode(empty) if name == "without" else {}
                results[name]["version"].append(airflow_version(extra))
                wall, cpu = airflow_start(work, extra)
                results[name]["start"].append(wall)
                results[name]["cpu"].append(cpu)
                print(name, f"version {results[name]['version'][-1]:.2f}s", f"start {wall:.1f}s")
                print(f"  cpu {cpu:.1f}s", flush=True)
    return results


def table(results: dict[str, dict[str, list[float]]], rounds: int, command: str) -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines = [
        f"Measured {dt.date.today()} at commit {head.stdout.strip()} on {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}; load average "
        f"{os.getloadavg()[0]:.1f} when it ended. Command: `{command}`",
        "",
        f"| median of {rounds} pairs | without bytecode | with bytecode | with / without |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        "version": "`airflow version`, seconds",
        "start": "`make run`'s Airflow healthy, its DAG listed: seconds",
        "cpu": "the same start: CPU seconds of its processes",
    }
    for key, label in labels.items():
        without = statistics.median(results["without"][key])
        with_ = statistics.median(results["with"][key])
        ratios = [w / o for w, o in zip(results["with"][key], results["without"][key], strict=True)]
        lines.append(
            f"| {label} | {without:.1f} | {with_:.1f} | {statistics.median(ratios):.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    results = measure(args.rounds)
    command = f".venv/bin/python bench/startup.py --rounds {args.rounds}"
    text = table(results, args.rounds, command + (f" --write {args.write}" if args.write else ""))
    print(text)
    if args.write:
        write_section(args.write, "startup", text)


if __name__ == "__main__":
    main()
