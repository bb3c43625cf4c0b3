"""The step page on a phone: how soon it shows, and how much is sent, against Airflow's own page.

A 500-step synthetic plan (``bench/dryrun.py``'s ``write_plan``) runs on ``make run``'s Airflow
(``tests/airflow_server.py``, flavour ``standalone``). A first step of its LIVE dry run asks its
owner to start it; Debian's Chromium at phone size (412 × 915, touch), logged in as that owner,
opens, ``--rounds`` times each in a fresh context (no cache): the plugin's step page
(``/transition/steps/{dag}/{run}/{step}``) and, as the baseline, Airflow's Required Actions page
of the same request (what the e-mails linked to before). Reported: the median first contentful
paint and load event (ms), the bytes received, and the ratio to the baseline in the same run (the
machine is shared: ratios measured together are the honest comparison). Usage::

    PYTHONPATH=plugins .venv/bin/python bench/phone_render.py [--rounds 8] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))
from airflow_server import AirflowServer
from dryrun import write_plan
from parse import commit, write_section
from transition.local.standalone import airflow_users
from transition.notifications.addressing import required_actions_link, step_page_link

CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True}
TIMINGS = """() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp: paint ? paint.startTime : null, load: nav ? nav.loadEventEnd : null};
}"""


def body_size(answer: Any) -> int:
    """The bytes of an answer's body (a redirect's is gone once followed: its declared length)."""
    try:
        return len(answer.body() or b"")
    except Exception:
        return int(answer.headers.get("content-length") or 0)


def open_once(browser: Any, server: AirflowServer, user: str, url: str) -> dict[str, float]:
    """One visit in a fresh context: first contentful paint, load event (ms), bytes received."""
    context = browser.new_context(**PHONE, bypass_csp=True)  # to read the timings
    try:
        context.add_cookies([{"name": "_token", "value": server.token(user), "url": url}])
        page = context.new_page()
        sizes: list[int] = []
        page.on("response", lambda answer: sizes.append(body_size(answer)))
        page.goto(url, wait_until="load")
        page.wait_for_timeout(500)  # the paint entries of a page that renders by its script
        found = page.evaluate(TIMINGS)
        return {"fcp": found["fcp"] or float("nan"), "load": found["load"], "bytes": sum(sizes)}
    finally:
        context.close()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="phone-render-") as tmp:
        folder = Path(tmp)
        plan = write_plan(folder, args.steps, args.seed)
        server = AirflowServer(
            folder / "airflow", folder / "config.yaml", airflow_users(plan), flavour="standalone"
        )
        with server:
            dag_id = plan.dag_id("LIVE")
            run_id = server.trigger(dag_id)
            schedule = plan.schedules["LIVE"]
            step = next(s for s, scheduled in schedule.steps.items() if not scheduled.upstream)
            owner = plan.steps[step].owner
            server.wait_until_asked(dag_id, run_id, step)
            pages = {
                "step page": step_page_link(server.base_url, dag_id, run_id, step),
                "Airflow's Required Actions (baseline)": required_actions_link(
                    server.base_url, dag_id, run_id, step
                ),
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    visits = {
                        name: [open_once(browser, server, owner, url) for _ in range(args.rounds)]
                        for name, url in pages.items()
                    }
                finally:
                    browser.close()
    return {"visits": visits, "load": os.getloadavg()[0], "steps": args.steps}


def table(result: dict[str, Any], args: argparse.Namespace) -> str:
    def median(name: str, key: str) -> float:
        return statistics.median(v[key] for v in result["visits"][name])

    baseline = "Airflow's Required Actions (baseline)"
    lines = [
        f"Measured at commit {commit()} on {os.cpu_count()} cores (shared), load average "
        f"{result['load']:.1f} at the end; {result['steps']}-step plan, {args.rounds} visits "
        "per page, each in a fresh context (no cache), Chromium at 412 × 915 with touch. Command: "
        f"`PYTHONPATH=plugins .venv/bin/python bench/phone_render.py --rounds {args.rounds} "
        "--write BENCHMARKS.md`",
        "",
        "| page | first contentful paint (ms, median) | load event (ms, median) | received (KB) "
        "| paint / baseline's |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in result["visits"]:
        fcp = median(name, "fcp")
        lines.append(
            f"| {name} | **{fcp:.0f}** | {median(name, 'load'):.0f} "
            f"| {median(name, 'bytes') / 1000:.1f} | {fcp / median(baseline, 'fcp'):.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    text = table(measure(args), args)
    print(text)
    if args.write:
        write_section(args.write, "phone_render", text)


if __name__ == "__main__":
    main()
