"""The escalation ladder's e-mails: whoever holds the step, then its team leader, then the cutover
managers, each in their language."""

from __future__ import annotations

import datetime as dt

from conftest import base_sheets, compile_sheets
from transition.notifications.escalation_mail import (
    Readers,
    escalation_message,
    heads_up_message,
    holders,
    readers,
)
from transition.plan.escalation import NOT_STARTED, OVERRUN, Rung
from transition.plan.heads_up import HeadsUp

BASE = "http://airflow.example"
SINCE = dt.datetime(2027, 1, 16, 21, 0, tzinfo=dt.UTC)  # 22:00 in Brussels


def plan(tmp_path):
    result = compile_sheets(tmp_path, base_sheets(), cutover_managers=["dave"])
    assert result.plan is not None, result.problems
    return result.plan


def people(groups: list[Readers]) -> list[tuple[str, list[str], list[str]]]:
    return [(g.language, [a.id for a in g.to], [a.id for a in g.cc]) for g in groups]


def test_each_rung_adds_readers_one_e_mail_per_language(tmp_path):
    p = plan(tmp_path)  # CO-110: alice (fr), her team leader carol (en), manager dave (fr)
    assert people(readers(p, "CO-110", 1, [])) == [("fr", ["alice"], [])]
    assert people(readers(p, "CO-110", 2, [])) == [("fr", ["alice"], []), ("en", ["carol"], [])]
    assert people(readers(p, "CO-110", 3, [])) == [
        ("fr", ["alice"], ["dave"]),
        ("en", ["carol"], []),
    ]


def test_whoever_holds_the_step_now_includes_the_people_it_was_transferred_to(tmp_path):
    p = plan(tmp_path)
    assert [a.id for a in holders(p, "CO-110", ["bob", "alice", "nobody"])] == ["alice", "bob"]
    assert people(readers(p, "CO-110", 1, ["bob"])) == [("fr", ["alice"], []), ("en", ["bob"], [])]
    assert people(readers(p, "CO-110", 3, ["bob"])) == [
        ("fr", ["alice"], ["dave"]),
        ("en", ["bob"], ["carol"]),
    ]


def test_a_team_leader_who_owns_the_step_is_told_once(tmp_path):
    p = plan(tmp_path)  # CO-100: carol, her own team leader
    assert people(readers(p, "CO-100", 2, [])) == [("en", ["carol"], [])]
    assert people(readers(p, "CO-100", 3, ["carol"])) == [
        ("en", ["carol"], []),
        ("fr", ["dave"], []),
    ]


def test_the_subjects_say_which_rung_and_the_text_since_when(tmp_path):
    p = plan(tmp_path)
    subjects = []
    for rung in (
        Rung(NOT_STARTED, 1, SINCE),
        Rung(NOT_STARTED, 2, SINCE),
        Rung(NOT_STARTED, 3, SINCE),
        Rung(OVERRUN, 1, SINCE),
        Rung(OVERRUN, 2, SINCE),
        Rung(OVERRUN, 3, SINCE),
    ):
        [group, *_] = readers(p, "CO-100", rung.level, ["bob"])
        message = escalation_message(
            p,
            "DR1",
            "CO-100",
            rung,
            group,
            since=SINCE,
            held_by=holders(p, "CO-100", ["bob"]),
            dag_id="resa_dr1",
            run_id="r1",
            base_url=BASE,
        )
        subjects.append(message["Subject"])
        text = message.get_body(("plain",)).get_content()
        assert "Carol Dubois, Bob Peeters" in text
        assert f"Open the step: {BASE}/transition/steps/resa_dr1/r1/CO-100\n" in text
        assert f"{BASE}/dags/resa_dr1/runs/r1/tasks/CO-100/required_actions" in text  # second
        if rung.ladder == NOT_STARTED:
            assert "Step CO-100 has been ready since" in text and "22:00" in text
        else:
            assert "Step CO-100 was due to be closed by" in text and "22:00" in text
    assert subjects == [
        "[Transition-DR1] CO-100 - Reminder: not started",
        "[Transition-DR1] CO-100 - Not started: team leader told",
        "[Transition-DR1] CO-100 - Not started: cutover managers told",
        "[Transition-DR1] CO-100 - Reminder: still open",
        "[Transition-DR1] CO-100 - Still open: team leader told",
        "[Transition-DR1] CO-100 - Still open: cutover managers told",
    ]


def test_each_reader_gets_it_in_their_language(tmp_path):
    p = plan(tmp_path)  # CO-110: alice reads French, her team leader carol English
    rung = Rung(NOT_STARTED, 2, SINCE)
    by_language = {
        g.language: escalation_message(
            p,
            "DR1",
            "CO-110",
            rung,
            g,
            since=SINCE,
            held_by=holders(p, "CO-110", []),
            dag_id="resa_dr1",
            run_id="r1",
            base_url=BASE,
        )
        for g in readers(p, "CO-110", 2, [])
    }
    french, english = by_language["fr"], by_language["en"]
    assert (french["Subject"], french["To"]) == (
        "[Transition-DR1] CO-110 - Pas démarrée : chef d'équipe prévenu",
        "alice@example.com",
    )
    assert "L'étape CO-110 est prête depuis le" in french.get_body(("plain",)).get_content()
    assert (english["Subject"], english["To"]) == (
        "[Transition-DR1] CO-110 - Not started: team leader told",
        "carol@example.com",
    )


def test_the_heads_up_goes_to_the_owner_in_their_language_with_what_it_waits_for(tmp_path):
    p = plan(tmp_path)  # CO-110: alice, French
    message = heads_up_message(
        p,
        "DR1",
        HeadsUp("CO-110", SINCE, ("CO-100",)),
        dag_id="resa_dr1",
        run_id="r1",
        base_url=BASE,
    )
    assert (message["To"], message["Cc"]) == ("alice@example.com", None)
    assert message["Subject"] == "[Transition-DR1] CO-110 - C'est bientôt à vous"
    text = message.get_body(("plain",)).get_content()
    assert "L'étape CO-110 devrait être prête vers" in text and "22:00" in text
    assert "CO-100 · Switch market gateway (Carol Dubois)" in text
