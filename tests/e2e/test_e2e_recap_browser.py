"""The recap page in a real browser (Debian's chromium, headless) on a real Airflow.

A run with steps in five states; the page, logged in with the user's Airflow token, must show the
states the states module computes (the JSON endpoint), filter them, draw them on its timeline (the
server's SVG: bars in the same states, the critical path marked, filtered like the table, zoomed,
printed in slices of rows) and save screenshots under tests/artifacts/. Its what-if form answers "if
step A ended then" (steps moved, End at risk, people to warn) and refusals in words, as the what-if
JSON does, and asking changes nothing. Without a login there is no data.
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
from transition.local.standalone import airflow_users
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
            "DryRuns": [["Name", "D-day", "End"], ["DR1", today, end_by(today)]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="recap")


def end_by(d_day: dt.date) -> dt.datetime:
    """The dry run's End: D+10 12:00, three hours after C, the last step, ends."""
    return dt.datetime.combine(d_day + dt.timedelta(days=10), dt.time(12, 0))


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
        timeline_url = f"/transition/api/dags/{DAG_ID}/runs/{run_id}/timeline.svg"
        with server.client("alice") as alice:
            picture = alice.get(timeline_url, params={"state": "Open"})
            assert picture.status_code == 200, picture.text
            assert picture.headers["content-type"].startswith("image/svg+xml")
            assert "default-src 'none'" in picture.headers["content-security-policy"]
            assert 'data-step="A"' in picture.text and 'data-step="B"' not in picture.text
            assert alice.get(timeline_url, params={"zoom": 100}).status_code == 422

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
                # The forecast from the draws: no finished run yet, so the planned durations;
                # C (D+10 08:00, 1h) ends last in every draw, well before the End (12:00).
                confidence = page.inner_text("#confidence")
                assert confidence.startswith(
                    "From 2000 draws (planned durations: no finished run yet): P50 "
                ), confidence
                assert "100% chance to end by the End" in confidence
                assert "Most often on the critical path: C 100%" in confidence
                with server.client("alice") as alice:
                    view = alice.get(steps_url).json()
                drawn = view["confidence"]
                c_step = next(s for s in view["steps"] if s["id"] == "C")
                c_start = dt.datetime.fromisoformat(c_step["planned_start"])
                p50 = dt.datetime.fromisoformat(drawn["p50"])
                assert abs(p50 - (c_start + dt.timedelta(hours=1))) < dt.timedelta(minutes=5)
                assert drawn["p50"] <= drawn["p80"] <= drawn["p95"] and drawn["gates"] == []
                page.screenshot(path=str(ARTIFACTS / "recap.png"), full_page=True)

                # The timeline: one row per step in the table's states, the critical path marked.
                page.wait_for_function(
                    "document.querySelectorAll('#gantt-box svg g.step').length === 5",
                    timeout=30_000,
                )
                bars = page.eval_on_selector_all(
                    "#gantt-box svg g.step", "gs => gs.map(g => [g.dataset.step, g.dataset.state])"
                )
                assert dict(bars) == expected
                assert page.eval_on_selector_all(
                    "#gantt-box svg g.critical", "gs => gs.map(g => g.dataset.step)"
                ) == ["C"]
                assert page.locator("#gantt-box g[data-step='A'] rect.actual").count() == 1  # Open
                assert page.locator("#gantt-box g[data-step='A'] rect.forecast").count() == 1
                assert (
                    page.locator("#gantt-box g[data-step='D'] rect.actual").count() == 1
                )  # closed
                assert page.locator("#gantt-box g[data-step='E'] rect.actual").count() == 0
                assert page.locator("#gantt-box g.now line").count() == 1
                assert "A Stop the <market> gateway" in page.text_content(
                    "#gantt-box text.label[data-step='A']"
                )  # the server's text, escaped: shown as written
                page.click("#gantt-in")
                page.wait_for_function(
                    "document.querySelector('#gantt-box svg').dataset.zoom === '1.5'"
                )
                assert page.inner_text("#gantt-status") == "×1.5"
                page.locator("#gantt").screenshot(path=str(ARTIFACTS / "timeline.png"))
                for _ in range(4):  # ×7.6: hours apart, around now
                    page.click("#gantt-in")
                page.wait_for_function(
                    "parseFloat(document.querySelector('#gantt-box svg').dataset.zoom) > 7"
                )
                page.evaluate(
                    "() => { const box = document.getElementById('gantt-box');"
                    " box.scrollLeft = box.querySelector('g.now line').x1.baseVal.value - 500; }"
                )
                # Scrolled, the step column stays in view (the page moves it by the scroll).
                page.wait_for_function(
                    "Math.abs(document.querySelector(\"#gantt-box text.label[data-step='A']\")"
                    ".getBoundingClientRect().left - document.getElementById('gantt-box')"
                    ".getBoundingClientRect().left) < 10"
                )
                page.locator("#gantt").screenshot(path=str(ARTIFACTS / "timeline-zoomed.png"))
                page.click("#gantt-reset")
                page.wait_for_function(
                    "document.querySelector('#gantt-box svg').dataset.zoom === '1'"
                )
                # Printed, the picture comes in slices of rows (one here) at the page's width.
                page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
                page.emulate_media(media="print")
                assert page.locator("#gantt-print svg").count() == 1
                assert page.locator("#gantt-print svg g.step").count() == 5
                assert not page.is_visible("#gantt-box")
                assert page.evaluate(
                    "document.querySelector('#gantt-print svg').getBoundingClientRect().right"
                ) <= page.evaluate("document.documentElement.clientWidth")
                page.pdf(path=str(ARTIFACTS / "recap.pdf"), landscape=True, print_background=True)
                page.evaluate("window.dispatchEvent(new Event('afterprint'))")
                page.emulate_media(media="screen")
                page.select_option("#f-state", "Open")
                assert page.eval_on_selector_all(
                    "#rows tr", "rows => rows.map(r => r.dataset.step)"
                ) == ["A"]
                page.wait_for_function(  # the timeline shows what the table shows
                    "[...document.querySelectorAll('#gantt-box svg g.step')]"
                    ".map(g => g.dataset.step).join() === 'A'"
                )
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

                # What if A (open, now Bob's too) ended on D+10 at 13:00? B and E follow it, past the End.
                with server.client("alice") as alice:
                    before = alice.get(steps_url).json()
                d10 = (plan.dry_runs["DR1"].d_day + dt.timedelta(days=10)).isoformat()
                page.click("#what-if summary")
                page.select_option("#wi-step", "A")
                page.fill("#wi-ends-at", f"{d10}T13:00")
                page.click("#wi-ask")
                page.wait_for_selector("#wi-warn")
                assert f"the run ends {d10} 15:00" in page.inner_text("#wi-answer .wi-end")
                assert "3 h after the End" in page.inner_text("#wi-answer .wi-end")
                assert page.eval_on_selector_all(
                    "#wi-moved li", "items => items.map(i => i.dataset.step)"
                ) == ["B", "E"]
                d1 = (plan.dry_runs["DR1"].d_day + dt.timedelta(days=1)).isoformat()
                assert (
                    f"start {d1} 08:00 → {d10} 13:00, end {d1} 10:00 → {d10} 15:00"
                    in page.inner_text("#wi-moved li[data-step='B']")
                )
                warned = page.eval_on_selector_all(
                    "#wi-warn li", "items => items.map(i => [i.dataset.person, i.innerText])"
                )
                assert warned == [
                    ["alice", "Alice Martin <alice@example.com> (A, E)"],
                    ["bob", "Bob Peeters <bob@example.com> (A, B)"],
                ]
                page.screenshot(path=str(ARTIFACTS / "recap-what-if.png"), full_page=True)
                # Ending before now is refused, in words, on the page.
                page.fill("#wi-ends-at", "")
                page.fill("#wi-slip", "-600")
                page.click("#wi-ask")
                page.wait_for_selector("#wi-answer .wi-refused")
                assert "step A cannot end at" in page.inner_text("#wi-answer")
                with server.client("alice") as alice:
                    what_if = f"/transition/api/dags/{DAG_ID}/runs/{run_id}/what-if"
                    answer = alice.get(what_if, params={"step": "A", "slip": "30"})
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["step_shift_minutes"] == 30
                    # E follows A; B waits for its Start (D+1 08:00).
                    assert [m["id"] for m in answer.json()["moved"]] == ["A", "E"]
                    for params, status, words in [
                        ({"step": "Z", "slip": "30"}, 404, "no step 'Z' in dry run DR1"),
                        ({"step": "D", "slip": "30"}, 409, "step D is closed"),
                        ({"step": "A", "slip": "soon"}, 400, "slip: 'soon'"),
                        ({"step": "A", "ends_at": "noon"}, 400, "ends_at: 'noon'"),
                    ]:
                        refused = alice.get(what_if, params=params)
                        assert refused.status_code == status, refused.text
                        assert words in refused.json()["detail"]
                    no_run = alice.get(
                        f"/transition/api/dags/{DAG_ID}/runs/nope/what-if",
                        params={"step": "A", "slip": "30"},
                    )
                    assert no_run.status_code == 404
                    assert no_run.json()["detail"] == f"no run 'nope' of DAG '{DAG_ID}'"
                    # Asking changed nothing.
                    after = alice.get(steps_url).json()
                    assert (after["steps"], after["forecast_end"]) == (
                        before["steps"],
                        before["forecast_end"],
                    )

                # The step's link opens Airflow's Required Actions page of that step, with its request.
                page.goto(link)
                page.get_by_text("A · Stop the <market> gateway").first.wait_for(timeout=60_000)
                page.screenshot(path=str(ARTIFACTS / "required-action.png"), full_page=True)
            finally:
                browser.close()
        assert httpx.get(f"{server.base_url}{steps_url}").status_code == 401
        assert httpx.get(f"{server.base_url}{timeline_url}").status_code == 401
