"""The step page made for a phone (issue 30) on a real Airflow, in Chromium at a phone's size.

    A (alice) ─► G (gate, alice) ─► F (CO, alice)
                                └─► R (FB-RB, alice)
    D (alice), C (bob)

alice opens the Ready e-mail's link of A (Start to confirm), taps Start, then Close with a comment;
records a defect on D; then says Go on G with a comment. Through Airflow's REST API: each step
moved on, each answer recorded once, by her. The attacks: oscar (no step) is refused the answer
(403), alice answering Start on a started step is refused (409), a request from another site
(the answer, the defect) is refused, a GET of the page (``?do=start``) changes nothing. No
horizontal scroll at 412 px (nor at 360), the page under 100 KB; screenshots in tests/artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
import zoneinfo
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_server import AirflowServer, airflow_with_mail
from conftest import write_config, write_xlsx
from transition.store.plan_store import load_plan
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
DAG_ID = "phone_dr1"
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS = Path(__file__).parents[2] / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True}
EVIL = "http://evil.example"
MAX_BYTES = 100_000


def write_plan(folder: Path) -> None:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    header = ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Kind", "Description"]
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                header,
                [
                    "A",
                    "Stop the <market> gateway",
                    "AC",
                    "ALL",
                    "",
                    "alice",
                    "",
                    "Run "
                    "**stop.sh** on the gateway, then check the queue is empty.<script>x()</script>",
                ],
                ["D", "Export the EAN register", "AC", "ALL", "", "alice", "", ""],
                ["C", "Drain the queues", "AC", "ALL", "", "bob", "", ""],
                ["G", "Go / no-go: point of no return", "CO", "ALL", "A", "alice", "gate", ""],
                ["F", "Switch DNS", "CO", "ALL", "G", "alice", "", ""],
                ["R", "Restore the old system", "FB-RB", "ALL", "G", "alice", "", ""],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Language", "Phone"],
                ["alice", "Alice Martin", "alice@example.com", "Market", "en", "+32 470 12 34 56"],
                ["bob", "Bob Peeters", "bob@example.com", "Infra", "en", ""],
                ["mia", "Mia Claes", "mia@example.com", "PMO", "en", "+32470999999"],
                ["oscar", "Oscar Outsider", "oscar@example.com", "Other", "en", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today]],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="phone",
        cutover_managers=["mia"],
        channels=[{"connection": "sms_gateway", "messages": ["ready", "decision"], "to": "people"}],
    )


def sms_gateway(receiver: WebhookReceiver) -> str:
    """``AIRFLOW_CONN_SMS_GATEWAY``: Apprise posting each SMS here as JSON, the number as ``to``."""
    config = {"path": f"json://127.0.0.1:{receiver.port}/sms?:to={{phone}}"}
    return json.dumps({"conn_type": "apprise", "extra": {"config": config}})


def sms_texts(receiver: WebhookReceiver) -> dict[str, list[str]]:
    """Each number's SMS texts, in the order they came."""
    got: dict[str, list[str]] = {}
    for posted in receiver.posted:
        if posted.path.startswith("/sms"):
            got.setdefault(posted.body["to"], []).append(posted.body["message"])
    return got


def task_states(server: AirflowServer, run_id: str) -> dict[str, str | None]:
    with server.client("admin") as admin:
        found = server.read(
            admin, f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 50}
        )
    return {t["task_id"]: t["state"] for t in found["task_instances"]}


def wait_states(server: AirflowServer, run_id: str, wanted: dict[str, str], timeout=180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        now = task_states(server, run_id)
        if all(now.get(step) == state for step, state in wanted.items()):
            return
        assert time.monotonic() < deadline, (now, wanted, server.tail())
        time.sleep(1)


def xcom(server: AirflowServer, run_id: str, step: str, key: str) -> object:
    with server.client("admin") as admin:
        url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}/xcomEntries/{key}"
        return server.read(admin, url)["value"]


def no_horizontal_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def tap_answer(page, option: str, comment: str | None = None) -> None:
    """Tap the answer's button, write the comment, tap the confirming button; wait until sent.
    (Playwright's ``expect``, not ``wait_for_function``: the page's policy forbids eval.)"""
    from playwright.sync_api import expect

    button = page.locator(f"[data-answer='{option}']:enabled")  # a reloaded page's, not the last
    button.wait_for(timeout=120_000)
    if option == "Close":  # once started, Start is not offered
        assert page.locator("[data-answer='Start']").count() == 0
    button.tap()
    if comment is not None:
        page.fill("#answer-form textarea", comment)
    page.tap("#answer-send")
    expect(page.locator("#said")).to_have_text(re.compile("^Sent"))


