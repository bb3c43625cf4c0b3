"""The warning of a gate's latest safe decision (notifications/latest_safe_mail.py): to whoever
holds the gate and the cutover managers (not the team leader), in each reader's language, the
time and the fallback's P95 said; before the moment, and once it has passed."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from test_gate_reminder_mail import gate_plan, text_of

from transition.notifications.latest_safe_mail import (
    latest_safe_channel_message,
    latest_safe_message,
    warned_readers,
)

BASE = "http://airflow.example"
SAFETY = {
    "gate": "G",
    "label": "Go / no-go",
    "fallback_p95_minutes": 95,
    "latest_safe": "2027-01-16T23:25:00+01:00",
}
BEFORE = dt.datetime(2027, 1, 16, 21, 0, tzinfo=dt.UTC)  # 22:00 in Brussels
AFTER = dt.datetime(2027, 1, 16, 23, 0, tzinfo=dt.UTC)


def mails(plan, now, transferees=()):
    return {
        group.language: latest_safe_message(
            plan,
            "DR1",
            "G",
            group,
            safety=SAFETY,
            now=now,
            dag_id="resa_dr1",
            run_id="r1",
            base_url=BASE,
        )
        for group in warned_readers(plan, "G", list(transferees))
    }


def test_the_holders_and_the_managers_are_warned_not_the_team_leader(tmp_path):
    plan = gate_plan(tmp_path)  # alice (fr) holds G; carol (en) leads her team; dave (fr) manages
    sent = mails(plan, BEFORE)
    assert {lang: (m["To"], m["Cc"]) for lang, m in sent.items()} == {
        "fr": ("alice@example.com", "dave@example.com")
    }
    handed = mails(plan, BEFORE, ["bob"])  # handed over to bob (English): he holds it too
    assert {lang: (m["To"], m["Cc"]) for lang, m in handed.items()} == {
        "fr": ("alice@example.com", "dave@example.com"),
        "en": ("bob@example.com", None),
    }


def test_the_warning_says_when_to_decide_and_how_long_the_fallback_takes(tmp_path):
    plan = gate_plan(tmp_path)
    english = mails(plan, BEFORE, ["bob"])["en"]
    assert english["Subject"].startswith("[Transition-DR1] G - Latest safe decision: ")
    assert "23:25" in english["Subject"] and english["X-Transition-Run"] == "resa_dr1/r1"
    text = text_of(english)
    assert "Gate G is not decided yet. A No-go after " in text
    assert "its fallback takes up to 1 h 35 min in 95% of the draws" in text
    assert "Latest safe decision" in text and "The fallback takes (P95)" in text
    assert f"Open the step: {BASE}/transition/steps/resa_dr1/r1/G\n" in text  # its page
    assert f"{BASE}/dags/resa_dr1/runs/r1/tasks/G/required_actions" in text  # and Airflow's
    late = text_of(mails(plan, AFTER, ["bob"])["en"])
    assert "its latest safe decision (" in late and ") has passed" in late
    for sent in (english, mails(plan, BEFORE)["fr"]):  # short enough not to be folded
        parsed = email.message_from_bytes(sent.as_bytes(), policy=email.policy.default)
        assert str(parsed["Subject"]) == sent["Subject"] and not sent["Subject"].startswith(" ")
    french = text_of(mails(plan, BEFORE)["fr"])
    assert "Le go/no-go G n'est pas encore décidé." in french, french


def test_the_channels_get_it_in_the_plans_language(tmp_path):
    plan = gate_plan(tmp_path)
    message = latest_safe_channel_message(
        plan, "DR1", "G", safety=SAFETY, now=BEFORE, link=f"{BASE}/x"
    )
    assert message.kind == "latest_safe" and message.title.startswith("[Transition-DR1] G - ")
    assert message.lines[0].startswith("G · ") and message.link == f"{BASE}/x"
