"""What we write from people's text cannot be turned against its reader (issue 14): e-mail headers,
the .ics attachment and the HTML body. The results workbook's cells: tests/results/test_results_workbook.py.

E-mails go through a real SMTP server (aiosmtpd, tests/smtp_server.py) and are read back as received.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import time

import icalendar
import openpyxl
import pytest

from conftest import base_sheets, compile_sheets
from smtp_server import SmtpServer
from transition.notifications.alert_mail import notice_message
from transition.notifications.calendar_ics import calendar_bytes, owner_events
from transition.notifications.calendar_mail import calendar_message
from transition.notifications.mail import compose, header_text, send
from transition.notifications.ready_mail import ready_message
from transition.results.data import run_results_from_json
from transition.results.weekly_report import weekly_message

BREAKS = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x1c"]
INJECTION = "Bcc: eve@evil.example"
ICS_INJECTION = (
    "Freeze\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil@evil\r\nSUMMARY:<script>alert(1)</script>"
)


@pytest.fixture
def smtp(monkeypatch):
    server = SmtpServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.airflow_connection())
    yield server
    server.stop()


def received(
    server: SmtpServer, count: int, timeout: float = 30
) -> list[email.message.EmailMessage]:
    deadline = time.monotonic() + timeout
    while len(server.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.messages) == count, [m["Subject"] for m in server.messages]
    return server.messages


def plan_with(
    tmp_path, *, label: str | None = None, description: str | None = None, name: str | None = None
):
    """The base plan, then people's text put in as is (whatever the workbook reader accepts or not)."""
    result = compile_sheets(tmp_path, base_sheets(), cutover_managers=["dave"])
    assert result.plan is not None, result.problems
    plan = result.plan
    step = plan.steps["PP-010"]
    steps = {
        **plan.steps,
        "PP-010": dataclasses.replace(
            step, label=label or step.label, description=description or step.description
        ),
    }
    actors = {
        **plan.actors,
        "alice": dataclasses.replace(plan.actors["alice"], name=name or plan.actors["alice"].name),
    }
    return dataclasses.replace(plan, steps=steps, actors=actors)


def test_header_text_folds_every_kind_of_line_break():
    for line_break in BREAKS:
        assert (
            header_text(f"[Transition-DR1{line_break}{INJECTION}] CO-1")
            == f"[Transition-DR1 {INJECTION}] CO-1"
        )
    assert header_text("a\r\n\r\n\tb ") == "a b"


def test_headers_with_line_breaks_go_out_as_one_line_and_inject_nothing(smtp):
    for line_break in BREAKS:
        message = compose(
            subject=f"[Transition-DR{line_break}{INJECTION}] CO-100{line_break}X-Injected: yes",
            to=["alice@example.com"],
            cc=[f"bob@example.com{line_break}{INJECTION}"],
            text=f"line one{line_break}line two",
            html="<p>x</p>",
            headers={"X-Transition-Step": f"resa_dr1/CO-100{line_break}X-Injected: yes"},
        )
        send(message)
    messages = received(smtp, len(BREAKS))
    for message, line_break in zip(messages, BREAKS):
        assert message["Subject"] == f"[Transition-DR {INJECTION}] CO-100 X-Injected: yes"
        assert message["X-Injected"] is None and message["Bcc"] is None
        assert message["X-Transition-Step"] == "resa_dr1/CO-100 X-Injected: yes"
        # nobody but the two addressed got it (the envelope), and eve is no address of its own
        assert sorted(message["X-Envelope-To"].split(", ")) == [
            "alice@example.com",
            "bob@example.com",
        ], line_break
        body = message.get_body(("plain",)).get_content()
        assert "line one" in body and "line two" in body  # bodies stay as written


def test_a_blocking_defect_titled_with_a_line_break_is_sent(tmp_path, smtp):
    """The title goes into the subject (step_api's blocking-defect e-mail): it was a ValueError, a 500."""
    plan = plan_with(tmp_path)
    title = f"Gateway down\u2028{INJECTION}"
    message = notice_message(
        plan,
        "DR1",
        "CO-100",
        what=f"Blocking defect: {title}",
        headline="h",
        to=["dave@example.com"],
        cc=[],
        dag_id="resa_dr1",
        run_id="r",
        base_url="http://af",
        facts=[("Defect", f"#1 {title}")],
    )
    send(message)
    got = received(smtp, 1)[0]
    assert (
        got["Subject"].strip()
        == f"[Transition-DR1] CO-100 - Blocking defect: Gateway down {INJECTION}"
    )
    assert got["Bcc"] is None and got["X-Envelope-To"] == "dave@example.com"
    assert (got["X-Transition-Step"], got["X-Transition-Run"]) == ("resa_dr1/CO-100", "resa_dr1/r")
    assert f"#1 {title}" in got.get_body(("plain",)).get_content()


