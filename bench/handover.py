"""Where a handover's time goes: one owner walks a chain of steps of a sample plan, one step at a time.

For each step it answers Start, then Close, then waits for the dependent to ask; it then reads, from
Airflow's own timestamps (nothing is polled fast, so the measurement does not load the machine)::

    Close answered → closed step queued → closed step done
                   → dependent scheduled → queued → started → asking (its HITL request written)

so a handover splits into the scheduler's share (answered → queued; done → dependent scheduled and
queued), the executor's (queued → started) and the tasks' own (a new process, the DAG file, our
code). The chain is walked alone, so nothing else competes. Usage::

    .venv/bin/python bench/handover.py --steps 500 --handovers 15 [--set AIRFLOW__SECTION__KEY=VALUE ...]

``--set`` tries an Airflow setting on top of ``transition.cli.standalone``'s. Prints a table; writes
nothing. ``bench/dryrun.py`` is the whole-run measurement recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
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
from smtp_server import SmtpServer
from transition.cli.standalone import airflow_users

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--handovers", type=int, default=15)
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between a request and its answer"
    )
    parser.add_argument("--set", action="append", default=[], metavar="AIRFLOW__SECTION__KEY=VALUE")
    parser.add_argument(
        "--idle",
        type=float,
        default=30.0,
        help="seconds, after the chain, with the run open and nobody answering: the scheduler's CPU",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (Airflow's logs) and say where"
    )
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
        owners = {plan.steps[s].owner for s in chain}
        smtp = SmtpServer().start()
        extra = {"AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection()}
        extra.update(dict(item.split("=", 1) for item in args.set))
        server = AirflowServer(
            folder / "airflow", folder / "config.yaml", airflow_users(plan), extra_env=extra
        )
        rows: list[dict[str, float]] = []
        try:
            with server:
                server.wait_for_dag(dag_id, timeout=300)
                run_id = server.trigger(dag_id)
                run_url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
                admin = server.client("admin")
                clients = {o: server.client(o) for o in owners}
                for step, dependent in zip(chain, chain[1:]):
                    owner = clients[plan.steps[step].owner]
                    wait(
                        lambda step=step: asked(admin, run_url, step), 120, f"{step} asked to start"
                    )
                    time.sleep(args.settle)
                    answer(owner, run_url, step, "Start")
                    time.sleep(0.5)
                    wait(
                        lambda step=step: asked(admin, run_url, step), 120, f"{step} asked to close"
                    )
                    time.sleep(args.settle)
                    answer(owner, run_url, step, "Close")
                    wait(
                        lambda dependent=dependent: asked(admin, run_url, dependent),
                        120,
                        f"{dependent} asked to start",
                    )
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
                    seen = {
                        k: v - answered
                        for k, v in moments.items()
                        if v is not None and answered is not None
                    }
                    if closed["try_number"] > 1 or following["try_number"] > 1:
                        print(f"(a retry: tries {closed['try_number']}, {following['try_number']})")
                    rows.append(seen)
                    print(
                        f"{step} → {dependent}: "
                        + ", ".join(
                            f"{k} {v:.2f}" for k, v in sorted(seen.items(), key=lambda kv: kv[1])
                        ),
                        flush=True,
                    )
                scheduler = scheduler_process(root_pids(server))
                before = sum(scheduler.cpu_times()[:2])
                time.sleep(args.idle)
                idle_cpu = (sum(scheduler.cpu_times()[:2]) - before) / args.idle
        except Exception:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
            smtp.stop()
    keys = list(MARKS)
    print(
        f"\nmedians over {len(rows)} handovers (s after the Close answer; settings {args.set or 'as make run'}):"
    )
    for key in keys:
        values = [r[key] for r in rows if key in r]
        if values:
            print(f"  {key:24s} {statistics.median(values):6.2f}  (seen in {len(values)})")
    print(
        f"scheduler CPU while the run is open and nobody answers: {idle_cpu:.0%} of a core "
        f"({len(schedule.steps)} steps in the run, {args.idle:g} s)"
    )


if __name__ == "__main__":
    main()
