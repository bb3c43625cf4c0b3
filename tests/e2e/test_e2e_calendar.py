"""Calendar invitations of a dry run on a real Airflow with a real SMTP server (aiosmtpd).

The run starts: each owner of a timed step gets one invitation whose .ics (parsed with ``icalendar``)
holds their events, on a DST-change day. The workbook changes during the run: updates (same UIDs, a
higher SEQUENCE) and a cancellation of the step that changed hands. alice is away: a cutover manager
hands her steps to carol, whose calendar gets them (same UIDs) and alice's loses them;
``transition calendar --holders`` writes carol's from Airflow too. A person
marks the run failed: the cancellations, to whoever holds the steps. On the shared standalone
server (tests/shared_airflow.py: dry run CAL, steps CA, CB, CC, CN; mia its cutover manager).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import zoneinfo
from urllib.parse import quote

import icalendar
import pytest

from shared_airflow import dag_id, next_dst_change, write_plan
from smtp_server import SmtpServer
from transition.notifications.calendar_ics import run_key
from transition.runs.step_holder import run_holders_key

pytestmark = pytest.mark.e2e
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
UTC = dt.UTC
DAG_ID = dag_id("CAL")
INVITATION, UPDATE, REMOVED, CANCELLED = (
    f"[Transition-CAL] Calendar - {k}"
    for k in ("Invitation", "Update", "Removed steps", "Cancelled")
)


def wait_mail(smtp: SmtpServer, subject: str, to: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in smtp.messages:
            if message["Subject"] == subject and message["To"] == to:
                return message
        time.sleep(0.5)
    raise TimeoutError(
        f"no '{subject}' to {to} in {timeout} s; received: "
        f"{[(m['Subject'], m['To']) for m in smtp.messages]}"
    )


def ics(message) -> tuple[str, bytes, icalendar.Calendar]:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, message
    data = parts[0].get_payload(decode=True)
    return parts[0].get_param("method"), data, icalendar.Calendar.from_ical(data)


def events(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]).split(".")[0]: e for e in calendar.walk("VEVENT")}


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC)


def test_invitations_updates_and_cancellation(shared_servers):
    shared = shared_servers.get("standalone")
    d_day = next_dst_change(dt.datetime.now(ZONE).date())
    with shared.use() as (server, smtp):
        folder = shared.folder
        run_id = server.trigger(DAG_ID)
        uid = {s: f"{s}.CAL.sec.{run_key(run_id)}@transition" for s in ("CA", "CB", "CC")}

        # -- the run starts: one invitation per owner of a timed step ----------------------
        alice = wait_mail(smtp, INVITATION, "alice@example.com")
        method, raw, calendar = ics(alice)
        assert method == "REQUEST" and str(calendar["METHOD"]) == "REQUEST"
        a, c = events(calendar)["CA"], events(calendar)["CC"]
        assert set(events(calendar)) == {"CA", "CC"} and str(a["UID"]) == uid["CA"]
        a_start = dt.datetime.combine(d_day, dt.time(1, 30), tzinfo=ZONE)  # before the change
        a_end = utc(a_start) + dt.timedelta(
            hours=2
        )  # elapsed: 04:30 in March, 02:30 (again) in October
        assert (utc(a.start), utc(a.end)) == (utc(a_start), a_end)
        assert f"DTSTART;TZID=Europe/Brussels:{d_day:%Y%m%d}T013000".encode() in raw
        assert str(a["SUMMARY"]) == "[Transition-CAL] CA - Stop <billing> & co"
        assert int(a["SEQUENCE"]) == 0 and str(a["ORGANIZER"]) == "mailto:mia@example.com"
        assert str(a["ATTENDEE"]) == "mailto:alice@example.com"
        link = f"{server.base_url}/transition/steps/{DAG_ID}/{quote(run_id, safe='')}/CA"
        airflow = f"{server.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/CA/required_actions?map_index=-1"
        assert str(a["URL"]) == link and link in str(a["DESCRIPTION"])
        assert airflow in str(a["DESCRIPTION"])  # Airflow's Required Actions, second
        assert utc(c.start) == utc(dt.datetime.combine(d_day, dt.time(9, 0), tzinfo=ZONE))
        html = alice.get_body(("html",)).get_content()
        assert "Stop &lt;billing&gt; &amp; co" in html and "<billing>" not in html

        bob = wait_mail(smtp, INVITATION, "bob@example.com")
        b = events(ics(bob)[2])["CB"]
        assert (utc(b.start), utc(b.end)) == (a_end, a_end + dt.timedelta(hours=1))  # after A

        # -- the workbook changes during the run: C an hour later, B goes to alice ----------
        write_plan(folder, calendar_edited=True)
        update = wait_mail(smtp, UPDATE, "alice@example.com")
        method, _, calendar = ics(update)
        assert method == "REQUEST" and set(events(calendar)) == {"CA", "CB", "CC"}
        assert {str(e["UID"]) for e in calendar.walk("VEVENT")} == set(uid.values())  # same UIDs
        assert {int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")} == {1}
        assert utc(events(calendar)["CC"].start) == utc(
            dt.datetime.combine(d_day, dt.time(10, 0), tzinfo=ZONE)
        )
        removed = wait_mail(smtp, REMOVED, "bob@example.com")
        method, _, calendar = ics(removed)
        assert method == "CANCEL" and str(calendar["METHOD"]) == "CANCEL"
        assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == [uid["CB"]]
        assert int(events(calendar)["CB"]["SEQUENCE"]) == 1

        # -- alice is away: mia (cutover manager) hands her steps to carol -------------------
        plugin = f"/transition/api/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
        with server.client("mia") as mia:
            handed = mia.post(
                f"{plugin}/substitute", json={"absent": "alice", "substitute": "carol"}
            )
        assert handed.status_code == 200, handed.text
        assert sorted(handed.json()["steps"]) == ["CA", "CB", "CC"]
        with server.client("admin") as admin:  # the run's map the watch reads, one Variable
            kept = admin.get(f"/api/v2/variables/{quote(run_holders_key(DAG_ID, run_id), safe='')}")
        assert kept.status_code == 200, kept.text
        assert json.loads(kept.json()["value"])["steps"] == {
            "CA": "carol",
            "CB": "carol",
            "CC": "carol",
        }
        taken = wait_mail(smtp, INVITATION, "carol@example.com")  # carol had no timed step
        method, _, calendar = ics(taken)
        assert method == "REQUEST" and str(calendar["METHOD"]) == "REQUEST"
        assert {str(e["UID"]) for e in calendar.walk("VEVENT")} == set(uid.values())
        assert {str(e["ATTENDEE"]) for e in calendar.walk("VEVENT")} == {"mailto:carol@example.com"}
        assert {int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")} == {2}
        assert "CN · Notify the market" in taken.get_body(("plain",)).get_content()  # hers, untimed
        gone = wait_mail(smtp, REMOVED, "alice@example.com")
        method, _, calendar = ics(gone)
        assert method == "CANCEL" and str(calendar["METHOD"]) == "CANCEL"
        assert {str(e["UID"]) for e in calendar.walk("VEVENT")} == set(uid.values())
        assert {str(e["STATUS"]) for e in calendar.walk("VEVENT")} == {"CANCELLED"}

        # -- transition calendar --holders: the file carol was sent, read from Airflow --------
        def calendar_cli(owner: str, user: str) -> subprocess.CompletedProcess:
            return server.run_cli(
                *("calendar", str(folder / "config.yaml"), "--dry-run", "CAL", "--out", "-"),
                *("--run", run_id, "--holders", "--owner", owner, "--url", server.base_url),
                *("--user", user, f"--password={server.passwords[user]}"),
            )

        held = calendar_cli("carol", "mia")
        assert held.returncode == 0, held.stderr
        calendar = icalendar.Calendar.from_ical(held.stdout)
        assert {str(e["UID"]) for e in calendar.walk("VEVENT")} == set(uid.values())
        assert {str(e["ATTENDEE"]) for e in calendar.walk("VEVENT")} == {"mailto:carol@example.com"}
        absent = calendar_cli("alice", "mia")  # she holds none of them now
        assert absent.returncode == 2 and "alice holds no step of run" in absent.stderr, absent
        refused = calendar_cli("alice", "alice")  # who holds what: the cutover managers' to read
        assert refused.returncode == 2 and "may not read" in refused.stderr, refused
        assert "Traceback" not in refused.stderr + absent.stderr

        # -- a person cancels the run (marks it failed) --------------------------------------
        with server.client("mia") as mia:
            answer = mia.patch(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})
        assert answer.status_code == 200, answer.text
        cancelled = wait_mail(smtp, CANCELLED, "carol@example.com", timeout=60)
        method, _, calendar = ics(cancelled)
        assert method == "CANCEL" and set(events(calendar)) == {"CA", "CB", "CC"}
        assert {str(e["STATUS"]) for e in calendar.walk("VEVENT")} == {"CANCELLED"}
        assert {int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")} == {3}
        assert "was cancelled" in cancelled.get_body(("plain",)).get_content()

        time.sleep(5)  # nothing else comes
        sent = [
            (str(m["Subject"]), str(m["To"]))
            for m in smtp.messages
            if str(m["Subject"]).startswith("[Transition-CAL] Calendar - ")
        ]
        assert sorted(sent) == sorted(
            [
                (INVITATION, "alice@example.com"),
                (INVITATION, "bob@example.com"),
                (UPDATE, "alice@example.com"),
                (REMOVED, "bob@example.com"),
                (INVITATION, "carol@example.com"),
                (REMOVED, "alice@example.com"),
                (CANCELLED, "carol@example.com"),
            ]
        ), sent  # once each; mia and the leaders (no timed step) get none