def attacks(server: AirflowServer, run_id: str) -> None:
    """Outsider, wrong state, another site, and a GET that changes nothing (D is Ready)."""
    run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    answer = {"chosen_options": ["Close"], "params_input": {"comment": "not mine"}}
    server.wait_until_asked(DAG_ID, run_id, "D")
    with server.client("oscar") as oscar:
        refused = oscar.patch(f"{run_url}/taskInstances/D/-1/hitlDetails", json=answer)
        assert refused.status_code == 403, refused.text
        assert isinstance(refused.json()["detail"], str)  # in words
        defect = {"title": "x", "severity": "minor"}
        steps = f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps"
        assert oscar.post(f"{steps}/D/defects", json=defect).status_code == 403
    with server.client("alice") as alice:
        # From another site, with her own login: the answer and the defect are refused.
        foreign = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
        crossed = alice.patch(
            f"{run_url}/taskInstances/D/-1/hitlDetails", json=answer, headers=foreign
        )
        assert crossed.status_code == 403, crossed.text
        crossed = alice.post(f"{steps}/D/defects", json=defect, headers=foreign)
        assert crossed.status_code == 403, crossed.text
        form = alice.post(f"{steps}/D/defects", data=defect, headers={"Origin": EVIL})
        assert form.status_code in (403, 415), form.text  # a form cannot send JSON
        # A GET of the page with Start pre-selected sends nothing.
        page = alice.get(f"/transition/steps/{DAG_ID}/{run_id}/D", params={"do": "start"})
        assert page.status_code == 200, (page.text, server.tail(60))
        assert 'data-answer="Start"' in page.text
        assert len(page.content) < MAX_BYTES, len(page.content)
        assert "default-src 'none'" in page.headers["content-security-policy"]
        detail = server.read(alice, f"{run_url}/taskInstances/D/-1/hitlDetails")
        assert detail["response_received"] is False and detail["chosen_options"] in (None, [])
        assert task_states(server, run_id)["D"] == "awaiting_input"
        assert oscar_sees_no_buttons(server, run_id)


def oscar_sees_no_buttons(server: AirflowServer, run_id: str) -> bool:
    with server.client("oscar") as oscar:
        page = oscar.get(f"/transition/steps/{DAG_ID}/{run_id}/D", params={"do": "start"})
    buttons = ('data-answer="Start"', 'data-answer="Close"')  # the script names no option
    return page.status_code == 200 and not any(b in page.text for b in buttons)


