"""Parse cost of dags/transition_plan.py against a floor, in one run.

For synthetic plans of 500, 2,000 and 5,000 steps (4 dry runs each):

* **ours**: executing ``dags/transition_plan.py`` with the compiled plan cached (steady state);
* **floor**: a bare script that builds the same DAGs (same task ids, edges, subjects and bodies)
  with Airflow's stock ``HITLOperator`` from a JSON list;
* **first parse after a workbook change**: ours with an empty cache (reads Excel, validates,
  compiles, then builds);
* **dag-factory 1.1.0**: ``dagfactory.load_yaml_dags(globals_dict=..., config_filepath=...)`` on a
  YAML file describing the same DAGs (one per dry run; stock ``HITLOperator`` tasks with the same
  task ids, subjects, bodies and dependencies). dag-factory is installed on first use into
  ``bench/.dagfactory`` (``pip install --no-deps --target``), outside the project's venv, and put on
  ``PYTHONPATH`` for its own measurements only.

Each measurement runs in a fresh Python process with Airflow already imported and, as in Airflow's
dag-processor, the garbage collector's view of those imports frozen (``gc.freeze()``), several rounds;
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
DAGFACTORY_DIR = Path(__file__).resolve().parent / ".dagfactory"
DAGFACTORY_VERSION = "1.1.0"
# What dag-factory imports besides Airflow (its declared requirements, and pendulum which it imports
# without declaring it): distribution name -> module. Airflow brings them all today; any missing one is
# installed next to dag-factory, never into the venv.
DAGFACTORY_DEPENDENCIES = {
    "packaging": "packaging",
    "pathspec": "pathspec",
    "PyYAML": "yaml",
    "typer": "typer",
    "pendulum": "pendulum",
}
HITL_OPERATOR = "airflow.providers.standard.operators.hitl.HITLOperator"

PROBE = r"""
import json, os, resource, runpy, sys, time
import airflow.sdk  # imports are not what we measure
from airflow.providers.standard.operators.hitl import HITLOperator
import transition.runner.dag_builder, transition.store.plan_store
mode, target = sys.argv[1], sys.argv[2]
if mode == "dag-factory":
    import dagfactory  # its import is not measured either, like Airflow's and ours
# Airflow's dag-processor freezes what it has imported before it forks a parser (gc.freeze() in
# dag_processing/manager.py), so a full collection in the parser does not walk Airflow's objects.
import gc
gc.collect()
gc.freeze()
started = time.perf_counter()
if mode == "dag-factory":
    from airflow.sdk import DAG
    found = {}
    dagfactory.load_yaml_dags(globals_dict=found, config_filepath=target,
                              defaults_config_path=os.path.dirname(target))
    dags = {k: v for k, v in found.items() if isinstance(v, DAG)}
elif mode == "floor":
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


def ensure_dagfactory() -> Path:
    """dag-factory {DAGFACTORY_VERSION} in ``bench/.dagfactory`` (installed on first use), not in the venv."""
    marker = DAGFACTORY_DIR / f"dag_factory-{DAGFACTORY_VERSION}.dist-info"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(DAGFACTORY_DIR),
    ]
    if not marker.is_dir():
        print(
            f"Installing dag-factory {DAGFACTORY_VERSION} into {DAGFACTORY_DIR} (not into the venv)",
            flush=True,
        )
        subprocess.run([*pip, f"dag-factory=={DAGFACTORY_VERSION}"], check=True, timeout=600)
    missing = [
        name
        for name, module in DAGFACTORY_DEPENDENCIES.items()
        if subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            env=dagfactory_env(os.environ),
            capture_output=True,
        ).returncode
        != 0
    ]
    if missing:
        subprocess.run([*pip, *missing], check=True, timeout=600)
    return DAGFACTORY_DIR


def dagfactory_env(env: dict[str, str] | os._Environ) -> dict[str, str]:
    """The environment of a dag-factory process: its folder on PYTHONPATH, no telemetry sent."""
    path = os.pathsep.join(p for p in (str(DAGFACTORY_DIR), env.get("PYTHONPATH", "")) if p)
    return {
        **env,
        "PYTHONPATH": path,
        "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
    }


def write_dagfactory_yaml(floor: dict[str, list], path: Path) -> Path:
    """The floor's DAGs as a dag-factory YAML file: one DAG per dry run, HITLOperator tasks."""
    import yaml

    config: dict = {"default": {"start_date": "2020-01-01", "catchup": False}}
    for dag_id, tasks in floor.items():
        config[dag_id] = {
            "tasks": {
                task_id: {
                    "operator": HITL_OPERATOR,
                    "subject": subject,
                    "body": body,
                    "options": ["Start", "Close"],
                    **({"dependencies": list(upstream)} if upstream else {}),
                }
                for task_id, subject, body, upstream in tasks
            }
        }

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        """Multi-line text (the bodies) as literal blocks (``|``), as a person writes them."""

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar(
            "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
        )

    Dumper.add_representer(str, text)
    path.write_text(
        yaml.dump(config, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=120),
        encoding="utf-8",
    )
    return path


