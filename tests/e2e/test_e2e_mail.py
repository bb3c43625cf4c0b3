"""E-mails of a dry run on a real Airflow with a real SMTP server (aiosmtpd).

Ready e-mails (recipients, subject, link, escaping, the prerequisites just closed), the dry run's
Deadline Alert to the cutover managers and to a chat channel (posted from Airflow's triggerer to a
local HTTP receiver standing in for the webhook), and a dead SMTP server that does not stop the dry
run.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from urllib.parse import quote, unquote, urlsplit

import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from smtp_server import SmtpServer
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DAG_ID = "mail_dr1"


def overdue_mails(smtp: SmtpServer) -> int:
    return sum(" Overdue: " in str(m["Subject"]) for m in smtp.messages)


def write_plan(folder):
    today = dt.datetime.now(ZONE)
    # W's planned start: 40 s ahead, to the second (a Start may say its seconds).
    w_start = today + dt.timedelta(seconds=40)
    w_start_text = f"D{(w_start.date() - today.date()).days:+d} {w_start:%H:%M:%S}"
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                [
                    "ID",
                    "Label",
                    "Phase",
                    "Dry runs",
                    "Prerequisites",
                    "Owner",
                    "Description",
                    "Start",
                    "Duration",
                ],
                [
                    "A",
                    "Freeze <billing> & co",
                    "PP",
                    "ALL",
                    "",
                    "alice",
                    "Run **freeze.sh**, then <script>x()</script>.",
                    "",
                    "1h",
                ],
                ["B", "Export EAN register", "PP", "ALL", "A", "bob", "Export it.", "", "1h"],
                ["C", "Switch gateway", "CO", "ALL", "B", "carol", "", "", "1h"],
                ["L", "Long data load", "CO", "ALL", "", "bob", "", "", "0.5m"],
                ["R", "Reconcile counts", "CO", "ALL", "", "carol", "", "", "0.5m"],
                ["W", "Check the load", "CO", "ALL", "L", "alice", "", w_start_text, "1h"],
                ["V", "Verify <the> totals", "CO", "ALL", "L", "carol", "", w_start_text, "1h"],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Billing", "carol", "dave"],
                ["bob", "Bob Peeters", "bob@example.com", "Market", "carol", "dave"],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "carol", "dave"],
                ["dave", "Dave Lambert", "dave@example.com", "Direction", "", ""],
            ],
            # The run's End is already past: its Deadline Alert fires as soon as the run starts.
            "DryRuns": [
                ["Name", "D-day", "End"],
                ["DR1", today.date(), (today - dt.timedelta(hours=1)).replace(tzinfo=None)],
            ],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="mail",
        cutover_managers=["dave"],
        channels=[{"connection": "end_room", "messages": ["end"]}],
    )


def test_ready_and_deadline_mails_and_a_dead_smtp_server(tmp_path):
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    smtp = SmtpServer().start()
    room = WebhookReceiver().start()
    server = AirflowServer(
        tmp_path / "airflow",
        tmp_path / "config.yaml",
        airflow_users(plan),
        extra_env={
            "AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection(),
            "AIRFLOW_CONN_END_ROOM": room.apprise_connection("/end"),
            "TRANSITION_WATCH_RECHECK_SECONDS": "5",
        },
    )
    try:
        with server:
            server.wait_for_dag(DAG_ID)
            run_id = server.trigger(DAG_ID)

            ready_a = smtp.wait_for("[Transition-DR1] A - Execution")
            assert (ready_a["To"], ready_a["Cc"]) == (
                "alice@example.com",
                "carol@example.com, dave@example.com",
            )
            html = ready_a.get_body(("html",)).get_content()
            text = ready_a.get_body(("plain",)).get_content()
            assert "Freeze &lt;billing&gt; &amp; co" in html and "<billing>" not in html
            assert "&lt;script&gt;" in html and "<strong>freeze.sh</strong>" in html
            # The step's page first (Start to confirm), Airflow's Required Actions page beside it.
            step_link = next(w for w in text.split() if w.startswith(server.base_url))
            assert "/transition/steps/" in step_link and step_link.endswith("/A?do=start")
            link = next(w for w in text.split() if "/required_actions" in w)
            path = urlsplit(link).path.split("/")
            assert (
                path[1:3] == ["dags", DAG_ID]
                and unquote(path[4]) == run_id
                and path[5:] == ["tasks", "A", "required_actions"]
            )
            with server.client("alice") as alice:
                page = alice.get(link)
            assert page.status_code == 200 and "<html" in page.text.lower()

            late = smtp_wait_any(smtp, "[Transition-DR1] Dry run still running")[0]
            assert (
                late["To"] == "dave@example.com"
                and run_id in late.get_body(("plain",)).get_content()
            )
            end = room.wait_for("Dry run still running after its end", path="/end").body
            assert end["title"] == late["Subject"], (
                end
            )  # the e-mail's subject (dave and the plan: en)
            assert end["message"].split("\n")[1:] == [
                f"Run: {run_id}",
                f"{server.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}",
            ], end

            # L is started and left open past its half-minute duration: Late.
            assert server.answer_when_asked("bob", DAG_ID, run_id, "L", "Start").status_code == 200
            late_l = smtp.wait_for("[Transition-DR1] L - Late", timeout=150)
            assert (late_l["To"], late_l["Cc"]) == (
                "bob@example.com",
                "carol@example.com, dave@example.com",
            )
            assert "was due to be closed by" in late_l.get_body(("plain",)).get_content()
            # R is Ready and nobody starts it: Late all the same, at the same due time.
            late_r = smtp.wait_for("[Transition-DR1] R - Late", timeout=150)
            assert late_r["To"] == "carol@example.com" and "dave@example.com" in late_r["Cc"]
            assert "was due to be closed by" in late_r.get_body(("plain",)).get_content()
            # W's and V's start come while L is still open: both Overdue in the same check, so one
            # e-mail per person: each owner theirs, L's owner both, the cutover manager both.
            both = "[Transition-DR1] 2 steps Overdue: W, V"
            overdue = {
                to: smtp.wait_for(subject, timeout=150, to=to)
                for subject, to in (
                    ("[Transition-DR1] 1 step Overdue: W", "alice@example.com"),
                    ("[Transition-DR1] 1 step Overdue: V", "carol@example.com"),
                    (both, "bob@example.com"),
                    (both, "dave@example.com"),
                )
            }
            bob_text = overdue["bob@example.com"].get_body(("plain",)).get_content()
            assert "W · Check the load" in bob_text and "V · Verify <the> totals" in bob_text
            assert bob_text.count("L · Long data load (Bob Peeters)") == 2
            assert (
                "V · Verify &lt;the&gt; totals"
                in overdue["bob@example.com"].get_body(("html",)).get_content()
            )
            alice_text = overdue["alice@example.com"].get_body(("plain",)).get_content()
            assert "W · Check the load" in alice_text and "V · " not in alice_text
            assert f"/runs/{quote(run_id, safe='')}/tasks/W/required_actions" in alice_text
            # Airflow restarts (scheduler, triggerer, api-server): nothing is said twice. The restart
            # comes while the watch sleeps (deferred): a watch killed while it runs is only picked up
            # after Airflow's heartbeat timeout, as a new try (docs/limitations.md).
            with server.client("admin") as admin:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if (
                        admin.get(
                            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/_watch"
                        ).json()["state"]
                        == "deferred"
                    ):
                        break
                    time.sleep(0.3)
            server.stop()
            server.start()
            time.sleep(12)  # two rounds of the watch (every 5 s here) and several of the scheduler
            assert [m["Subject"] for m in smtp.messages].count("[Transition-DR1] L - Late") == 1
            assert [m["Subject"] for m in smtp.messages].count("[Transition-DR1] R - Late") == 1
            assert overdue_mails(smtp) == 4
            # A new try of the watch and of L (what a task killed while it runs gets; here by clearing
            # them): their XComs are gone, what they said is not (sent-ledger): nothing said twice.
            with server.client("admin") as admin:
                variables = admin.get(
                    "/api/v2/variables", params={"variable_key_prefix_pattern": "transition.sent/"}
                ).json()
                assert {v["key"].rsplit("/", 1)[1] for v in variables["variables"]} >= {
                    "_watch",
                    "A",
                    "L",
                }
                cleared = admin.post(
                    f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
                    json={
                        "dag_run_id": run_id,
                        "task_ids": ["_watch", "L"],
                        "dry_run": False,
                        "only_failed": False,
                    },
                )
                assert cleared.status_code == 200, cleared.text
                assert {t["task_id"] for t in cleared.json()["task_instances"]} == {"_watch", "L"}
            wait_for_try(server, run_id, "L", 2)
            wait_for_try(server, run_id, "_watch", 2)
            time.sleep(12)  # the watch's new try looks at least twice (every 5 s here)
            subjects = [m["Subject"] for m in smtp.messages]
            assert [
                subjects.count(f"[Transition-DR1] {s}") for s in ("L - Execution", "L - Late")
            ] == [1, 1]
            assert overdue_mails(smtp) == 4
            assert server.answer_when_asked("bob", DAG_ID, run_id, "L", "Close").status_code == 200
            assert (
                server.answer_when_asked("alice", DAG_ID, run_id, "W", "Close").status_code == 200
            )
            assert (
                server.answer_when_asked("carol", DAG_ID, run_id, "V", "Close").status_code == 200
            )

            assert (
                server.answer_when_asked("alice", DAG_ID, run_id, "A", "Start").status_code == 200
            )
            closed = server.answer_when_asked(
                "alice", DAG_ID, run_id, "A", "Close", params={"comment": "Frozen at 22:10 <ok>"}
            )
            assert closed.status_code == 200, closed.text
            ready_b = smtp.wait_for("[Transition-DR1] B - Execution")
            assert (
                "A · Freeze <billing> & co, closed by Alice Martin at"
                in ready_b.get_body(("plain",)).get_content()
            )

            smtp.stop()  # the mail server dies: the dry run goes on
            assert server.answer_when_asked("bob", DAG_ID, run_id, "B", "Close").status_code == 200
            wait_for_xcom(server, run_id, "C", "mail_failures")
            smtp.start()  # mail works again: the cutover manager hears what was not sent
            try:
                summary = smtp_wait_any(smtp, "[Transition-DR1] 1 e-mail could not be sent")[0]
            except TimeoutError as exc:  # seen once in CI: what the watch did meanwhile
                raise TimeoutError(
                    f"{exc}\n{server.task_log_tail(DAG_ID, run_id, '_watch')}"
                ) from exc
            assert summary["To"] == "dave@example.com"
            assert (
                "C: ready e-mail to carol@example.com" in summary.get_body(("plain",)).get_content()
            )
            assert (
                server.answer_when_asked("carol", DAG_ID, run_id, "C", "Close").status_code == 200
            )
            assert (
                server.answer_when_asked("carol", DAG_ID, run_id, "R", "Close").status_code == 200
            )
            assert server.wait_for_run(DAG_ID, run_id) == "success"
            sent = [(m["Subject"], m["To"]) for m in smtp.messages]
            assert len(sent) == len(set(sent)), sent  # every e-mail once
            assert [p.path for p in room.posted] == ["/end"]  # the channel gets the End alone, once
            with server.client("admin") as admin:
                failures = admin.get(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/C/xcomEntries/mail_failures"
                )
                closed_a = admin.get(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/A/xcomEntries/closed"
                )
            assert failures.status_code == 200, failures.text
            assert closed_a.json()["value"]["by"] == "alice"
            assert closed_a.json()["value"]["comment"] == "Frozen at 22:10 <ok>"
            recorded = failures.json()["value"]
            assert recorded[0]["mail"] == "ready" and recorded[0]["to"] == "carol@example.com"
            assert "Connection" in recorded[0]["error"] or "refused" in recorded[0]["error"].lower()
            # The run is over: the watch has deleted the run's sent-ledgers.
            with server.client("admin") as admin:
                left = admin.get(
                    "/api/v2/variables", params={"variable_key_prefix_pattern": "transition.sent/"}
                ).json()
            assert left["total_entries"] == 0, left
    finally:
        room.stop()
        smtp.stop()


def wait_for_xcom(server: AirflowServer, run_id: str, step: str, key: str, timeout: float = 120):
    url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}/xcomEntries/{key}"
    deadline = time.monotonic() + timeout
    with server.client("admin") as admin:
        while time.monotonic() < deadline:
            answer = admin.get(url)
            if answer.status_code == 200:
                return answer.json()["value"]
            time.sleep(1)
    raise TimeoutError(f"no XCom {key} on {step} after {timeout} s")


def wait_for_try(
    server: AirflowServer, run_id: str, step: str, try_number: int, timeout: float = 90
) -> None:
    """Wait until ``step`` runs (or waits) in try ``try_number``."""
    url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}"
    deadline = time.monotonic() + timeout
    with server.client("admin") as admin:
        while time.monotonic() < deadline:
            ti = admin.get(url).json()
            if ti["try_number"] >= try_number and ti["state"] in (
                "deferred",
                "awaiting_input",
                "running",
            ):
                return
            time.sleep(0.5)
    raise TimeoutError(f"{step} is not in try {try_number} after {timeout} s: {ti}")


def smtp_wait_any(smtp: SmtpServer, prefix: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in smtp.messages if str(m["Subject"]).startswith(prefix)]
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(
        f"no e-mail starting with '{prefix}'; received: {[m['Subject'] for m in smtp.messages]}"
    )
