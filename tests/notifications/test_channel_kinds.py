"""The chat-channel messages beyond Ready, Late, Overdue, decisions, transfers and defects: the
escalation ladder's reminders, the heads-up, the dry run's End, calendar sendings and substitutions.

Each is sent the way the run sends it (the real code that sends its e-mails, to a real SMTP
server), posted by the real Apprise provider or Slack notifier to a local HTTP receiver standing in
for the webhook, in the plan's language; a channel that refuses is recorded for the cutover
managers' summary (or, for the End, fails Airflow's callback). What the api-server could not post
is kept in an Airflow Variable, written in a real database holding Airflow's own tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from conftest import base_sheets, compile_sheets
from smtp_server import SmtpServer
from transition.notifications.channels import ChannelError, tell_channels
from transition.plan.escalation import NOT_STARTED, OVERRUN, Rung
from transition.plan.heads_up import HeadsUp
from webhook_receiver import Posted, WebhookReceiver

SINCE = dt.datetime(2027, 1, 16, 21, 0, tzinfo=dt.UTC)  # 22:00 in Brussels
RUN_ID = "manual__2027-01-10T09:00:00+00:00"
BASE = "https://airflow.example.com"
FRENCH_END = (
    "[Transition-DR1] Dry run toujours en cours après sa fin "
    "(mar. 19 janv. 2027 18:00 (Europe/Brussels))"
)
RUN_LINK = f"{BASE}/dags/resa_dr1/runs/manual__2027-01-10T09%3A00%3A00%2B00%3A00"
STEP_PAGES = f"{BASE}/transition/steps/resa_dr1/manual__2027-01-10T09%3A00%3A00%2B00%3A00"


def lines(posted: Posted) -> list[str]:
    """What an Apprise channel (``json://``) got: its title, then each line of its body."""
    return [posted.body["title"], *posted.body["message"].split("\n")]


def compiled(folder, kinds, *, language="en", **settings):
    """The base plan with dave as cutover manager and the ``teams_cutover`` channel getting
    ``kinds``."""
    result = compile_sheets(
        folder,
        settings.pop("sheets", None) or base_sheets(),
        cutover_managers=["dave"],
        language=language,
        channels=[{"connection": "teams_cutover", "messages": kinds}],
        **settings,
    )
    assert result.plan is not None, result.problems
    return result.plan


class Ledger:
    """A task's sent-ledger as stored (JSON), without the Airflow Variables a task's supervisor gives."""

    store: dict[str, dict] = {}

    def __init__(self, dag_id, run_id, task_id) -> None:
        self.key = f"{dag_id}/{run_id}/{task_id}"

    @classmethod
    def of(cls, context):
        ti = context["ti"]
        return cls(ti.dag_id, ti.run_id, ti.task_id)

    def get(self, what, default=None):
        return self.store.setdefault(self.key, {}).get(what, default)

    def mark(self, what, value):
        self.store.setdefault(self.key, {})[what] = json.loads(json.dumps(value))


class TI:
    dag_id, run_id = "resa_dr1", RUN_ID

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.xcom: dict = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value

    def xcom_pull(self, task_ids=None, key=None):
        return self.xcom.get(key)


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server as Airflow's ``smtp_default``; the sent-ledgers kept in memory; links on
    ``BASE``."""
    from transition.notifications import calendar_mail
    from transition.runs import mail_failures

    Ledger.store = {}
    monkeypatch.setattr(mail_failures, "SentLedger", Ledger)
    monkeypatch.setattr(calendar_mail, "SentLedger", Ledger)
    # No step of these runs was transferred (the run's holders Variable, read in a real task).
    monkeypatch.setattr(calendar_mail, "read_run_holders", lambda context: {})
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE)
    server = SmtpServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.airflow_connection())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def teams(monkeypatch):
    """The ``teams_cutover`` channel: Apprise posting to a local receiver."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", receiver.apprise_connection("/teams"))
        yield receiver


