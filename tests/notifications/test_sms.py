"""SMS to each person concerned (a channel with ``to: people``): sent the way the run sends its
messages (the real code that sends the e-mails, to a real SMTP server), through the real Apprise to
a local HTTP receiver standing in for the SMS gateway (its ``json://`` URL with ``{phone}``); one
per person, in their language, once."""

from __future__ import annotations

import json
import logging

import pytest
from test_channel_kinds import BASE, SINCE, STEP_PAGES, TI, Ledger, lines

from conftest import base_sheets, compile_sheets
from smtp_server import SmtpServer
from transition.notifications.channels import ChannelMessage
from transition.notifications.sms import MAX_SMS_CHARS, sms_text, tell_people
from transition.plan.escalation import NOT_STARTED, Rung
from webhook_receiver import WebhookReceiver

PHONES = {"alice": "+32470000001", "bob": "+32470000002", "dave": "+32470000004"}  # not carol


def sms_plan(tmp_path, kinds=("reminder", "decision")):
    """The base plan, every actor but carol with a Phone; an SMS channel getting ``kinds`` and a
    room (``teams_cutover``) getting the reminders."""
    sheets = base_sheets()
    sheets["Actors"][0].append("Phone")
    for row in sheets["Actors"][1:]:
        row.append(PHONES.get(row[0]))
    result = compile_sheets(
        tmp_path,
        sheets,
        cutover_managers=["dave"],
        language="en",
        channels=[
            {"connection": "sms_gateway", "messages": list(kinds), "to": "people"},
            {"connection": "teams_cutover", "messages": ["reminder"]},
        ],
    )
    assert result.plan is not None, result.problems
    return result.plan


@pytest.fixture
def smtp(monkeypatch):
    from transition.notifications import decision_mail
    from transition.runs import mail_failures

    Ledger.store = {}
    monkeypatch.setattr(mail_failures, "SentLedger", Ledger)
    monkeypatch.setattr(decision_mail, "SentLedger", Ledger)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE)
    server = SmtpServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.airflow_connection())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(monkeypatch):
    """``sms_gateway``: an Apprise connection whose URL posts JSON here, the number as ``to``;
    ``teams_cutover``: a room, posting here too."""
    with WebhookReceiver() as receiver:
        config = {"path": f"json://127.0.0.1:{receiver.port}/sms?:to={{phone}}"}
        connection = {"conn_type": "apprise", "extra": {"config": config}}
        monkeypatch.setenv("AIRFLOW_CONN_SMS_GATEWAY", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", receiver.apprise_connection("/teams"))
        yield receiver


class Logged(logging.Handler):
    """What the task log is told (Airflow's logging does not reach pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def texts(receiver) -> dict[str, list[str]]:
    """Each number's SMS texts, in the order they came."""
    got: dict[str, list[str]] = {}
    for posted in receiver.posted:
        if posted.path.startswith("/sms"):
            assert posted.body["title"] == ""
            got.setdefault(posted.body["to"], []).append(posted.body["message"])
    return got


def test_one_sms_per_person_in_their_language_with_the_step_page(
    tmp_path, smtp, gateway, monkeypatch
):
    from transition.notifications import escalation_mail

    # CO-110 (alice, French) was handed to bob (English); the third rung tells carol (no Phone)
    # and dave (French) too: the e-mails' To and Cc.
    monkeypatch.setattr(escalation_mail, "read_transferees", lambda context: ["bob"])
    plan = sms_plan(tmp_path)
    logged = Logged()
    sms_log = logging.getLogger("transition.notifications.sms")
    sms_log.addHandler(logged)
    try:
        escalation_mail.announce_escalation(
            plan, "DR1", "CO-110", {"ti": TI("CO-110")}, Rung(NOT_STARTED, 3, SINCE), SINCE
        )
    finally:
        sms_log.removeHandler(logged)
    link = f"{STEP_PAGES}/CO-110"
    french = "[Transition-DR1] CO-110 - Pas démarrée : responsables de la bascule prévenus"
    english = "[Transition-DR1] CO-110 - Not started: cutover managers told"
    assert texts(gateway) == {
        PHONES["alice"]: [f"{french}\n{link}"],
        PHONES["dave"]: [f"{french}\n{link}"],
        PHONES["bob"]: [f"{english}\n{link}"],
    }
    assert "No SMS of the reminder message to carol: no Phone in the Actors sheet" in logged.lines
    room = [p for p in gateway.posted if p.path == "/teams"]  # the room: one message, as before
    assert len(room) == 1 and lines(room[0])[0] == english


def test_a_decision_said_twice_sends_each_sms_once(tmp_path, smtp, gateway):
    from transition.notifications.decision_mail import announce_decision

    plan = sms_plan(tmp_path)
    record = {"decision": "go", "by": "alice", "comment": "ok"}
    # CO-110 as a gate: its decision starts CO-100 (carol: no Phone), CO-110 (alice), HO-010 (dave, the manager).
    for _again in range(2):
        announce_decision(plan, "DR1", {"ti": TI("CO-110")}, record, ("CO-100",), ())
    subject = "[Transition-DR1] CO-110 - Go : le plan continue"
    assert texts(gateway) == {
        PHONES["alice"]: [f"{subject}\n{STEP_PAGES}/CO-110"],
        PHONES["dave"]: [f"{subject}\n{STEP_PAGES}/CO-110"],
    }
    assert len(smtp.messages) == 2  # in French (dave, alice) and English (carol), once too


def test_a_gateway_that_refuses_is_a_failure_recorded_never_raised(tmp_path, monkeypatch):
    plan = sms_plan(tmp_path)
    recorded = []
    message = ChannelMessage("reminder", "[Transition-DR1] CO-110 - Reminder", (), "http://x/s")
    with WebhookReceiver(status=500) as refusing:
        config = {"path": f"json://127.0.0.1:{refusing.port}/sms?:to={{phone}}"}
        connection = {"conn_type": "apprise", "extra": {"config": config}}
        monkeypatch.setenv("AIRFLOW_CONN_SMS_GATEWAY", json.dumps(connection))
        failed = tell_people(
            plan,
            "reminder",
            lambda language=None: message,
            ["bob@example.com", "nobody@example.com", "BOB@example.com"],
            lambda where, reason: recorded.append((where, reason)),
        )
        assert len(refusing.posted) == 1  # bob, once (an address not of the plan: nobody)
    assert failed == recorded
    assert failed == [
        (
            "sms_gateway (Bob Peeters)",
            "Apprise could not deliver to connection 'sms_gateway' (its log says why)",
        )
    ]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMS_GATEWAY",
        json.dumps(
            {"conn_type": "apprise", "extra": {"config": {"path": "json://127.0.0.1:9/sms"}}}
        ),
    )
    [(where, reason)] = tell_people(
        plan, "reminder", lambda language=None: message, ["bob@example.com"]
    )
    assert reason == "connection 'sms_gateway' lists no Apprise URL with {phone} it can use"
    assert tell_people(plan, "ready", lambda language=None: message, ["bob@example.com"]) == []


def test_the_text_is_the_subject_and_the_link_cut_to_300():
    link = "https://airflow.example.com/transition/steps/d/r/S"
    short = ChannelMessage("defect", "[Transition-DR1] S - Blocking defect: x", ("more",), link)
    assert sms_text(short) == f"[Transition-DR1] S - Blocking defect: x\n{link}"
    long = ChannelMessage("defect", "[Transition-DR1] S - " + "y" * 500, (), link)
    text = sms_text(long)
    assert len(text) == MAX_SMS_CHARS and text.endswith(f"…\n{link}")
