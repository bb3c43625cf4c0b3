"""Who may act, transfer and defects, on a real Airflow with a real SMTP server.

A stranger is refused everywhere (plugin endpoints, Airflow's HITL answer, "mark success"); the
owner transfers the step, the new person is e-mailed and may then act; a blocking defect e-mails the
cutover manager and keeps the step from being closed until it is resolved. Once the run is over,
defects found after the fact: on a closed step and on the run itself, in the recap JSON, the
results workbook and the weekly report read through the REST API. On the shared standalone
server (tests/shared_airflow.py), the OPS dry run; the stranger is oscar, on no step of any dry run.
"""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from shared_airflow import dag_id
from transition.results.api_client import ApiClient, Credentials
from transition.results.data import run_results
from transition.results.weekly_report import weekly_message
from transition.results.workbook import results_bytes

pytestmark = pytest.mark.e2e
DAG_ID = dag_id("OPS")


def test_who_may_act_transfer_and_blocking_defect(shared_servers):
    with shared_servers.get("standalone").use() as (server, smtp):
        run_id = server.trigger(DAG_ID)
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
        plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
        server.wait_until_asked(DAG_ID, run_id, "A")
        oscar, alice, carol, frank, mia = (
            server.client(u) for u in ("oscar", "alice", "carol", "frank", "mia")
        )

        # A stranger may do nothing on the step.
        refused = oscar.post(
            f"{plugin}/steps/A/transfer", json={"to": "oscar", "message": "mine now"}
        )
        assert refused.status_code == 403 and "only its owner" in refused.json()["detail"]
        assert (
            oscar.patch(
                f"{run_url}/taskInstances/A/-1/hitlDetails", json={"chosen_options": ["Start"]}
            ).status_code
            == 403
        )
        marked = oscar.patch(f"{run_url}/taskInstances/A", json={"new_state": "success"})
        assert marked.status_code == 403 and "You may not act on step A" in marked.json()["detail"]
        assert (
            oscar.post(
                f"{plugin}/steps/A/defects", json={"title": "x", "severity": "minor"}
            ).status_code
            == 403
        )
        zed = alice.post(f"{plugin}/steps/A/transfer", json={"to": "zed"})
        assert zed.status_code == 400, zed.text
        # A step not Ready yet may be handed over too: its holder will be told it is Ready.
        ahead = server.client("bob").post(
            f"{plugin}/steps/B/transfer", json={"to": "frank", "message": "I am off tomorrow"}
        )
        assert ahead.status_code == 200, ahead.text
        ahead_mail = smtp.wait_for("[Transition-OPS] B - Transfer")
        assert ahead_mail["To"] == "frank@example.com"

        # The owner hands the step over; the new person is told and may act.
        transfer = alice.post(
            f"{plugin}/steps/A/transfer", json={"to": "frank", "message": "On leave <today>"}
        )
        assert transfer.status_code == 200, transfer.text
        assert transfer.json()["mail"] == "sent"
        handed = smtp.wait_for("[Transition-OPS] A - Transfer")
        assert (handed["To"], handed["Cc"]) == ("frank@example.com", "alice@example.com")
        text = handed.get_body(("plain",)).get_content()
        assert "Alice Martin hands step A · Stop the market gateway over to you." in text
        assert "On leave <today>" in text and f"/dags/{DAG_ID}/runs/" in text
        assert "On leave &lt;today&gt;" in handed.get_body(("html",)).get_content()
        note = server.client("admin").get(f"{run_url}/taskInstances/A").json()["note"]
        assert "Transferred by alice to frank" in note and "On leave <today>" in note
        assert (
            frank.patch(
                f"{run_url}/taskInstances/A/-1/hitlDetails", json={"chosen_options": ["Start"]}
            ).status_code
            == 200
        )
        assert oscar.post(f"{plugin}/steps/A/transfer", json={"to": "oscar"}).status_code == 403

        # Who started the step is on its page (the task's note); a second Start says so.
        server.wait_until_asked(DAG_ID, run_id, "A")
        note = server.client("admin").get(f"{run_url}/taskInstances/A").json()["note"]
        assert re.search(r"^Start by Frank Claes on .+\d\d:\d\d$", note, re.M), note
        again = alice.patch(
            f"{run_url}/taskInstances/A/-1/hitlDetails", json={"chosen_options": ["Start"]}
        )
        assert again.status_code == 409, again.text
        assert again.json()["detail"].startswith("Step A was already started by Frank Claes on ")

        # A blocking defect: the cutover manager is told, and the step cannot be closed.
        recorded = carol.post(
            f"{plugin}/steps/A/defects",
            json={
                "title": "Gateway queue not empty",
                "severity": "blocking",
                "description": "12 messages left",
            },
        )
        assert recorded.status_code == 201, recorded.text
        defect_id = recorded.json()["defect"]["id"]
        alert = smtp.wait_for("[Transition-OPS] A - Blocking defect: Gateway queue not empty")
        assert (alert["To"], alert["Cc"]) == ("mia@example.com", "alice@example.com")
        assert "12 messages left" in alert.get_body(("plain",)).get_content()
        blocked = frank.patch(
            f"{run_url}/taskInstances/A/-1/hitlDetails", json={"chosen_options": ["Close"]}
        )
        assert (
            blocked.status_code == 409
            and f"#{defect_id} Gateway queue not empty" in blocked.json()["detail"]
        )
        assert (
            alice.patch(f"{run_url}/taskInstances/A", json={"new_state": "success"}).status_code
            == 409
        )
        recap = mia.get(f"{plugin}/steps").json()
        states = {
            s["id"]: (s["state"], s["open_defects"], s["transferred_to"]) for s in recap["steps"]
        }
        assert states == {"A": ("Open", 1, ["frank"]), "B": ("Planned", 0, ["frank"])}
        assert recap["counts"]["Open"] == 1 and recap["counts"]["Planned"] == 1
        assert recap["forecast_critical_path"] == ["A", "B"] and recap["critical_path"] == [
            "A",
            "B",
        ]
        assert recap["forecast_end"] > recap["now"] and recap["must_end_by"] is None
        page = oscar.get("/transition/recap")
        assert page.status_code == 200 and "Transition plan" in page.text and '"oscar"' in page.text
        import httpx

        assert (
            httpx.get(f"{server.base_url}{plugin}/steps").status_code == 401
        )  # not logged in: no data
        assert httpx.get(f"{server.base_url}/transition/recap").status_code == 401
        listed = mia.get(f"{plugin}/defects").json()
        assert [(d["task_id"], d["severity"], d["status"]) for d in listed["defects"]] == [
            ("A", "blocking", "open")
        ]
        assert oscar.post(f"{plugin}/defects/{defect_id}/resolve", json={}).status_code == 403
        # The person the defect blocks may not resolve it; whoever recorded it may.
        assert frank.post(f"{plugin}/defects/{defect_id}/resolve", json={}).status_code == 403
        assert carol.post(f"{plugin}/defects/{defect_id}/resolve", json={}).status_code == 200
        closed = frank.patch(
            f"{run_url}/taskInstances/A/-1/hitlDetails", json={"chosen_options": ["Close"]}
        )
        assert closed.status_code == 200, closed.text

        # B's holder is told it is Ready (its owner copied), and may answer from its first request.
        ready_b = smtp.wait_for("[Transition-OPS] B - Execution")
        assert (ready_b["To"], ready_b["Cc"]) == (
            "frank@example.com",
            "bob@example.com, carol@example.com, dave@example.com",
        )
        assert server.answer_when_asked("frank", DAG_ID, run_id, "B", "Close").status_code == 200
        assert server.wait_for_run(DAG_ID, run_id) == "success"
        assert mia.get(f"{plugin}/defects").json()["defects"][0]["status"] == "resolved"
        transfers = mia.get(f"{plugin}/transfers").json()["transfers"]
        assert [(t["task_id"], t["from_user"], t["to_user"]) for t in transfers] == [
            ("B", "bob", "frank"),
            ("A", "alice", "frank"),
        ]

        defects_after_the_fact(server, smtp, run_id)


