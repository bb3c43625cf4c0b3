"""Reading the recap while a dry run is in motion: many readers at once, on a real Airflow.

A 500-step synthetic plan (``bench/dryrun.py``'s ``write_plan``: no Start times, the End days
ahead) runs on ``make run``'s Airflow (``tests/airflow_server.py``, flavour ``standalone``: its
embedded PostgreSQL, LocalExecutor, the api-server's worker count as ``make run`` sets it). The dry
run is triggered and put in motion: its owners answer through Airflow's REST API as in
``bench/dryrun.py`` (``Start``, then ``Close``; a gate Go) until a third of the steps are closed,
then answer Start on every other step asking to be started, and stop; once the answered work has drained (at most ``--drain`` s), some steps are Open
(started, not closed), some Ready, the rest waiting. Then, for 1, 8 and 32 readers at once (one
thread each, each logged in as a cutover manager or a step owner, asking again as soon as it has
its answer), each for ``--seconds`` seconds:

* **baseline**: Airflow's own ``GET /api/v2/dags/{dag}/dagRuns/{run}`` (one row, authorised the
  same way): what the api-server answers at best, on this machine, at this moment;
* **JSON**: ``GET /transition/api/dags/{dag}/runs/{run}/steps``, the run view the recap draws;
* **page**: ``GET /transition/recap``: a shell (the plan's names, filters, texts) that fetches the
  JSON above, every 30 s; the page alone is cheap, the JSON is what a reader waits for;
* **timeline**: ``GET .../timeline.svg``, fetched with the JSON when the timeline is open.

Then (``--poll``, 5 s by default) the JSON again with the most readers, each asking about every
``--poll`` seconds (half to one and a half times it) as pages do (the recap polls every 30 s),
for at least four polls each. The readers read the bytes sent and do not decompress or parse
them: they share the server's cores, where a browser does that on its own machine.

Reported per endpoint and number of readers: median and p95 latency (ms), answers per second,
errors, and the median's ratio to the baseline's with as many readers (the machine is shared:
ratios measured in the same run are the honest comparison), with the load average and the CPU
count. ``--profile`` also times ``run_steps`` called directly on the run's database and prints its
profile. About 10 minutes on 2 cores. Usage::

    PYTHONPATH=plugins .venv/bin/python bench/recap_read.py [--steps 500] [--readers 1,8,32]
                                        [--seconds 15] [--poll 5] [--profile]
                                        [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))
from airflow_server import AirflowServer
from dryrun import (
    Answers,
    answer_requests,
    get_json,
    percentile,
    state_counts,
    write_plan,
)
from parse import commit, write_section
from transition.local.standalone import airflow_users
from transition.plan.gates import branch_only, gate_branches

ENDPOINTS = ("baseline", "json", "page", "timeline")
LABELS = {
    "baseline": "Airflow's `GET /api/v2/dags/{dag}/dagRuns/{run}` (baseline)",
    "json": "recap JSON `GET /transition/api/dags/{dag}/runs/{run}/steps`",
    "page": "recap page `GET /transition/recap` (a shell: it fetches the JSON)",
    "timeline": "timeline `GET /transition/api/dags/{dag}/runs/{run}/timeline.svg`",
}
TARGET_MS = 300
# ``--profile``: run_steps called directly on the run's database (Airflow's settings, in a child
# process), timed, then under cProfile; what it prints is the profile's top.
PROFILE = r"""
import cProfile, pstats, statistics, sys, time
from airflow.utils.session import create_session
from transition.store.plan_store import load_plan
from transition.runs.run_facts import run_steps
plan = load_plan().plan
dry_run, run_id = sys.argv[1], sys.argv[2]
seconds = []
for _ in range(10):
    with create_session() as session:
        began = time.perf_counter()
        run_steps(session, plan, dry_run, run_id, "http://localhost")
        seconds.append(time.perf_counter() - began)
print(f"run_steps direct: median {statistics.median(seconds) * 1000:.0f} ms, "
      f"min {min(seconds) * 1000:.0f} ms (10 calls)", flush=True)