def test_each_rung_of_the_ladder_goes_to_the_channel_once(tmp_path, smtp, teams, monkeypatch):
    from transition.notifications import escalation_mail

    # CO-110 (alice, French) was handed to bob; the plan speaks French, so does the channel.
    monkeypatch.setattr(escalation_mail, "read_transferees", lambda context: ["bob"])
    plan = compiled(tmp_path, ["reminder"], language="fr")
    ti = TI("CO-110")
    escalation_mail.announce_escalation(
        plan, "DR1", "CO-110", {"ti": ti}, Rung(NOT_STARTED, 3, SINCE), SINCE
    )
    # The e-mails went (alice and dave in French, bob and carol in English), and one message.
    smtp.wait_for(
        "[Transition-DR1] CO-110 - Pas démarrée : responsables de la bascule prévenus", timeout=10
    )
    smtp.wait_for("[Transition-DR1] CO-110 - Not started: cutover managers told", timeout=10)
    assert [lines(p) for p in teams.posted] == [
        [
            "[Transition-DR1] CO-110 - Pas démarrée : responsables de la bascule prévenus",
            "CO-110 · Smoke test gateway",
            "L'étape CO-110 est prête depuis le sam. 16 janv. 22:00 et personne ne l'a démarrée. "
            "Le chef d'équipe de son exécutant et les responsables de la bascule sont prévenus.",
            "Rappel : 3 sur 3",
            "Tenue par : Alice Martin, Bob Peeters",
            "Chef d'équipe prévenu : Carol Dubois",
            "Responsables de la bascule prévenus : Dave Lambert",
            f"{STEP_PAGES}/CO-110",
        ]
    ]
    assert "mail_failures" not in ti.xcom


def test_a_first_rung_names_no_one_copied(tmp_path, smtp, teams, monkeypatch):
    from transition.notifications import escalation_mail

    monkeypatch.setattr(escalation_mail, "read_transferees", lambda context: [])
    plan = compiled(tmp_path, ["reminder"], escalation={"overrun": ["15m", "1h"]})
    escalation_mail.announce_escalation(
        plan, "DR1", "CO-100", {"ti": TI("CO-100")}, Rung(OVERRUN, 1, SINCE), SINCE
    )
    posted = teams.wait_for("Reminder: still open", timeout=10)
    assert lines(posted)[1:5] == [
        "CO-100 · Switch market gateway",
        "Step CO-100 was due to be closed by Sat 16 Jan 22:00 and is still open.",
        "Reminder: 1 of 2",
        "Held by: Carol Dubois",
    ]
    assert len(lines(posted)) == 6  # no one copied at rung 1: the link comes next


def test_the_heads_up_goes_to_the_channel_and_a_refusal_is_recorded(
    tmp_path, smtp, teams, monkeypatch
):
    from transition.notifications.escalation_mail import announce_heads_up

    with WebhookReceiver(status=500) as refusing:
        plan = compile_sheets(
            tmp_path,
            base_sheets(),
            channels=[
                {"connection": "teams_cutover", "messages": ["heads_up"]},
                {"connection": "slack_refuses", "messages": "all"},
            ],
        ).plan
        assert plan is not None
        ti = TI("_watch")
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_REFUSES", refusing.slack_connection())
        announce_heads_up(plan, "DR1", {"ti": ti}, [HeadsUp("CO-110", SINCE, ("CO-100",))])
        assert len(refusing.posted) == 1
    smtp.wait_for(
        "[Transition-DR1] CO-110 - C'est bientôt à vous", timeout=10
    )  # to alice, in French
    assert [lines(p) for p in teams.posted] == [
        [
            "[Transition-DR1] CO-110 - You're next",  # the plan's language: English
            "CO-110 · Smoke test gateway",
            "Step CO-110 should be ready around Sat 16 Jan 22:00, from the forecast of the run "
            "so far.",
            "Owner: Alice Martin",
            "- CO-100 · Switch market gateway (Carol Dubois)",
            f"{STEP_PAGES}/CO-110",
        ]
    ]
    # The watch's own failures, for its summary to the cutover managers.
    failures = Ledger.store[f"resa_dr1/{RUN_ID}/_watch"]["mail_failures"]
    assert [(f["mail"], f["to"], f.get("channel")) for f in failures] == [
        ("heads-up", "slack_refuses", True)
    ]