def defects_after_the_fact(server, smtp, run_id: str) -> None:
    """The run is over: a defect on closed step A, and defects on the run itself."""
    plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
    oscar, bob, carol, mia = (server.client(u) for u in ("oscar", "bob", "carol", "mia"))
    sample = {"title": "Gateway log lost", "severity": "blocking", "description": "found at 9:00"}

    # On a closed step: the same people as on an open one; it cannot block the closed step.
    assert oscar.post(f"{plugin}/steps/A/defects", json=sample).status_code == 403
    late = carol.post(f"{plugin}/steps/A/defects", json=sample)
    assert late.status_code == 201, late.text
    assert late.json()["defect"]["after_close"] is True and late.json()["mail"] == "sent"
    late_id = late.json()["defect"]["id"]
    told = smtp.wait_for("[Transition-OPS] A - Blocking defect: Gateway log lost")
    assert told["To"] == "mia@example.com"
    assert "after it was closed: the step stays closed" in told.get_body(("plain",)).get_content()
    note = (
        server.client("admin").get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/A").json()
    )
    assert note["state"] == "success"
    assert f"Defect #{late_id} (blocking) by carol, after the close" in note["note"]

    # On the run itself: cutover managers and anyone allowed on one of its steps; not a stranger.
    refused = oscar.post(f"{plugin}/defects", json={"title": "x", "severity": "minor"})
    assert refused.status_code == 403 and "cutover managers" in refused.json()["detail"]
    missing = mia.post(
        f"/transition/api/dags/{DAG_ID}/runs/no_such_run/defects",
        json={"title": "x", "severity": "minor"},
    )
    assert missing.status_code == 404 and "no_such_run" in missing.json()["detail"]
    nul = bob.post(f"{plugin}/defects", json={"title": "a\x00b", "severity": "minor"})
    assert nul.status_code == 422, nul.text
    slow = bob.post(
        f"{plugin}/defects", json={"title": "Network slow all run", "severity": "major"}
    )
    assert slow.status_code == 201, slow.text
    assert (slow.json()["defect"]["task_id"], slow.json()["mail"]) == (None, "not needed")
    down = mia.post(
        f"{plugin}/defects",
        json={"title": "VPN down twice", "severity": "blocking", "description": "10:05, 10:40"},
    )
    assert down.status_code == 201, down.text
    alert = smtp.wait_for("[Transition-OPS] Blocking defect on the run: VPN down twice")
    assert alert["To"] == "mia@example.com"
    assert f"run {run_id} of dry run OPS" in alert.get_body(("plain",)).get_content()

    # Resolved like the others: by whoever recorded it or a cutover manager, once.
    slow_id, down_id = slow.json()["defect"]["id"], down.json()["defect"]["id"]
    assert oscar.post(f"{plugin}/defects/{slow_id}/resolve", json={}).status_code == 403
    assert carol.post(f"{plugin}/defects/{slow_id}/resolve", json={}).status_code == 403
    assert bob.post(f"{plugin}/defects/{slow_id}/resolve", json={}).status_code == 200
    again = mia.post(f"{plugin}/defects/{slow_id}/resolve", json={})
    assert again.status_code == 409 and "already resolved by bob" in again.json()["detail"]

    recap = mia.get(f"{plugin}/steps").json()
    a = next(s for s in recap["steps"] if s["id"] == "A")
    assert (a["state"], a["open_defects"]) == ("Terminated", 1)
    first = a["defects"][0]["id"]  # the blocking defect of the open step, resolved before
    assert [(d["id"], d["status"], d["after_close"]) for d in a["defects"]] == [
        (first, "resolved", False),
        (late_id, "open", True),
    ]
    assert [(d["id"], d["status"]) for d in recap["run_defects"]] == [
        (slow_id, "resolved"),
        (down_id, "open"),
    ]

    # The results workbook and the weekly report, read through the REST API as a cutover manager.
    credentials = Credentials(server.base_url, "mia", server.passwords["mia"])
    with ApiClient(credentials) as client:
        results = run_results(client, DAG_ID, run_id)
    book = openpyxl.load_workbook(io.BytesIO(results_bytes(results)))
    rows = list(book["Defects"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[2], r[4], r[-1]) for r in rows] == [
        (first, "A", "Gateway queue not empty", "resolved", None),
        (late_id, "A", "Gateway log lost", "open", "yes"),
        (slow_id, "(the run)", "Network slow all run", "resolved", None),
        (down_id, "(the run)", "VPN down twice", "open", None),
    ]
    report = weekly_message(results, [], ["mia@example.com"], server.base_url)
    text = report.get_body(("plain",)).get_content()
    assert f"#{late_id} Gateway log lost (step A, after its close, blocking)" in text
    assert f"#{down_id} VPN down twice (on the run, blocking)" in text
    assert "Network slow all run" not in text  # resolved: not an open defect
