"""The escalation ladder on a real Airflow with a real SMTP server (aiosmtpd).

Minute-scale rungs: N is Ready and nobody starts it (not started: 0.5m, 1.5m, 2.5m after Ready;
handed over to frank first, so he holds it too); O is started and left open past its half-minute
duration (overrun: 0m, 1m, 2m after its due time). Airflow restarts between rungs 1 and 2: each
rung arrives once, in order, not before its time, to whoever holds the step, then + the team
leader, then + the cutover manager. (A minute between rungs 1, 2 and 3: a restart under load takes
most of one, and a step that wakes with two rungs due sends the higher one alone.) H follows P (1.5
minutes, started at once): its owner gets "you're next" once, 1 minute before P's forecast end
(heads_up: 1m), while P is still open. G, a go / no-go gate needing two Go, climbs the not-started
ladder while undecided: rung 1 to its owner, then + the team leader, then + the cutover manager;
one Go after rung 1 does not restart it (rungs 2 and 3 say one more Go is needed, and who said Go);
the timeouts never fail the gate; a second Go after rung 3 decides it, and the run goes on (F asks,
the fallback B is skipped). A chat channel (Apprise, posting to a local receiver) gets each rung
and the heads-up once, titled like the e-mails.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from email.message import EmailMessage

import pytest

from airflow_server import AirflowServer, airflow_with_mail
from conftest import write_config, write_xlsx
from transition.store.plan_store import load_plan
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
DAG_ID = "ladder_dr1"
NOT_STARTED = (30.0, 90.0, 150.0)  # seconds after Ready (config below)
DUE = 30.0  # O's duration: 0.5m
OVERRUN = (0.0, 60.0, 120.0)  # seconds after the due time


def write_plan(folder):
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Duration"]
                + ["Kind", "Approvals"],
                ["N", "Stop the market gateway", "AC", "ALL", "", "alice", "2h"],
                ["O", "Back up the databases", "AC", "ALL", "", "bob", "0.5m"],
                ["P", "Drain the message queues", "AC", "ALL", "", "carol", "1.5m"],
                ["H", "Check the queues are empty", "AC", "ALL", "P", "frank", "1h"],
                ["G", "Go / no-go: open the market", "AC", "ALL", "", "bob", "1h", "gate", 2],
                ["F", "Open the market", "AC", "ALL", "G", "frank", "1h"],
                ["B", "Keep the market closed", "FB-RB", "ALL", "G", "alice", "1h"],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Market", "carol", "dave"],
                ["bob", "Bob Peeters", "bob@example.com", "Infra", "carol", "dave"],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "", "dave"],
                ["dave", "Dave Lambert", "dave@example.com", "Direction", "", ""],
                ["frank", "Frank Claes", "frank@example.com", "Market", "carol", "dave"],
                ["mia", "Mia Renard", "mia@example.com", "Transition office", "", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today]],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="ladder",
        cutover_managers=["mia"],
        escalation={
            "not_started": ["0.5m", "1.5m", "2.5m"],
            "overrun": ["0m", "1m", "2m"],
            "heads_up": "1m",
        },
        channels=[{"connection": "teams_cutover", "messages": ["reminder", "heads_up"]}],
    )


def received(message: EmailMessage) -> float:
    return float(message["X-Received-At"])


def moment(server: AirflowServer, run_id: str, step: str, what: str = "ready") -> float:
    """When ``step`` became ready, or was started (``what``: the XCom), in seconds."""
    with server.client("admin") as admin:
        value = admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}/xcomEntries/{what}"
        ).json()["value"]
    return dt.datetime.fromisoformat(value["at"]).timestamp()


def wait_deferred_watch(server: AirflowServer, run_id: str) -> None:
    """Until the run's watch sleeps (deferred): a watch killed while it runs is only picked up after
    Airflow's heartbeat timeout (docs/limitations.md)."""
    with server.client("admin") as admin:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/_watch"
            if admin.get(url).json()["state"] == "deferred":
                return
            time.sleep(0.3)