def test_the_end_of_the_dry_run_goes_to_the_channel_from_airflows_callback(tmp_path, smtp, teams):
    from transition.notifications.deadline_mail import dry_run_deadline, notify_dry_run_late

    plan = compiled(tmp_path, ["end"], language="fr")
    kwargs = dry_run_deadline(plan, "DR1").callback.kwargs
    assert kwargs["channels"] == {
        "connections": ["teams_cutover"],
        "language": "fr",
        "end": "mar. 19 janv. 2027 18:00 (Europe/Brussels)",
    }
    json.dumps(kwargs)  # Airflow keeps the callback's arguments as JSON
    context = {"dag_run": {"dag_id": "resa_dr1", "dag_run_id": RUN_ID}}
    asyncio.run(notify_dry_run_late(**kwargs, context=context))
    smtp.wait_for(FRENCH_END, timeout=10)  # dave, French
    assert [lines(p) for p in teams.posted] == [
        [
            "[Transition-DR1] Dry run toujours en cours après sa fin "
            "(mar. 19 janv. 2027 18:00 (Europe/Brussels))",
            "Le dry run DR1 du plan resa devait être terminé pour le "
            "mar. 19 janv. 2027 18:00 (Europe/Brussels) et est toujours en cours.",
            f"Exécution : {RUN_ID}",
            RUN_LINK,
        ]
    ]


def test_an_end_channel_that_refuses_fails_the_callback_after_the_e_mails(
    tmp_path, smtp, monkeypatch
):
    from transition.notifications.deadline_mail import dry_run_deadline, notify_dry_run_late

    with WebhookReceiver(status=403) as refusing:
        monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", refusing.slack_connection())
        plan = compiled(tmp_path, "all")
        kwargs = dry_run_deadline(plan, "DR1").callback.kwargs
        with pytest.raises(ChannelError, match="teams_cutover: .*403"):
            asyncio.run(
                notify_dry_run_late(
                    **kwargs, context={"dag_run": {"dag_id": "resa_dr1", "dag_run_id": "r1"}}
                )
            )
        assert len(refusing.posted) == 1
    smtp.wait_for(FRENCH_END, timeout=10)  # sent all the same


def test_an_end_alert_for_a_channel_alone(tmp_path):
    """No cutover manager to e-mail, a channel that gets ``end``: the alert is still set."""
    from transition.notifications.deadline_mail import dry_run_deadline

    (tmp_path / "channel").mkdir()
    (tmp_path / "nobody").mkdir()
    result = compile_sheets(
        tmp_path / "channel",
        base_sheets(),
        channels=[{"connection": "teams_cutover", "messages": ["end"]}],
    )
    assert result.plan is not None
    alert = dry_run_deadline(result.plan, "DR1")
    assert alert is not None
    assert (alert.callback.kwargs["languages"], alert.callback.kwargs["recipients"]) == ({}, [])
    nobody = compile_sheets(tmp_path / "nobody", base_sheets()).plan
    assert nobody is not None and dry_run_deadline(nobody, "DR1") is None