def test_a_step_driven_from_a_phone(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make test installs it)"
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    assert plan is not None
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        WebhookReceiver() as gateway,  # stands in for the SMS gateway
        airflow_with_mail(
            tmp_path, plan, extra_env={"AIRFLOW_CONN_SMS_GATEWAY": sms_gateway(gateway)}
        ) as (server, smtp),
    ):
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)
        ready = smtp.wait_for("[Transition-DR1] A - Execution")
        text = ready.get_body(("plain",)).get_content()
        link = next(w for w in text.split() if "/transition/steps/" in w)
        assert link.startswith(server.base_url) and link.endswith("/A?do=start"), link
        assert "/tasks/A/required_actions" in text  # Airflow's page, as a second link
        attacks(server, run_id)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"],
            )
            try:
                context = browser.new_context(**PHONE)
                context.add_cookies(
                    [{"name": "_token", "value": server.token("alice"), "url": server.base_url}]
                )
                page = context.new_page()
                responses: list = []
                page.on("response", lambda answer: responses.append(answer))
                assert page.goto(link).status == 200
                # Start is pre-selected: its confirmation shown and focused; nothing sent yet.
                assert page.is_visible("#answer-form")
                assert page.evaluate("document.activeElement.id") == "answer-send"
                assert page.inner_text("#answer-send") == "Start"
                assert page.locator(".md strong").inner_text() == "stop.sh"
                assert page.locator("script").count() == 1  # the workbook's text stays text
                assert "Stop the <market> gateway" in page.inner_text("h1")
                heights = page.eval_on_selector_all(
                    "button:not([hidden]), a",
                    "es => es.filter(e => e.offsetParent)"
                    ".map(e => e.getBoundingClientRect().height)",
                )
                assert min(heights) >= 44, heights
                no_horizontal_scroll(page, 412)
                page.screenshot(path=str(ARTIFACTS / "phone-step.png"), full_page=True)
                sizes = [len(r.body()) for r in responses if r.status == 200]
                assert sum(sizes) < MAX_BYTES, sizes
                page.tap("#answer-send")
                expect(page.locator("#said")).to_have_text(re.compile("^Sent"))
                # Started: Start again is refused (the guard: 409), in words.
                server.wait_until_asked(DAG_ID, run_id, "A")
                with server.client("alice") as alice:
                    again = alice.patch(
                        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/A/-1/hitlDetails",
                        json={"chosen_options": ["Start"], "params_input": {}},
                    )
                assert again.status_code == 409, again.text
                assert "already started" in again.json()["detail"], again.text
                # The page reloads until the step asks for Close; Start is then no more offered.
                tap_answer(page, "Close", "gateway stopped, queue empty")
                wait_states(server, run_id, {"A": "success"})

                # A defect on D, from its page.
                page.goto(f"{server.base_url}/transition/steps/{DAG_ID}/{quote(run_id, safe='')}/D")
                page.tap("[data-open='defect-form']")
                page.fill("#defect-form input[name='title']", "Register export truncated")
                page.select_option("#defect-form select[name='severity']", "minor")
                page.tap("#defect-form button[type='submit']")
                expect(page.locator("#said")).to_have_text("Recorded.")

                # My night: alice's steps in plan order, each linking to its page.
                page.goto(
                    f"{server.base_url}/transition/my-night/{DAG_ID}/{quote(run_id, safe='')}"
                )
                shown = page.eval_on_selector_all("#steps li", "ls => ls.map(l => l.dataset.step)")
                assert shown == ["A", "D", "G", "F", "R"], shown
                no_horizontal_scroll(page, 412)
                page.screenshot(path=str(ARTIFACTS / "phone-my-night.png"), full_page=True)

                # The gate: Go with a comment.
                page.click("#steps li[data-step='G'] a")
                tap_answer(page, "Go", "all green")
                page.set_viewport_size({"width": 360, "height": 800})
                no_horizontal_scroll(page, 360)
            finally:
                browser.close()

        wait_states(server, run_id, {"G": "success", "R": "skipped"})
        server.wait_until_asked(DAG_ID, run_id, "F")
        started, closed = xcom(server, run_id, "A", "started"), xcom(server, run_id, "A", "closed")
        assert (started["by"], closed["by"]) == ("alice", "alice")
        assert closed["comment"] == "gateway stopped, queue empty"
        decision = xcom(server, run_id, "G", "decision")
        assert decision["decision"] == "go" and decision["comment"] == "all green"
        with server.client("admin") as admin:
            details = server.read(admin, f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails")
            defects = server.read(admin, f"/transition/api/dags/{DAG_ID}/runs/{run_id}/defects")
        answered = [
            (d["task_instance"]["task_id"], d["chosen_options"], d["responded_by_user"]["id"])
            for d in details["hitl_details"]
            if d["response_received"]
        ]
        assert sorted(answered) == [("A", ["Close"], "alice"), ("G", ["Go"], "alice")], answered
        assert [(d["task_id"], d["created_by"]) for d in defects["defects"]] == [("D", "alice")]
        # Each once: A asked to start once and to close once, one Ready e-mail of A.
        assert server.asks(DAG_ID, run_id, "A", "start") == 1
        assert server.asks(DAG_ID, run_id, "A", "close") == 1
        assert sum(1 for m in smtp.messages if m["Subject"] == ready["Subject"]) == 1
        # The SMS (channel sms_gateway, to: people): alice had one per Ready of hers (A, D, G, F)
        # with her step's page, once each, and one of the gate's decision (her F starts), as mia
        # (a manager); bob has no phone: none.
        got = sms_texts(gateway)
        alice_sms = got.get("+32470123456", [])
        for step in ("A", "D", "G", "F"):
            ready_sms = [t for t in alice_sms if t.startswith(f"[Transition-DR1] {step} - Exec")]
            assert len(ready_sms) == 1, (step, alice_sms)
            assert f"/transition/steps/{DAG_ID}/" in ready_sms[0], ready_sms
        for number in ("+32470123456", "+32470999999"):
            decided = [t for t in got.get(number, []) if t.startswith("[Transition-DR1] G - Go")]
            assert len(decided) == 1, (number, got)
        assert all(len(t) <= 300 for texts in got.values() for t in texts), got
        assert set(got) == {"+32470123456", "+32470999999"}, got
    for name in ("phone-step.png", "phone-my-night.png"):
        shutil.copy(ARTIFACTS / name, DOCS / name)
