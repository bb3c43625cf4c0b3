"""What the run's journal costs a write, against the same write without it, measured in the same run.

On a database of its own on the machine's PostgreSQL: a transfer recorded (the plugin's insert, in
its own transaction) with the journal's entry appended in the same transaction
(``records.add_transfer``: the per-run lock, the last entry read, the entry signed and inserted),
against the same insert without the journal. Interleaved, one of each at a time. Then ``--writers``
threads appending to one run at once, to see the per-run lock's cost when people answer together
(the chain checked after). Usage::

    .venv/bin/python bench/journal.py [--writes 400] [--writers 8] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "tests" / "runs")]

from test_records_schema import dag_runs

from parse import write_section
from throwaway_postgres import throwaway_database
from transition.results.evidence import check_journal
from transition.runs import journal, records
from transition.runs.records_schema import transfers

RUN = {"dag_id": "resa_dr1", "run_id": "manual__1"}  # the run test_records_schema.dag_runs makes


def journaled(engine: sa.Engine, number: int) -> float:
    began = time.perf_counter()
    with Session(engine) as session, session.begin():
        records.add_transfer(session, **RUN, task_id=f"S{number}", from_user="a", to_user="b")
    return time.perf_counter() - began


def plain(engine: sa.Engine, number: int) -> float:
    began = time.perf_counter()
    with Session(engine) as session, session.begin():
        key = records.run_key(session, RUN["dag_id"], RUN["run_id"])
        session.execute(
            sa.insert(transfers).values(
                **RUN,
                run_key=key,
                task_id=f"S{number}",
                from_user="a",
                to_user="b",
                message="",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return time.perf_counter() - began


def together(engine: sa.Engine, writers: int, each: int) -> float:
    """Seconds for ``writers`` threads to append ``each`` entries to one run at once."""
    run = (RUN["dag_id"], RUN["run_id"], f"together-{writers}")

    def write(who: int) -> None:
        for number in range(each):
            with engine.begin() as conn:
                journal.append(conn, run, "answer", {"n": number}, step=f"S{who}", by="x")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    took = time.perf_counter() - began
    with engine.connect() as conn:
        lines = journal.lines_of_run(conn, run[2])
    last = journal.sha256(lines[-1].encode())
    check_journal(
        "".join(f"{x}\n" for x in lines).encode(), len(lines), last, journal.current_key()
    )
    assert len(lines) == writers * each, len(lines)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    journal.set_key(b"bench key")
    with throwaway_database("bench_journal") as database:
        engine = sa.create_engine(database.url, pool_size=args.writers + 2)
        dag_runs(engine)
        for number in range(20):  # warm: the pool, the migrations, the plans
            journaled(engine, number)
            plain(engine, number)
        pairs = [(journaled(engine, n), plain(engine, n)) for n in range(args.writes)]
        each = max(args.writes // args.writers, 1)
        alone = together(engine, 1, each * args.writers)
        crowd = together(engine, args.writers, each)
        engine.dispose()
    report(args, pairs, alone, crowd, each)


def report(args: argparse.Namespace, pairs: list, alone: float, crowd: float, each: int) -> None:
    with_ms = statistics.median(a for a, _b in pairs) * 1000
    plain_ms = statistics.median(b for _a, b in pairs) * 1000
    ratio = statistics.median(a / b for a, b in pairs)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    total = each * args.writers
    text = (
        f"Measured {dt.date.today()} at commit {commit} on {platform.platform()}, Python "
        f"{platform.python_version()}, the machine's PostgreSQL. Command: `.venv/bin/python "
        f"bench/journal.py --writes {args.writes} --writers {args.writers} --write BENCHMARKS.md`\n\n"
        "| a transfer recorded, in its own transaction (median of "
        f"{len(pairs)} interleaved pairs) | ms |\n|---|---:|\n"
        f"| with its journal entry (lock, last entry read, signed, inserted) | {with_ms:.2f} |\n"
        f"| the same insert without the journal | {plain_ms:.2f} |\n"
        f"| **with / without**, median of the ratios pair by pair | **{ratio:.2f}x** |\n\n"
        f"{total} entries appended to one run by one writer: {alone:.2f} s; by {args.writers} "
        f"writers at once: {crowd:.2f} s ({crowd / alone:.2f}x; the chain held, {total} entries)."
    )
    print(text)
    if args.write:
        write_section(args.write, "journal", text)
    print(json.dumps({"with_ms": with_ms, "plain_ms": plain_ms, "ratio": ratio}))


if __name__ == "__main__":
    main()