def test_one_calendar_message_per_sending_not_per_person(tmp_path, smtp, teams):
    from transition.notifications import calendar_mail

    context = {"ti": TI("_watch")}
    plan = compiled(tmp_path, ["calendar"])
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 4
    assert [lines(p) for p in teams.posted] == [
        [
            "[Transition-DR1] Calendar - Invitation",
            "Invitation, 4 people: Alice Martin (PP-010, CO-110), Bob Peeters (PP-020), "
            "Carol Dubois (CO-100), Dave Lambert (HO-010)",
            RUN_LINK,
        ]
    ]
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0
    assert len(teams.posted) == 1  # nothing sent, nothing said

    sheets = base_sheets()
    sheets["Steps"][1][5] = "D-2 09:00"  # alice's PP-010 an hour later: bob's PP-020 moves too
    sheets["Steps"][4][7] = "bob"  # CO-110 goes from alice to bob
    plan = compiled(tmp_path, ["calendar"], sheets=sheets)
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 3
    assert lines(teams.posted[1])[:3] == [
        "[Transition-DR1] Calendar - Update",
        "Update, 2 people: Alice Martin (PP-010), Bob Peeters (PP-020, CO-110)",
        "Removed steps, 1 person: Alice Martin (CO-110)",
    ]

    # The run is cancelled (in the api-server): one message for every cancellation.
    count, _kept = calendar_mail.cancel_calendar(
        plan, "DR1", RUN_ID, Ledger.store[f"resa_dr1/{RUN_ID}/_watch"]["calendar"]
    )
    assert count == 4
    assert lines(teams.posted[2])[:2] == [
        "[Transition-DR1] Calendar - Cancelled",
        "Cancelled, 4 people: Alice Martin (PP-010), Bob Peeters (PP-020, CO-110), "
        "Carol Dubois (CO-100), Dave Lambert (HO-010)",
    ]
    assert len(teams.posted) == 3


def test_a_calendar_channel_that_fails_is_recorded_once_per_sending(tmp_path, smtp, monkeypatch):
    from transition.notifications import calendar_mail

    with WebhookReceiver(status=500) as refusing:
        monkeypatch.setenv("AIRFLOW_CONN_TEAMS_CUTOVER", refusing.apprise_connection())
        ti = TI("_watch")
        plan = compiled(tmp_path, ["calendar"])
        assert calendar_mail.sync_calendar(plan, "DR1", {"ti": ti}) == 4
    failures = ti.xcom["mail_failures"]
    assert [(f["mail"], f["to"], f.get("channel")) for f in failures] == [
        ("calendar", "teams_cutover", True)
    ]


def test_the_substitution_message(tmp_path, teams):
    from transition.notifications.notices import substitution_channel_message

    plan = compiled(tmp_path, ["substitution"], language="fr")
    build = lambda: substitution_channel_message(  # noqa: E731
        plan,
        "DR1",
        ["CO-100", "CO-110"],
        manager_id="dave",
        absent=plan.actors["alice"],
        substitute=plan.actors["bob"],
        text="Alice est malade",
        link=RUN_LINK,
    )
    assert tell_channels(plan, "substitution", build) == []
    assert [lines(p) for p in teams.posted] == [
        [
            "[Transition-DR1] Remplacement : Alice Martin → Bob Peeters",
            "Dave Lambert confie à Bob Peeters les étapes que Alice Martin détenait dans cette "
            "répétition (2).",
            "- CO-100 · Switch market gateway",
            "- CO-110 · Smoke test gateway",
            "Message : Alice est malade",
            RUN_LINK,
        ]
    ]


# -- what the api-server could not post -------------------------------------------------------


@pytest.fixture
def airflow_db(tmp_path):
    """A SQLite database with Airflow's own ``variable`` table and the columns of ``dag_run`` the
    api-server reads, one run going and one finished."""
    from airflow.models.variable import Variable

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    Variable.__table__.create(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id VARCHAR(250), "
                "run_id VARCHAR(250), state VARCHAR(50), run_after TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO dag_run (dag_id, run_id, state, run_after) VALUES "
                "('resa_dr1', 'going', 'running', '2027-01-16 07:59:00.000000'), "
                "('resa_dr1', 'over', 'success', '2027-01-16 07:59:00.000000')"
            )
        )
    return engine


