"""The recap page in a real browser (Debian's chromium, headless) on a real Airflow.

A run with steps in five states; the page, logged in with the user's Airflow token, must show the
states the states module computes (the JSON endpoint), filter them, and save a screenshot under
tests/artifacts/. Without a login there is no data.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import zoneinfo
from pathlib import Path

import httpx
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from transition.cli.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
DAG_ID = "recap_dr1"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_plan(folder: Path) -> None:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Start", "Duration", "Owner"],
                ["A", "Stop the <market> gateway", "AC", "ALL", "", "", "2h", "alice"],
                ["B", "Back up the databases", "AC", "ALL", "A", "D+1 08:00", "2h", "bob"],
                ["C", "Load MIG 6 code lists", "CO", "ALL", "", "D+10 08:00", "1h", "alice"],
                ["D", "Announce the freeze", "PP", "ALL", "", "", "15m", "bob"],
                ["E", "Export the EAN register", "PP", "ALL", "A", "", "1h", "alice"],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Market", "", ""],
                ["bob", "Bob Peeters", "bob@example.com", "Infra", "", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="recap")


def test_recap_page_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make test installs it)"
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    with AirflowServer(
        tmp_path / "airflow", tmp_path / "config.yaml", airflow_users(plan)
    ) as server:
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)
        assert server.answer_when_asked("alice", DAG_ID, run_id, "A", "Start").status_code == 200
        assert server.answer_when_asked("bob", DAG_ID, run_id, "D", "Close").status_code == 200
        steps_url = f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps"
        expected = {"A": "Open", "B": "Locked", "C": "Idle", "D": "Terminated", "E": "Planned"}
        with server.client("alice") as alice:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                shown = {s["id"]: s["state"] for s in alice.get(steps_url).json()["steps"]}
                if shown == expected:
                    break
                time.sleep(1)
        assert shown == expected

        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-quic",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 700})
                # Not logged in: the page gives no data.
                assert page.goto(f"{server.base_url}/transition/recap").status == 401
                page.context.add_cookies(
                    [{"name": "_token", "value": server.token("alice"), "url": server.base_url}]
                )
                assert page.goto(f"{server.base_url}/transition/recap").status == 200
                page.wait_for_function(
                    "document.querySelectorAll('#rows tr').length === 5", timeout=30_000
                )
                rows = page.eval_on_selector_all(
                    "#rows tr", "rows => rows.map(r => [r.dataset.step, r.dataset.state])"
                )
                assert dict(rows) == expected
                assert "Stop the <market> gateway" in page.inner_text(
                    "#rows"
                )  # shown as text, not HTML
                assert page.inner_text("#counts").startswith("Planned 1")
                assert "Critical path (forecast): C · as planned: C" in page.inner_text(
                    "#timeline"
                )  # C starts D+10
                page.click("details summary")
                phases = page.eval_on_selector_all(
                    "#phases tr", "rows => rows.map(r => r.innerText.split('\\t'))"
                )
                assert phases[0] == ["Phase", "Planned", "Locked", "Idle", "Open", "Terminated"]
                assert phases[1:] == [
                    ["PP", "1", "", "", "", "1"],
                    ["AC", "", "1", "", "1", ""],
                    ["CO", "", "", "1", "", ""],
                ]
                page.screenshot(path=str(ARTIFACTS / "recap.png"), full_page=True)
                page.select_option("#f-state", "Open")
                assert page.eval_on_selector_all(
                    "#rows tr", "rows => rows.map(r => r.dataset.step)"
                ) == ["A"]
                page.select_option("#f-state", "")
                page.check("#f-mine")  # alice's steps: A, C, E
                assert page.eval_on_selector_all(
                    "#rows tr", "rows => rows.map(r => r.dataset.step)"
                ) == ["A", "C", "E"]
                link = page.get_attribute("#rows tr[data-step='A'] a", "href")
                assert (
                    link.endswith("/tasks/A/required_actions?map_index=-1")
                    and f"/dags/{DAG_ID}/runs/" in link
                )
                page.uncheck("#f-mine")
                assert (
                    page.locator("#rows tr[data-step='B'] button").count() == 0
                )  # B is not Ready or Open

                # Record a blocking defect on A from the page, then resolve it, then hand A to Bob.
                page.click("#rows tr[data-step='A'] button[data-act='defect']")
                page.fill("input[name='title']", "Queue <stuck>")
                page.select_option("select[name='severity']", "blocking")
                page.click("#act-send")
                page.wait_for_function(
                    "document.querySelector(\"#rows tr[data-step='A']\").innerText.includes('(open)')"
                )
                assert "Queue <stuck> (open)" in page.inner_text("#rows tr[data-step='A']")
                page.click("#rows tr[data-step='A'] button[data-resolve]")
                page.wait_for_function(
                    "!document.querySelector(\"#rows tr[data-step='A']\").innerText.includes('(open)')"
                )
                page.click("#rows tr[data-step='A'] button[data-act='transfer']")
                page.select_option("#act-to", "bob")
                page.fill("textarea[name='message']", "Please finish it")
                page.click("#act-send")
                page.wait_for_function(
                    "document.querySelector(\"#rows tr[data-step='A']\").innerText.includes('→ bob')"
                )

                # Defects after the fact. D is closed and alice is not on it: no button for her;
                # bob, its owner, records one on it; alice records one on the run from the page.
                assert page.locator("#rows tr[data-step='D'] button").count() == 0
                with server.client("bob") as bob:
                    late = bob.post(
                        f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps/D/defects",
                        json={"title": "Freeze mail bounced", "severity": "minor"},
                    )
                assert late.status_code == 201, late.text
                page.click("#run-defects button[data-act='defect']")
                assert page.inner_text("#act-title") == "Record a defect on the run as a whole"
                page.fill("input[name='title']", "Network <slow>")
                page.click("#act-send")
                page.wait_for_function(
                    "document.querySelector('#run-defects').innerText.includes('(open)')"
                )
                assert "Network <slow> (open)" in page.inner_text("#run-defects")
                assert "Freeze mail bounced (open) (after the close)" in page.inner_text(
                    "#rows tr[data-step='D']"
                )
                assert page.locator("#rows tr[data-step='D'] button").count() == 0  # not hers
                page.click("#run-defects button[data-resolve]")
                page.wait_for_function(
                    "!document.querySelector('#run-defects').innerText.includes('(open)')"
                )
                page.screenshot(path=str(ARTIFACTS / "recap-after-actions.png"), full_page=True)

                # The step's link opens Airflow's Required Actions page of that step, with its request.
                page.goto(link)
                page.get_by_text("A · Stop the <market> gateway").first.wait_for(timeout=60_000)
                page.screenshot(path=str(ARTIFACTS / "required-action.png"), full_page=True)
            finally:
                browser.close()
        assert httpx.get(f"{server.base_url}{steps_url}").status_code == 401