def test_each_rung_arrives_once_in_order_to_the_right_people(tmp_path):
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    with (
        WebhookReceiver() as receiver,
        airflow_with_mail(
            tmp_path,
            plan,
            extra_env={
                "TRANSITION_WATCH_RECHECK_SECONDS": "10",
                "AIRFLOW_CONN_TEAMS_CUTOVER": receiver.apprise_connection("/teams"),
            },
        ) as (server, smtp),
    ):
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)
        plugin = f"/transition/api/dags/{DAG_ID}/runs/{run_id}"
        server.wait_until_asked(DAG_ID, run_id, "N")
        with server.client("alice") as alice:
            transfer = alice.post(f"{plugin}/steps/N/transfer", json={"to": "frank"})
        assert transfer.status_code == 200, transfer.text
        assert server.answer_when_asked("bob", DAG_ID, run_id, "O", "Start").status_code == 200
        assert server.answer_when_asked("carol", DAG_ID, run_id, "P", "Start").status_code == 200
        heads_up = smtp.wait_for("[Transition-DR1] H - You're next", timeout=150)
        assert (heads_up["To"], heads_up["Cc"]) == ("frank@example.com", None)
        text = heads_up.get_body(("plain",)).get_content()
        assert "Step H should be ready around" in text
        assert "P · Drain the message queues (Carol Dubois)" in text
        # P's forecast end is its Start + 1.5 minutes: the heads-up comes 1 minute before that.
        p_started = moment(server, run_id, "P", "started")
        assert received(heads_up) >= p_started + 30.0 - 1.0

        n1 = smtp.wait_for("[Transition-DR1] N - Reminder: not started", timeout=150)
        o1 = smtp.wait_for("[Transition-DR1] O - Reminder: still open", timeout=150)
        g1 = smtp.wait_for("[Transition-DR1] G - Reminder: decision awaited", timeout=150)
        # One Go of the two G needs, after its rung 1: it asks again, its ladder goes on.
        assert server.answer_when_asked("bob", DAG_ID, run_id, "G", "Go").status_code == 200
        server.wait_until_asked(DAG_ID, run_id, "G")
        server.wait_for_state(DAG_ID, run_id, "G", "awaiting_input")
        # Airflow restarts between rungs: the parked steps wake at their next rung all the same,
        # and the ledger keeps what was said.
        wait_deferred_watch(server, run_id)
        server.stop()
        server.start()
        n2 = smtp.wait_for("[Transition-DR1] N - Not started: team leader told", timeout=150)
        o2 = smtp.wait_for("[Transition-DR1] O - Still open: team leader told", timeout=150)
        n3 = smtp.wait_for("[Transition-DR1] N - Not started: cutover managers told", timeout=150)
        o3 = smtp.wait_for("[Transition-DR1] O - Still open: cutover managers told", timeout=150)
        g2 = smtp.wait_for("[Transition-DR1] G - Decision awaited: team leader told", timeout=150)
        g3 = smtp.wait_for(
            "[Transition-DR1] G - Decision awaited: cutover managers told", timeout=150
        )
        late = smtp.wait_for("[Transition-DR1] O - Late", timeout=10)

        # Whoever holds the step (N: alice, and frank it was handed to), then + the team leader,
        # then + the cutover manager.
        assert [(m["To"], m["Cc"]) for m in (n1, n2, n3)] == [
            ("alice@example.com, frank@example.com", None),
            ("alice@example.com, frank@example.com", "carol@example.com"),
            ("alice@example.com, frank@example.com", "carol@example.com, mia@example.com"),
        ]
        assert [(m["To"], m["Cc"]) for m in (o1, o2, o3)] == [
            ("bob@example.com", None),
            ("bob@example.com", "carol@example.com"),
            ("bob@example.com", "carol@example.com, mia@example.com"),
        ]
        # The gate: its owner, then + the team leader, then + the cutover manager.
        assert [(m["To"], m["Cc"]) for m in (g1, g2, g3)] == [
            ("bob@example.com", None),
            ("bob@example.com", "carol@example.com"),
            ("bob@example.com", "carol@example.com, mia@example.com"),
        ]
        text = n1.get_body(("plain",)).get_content()
        assert "Step N has been ready since" in text and "Alice Martin, Frank Claes" in text
        text = g1.get_body(("plain",)).get_content()
        assert "Gate G has been waiting for a decision (Go or No-go) since" in text
        assert "2 more Go are needed before it counts" in text and "nobody yet (0 of 2)" in text
        for message in (g2, g3):  # after bob's Go
            text = message.get_body(("plain",)).get_content()
            assert "1 more Go is needed before it counts" in text, text
            assert "Bob Peeters (1 of 2)" in text, text
        assert "Step O was due to be closed by" in o3.get_body(("plain",)).get_content()

        # In order, and never before its time (counted from Ready; O's due time is Ready + 0.5m).
        n_ready, o_ready = moment(server, run_id, "N"), moment(server, run_id, "O")
        g_ready = moment(server, run_id, "G")
        slack = 1.0  # the clock's resolution between the worker and this test
        for message, earliest in (
            (n1, n_ready + NOT_STARTED[0]),
            (n2, n_ready + NOT_STARTED[1]),
            (n3, n_ready + NOT_STARTED[2]),
            (late, o_ready + DUE),
            (o1, o_ready + DUE + OVERRUN[0]),
            (o2, o_ready + DUE + OVERRUN[1]),
            (o3, o_ready + DUE + OVERRUN[2]),
            (g1, g_ready + NOT_STARTED[0]),
            (g2, g_ready + NOT_STARTED[1]),
            (g3, g_ready + NOT_STARTED[2]),
        ):
            assert received(message) >= earliest - slack, (message["Subject"], earliest)
        assert received(n1) < received(n2) < received(n3)
        assert received(o1) < received(o2) < received(o3)
        assert received(g1) < received(g2) < received(g3)

        # The gate can still be decided: a second person's Go, and the run goes on.
        assert server.answer_when_asked("carol", DAG_ID, run_id, "G", "Go").status_code == 200
        server.wait_for_state(DAG_ID, run_id, "G", "success")
        server.wait_for_state(DAG_ID, run_id, "B", "skipped")
        server.wait_until_asked(DAG_ID, run_id, "F")
        smtp.wait_for("[Transition-DR1] F - Execution", timeout=60)
        gate_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/G"
        with server.client("admin") as admin:
            made = admin.get(f"{gate_url}/xcomEntries/decision").json()["value"]
            tries = admin.get(gate_url).json()["try_number"]
            logs = [
                admin.get(f"{gate_url}/logs/{n}", params={"full_content": True}).text
                for n in range(1, tries + 1)
            ]
        assert made["decision"] == "go" and made["go"] == ["bob", "carol"], made
        # Its timeouts sent the rungs and parked it again: none failed it (a failed try would
        # have said so, and retried).
        assert any("waited until a reminder was due" in log for log in logs), logs
        assert not any("was not answered" in log for log in logs), logs

        time.sleep(15)  # a few more rounds of the scheduler and the watch: nothing said twice
        subjects = [str(m["Subject"]) for m in smtp.messages]
        ladder = [
            s
            for s in subjects
            if s.startswith(tuple(f"[Transition-DR1] {step} - " for step in "NOG"))
            and (" - Reminder: " in s or " told" in s)
        ]
        sent = (n1, n2, n3, o1, o2, o3, g1, g2, g3)
        assert sorted(ladder) == sorted(str(m["Subject"]) for m in sent), subjects
        assert subjects.count("[Transition-DR1] O - Late") == 1
        assert subjects.count("[Transition-DR1] H - You're next") == 1
        # O, started, may be killed by the restart while it re-parks: its new try asks for Start
        # again but stays on the overrun ladder (the sent-ledger knows it was started).
        assert not [s for s in subjects if s.startswith("[Transition-DR1] O - Not started")]
        assert "[Transition-DR1] H - Execution" not in subjects  # P still open: H never Ready
        # The channel got each rung (P's too: started, past its 1.5 minutes) and the heads-up once,
        # titled like the e-mails; one message per rung, whatever the number of e-mails.
        posted = sorted(p.body["title"] for p in receiver.posted if p.path == "/teams")
        told = {s for s in subjects if " - Reminder: " in s or " told" in s or "You're next" in s}
        assert posted == sorted(told), (posted, subjects)
        assert {str(m["Subject"]) for m in sent} < told