profile = cProfile.Profile()
with create_session() as session:
    profile.enable()
    for _ in range(5):
        run_steps(session, plan, dry_run, run_id, "http://localhost")
    profile.disable()
pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
"""


# -- putting the run in motion ----------------------------------------------------------------------
def put_in_motion(
    server: AirflowServer, plan: Any, dry_run: str, *, delay: float, timeout: float, drain: float
) -> tuple[str, dict]:
    """Trigger the dry run; answer as the owners until a third of the steps are closed; stop and let
    the answered work drain. The run's id, and what was done."""
    dag_id = plan.dag_id(dry_run)
    schedule = plan.schedules[dry_run]
    server.wait_for_dag(dag_id, timeout=300)
    skipped = {
        s for gate in gate_branches(plan, dry_run) for s in branch_only(plan, dry_run, gate, "go")
    }
    answers = Answers(set(schedule.steps) - skipped)
    run_id = server.trigger(dag_id)
    run_url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    admin = server.client("admin")
    people: dict[str, httpx.Client] = {}
    target = len(answers.steps) // 3
    started = time.monotonic()
    while answers.closed < target and time.monotonic() - started < timeout:
        answer_requests(server, plan, admin, run_url, people, answers, delay=delay, holding=False)
        time.sleep(0.5)
    moving = time.monotonic() - started
    opened = start_some(server, plan, admin, run_url, people, answers)
    for client in people.values():
        client.close()
    # The owners have stopped: wait until nothing they answered is still running.
    quiet = 0
    drain_until = time.monotonic() + drain
    while time.monotonic() < drain_until and quiet < 3:
        counts = state_counts(admin, run_url)
        busy = counts is None or counts["running"] + counts["queued"] + counts["scheduled"] > 0
        quiet = 0 if busy else quiet + 1
        time.sleep(1)
    admin.close()
    print(
        f"in motion after {moving:.0f} s: {answers.closed} closed of {len(answers.steps)}, "
        f"{len(answers.errors)} answers refused",
        flush=True,
    )
    return run_id, {
        "closed": answers.closed,
        "opened": opened,
        "moving_seconds": moving,
        "refused": len(answers.errors),
    }


def start_some(
    server: AirflowServer,
    plan: Any,
    admin: httpx.Client,
    run_url: str,
    people: dict[str, httpx.Client],
    answers: Answers,
) -> int:
    """The owners' last answers: Start (not Close) on every other step asking to be started, so
    the run read has Open steps beside the Ready ones. How many were started."""
    asking = get_json(
        admin, f"{run_url}/hitlDetails", response_received=False, state="awaiting_input", limit=100
    )
    to_start = [
        d["task_instance"]["task_id"]
        for d in (asking or {}).get("hitl_details", [])
        if not answers.answered[d["task_instance"]["task_id"]]
        and not plan.steps[d["task_instance"]["task_id"]].is_gate
    ][::2]
    started = 0
    for step in to_start:
        owner = plan.steps[step].owner
        if owner not in people:
            people[owner] = server.client(owner)
        with contextlib.suppress(httpx.HTTPError):
            answer = people[owner].patch(
                f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                json={"chosen_options": ["Start"], "params_input": {}},
            )
            started += answer.status_code == 200
    return started