def test_the_api_servers_failures_are_kept_one_variable_each(airflow_db):
    from transition.runs.server_failures import (
        record_server_failure,
        run_prefix,
        server_failure_recorder,
    )

    with Session(airflow_db) as session:
        for error in ("HTTP 500", "HTTP 503"):
            record = server_failure_recorder(session, "resa_dr1", "going", step="CO-100")
            record("transfer", "slack_cutover", error, channel=True)
            record("transfer", "bob@example.com", "an e-mail's: kept with the transfer")
        assert not record_server_failure(
            session, "resa_dr1", "over", step="CO-100", mail="defect", to="x", error="e"
        )  # the run is over: its watch is gone, nobody would read it
        session.commit()
    with airflow_db.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, val FROM variable ORDER BY key")).all()
    assert len(rows) == 2 and all(
        key.startswith(run_prefix("resa_dr1", "going")) for key, _ in rows
    )
    kept = sorted((json.loads(val) for _, val in rows), key=lambda f: f["error"])
    assert [(f["step"], f["mail"], f["to"], f["error"], f["channel"]) for f in kept] == [
        ("CO-100", "transfer", "slack_cutover", "HTTP 500", True),
        ("CO-100", "transfer", "slack_cutover", "HTTP 503", True),
    ]
    assert {f["run_after"][:19] for f in kept} == {"2027-01-16T07:59:00"}


def test_a_failure_that_cannot_be_kept_leaves_the_request_whole(airflow_db):
    """The Variable's write fails (no such table): the request's own work, in the same session, is
    committed all the same."""
    from transition.runs.server_failures import record_server_failure

    with airflow_db.begin() as conn:
        conn.execute(sa.text("DROP TABLE variable"))
        conn.execute(sa.text("CREATE TABLE work (what VARCHAR(20))"))
    with Session(airflow_db) as session:
        session.execute(sa.text("INSERT INTO work VALUES ('transfer')"))
        with pytest.raises(sa.exc.OperationalError):
            record_server_failure(
                session, "resa_dr1", "going", step="CO-100", mail="transfer", to="x", error="e"
            )
        session.commit()
    with airflow_db.connect() as conn:
        assert conn.execute(sa.text("SELECT what FROM work")).scalars().all() == ["transfer"]


def test_a_gates_reminder_goes_to_the_channel_with_the_go_still_missing(
    tmp_path, smtp, teams, monkeypatch
):
    from test_gate_reminder_mail import gate_plan

    from transition.notifications import gate_reminder_mail

    monkeypatch.setattr(gate_reminder_mail, "read_transferees", lambda context: [])
    monkeypatch.setattr(gate_reminder_mail, "read_handed", lambda context: ())
    monkeypatch.setattr(gate_reminder_mail, "SentLedger", Ledger)
    plan = gate_plan(tmp_path)
    (tmp_path / "channels").mkdir()
    plan = dataclasses.replace(
        plan, channels=compiled(tmp_path / "channels", ["reminder"]).channels
    )
    ti = TI("G")
    Ledger.of({"ti": ti}).mark("answers", [{"by": "bob", "choice": "Go", "at": None}])
    gate_reminder_mail.announce_gate_reminder(
        plan, "DR1", "G", {"ti": ti}, Rung(NOT_STARTED, 2, SINCE), SINCE
    )
    smtp.wait_for("[Transition-DR1] G - Decision awaited: team leader told", timeout=10)
    [posted] = teams.posted
    said = lines(posted)
    assert said[0] == "[Transition-DR1] G - Decision awaited: team leader told"
    assert said[1] == "G · Go / no-go"
    assert "1 more Go is needed before it counts (2 different people)" in said[2]
    assert "The owner's team leader is told." in said[2]
    assert "Go so far: Bob Peeters (1 of 2)" in said
    assert said[-1] == f"{STEP_PAGES}/G"
    assert "mail_failures" not in ti.xcom
