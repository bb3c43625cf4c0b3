"""Go / no-go gates on a real Airflow: the same plan run twice, once Go and once No-go.

    A (CO) ─► G (gate, 2 Go needed) ─► F1 (CO) ─► F2 (CO) ─┐
                                   └─► B1 (FB-RB) ─► B2 (FB-RB) ─┴─► J (DC, after either branch)

Go needs two distinct pairs of eyes (the owner's single Go twice does not count twice, nor the Go
of the colleague she handed the gate to); the fallback
branch is then skipped by Airflow and J runs after the forward branch. No-go from one person skips
the forward branch and runs the fallback, then J. Nobody marks anything by hand; marking the gate
success (which would run both branches) is refused, also to a cutover manager. On the shared
servers (tests/shared_airflow.py), the GATES dry run.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import pytest

from airflow_server import FLAVOURS, AirflowServer
from shared_airflow import dag_id

pytestmark = pytest.mark.e2e
DAG_ID = dag_id("GATES")
FORWARD, FALLBACK = ("F1", "F2"), ("B1", "B2")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


def states(server: AirflowServer, run_id: str) -> dict[str, str]:
    with server.client("admin") as admin:
        instances = admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        ).json()["task_instances"]
    return {t["task_id"]: t["state"] for t in instances if t["task_id"] != "_watch"}


def wait_states(server: AirflowServer, run_id: str, wanted: dict[str, str], timeout=180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        now = states(server, run_id)
        if all(now.get(step) == state for step, state in wanted.items()):
            return
        assert time.monotonic() < deadline, (now, wanted, server.tail())
        time.sleep(1)


def decision(server: AirflowServer, run_id: str) -> dict:
    with server.client("admin") as admin:
        return admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/G/xcomEntries/decision"
        ).json()["value"]


def recap(server: AirflowServer, run_id: str) -> dict[str, dict]:
    with server.client("carol") as carol:
        answer = carol.get(f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps")
        assert answer.status_code == 200, answer.text
        return {s["id"]: s for s in answer.json()["steps"]}


def warnings(smtp, run_id: str, timeout: float = 120) -> list:
    """The e-mails warning of G's latest safe decision in this run (at least one, waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            m
            for m in smtp.messages
            if str(m["X-Transition-Run"]) == f"{DAG_ID}/{run_id}"
            and str(m["Subject"]).startswith("[Transition-GATES] G - Latest safe decision: ")
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def recap_forecast(server: AirflowServer, run_id: str) -> str:
    """The recap's forecast from the draws, as carol sees it in chromium (its countdown shown)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 800})
            page.context.add_cookies(
                [{"name": "_token", "value": server.token("carol"), "url": server.base_url}]
            )
            assert page.goto(f"{server.base_url}/transition/recap").status == 200
            page.select_option("#dag", DAG_ID)
            page.wait_for_function(
                f"[...document.querySelectorAll('#run option')].some(o => o.value === "
                f"{json.dumps(run_id)})",
                timeout=30_000,
            )
            page.select_option("#run", run_id)
            page.wait_for_function(
                "(document.querySelector('#confidence .latest-safe') || {}).textContent",
                timeout=30_000,
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(
                path=str(ARTIFACTS / "recap-forecast.png"),
                clip={"x": 0, "y": 0, "width": 1300, "height": 330},
            )
            return page.inner_text("#confidence")
        finally:
            browser.close()


def close(server: AirflowServer, run_id: str, *steps: tuple[str, str]) -> None:
    for step, who in steps:
        assert server.answer_when_asked(who, DAG_ID, run_id, step, "Close").status_code == 200


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_plan_with_a_gate_runs_both_ways(shared_servers, flavour):
    with shared_servers.get(flavour).use() as (server, smtp):
        # -- Go, from two distinct people ---------------------------------------------------------
        run_id = server.trigger(DAG_ID)
        close(server, run_id, ("A", "alice"))
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
        with server.client("mia") as mia:  # not even a cutover manager marks a gate success
            refused = mia.patch(
                f"{run_url}/taskInstances/G",
                json={"new_state": "success", "note": "let's go"},
            )
            assert refused.status_code == 409, refused.text
            entity = {
                "task_id": "G",
                "dag_id": DAG_ID,
                "dag_run_id": run_id,
                "new_state": "success",
            }
            for path in (f"{run_url}/taskInstances", "/api/v2/dags/~/dagRuns/~/taskInstances"):
                bulk = mia.patch(
                    path, json={"actions": [{"action": "update", "entities": [entity]}]}
                )
                assert bulk.status_code == 409, (path, bulk.text)  # nor in bulk
            # Nor through a step of its branch marked with its upstream (issue 25).
            upstream = mia.patch(
                f"{run_url}/taskInstances/F1",
                json={"new_state": "success", "include_upstream": True, "note": "force"},
            )
            assert upstream.status_code == 409 and "G" in upstream.text, upstream.text
        answer = server.answer_when_asked(
            "alice", DAG_ID, run_id, "G", "Go", params={"comment": "all green"}
        )
        assert answer.status_code == 200, answer.text
        server.wait_until_asked(DAG_ID, run_id, "G")  # one Go of two: it asks again
        with server.client("carol") as carol:  # the recap's figures the warning rests on
            drawn = carol.get(f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps").json()
        [safety] = drawn["confidence"]["gates"]
        assert safety["gate"] == "G" and 60 < safety["fallback_p95_minutes"] < 150, safety
        assert drawn["confidence"]["p50"] <= drawn["confidence"]["p95"]
        if flavour == "standalone":  # the recap in a browser: the figures, the countdown
            shown = recap_forecast(server, run_id)
            assert "draws (" in shown and " · P95 " in shown and "chance to end by the End" in shown
            latest = dt.datetime.fromisoformat(safety["latest_safe"])
            assert f"Gate G: decide by {latest:%Y-%m-%d %H:%M} (" in shown, shown
            assert " min left) for a No-go to end by the End" in shown, shown
        assert server.answer_when_asked("alice", DAG_ID, run_id, "G", "Go").status_code == 200
        server.wait_until_asked(DAG_ID, run_id, "G")  # the same person twice counts once
        # Four eyes: alice hands the gate to frank, of her team; his Go is hers again.
        plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
        with server.client("alice") as alice:
            handed = alice.post(f"{plugin}/steps/G/transfer", json={"to": "frank"})
            assert handed.status_code == 200, handed.text
        assert server.answer_when_asked("frank", DAG_ID, run_id, "G", "Go").status_code == 200
        server.wait_until_asked(DAG_ID, run_id, "G")  # still one pair of eyes: it asks again
        assert states(server, run_id)["G"] == "awaiting_input"
        assert server.answer_when_asked("carol", DAG_ID, run_id, "G", "Go").status_code == 200
        wait_states(server, run_id, {"G": "success", "B1": "skipped", "B2": "skipped"})
        made = decision(server, run_id)
        assert made["decision"] == "go" and made["go"] == ["alice", "carol"], made
        # The latest safe decision: GATES ends within 3h and G's fallback takes about 1h30, so
        # its warning (2h before, in this plan) was due when G became Ready; it came once, to
        # alice and the manager, though G asked again after each Go (tests/shared_airflow.py).
        [warned] = warnings(smtp, run_id)
        assert (warned["To"], warned["Cc"]) == ("alice@example.com", "mia@example.com")
        said = warned.get_body(("plain",)).get_content()
        assert "Gate G is not decided yet. A No-go after " in said, said
        assert "Latest safe decision" in said and "The fallback takes (P95)" in said, said
        assert made["by"] == "carol" and made["skipped_branch"] == ["B1"]
        mail = smtp.wait_for("[Transition-GATES] G - Go: the plan goes on")
        assert sorted(mail["To"].split(", ")) == [
            "bob@example.com",
            "frank@example.com",
            "mia@example.com",
        ]  # the managers, the owners of the steps it starts (F1, F2) and skips (B1, B2)
        text = mail.get_body(("plain",)).get_content()
        assert "F1, F2" in text and "B1, B2" in text and "alice, carol" in text, text
        close(server, run_id, ("F1", "bob"), ("F2", "bob"), ("J", "alice"))
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        assert len(warnings(smtp, run_id, timeout=0)) == 1
        shown = recap(server, run_id)  # the recap's JSON: the gate, its decision, what it skipped
        assert shown["G"]["kind"] == "gate" and shown["G"]["decision"]["go"] == ["alice", "carol"]
        assert [shown[s]["skipped_by"] for s in ("B1", "B2", "F1", "J")] == ["G", "G", None, None]
        assert shown["B1"]["state"] == "Skipped" and shown["J"]["state"] == "Terminated"
        assert states(server, run_id) == {
            "A": "success",
            "G": "success",
            "F1": "success",
            "F2": "success",
            "B1": "skipped",
            "B2": "skipped",
            "J": "success",
        }

        # -- No-go, from one person: the fallback runs ---------------------------------------------
        run_id = server.trigger(DAG_ID)
        close(server, run_id, ("A", "alice"))
        answer = server.answer_when_asked(
            "carol", DAG_ID, run_id, "G", "No-go", params={"comment": "counts differ"}
        )
        assert answer.status_code == 200, answer.text
        wait_states(server, run_id, {"G": "success", "F1": "skipped", "F2": "skipped"})
        made = decision(server, run_id)
        assert made["decision"] == "no-go" and made["by"] == "carol", made
        assert made["comment"] == "counts differ" and made["skipped_branch"] == ["F1"]
        mail = smtp.wait_for("[Transition-GATES] G - No-go: fallback starts")
        assert "counts differ" in mail.get_body(("plain",)).get_content()
        close(server, run_id, ("B1", "frank"), ("B2", "frank"), ("J", "alice"))
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        shown = recap(server, run_id)
        assert shown["G"]["decision"]["decision"] == "no-go"
        assert [shown[s]["skipped_by"] for s in ("F1", "F2", "B1")] == ["G", "G", None]
        assert states(server, run_id) == {
            "A": "success",
            "G": "success",
            "F1": "skipped",
            "F2": "skipped",
            "B1": "success",
            "B2": "success",
            "J": "success",
        }