# -- reading ----------------------------------------------------------------------------------------
def read_for(
    base_url: str,
    token: str,
    url: str,
    params: dict[str, str],
    until: float,
    found: list[float],
    errors: list[str],
    sizes: list[int],
    every: float = 0.0,
) -> None:
    """One reader: ask, and ask again as soon as the answer is in (``every`` 0), or about every
    ``every`` seconds (half to one and a half times it, the first time at a random moment), until
    ``until``. It reads the bytes sent and does not decompress or parse them: the readers run on
    the server's cores, a browser does that on its own machine."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        if every:
            time.sleep(random.uniform(0, every))
        while time.monotonic() < until:
            began = time.perf_counter()
            try:
                with client.stream("GET", url, params=params) as answer:
                    body = b"".join(answer.iter_raw())
            except httpx.HTTPError as error:
                errors.append(repr(error)[:120])
                continue
            took = time.perf_counter() - began
            if answer.status_code != 200:
                errors.append(f"{answer.status_code} {body[:120]!r}")
                continue
            found.append(took)
            if len(sizes) < 3:  # the answer's size, decompressed
                packed = answer.headers.get("content-encoding") == "gzip"
                sizes.append(len(gzip.decompress(body) if packed else body))
            if every:
                time.sleep(max(0.0, every * random.uniform(0.5, 1.5) - took))


def measure_cell(
    server: AirflowServer,
    tokens: list[str],
    url: str,
    params: dict,
    readers: int,
    seconds: float,
    every: float = 0.0,
) -> dict:
    found: list[float] = []
    errors: list[str] = []
    sizes: list[int] = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=read_for,
            args=(
                server.base_url,
                tokens[i % len(tokens)],
                url,
                params,
                until,
                found,
                errors,
                sizes,
                every,
            ),
            daemon=True,
        )
        for i in range(readers)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 90)
    elapsed = time.monotonic() - began
    return {
        "median_ms": statistics.median(found) * 1000 if found else float("nan"),
        "p95_ms": percentile(found, 0.95) * 1000,
        "per_second": len(found) / elapsed,
        "count": len(found),
        "errors": len(errors),
        "first_errors": errors[:3],
        "kib": sizes[0] / 1024 if sizes else float("nan"),
    }


def endpoints(dag_id: str, run_id: str) -> dict[str, tuple[str, dict]]:
    run = f"/transition/api/dags/{dag_id}/runs/{run_id}"
    return {
        "baseline": (f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", {}),
        "json": (f"{run}/steps", {}),
        "page": ("/transition/recap", {}),
        "timeline": (f"{run}/timeline.svg", {"zoom": "1"}),
    }


def read_all(
    server: AirflowServer,
    plan: Any,
    dag_id: str,
    run_id: str,
    reader_counts: list[int],
    seconds: float,
    poll: float = 0.0,
) -> dict[tuple[str, int], dict]:
    """Every endpoint with 1, 8, 32… readers at once; the cutover managers and the owners read."""
    people = list(dict.fromkeys([*plan.cutover_managers, *(s.owner for s in plan.steps.values())]))
    tokens = [server.token(person) for person in people[:8]]
    urls = endpoints(dag_id, run_id)
    for url, params in urls.values():  # warm up: what a first request loads is not measured
        with server.client(people[0]) as client:
            client.get(url, params=params)
    results = {}
    for readers in reader_counts:
        for name in ENDPOINTS:
            url, params = urls[name]
            cell = measure_cell(server, tokens, url, params, readers, seconds)
            cell["load"] = os.getloadavg()[0]
            results[(name, readers)] = cell
            print(f"{name:>9} × {readers:>2}: {cell}", flush=True)
    if poll:  # as many readers as the most above, each asking about every `poll` seconds
        readers = max(reader_counts)
        url, params = urls["json"]
        cell = measure_cell(server, tokens, url, params, readers, poll_seconds(seconds, poll), poll)
        cell["load"] = os.getloadavg()[0]
        results[("json-poll", readers)] = cell
        print(f"json-poll × {readers:>2}: {cell}", flush=True)
    return results


def poll_seconds(seconds: float, poll: float) -> float:
    """How long the polling readers read: long enough for each to ask about four times."""
    return max(seconds, 4 * poll)


def profile_run_steps(server: AirflowServer, dry_run: str, run_id: str) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", PROFILE, dry_run, run_id],
        env=server.process_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout[-12000:], done.stderr[-3000:], flush=True)


def run_counts(server: AirflowServer, dag_id: str, run_id: str) -> dict[str, int]:
    with server.client("admin") as admin:
        view = get_json(admin, f"/transition/api/dags/{dag_id}/runs/{run_id}/steps")
    return {k: v for k, v in (view or {}).get("counts", {}).items() if v}


def measure(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="recap-read-") as tmp:
        folder = Path(tmp)
        plan = write_plan(folder, args.steps, args.seed)
        server = AirflowServer(
            folder / "airflow",
            folder / "config.yaml",
            airflow_users(plan),
            flavour="standalone",
            extra_env={"TRANSITION_WATCH_RECHECK_SECONDS": "60"},
        )
        with server:
            dag_id = plan.dag_id(args.dry_run)
            run_id, motion = put_in_motion(
                server,
                plan,
                args.dry_run,
                delay=args.answer_delay,
                timeout=args.motion_timeout,
                drain=args.drain,
            )
            counts = run_counts(server, dag_id, run_id)
            print(f"states: {counts}", flush=True)
            load_before = os.getloadavg()
            cells = read_all(
                server,
                plan,
                dag_id,
                run_id,
                [int(n) for n in args.readers.split(",")],
                args.seconds,
                args.poll,
            )
            load_after = os.getloadavg()
            if args.profile:
                profile_run_steps(server, args.dry_run, run_id)
            workers = server.env.get("AIRFLOW__API__WORKERS", "?")
    return {
        "steps": len(plan.schedules[args.dry_run].steps),
        "motion": motion,
        "counts": counts,
        "cells": cells,
        "load": (load_before[0], load_after[0]),
        "workers": workers,
    }


# -- the report -------------------------------------------------------------------------------------
def table(result: dict, args: argparse.Namespace) -> str:
    readers = [int(n) for n in args.readers.split(",")]
    cells = result["cells"]
    command = (
        f"PYTHONPATH=plugins .venv/bin/python bench/recap_read.py --steps {args.steps} "
        f"--readers {args.readers} --seconds {args.seconds:g} --poll {args.poll:g} "
        "--write BENCHMARKS.md"
    )
    states = ", ".join(f"{state} {n}" for state, n in result["counts"].items())
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} at commit {commit()} on {psutil.cpu_count()} cores "
        f"(shared), load average {result['load'][0]:.1f} before the reads and "
        f"{result['load'][1]:.1f} after; api-server workers: {result['workers']} (`make run`'s "
        f"setting). Command: `{command}`",
        "",
        f"The run ({args.dry_run}, {result['steps']} steps) when read: {states} "
        f"({result['motion']['closed']} closed by the simulated owners in "
        f"{result['motion']['moving_seconds']:.0f} s, then {result['motion']['opened']} started). Each cell: {args.seconds:g} s of readers "
        "asking back to back.",
        "",
        "| endpoint | readers | median (ms) | p95 (ms) | answers / s | median / baseline's | errors | answer (KiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ENDPOINTS:
        for n in readers:
            cell, base = cells[(name, n)], cells[("baseline", n)]
            ratio = cell["median_ms"] / base["median_ms"] if base["median_ms"] else float("nan")
            median = f"{cell['median_ms']:.0f}"
            if name == "json":
                median = f"**{median}**"
            lines.append(
                f"| {LABELS[name]} | {n} | {median} | {cell['p95_ms']:.0f} | "
                f"{cell['per_second']:.1f} | {ratio:.1f}x | {cell['errors']} | {cell['kib']:.0f} |"
            )
    if ("json-poll", max(readers)) in cells:
        n = max(readers)
        cell = cells[("json-poll", n)]
        lines.append(
            f"| recap JSON, each reader about every {args.poll:g} s (as a page polls; "
            f"{poll_seconds(args.seconds, args.poll):g} s) | {n} | **{cell['median_ms']:.0f}** | "
            f"{cell['p95_ms']:.0f} | {cell['per_second']:.1f} | – | {cell['errors']} | "
            f"{cell['kib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dry-run", default="LIVE", help="the sample plan's LIVE holds every step")
    parser.add_argument("--readers", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=15, help="per endpoint and reader count")
    parser.add_argument(
        "--poll",
        type=float,
        default=5,
        help="then the JSON with the most readers, each asking about every POLL s (0: not)",
    )
    parser.add_argument("--answer-delay", type=float, default=2.5)
    parser.add_argument(
        "--motion-timeout", type=float, default=360, help="longest time the owners answer (s)"
    )
    parser.add_argument("--drain", type=float, default=60, help="longest wait once they stop (s)")
    parser.add_argument(
        "--profile", action="store_true", help="also time and profile run_steps called directly"
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    result = measure(args)
    text = table(result, args)
    print(text)
    if args.write:
        write_section(args.write, "recap_read", text)


if __name__ == "__main__":
    main()
