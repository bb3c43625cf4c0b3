"""Chat channels: the Ready message as a channel reads it, posted by the real Slack notifier and the
real Apprise provider to a local HTTP receiver; failures returned, never raised."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import STEPS_HEADER, base_sheets, compile_sheets
from smtp_server import SmtpServer
from transition.notifications.alert_mail import alert_channel_message
from transition.notifications.channels import ChannelMessage, slack_text, tell_channels
from transition.notifications.decision_mail import decision_channel_message
from transition.notifications.notices import (
    blocking_defect_channel_message,
    run_defect_channel_message,
    transfer_channel_message,
)
from transition.notifications.ready_mail import ready_channel_message
from webhook_receiver import WebhookReceiver

LINK = (
    "https://airflow.example.com/dags/resa_dr1/runs/r1/tasks/CO-100/required_actions?map_index=-1"
)


def plan_with(tmp_path, channels, language="en", label=None):
    tmp_path.mkdir(exist_ok=True)
    sheets = base_sheets()
    if label is not None:
        sheets["Steps"][3][1] = label
    result = compile_sheets(tmp_path, sheets, channels=channels, language=language)
    assert result.plan is not None, result.problems
    return result.plan


def ready(plan) -> ChannelMessage:
    return ready_channel_message(plan, "DR1", plan.schedules["DR1"].steps["CO-100"], link=LINK)


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def test_ready_message_is_in_the_plans_language(tmp_path):
    # carol owns CO-100 and reads the plan's language; alice (fr) and bob (en) would not change it:
    # a channel is a shared room.
    english = ready(plan_with(tmp_path / "en", []))
    assert english.kind == "ready"
    assert english.text().split("\n") == [
        "[Transition-DR1] CO-100 - Execution",
        "CO-100 · Switch market gateway",
        "Owner: Carol Dubois",
        "Planned start: Sat 16 Jan 2027 22:00",
        LINK,
    ]
    french = ready(plan_with(tmp_path / "fr", [], language="fr"))
    assert french.text().split("\n")[:3] == [
        "[Transition-DR1] CO-100 - Exécution",
        "CO-100 · Switch market gateway",
        "Exécutant : Carol Dubois",
    ]


def test_slack_text_escapes_what_slack_reads_as_markup():
    message = ChannelMessage(
        "ready", "[Transition-DR1] A - Execution", ("A · Freeze <b> & co",), LINK
    )
    assert slack_text(message) == (
        f"*[Transition-DR1] A - Execution*\nA · Freeze &lt;b&gt; &amp; co\n{LINK}"
    )
    long = ChannelMessage("ready", "t", ("x" * 1000, "two\nlines"))
    assert [len(line) for line in long.text().split("\n")] == [1, 300, 9]


def test_the_slack_notifier_and_apprise_post_the_ready_message(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_CUTOVER", receiver.slack_connection("/services/T/B/X"))
    monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", receiver.apprise_connection("/teams"))
    plan = plan_with(
        tmp_path,
        [
            {"connection": "slack_cutover", "messages": ["ready"]},
            {"connection": "teams_cutover", "messages": "all"},
        ],
        label="Switch <market> gateway & co {{ x }}",
    )
    assert tell_channels(plan, "ready", lambda: ready(plan)) == []
    by_path = {p.path: p for p in receiver.posted}
    assert set(by_path) == {"/services/T/B/X", "/teams"}
    slack = by_path["/services/T/B/X"]
    assert slack.body == {
        "text": "*[Transition-DR1] CO-100 - Execution*\n"
        "CO-100 · Switch &lt;market&gt; gateway &amp; co {{ x }}\n"
        "Owner: Carol Dubois\nPlanned start: Sat 16 Jan 2027 22:00\n" + LINK
    }
    teams = by_path["/teams"]
    assert teams.content_type.startswith("application/json")
    assert teams.body["title"] == "[Transition-DR1] CO-100 - Execution"
    assert teams.body["message"] == (
        "CO-100 · Switch <market> gateway & co {{ x }}\nOwner: Carol Dubois\n"
        "Planned start: Sat 16 Jan 2027 22:00\n" + LINK
    )


def test_only_the_channels_that_list_the_kind_get_it(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_CUTOVER", receiver.slack_connection())
    plan = plan_with(tmp_path, [{"connection": "slack_cutover", "messages": ["late"]}])
    built = []
    assert tell_channels(plan, "ready", lambda: built.append(1) or ready(plan)) == []
    assert built == [] and receiver.posted == []  # not even built: no channel gets it


def test_failures_are_returned_and_recorded_never_raised(tmp_path, monkeypatch):
    with WebhookReceiver(status=500) as refusing, WebhookReceiver() as closed:
        closed.stop()  # nothing listens on its port any more
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_REFUSES", refusing.slack_connection())
        monkeypatch.setenv("AIRFLOW_CONN_APPRISE_CLOSED", closed.apprise_connection())
        monkeypatch.setenv("AIRFLOW_CONN_NOT_A_CHANNEL", json.dumps({"conn_type": "http"}))
        plan = plan_with(
            tmp_path,
            [
                {"connection": name, "messages": "all"}
                for name in ("slack_refuses", "apprise_closed", "not_a_channel", "missing_one")
            ],
        )
        recorded: list[tuple[str, str]] = []
        failures = tell_channels(plan, "ready", lambda: ready(plan), lambda *f: recorded.append(f))
        assert len(refusing.posted) == 1  # the Slack notifier posted, and was refused
    assert failures == recorded
    reasons = dict(failures)
    assert list(reasons) == ["slack_refuses", "apprise_closed", "not_a_channel", "missing_one"]
    assert "Status Code: 500" in reasons["slack_refuses"]
    assert reasons["apprise_closed"] == (
        "Apprise could not deliver to connection 'apprise_closed' (its log says why)"
    )
    assert reasons["not_a_channel"] == (
        "connection 'not_a_channel' is of type 'http'; a channel needs a slackwebhook or apprise "
        "connection"
    )
    assert reasons["missing_one"].startswith("no Airflow connection 'missing_one' (")


def test_a_message_that_cannot_be_built_is_a_failure_of_each_channel(
    tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_CUTOVER", receiver.slack_connection())
    plan = plan_with(tmp_path, [{"connection": "slack_cutover", "messages": ["ready"]}])

    def broken() -> ChannelMessage:
        raise KeyError("CO-999")

    assert tell_channels(plan, "ready", broken) == [("slack_cutover", "KeyError: 'CO-999'")]
    assert receiver.posted == []


def test_late_overdue_and_decision_messages(tmp_path):
    plan = plan_with(
        tmp_path / "alerts", [], language="fr"
    )  # alice (CO-110's owner) reads French too
    schedule = plan.schedules["DR1"].steps
    late = alert_channel_message(
        plan,
        "DR1",
        schedule["CO-110"],
        kind="late",
        link=LINK,
        late_at=dt.datetime(2027, 1, 16, 22, 0, tzinfo=dt.UTC),
    )
    assert (late.kind, late.title) == ("late", "[Transition-DR1] CO-110 - En retard")
    assert late.lines[:2] == (
        "CO-110 · Smoke test gateway",
        "L'étape CO-110 devait être clôturée pour le sam. 16 janv. 23:00 (durée 30m) et est "
        "toujours en cours.",
    )
    overdue = alert_channel_message(
        plan, "DR1", schedule["CO-100"], kind="overdue", link=LINK, holding=["PP-020"]
    )
    assert overdue.title == "[Transition-DR1] CO-100 - Début dépassé"
    assert overdue.lines[-1] == "- PP-020 · Export EAN register (Bob Peeters)"

    sheets = base_sheets()
    sheets["Steps"][0] = [*STEPS_HEADER, "Kind"]
    for row in sheets["Steps"][1:]:
        row.append("step")
    sheets["Steps"][4][-1] = "gate"  # CO-110 decides: HO-010 after it is its Go branch
    sheets["Steps"].append(
        ["FB-010", "Switch back", "FB-RB", "ALL", "CO-110", "", "1h", "carol", "", "", "step"]
    )
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    decision = decision_channel_message(
        result.plan,
        "DR1",
        "CO-110",
        {"decision": "no-go", "by": "alice", "comment": "Counts differ"},
        followed=("FB-010",),
        skipped=("HO-010",),
        link=LINK,
    )
    assert decision.kind == "decision"
    assert decision.text().split("\n") == [
        "[Transition-DR1] CO-110 - No-go: fallback starts",
        "Gate CO-110 was decided No-go by Alice Martin: the fallback starts.",
        "Comment: Counts differ",
        "Steps it starts: FB-010",
        "Steps it skips: HO-010",
        LINK,
    ]


def test_transfer_and_blocking_defect_messages(tmp_path):
    plan = plan_with(tmp_path, [], language="fr")
    transfer = transfer_channel_message(
        plan, "DR1", "CO-100", giver_id="carol", target=plan.actors["bob"], text="", link=LINK
    )
    assert transfer.text().split("\n") == [
        "[Transition-DR1] CO-100 - Transfert",
        "Carol Dubois confie l'étape CO-100 · Switch market gateway à Bob Peeters.",
        LINK,  # no message given: no Message line
    ]
    defect = blocking_defect_channel_message(
        plan,
        "DR1",
        "CO-100",
        defect={"id": 7, "title": "Gateway <down>", "severity": "blocking"},
        recorder="alice",
        link=LINK,
    )
    assert defect.kind == "defect"
    assert (
        defect.text().split("\n")[0]
        == "[Transition-DR1] CO-100 - Anomalie bloquante : Gateway <down>"
    )
    assert defect.lines[1:] == ("Anomalie : #7 Gateway <down>", "Enregistrée par : Alice Martin")
    assert defect.lines[0] == (
        "Une anomalie bloquante a été enregistrée sur l'étape CO-100 : elle ne peut pas être "
        "clôturée tant que l'anomalie n'est pas résolue."
    )
    late = blocking_defect_channel_message(
        plan,
        "DR1",
        "CO-100",
        defect={"id": 8, "title": "Counts", "severity": "blocking"},
        recorder="alice",
        link=LINK,
        after_close=True,
    )
    assert late.lines[0] == (
        "Une anomalie bloquante a été enregistrée sur l'étape CO-100 après sa clôture ; elle ne "
        "bloque plus rien."
    )


def test_a_blocking_defect_on_the_run_itself(tmp_path):
    plan = plan_with(tmp_path, [])
    message = run_defect_channel_message(
        plan,
        "DR1",
        defect={"id": 9, "title": "VPN dropped", "severity": "blocking"},
        recorder="dave",
        run_id="manual__1",
        link=LINK,
    )
    assert message.kind == "defect"
    assert message.text().split("\n") == [
        "[Transition-DR1] Blocking defect on the run: VPN dropped",
        "A blocking defect was recorded on run manual__1 of dry run DR1, not on one step.",
        "Defect: #9 VPN dropped",
        "Recorded by: Dave Lambert",
        LINK,
    ]


def test_a_channel_that_fails_is_recorded_and_reported_with_the_emails(
    tmp_path, receiver, monkeypatch
):
    """The Ready e-mail goes (a real SMTP server), the Slack channel refuses, the Apprise one gets it:
    the refusal is kept with the task's failed e-mails and reaches the cutover managers' summary as
    a channel's message, not an e-mail."""
    from test_ready_mail import TI, Ledger

    from transition.notifications import ready_mail
    from transition.notifications.alert_mail import announce_mail_failures
    from transition.runs import mail_failures

    Ledger.store = {}
    # The sent-ledger without the Airflow Variables a task's supervisor gives (as test_ready_mail).
    monkeypatch.setattr(mail_failures, "SentLedger", Ledger)
    smtp = SmtpServer().start()
    try:
        with WebhookReceiver(status=403) as refusing:
            monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp.airflow_connection())
            monkeypatch.setenv("AIRFLOW_CONN_SLACK_REFUSES", refusing.slack_connection())
            monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", receiver.apprise_connection())
            sheets = base_sheets()
            result = compile_sheets(
                tmp_path,
                sheets,
                cutover_managers=["dave"],
                channels=[
                    {"connection": "slack_refuses", "messages": ["ready"]},
                    {"connection": "teams_cutover", "messages": ["ready"]},
                ],
            )
            plan = result.plan
            ti = TI()
            ready_mail.announce_ready(
                plan, "DR1", plan.schedules["DR1"].steps["CO-100"], {"ti": ti}
            )
            smtp.wait_for("[Transition-DR1] CO-100 - Execution", timeout=10)
            assert [p.body["title"] for p in receiver.posted] == [
                "[Transition-DR1] CO-100 - Execution"
            ]
            failures = ti.xcom["mail_failures"]
            assert [(f["mail"], f["to"], f.get("channel")) for f in failures] == [
                ("ready", "slack_refuses", True)
            ]
            assert "Status Code: 403" in failures[0]["error"]
            assert announce_mail_failures(plan, "DR1", {}, [{"step": "CO-100", **failures[0]}])
            summary = smtp.wait_for("[Transition-DR1] 1 e-mail n'a pas pu être envoyé", timeout=10)
    finally:
        smtp.stop()
    text = summary.get_body(("plain",)).get_content()
    assert "- CO-100 : message « étape prête » au canal slack_refuses le " in text