def run_probe(mode: str, target: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(size: int, folder: Path) -> tuple[Path, Path, dict[str, str]]:
    from transition.notifications.request_text import body, subject
    from transition.store.plan_store import load_plan
    from transition.workbook.sample import write_sample

    write_sample(folder / "plan.xlsx", size, seed=1)
    (folder / "config.yaml").write_text("name: bench\nworkbook: plan.xlsx\n", encoding="utf-8")
    (folder / "dagfactory").mkdir()
    env = {
        **os.environ,
        "TRANSITION_CONFIG": str(folder / "config.yaml"),
        "TRANSITION_CACHE_DIR": str(folder / "cache"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
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
    write_dagfactory_yaml(floor, folder / "dagfactory" / "plan_dags.yaml")
    return floor_file, folder / "cache", env


def measure(sizes: list[int], rounds: int) -> list[dict]:
    ensure_dagfactory()
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            floor_file, cache, env = prepare(size, folder)
            ours_file = DAG_FILE
            yaml_file = folder / "dagfactory" / "plan_dags.yaml"
            floor_runs, ours_runs, first_runs, factory_runs = [], [], [], []
            for _ in range(rounds):
                floor_runs.append(run_probe("floor", floor_file, env))
                ours_runs.append(run_probe("ours", ours_file, env))
                factory_runs.append(run_probe("dag-factory", yaml_file, dagfactory_env(env)))
            for _ in range(max(1, rounds // 2)):
                for entry in cache.glob("*"):
                    for item in entry.glob("*") if entry.is_dir() else [entry]:
                        item.unlink()
                first_runs.append(run_probe("ours", ours_file, env))
            # Ours has one task per DAG more than the others: the run's watch (_watch).
            assert (
                ours_runs[0]["tasks"] - ours_runs[0]["dags"]
                == floor_runs[0]["tasks"]
                == factory_runs[0]["tasks"]
            ), (ours_runs[0], floor_runs[0], factory_runs[0])
            assert ours_runs[0]["dags"] == floor_runs[0]["dags"] == factory_runs[0]["dags"]
            median = lambda runs, key="seconds": statistics.median(r[key] for r in runs)  # noqa: E731
            results.append(
                {
                    "steps": size,
                    "tasks": floor_runs[0]["tasks"],
                    "dags": ours_runs[0]["dags"],
                    "floor_s": median(floor_runs),
                    "ours_s": median(ours_runs),
                    "ratio": median(ours_runs) / median(floor_runs),
                    "first_s": median(first_runs),
                    "floor_mb": median(floor_runs, "max_rss_mb"),
                    "ours_mb": median(ours_runs, "max_rss_mb"),
                    "factory_s": median(factory_runs),
                    "factory_ratio": median(factory_runs) / median(ours_runs),
                    "factory_mb": median(factory_runs, "max_rss_mb"),
                    "yaml_kib": yaml_file.stat().st_size / 1024,
                }
            )
            print(results[-1], flush=True)
    return results


def commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def measured_on() -> str:
    """When, at which commit, and how busy the (shared) machine was: for the tables' first line."""
    import datetime as dt

    return f"Measured {dt.date.today():%Y-%m-%d} at commit {commit()}, load average {os.getloadavg()[0]:.1f} at the end"


def table(results: list[dict], rounds: int) -> str:
    lines = [
        f"{measured_on()}. Rounds per cell: {rounds} (median). "
        f"Command: `.venv/bin/python bench/parse.py --rounds {rounds} --write BENCHMARKS.md`",
        "",
        "| steps | DAGs | tasks | floor (s) | ours (s) | ours / floor | first parse after a change (s) "
        "| dag-factory (s) | dag-factory / ours | peak RSS floor / ours / dag-factory (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['steps']:,} | {r['dags']} | {r['tasks']:,} | {r['floor_s']:.2f} | {r['ours_s']:.2f} | "
            f"{r['ratio']:.2f}x | {r['first_s']:.2f} | {r['factory_s']:.2f} | {r['factory_ratio']:.2f}x | "
            f"{r['floor_mb']:.0f} / {r['ours_mb']:.0f} / {r['factory_mb']:.0f} |"
        )
    return "\n".join(lines)


def write_section(path: Path, name: str, content: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{content}\n{end}"
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


def sample_plan(size: int):
    """A synthetic plan of ``size`` steps (``transition sample``, seed 1), compiled, and its dry
    run with the most steps."""
    from transition.store.plan_store import load_plan
    from transition.workbook.sample import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_sample(folder / "plan.xlsx", size, seed=1)
        (folder / "config.yaml").write_text("name: bench\nworkbook: plan.xlsx\n", "utf-8")
        plan = load_plan(folder / "config.yaml").plan
    return plan, max(plan.schedules, key=lambda d: len(plan.schedules[d].steps))


def bench_main(doc: str, section: str, sizes: str, measure, table) -> None:
    """The command line every benchmark here shares: sizes, rounds, and the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