def test_a_blocking_defect_on_the_run_goes_to_each_manager_in_their_language(tmp_path, smtp):
    """A defect on the run as a whole (no step): one e-mail per language among the cutover managers,
    its hostile title one line in the subject and escaped in the HTML."""
    from transition.notifications.notices import run_defect_notices

    plan = plan_with(tmp_path)
    plan = dataclasses.replace(plan, cutover_managers=("bob", "dave", "alice"))  # en, fr, fr
    title = f"<b>Network</b> down\u2028{INJECTION}"
    defect = {"id": 9, "title": title, "severity": "blocking", "description": "all sites"}
    for message in run_defect_notices(
        plan, "DR1", defect=defect, recorder="carol", run_id="manual__1", base_url="http://af/"
    ):
        send(message)
    got = {m["X-Envelope-To"]: m for m in received(smtp, 2)}
    english, french = got["bob@example.com"], got["dave@example.com, alice@example.com"]
    assert english["Subject"].strip() == (
        f"[Transition-DR1] Blocking defect on the run: <b>Network</b> down {INJECTION}"
    )
    assert english["Bcc"] is None and english["X-Transition-Run"] == "resa_dr1/manual__1"
    text = english.get_body(("plain",)).get_content()
    assert "A blocking defect was recorded on run manual__1 of dry run DR1" in text
    assert "all sites" in text and "http://af/transition/recap" in text
    html = english.get_body(("html",)).get_content()
    assert "<b>Network" not in html and "&lt;b&gt;Network&lt;/b&gt;" in html
    assert french["Subject"].startswith("[Transition-DR1] Anomalie bloquante sur l")
    assert "Carol Dubois" in french.get_body(("plain",)).get_content()


def test_html_bodies_escape_peoples_text(tmp_path):
    plan = plan_with(
        tmp_path,
        label="<script>alert('label')</script>",
        description="<img src=x onerror=alert(1)> and <script>alert('d')</script>",
    )
    message = ready_message(
        plan,
        "DR1",
        plan.schedules["DR1"].steps["PP-010"],
        dag_id="resa_dr1",
        run_id="r",
        base_url="http://af",
        closed=[],
    )
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;" in html and "&lt;img src=x" in html


def test_the_ics_keeps_line_breaks_and_markup_inside_its_values(tmp_path):
    plan = plan_with(
        tmp_path, label=ICS_INJECTION, description=ICS_INJECTION, name='Alice\r\nBEGIN:VEVENT;X="a"'
    )
    events = owner_events(plan, "DR1", "alice", run_id="r", base_url="http://af")
    data = calendar_bytes(plan, "alice", events)
    lines = data.decode().split("\r\n")
    assert lines.count("BEGIN:VEVENT") == len(events) == 2 and lines.count("END:VEVENT") == 2
    assert not any(line.startswith(("UID:evil", "SUMMARY:<script>")) for line in lines)
    calendar = icalendar.Calendar.from_ical(data)
    parsed = list(calendar.walk("VEVENT"))
    assert [str(e["UID"]) for e in parsed] == [e.uid for e in events]
    first = parsed[0]
    assert str(first["SUMMARY"]) == "[Transition-DR1] PP-010 - " + ICS_INJECTION.replace(
        "\r\n", "\n"
    )
    assert first["ATTENDEE"].params["CN"].startswith("Alice") and "BEGIN" not in str(
        first["ATTENDEE"]
    )


def test_the_calendar_e_mail_with_a_hostile_label_arrives_with_its_events_intact(tmp_path, smtp):
    plan = plan_with(tmp_path, label=ICS_INJECTION)
    events = owner_events(plan, "DR1", "alice", run_id="r", base_url="http://af")
    send(calendar_message(plan, "DR1", "alice", events, kind="invitation", run_id="r", sequence=0))
    got = received(smtp, 1)[0]
    part = next(p for p in got.iter_attachments() if p.get_content_type() == "text/calendar")
    assert "\n" not in part.get_filename() and got["Bcc"] is None
    assert (
        len(list(icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT"))) == 2
    )


def test_the_weekly_report_of_a_hostile_run(smtp):
    recap = {
        "plan": "resa",
        "dry_run": f"DR1\u2028{INJECTION}",
        "dag_id": "resa_dr1",
        "run_id": "manual__1",
        "timezone": "Europe/Brussels",
        "now": "2027-01-16T12:00:00+01:00",
        "counts": {"Open": 1},
        "steps": [
            {
                "id": "A",
                "label": '=HYPERLINK("http://evil.example","click")',
                "phase": "AC",
                "state": "Open",
                "owner": "alice",
                "owner_name": "Alice",
                "comment": "+1",
                "defects": [],
                "transferred_to": [],
            }
        ],
    }
    results = run_results_from_json(recap, {"dag_run_id": "manual__1", "state": "running"})
    send(weekly_message(results, [], ["dave@example.com"], "http://af"))
    got = received(smtp, 1)[0]
    assert (
        got["Subject"].strip().startswith(f"[Transition-DR1 {INJECTION}] Weekly report")
        and got["Bcc"] is None
    )
    part = next(got.iter_attachments())
    assert "\n" not in part.get_filename() and "\u2028" not in part.get_filename()
    import io

    book = openpyxl.load_workbook(io.BytesIO(part.get_payload(decode=True)))
    label = book["Steps"]["B2"]
    assert (label.value, label.data_type) == ('=HYPERLINK("http://evil.example","click")', "s")
