"""The escalation ladder's e-mails about a go / no-go gate nobody decides: whoever holds it, then
its owner's team leader, then the cutover managers, each in their language; the text says a decision
is awaited and, for a gate that needs several Go, how many are missing and who has said Go."""

from __future__ import annotations

import datetime as dt

from conftest import STEPS_HEADER, base_sheets, compile_sheets
from transition.notifications.escalation_mail import holders, readers
from transition.notifications.gate_reminder_mail import GoSoFar, gate_reminder_message
from transition.plan.escalation import NOT_STARTED, Rung
from transition.plan.gates import said_go

BASE = "http://airflow.example"
SINCE = dt.datetime(2027, 1, 16, 21, 0, tzinfo=dt.UTC)  # 22:00 in Brussels


def gate_plan(tmp_path, approvals: int = 2):
    """The base plan with gate G (alice: French; team leader carol: English; dave: French, the
    cutover manager) after the smoke test: Go hands over, No-go switches the gateway back."""
    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[0] = [*STEPS_HEADER, "Kind", "Approvals"]
    for row in steps[1:]:
        row.extend([None, None])
    steps.insert(5, ["G", "Go / no-go", "CO", "ALL", "CO-110", "", "15m", "alice", "", ""])
    steps[5] += ["gate", approvals]
    assert steps[6][0] == "HO-010"
    steps[6][4] = "G"
    steps.append(["FB-010", "Switch back", "FB-RB", "ALL", "G", "", "1h", "bob"] + [None] * 4)
    result = compile_sheets(tmp_path, sheets, cutover_managers=["dave"])
    assert result.plan is not None, result.problems
    return result.plan


def message(plan, level: int, language: str, go: GoSoFar, transferees=()):
    [group] = [g for g in readers(plan, "G", level, list(transferees)) if g.language == language]
    return gate_reminder_message(
        plan,
        "DR1",
        "G",
        Rung(NOT_STARTED, level, SINCE),
        group,
        since=SINCE,
        held_by=holders(plan, "G", list(transferees)),
        go=go,
        dag_id="resa_dr1",
        run_id="r1",
        base_url=BASE,
    )


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_go_counts_once_per_person_in_the_order_given():
    answers = [
        {"by": "alice", "choice": "Go"},
        {"by": "bob", "choice": "Start"},  # not an answer to a gate
        {"by": "alice", "choice": "Go"},
        {"by": "carol", "choice": "Go"},
    ]
    assert said_go(answers) == ["alice", "carol"]
    assert said_go([]) == []
    assert GoSoFar(2, ("alice",)).missing == 1 and GoSoFar(2, ("alice", "carol")).missing == 0


def test_each_rung_goes_to_whoever_holds_the_gate_then_its_team_leader_then_the_managers(tmp_path):
    p = gate_plan(tmp_path)
    to_cc = {
        level: [(m["To"], m["Cc"]) for m in (message(p, level, lang, GoSoFar(2)) for lang in langs)]
        for level, langs in ((1, ["fr"]), (2, ["fr", "en"]), (3, ["fr", "en"]))
    }
    assert to_cc == {
        1: [("alice@example.com", None)],
        2: [("alice@example.com", None), ("carol@example.com", None)],
        3: [("alice@example.com", "dave@example.com"), ("carol@example.com", None)],
    }
    # handed over to bob (English): he holds it too, and reads it in English
    handed = [(m["To"], m["Cc"]) for m in (message(p, 1, "en", GoSoFar(2), ["bob"]),)]
    assert handed == [("bob@example.com", None)]


def test_the_subjects_and_the_text_say_a_decision_is_awaited(tmp_path):
    p = gate_plan(tmp_path)
    mails = [message(p, level, "en", GoSoFar(2), ["bob"]) for level in (1, 2, 3)]
    assert [m["Subject"] for m in mails] == [
        "[Transition-DR1] G - Reminder: decision awaited",
        "[Transition-DR1] G - Decision awaited: team leader told",
        "[Transition-DR1] G - Decision awaited: cutover managers told",
    ]
    first, second, third = (text_of(m) for m in mails)
    assert "Gate G has been waiting for a decision (Go or No-go) since" in first
    assert "22:00" in first and "Alice Martin, Bob Peeters" in first
    assert f"Open the step: {BASE}/transition/steps/resa_dr1/r1/G\n" in first
    assert f"{BASE}/dags/resa_dr1/runs/r1/tasks/G/required_actions" in first  # second
    assert "told" not in first.split("\n")[0]
    assert "The owner's team leader is told." in second
    assert "The owner's team leader and the cutover managers are told." in third


def test_how_many_go_are_missing_and_who_said_go(tmp_path):
    p = gate_plan(tmp_path, approvals=2)
    nobody = text_of(message(p, 2, "en", GoSoFar(2)))
    assert "2 more Go are needed before it counts (2 different people); one No-go decides." in (
        nobody
    )
    assert "Go so far:" in nobody and "nobody yet (0 of 2)" in nobody
    one = text_of(message(p, 2, "en", GoSoFar(2, ("alice",))))
    assert "1 more Go is needed before it counts (2 different people)" in one
    assert "Alice Martin (1 of 2)" in one


def test_a_gate_one_go_decides_says_nothing_of_counting(tmp_path):
    p = gate_plan(tmp_path, approvals=1)
    text = text_of(message(p, 1, "fr", GoSoFar(1)))
    assert "Le go/no-go G attend une décision (Go ou No-go) depuis le" in text
    assert "Il manque" not in text and "Go déjà donnés" not in text


def test_each_reader_gets_it_in_their_language(tmp_path):
    p = gate_plan(tmp_path, approvals=2)
    french = message(p, 3, "fr", GoSoFar(2, ("carol",)))
    assert french["Subject"] == (
        "[Transition-DR1] G - Décision attendue : responsables de la bascule prévenus"
    )
    text = text_of(french)
    assert "Le go/no-go G attend une décision (Go ou No-go) depuis le" in text
    assert "Il manque encore 1 Go pour qu'il compte (2 personnes différentes)" in text
    assert "Go déjà donnés" in text and "Carol Dubois (1 sur 2)" in text
    assert "Tenu par" in text and "responsables de la bascule sont prévenus" in text
    english = message(p, 3, "en", GoSoFar(2, ("carol",)))
    assert english["Subject"] == "[Transition-DR1] G - Decision awaited: cutover managers told"
    assert "Carol Dubois (1 of 2)" in text_of(english)
