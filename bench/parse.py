"""Parse cost of dags/transition_plan.py against a floor, in one run.

For synthetic plans of 500, 2,000 and 5,000 steps (4 dry runs each):

* **ours**: executing ``dags/transition_plan.py`` with the compiled plan cached (steady state);
* **floor**: a bare script that builds the same DAGs (same task ids, edges, subjects and bodies)
  with Airflow's stock ``HITLOperator`` from a JSON list;
* **first parse after a workbook change**: ours with an empty cache (reads Excel, validates,
  compiles, then builds).

Each measurement runs in a fresh Python process with Airflow already imported, several rounds;
the table shows medians, the ratio ours/floor, and peak memory. Usage::

    .venv/bin/python bench/parse.py [--sizes 500,2000,5000] [--rounds 5] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "transition_plan.py"

PROBE = r"""
import json, os, resource, runpy, sys, time
import airflow.sdk  # imports are not what we measure
from airflow.providers.standard.operators.hitl import HITLOperator
import transition.dag_builder, transition.plan_store
mode, target = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if mode == "floor":
    from airflow.sdk import DAG
    import datetime as dt
    dags = {}
    for dag_id, tasks in json.load(open(target)).items():
        with DAG(dag_id, schedule=None, start_date=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)) as dag:
            made = {t[0]: HITLOperator(task_id=t[0], subject=t[1], body=t[2], options=["Start", "Close"]) for t in tasks}
            for t in tasks:
                if t[3]:
                    made[t[0]].set_upstream([made[u] for u in t[3]])
        dags[dag_id] = dag
else:
    from airflow.sdk import DAG
    dags = {k: v for k, v in runpy.run_path(target).items() if isinstance(v, DAG)}
elapsed = time.perf_counter() - started
tasks = sum(len(d.tasks) for d in dags.values())
print(json.dumps({"seconds": elapsed, "dags": len(dags), "tasks": tasks,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_probe(mode: str, target: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(target)], capture_output=True, text=True,
                          env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(size: int, folder: Path) -> tuple[Path, Path, dict[str, str]]:
    from transition.plan_store import load_plan
    from transition.sample_generator import write_sample
    from transition.step_text import body, subject

    write_sample(folder / "plan.xlsx", size, seed=1)
    (folder / "config.yaml").write_text("name: bench\nworkbook: plan.xlsx\n", encoding="utf-8")
    env = {**os.environ, "TRANSITION_CONFIG": str(folder / "config.yaml"),
           "TRANSITION_CACHE_DIR": str(folder / "cache"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    os.environ.update({k: env[k] for k in ("TRANSITION_CONFIG", "TRANSITION_CACHE_DIR")})
    plan = load_plan(folder / "config.yaml").plan
    assert plan is not None
    floor = {
        plan.dag_id(name): [
            [s.step_id, subject(plan, s.step_id), body(plan, name, s), list(s.upstream)]
            for s in schedule.steps.values()
        ]
        for name, schedule in plan.schedules.items()
    }
    floor_file = folder / "floor.json"
    floor_file.write_text(json.dumps(floor), encoding="utf-8")
    return floor_file, folder / "cache", env


def measure(sizes: list[int], rounds: int) -> list[dict]:
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            floor_file, cache, env = prepare(size, folder)
            ours_file = DAG_FILE
            floor_runs, ours_runs, first_runs = [], [], []
            for _ in range(rounds):
                floor_runs.append(run_probe("floor", floor_file, env))
                ours_runs.append(run_probe("ours", ours_file, env))
            for _ in range(max(1, rounds // 2)):
                for entry in cache.glob("*"):
                    for item in entry.glob("*") if entry.is_dir() else [entry]:
                        item.unlink()
                first_runs.append(run_probe("ours", ours_file, env))
            assert ours_runs[0]["tasks"] == floor_runs[0]["tasks"], (ours_runs[0], floor_runs[0])
            median = lambda runs, key="seconds": statistics.median(r[key] for r in runs)  # noqa: E731
            results.append({
                "steps": size, "tasks": ours_runs[0]["tasks"], "dags": ours_runs[0]["dags"],
                "floor_s": median(floor_runs), "ours_s": median(ours_runs),
                "ratio": median(ours_runs) / median(floor_runs), "first_s": median(first_runs),
                "floor_mb": median(floor_runs, "max_rss_mb"), "ours_mb": median(ours_runs, "max_rss_mb"),
            })
            print(results[-1], flush=True)
    return results


def table(results: list[dict], rounds: int) -> str:
    lines = [
        f"Rounds per cell: {rounds} (median). Command: `.venv/bin/python bench/parse.py --rounds {rounds} --write BENCHMARKS.md`",
        "",
        "| steps | DAGs | tasks | floor (s) | ours (s) | ours / floor | first parse after a change (s) | peak RSS floor / ours (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['steps']:,} | {r['dags']} | {r['tasks']:,} | {r['floor_s']:.2f} | {r['ours_s']:.2f} | "
            f"{r['ratio']:.2f}x | {r['first_s']:.2f} | {r['floor_mb']:.0f} / {r['ours_mb']:.0f} |"
        )
    return "\n".join(lines)


def write_section(path: Path, name: str, content: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{content}\n{end}"
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


def bench_main(doc: str, section: str, sizes: str, measure, table) -> None:
    """The command line every benchmark here shares: sizes, rounds, and the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=sizes)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    results = measure([int(s) for s in args.sizes.split(",")], args.rounds)
    text = table(results, args.rounds)
    print(text)
    if args.write:
        write_section(args.write, section, text)


def main() -> None:
    bench_main(__doc__, "parse", "500,2000,5000", measure, table)


if __name__ == "__main__":
    main()
