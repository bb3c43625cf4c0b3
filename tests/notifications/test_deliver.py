"""The one way people are told (:func:`transition.notifications.deliver.deliver`): each e-mail built
in its readers' language and sent to a real SMTP server, the chat message posted to a local
webhook receiver by Airflow's Apprise provider, and whatever could not be built, sent or posted
recorded, never raised; an announcement said once stays said."""

from __future__ import annotations

import json

import pytest

from conftest import base_sheets, compile_sheets
from smtp_server import SmtpServer
from transition.i18n import _
from transition.notifications.channels import ChannelMessage
from transition.notifications.deliver import Announcement, Mail, Once, deliver
from transition.notifications.mail import compose
from webhook_receiver import WebhookReceiver


class Ledger:
    """A task's sent-ledger as stored (JSON), without Airflow's Variables."""

    def __init__(self) -> None:
        self.entries: dict = {}

    def get(self, what, default=None):
        return self.entries.get(what, default)

    def mark(self, what, value):
        self.entries[what] = json.loads(json.dumps(value))


@pytest.fixture
def plan(tmp_path):
    result = compile_sheets(
        tmp_path,
        base_sheets(),
        cutover_managers=["dave"],
        channels=[{"connection": "teams_cutover", "messages": ["transfer"]}],
    )
    assert result.plan is not None, result.problems
    return result.plan


@pytest.fixture
def smtp(monkeypatch):
    server = SmtpServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.airflow_connection())
    try:
        yield server
    finally:
        server.stop()


def said(to: str):
    """An e-mail saying "Execution" in the language it is built in."""
    return lambda: compose(subject=_("Execution"), to=[to], text="-", html="<p>-</p>")


def unbuildable():
    raise KeyError("CO-999")


def channel():
    return ChannelMessage(kind="transfer", title="CO-100 - Transfer", lines=("a line",), link="")


def recorder(into: list):
    return lambda mail, to, error, *, channel=False: into.append((mail, to, error, channel))


def test_each_mail_in_its_language_and_failures_recorded_not_raised(plan, smtp, monkeypatch):
    recorded: list = []
    with WebhookReceiver(status=500) as refusing:
        monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", refusing.apprise_connection())
        delivered = deliver(
            plan,
            Announcement(
                kind="transfer",
                about="CO-100",
                mails=[
                    Mail(said("claire@example.com"), to="claire@example.com", language="fr"),
                    Mail(unbuildable, to="bob@example.com"),
                    Mail(said("alice@example.com"), to="alice@example.com", language="en"),
                ],
                channel=channel,
            ),
            recorder(recorded),
        )
        assert len(refusing.posted) == 1  # posted, and refused
    assert [(m["Subject"], m["To"]) for m in smtp.messages] == [
        ("Exécution", "claire@example.com"),
        ("Execution", "alice@example.com"),
    ]  # the one that could not be built kept neither of the others from going
    assert delivered.sent == 2
    assert delivered.failed == [("bob@example.com", "KeyError: 'CO-999'")]
    assert delivered.error == "KeyError: 'CO-999'"
    assert recorded[0] == ("transfer", "bob@example.com", "KeyError: 'CO-999'", False)
    assert recorded[1][0::3] == ("transfer", True) and recorded[1][1] == "teams_cutover"
    assert delivered.channels_failed == [(recorded[1][1], recorded[1][2])]
    assert len(recorded) == 2


def test_a_dead_smtp_server_is_recorded_for_each_mail(plan, smtp):
    smtp.stop()
    recorded: list = []
    delivered = deliver(
        plan,
        Announcement(
            kind="reminder",
            about="CO-100",
            mails=[Mail(said("a@example.com"), "a@example.com"), Mail(said("b@example.com"), "b")],
        ),
        recorder(recorded),
    )
    assert [to for to, _reason in delivered.failed] == ["a@example.com", "b"]
    assert [(r[0], r[1], r[3]) for r in recorded] == [
        ("reminder", "a@example.com", False),
        ("reminder", "b@example.com", False),  # the e-mail's own To once it was built
    ]
    assert all("Connection refused" in r[2] or "refused" in r[2].lower() for r in recorded)


def test_said_once_stays_said(plan, smtp):
    ledger = Ledger()
    announcement = Announcement(
        kind="decision",
        about="CO-240",
        mails=[Mail(said("dave@example.com"), "dave@example.com")],
        once=Once(ledger, "decision_mail", "no-go"),  # type: ignore[arg-type]
    )
    first = deliver(plan, announcement, None)
    again = deliver(plan, announcement, None)
    assert (first.sent, first.skipped) == (1, False)
    assert (again.sent, again.skipped) == (0, True)
    assert ledger.entries == {"decision_mail": "no-go"}
    assert len(smtp.messages) == 1


def test_a_failed_mail_is_said_too_so_not_sent_twice(plan, smtp):
    """Once holds for an announcement whose e-mail failed: the failure is recorded (the managers
    are told) and a retry of the task does not send the rest again."""
    ledger = Ledger()
    recorded: list = []
    announcement = Announcement(
        kind="decision",
        about="CO-240",
        mails=[Mail(unbuildable, "dave@example.com"), Mail(said("bob@example.com"), "bob")],
        once=Once(ledger, "decision_mail", "go"),  # type: ignore[arg-type]
    )
    deliver(plan, announcement, recorder(recorded))
    deliver(plan, announcement, recorder(recorded))
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]
    assert len(recorded) == 1
