"""Workbook reading: python-calamine against openpyxl (normal and read-only), in one run.

For synthetic plans of 500 to 20,000 steps (``transition sample``), each reader loads every cell of
the four sheets into Python lists, in a fresh process, several rounds; the table shows medians and
ratios against openpyxl's normal mode (the usual default). Usage::

    .venv/bin/python bench/read.py [--sizes 500,2000,5000,20000] [--rounds 5] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import bench_main

READERS = {
    "openpyxl": """
import openpyxl
book = openpyxl.load_workbook(PATH, data_only=True)
rows = [[c.value for c in row] for sheet in book.worksheets for row in sheet.iter_rows()]
""",
    "openpyxl read-only": """
import openpyxl
book = openpyxl.load_workbook(PATH, read_only=True, data_only=True)
rows = [list(row) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
""",
    "python-calamine": """
import python_calamine
book = python_calamine.CalamineWorkbook.from_path(PATH)
rows = [row for name in book.sheet_names for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
""",
}

PROBE = """
import json, resource, sys, time
PATH = sys.argv[1]
started = time.perf_counter()
exec(sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(rows),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(reader: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), READERS[reader]],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


def measure(sizes: list[int], rounds: int) -> list[dict]:
    from transition.workbook.sample import write_sample

    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_sample(Path(tmp) / "plan.xlsx", size, seed=1)
            timings: dict[str, list[dict]] = {name: [] for name in READERS}
            for _ in range(rounds):
                for name in READERS:  # interleaved, so noise hits every reader alike
                    timings[name].append(run(name, path))
            base = statistics.median(r["seconds"] for r in timings["openpyxl"])
            row = {"steps": size, "kib": path.stat().st_size // 1024}
            for name, runs in timings.items():
                seconds = statistics.median(r["seconds"] for r in runs)
                row[name] = (
                    seconds,
                    seconds / base,
                    statistics.median(r["max_rss_mb"] for r in runs),
                )
            results.append(row)
            print(row, flush=True)
    return results


def table(results: list[dict], rounds: int) -> str:
    names = list(READERS)
    lines = [
        f"Rounds per cell: {rounds} (median). Command: `.venv/bin/python bench/read.py --rounds {rounds} --write BENCHMARKS.md`",
        "",
        "| steps | file (KiB) | " + " | ".join(f"{n} (s, ratio, MB)" for n in names) + " |",
        "|---:|---:|" + "---:|" * len(names),
    ]
    for r in results:
        cells = " | ".join(f"{r[n][0]:.2f} s, {r[n][1]:.2f}x, {r[n][2]:.0f}" for n in names)
        lines.append(f"| {r['steps']:,} | {r['kib']:,} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    bench_main(__doc__, "read", "500,2000,5000,20000", measure, table)


if __name__ == "__main__":
    main()
